"""Embedded demo dataset: small synthetic action clips whose sound follows what is seen.

Every clip is a real mp4 (H.264 video + AAC audio) of simple shapes drawn on a textured
background.  Sounds are synthesised from the same motion that is drawn, sample-aligned with it:
an impact sounds exactly when a thing touches the floor, a scrape lasts while a thing slides
and fades as it slows, and so on.  The audio therefore carries class information and can be
predicted from the frames.

Classes (what it looks like -> what it sounds like):

- ``metal_drop``: a grey block falls, hits the floor and hops once or twice -> a metallic
  ring (inharmonic partials of a struck bar, long decay) at every impact.
- ``wood_drop``: the same block, motion and size, only a faintly warmer grey -> a dull wooden
  knock (low damped tone + short noise burst) at every impact.
- ``bouncing``: a bright rubber ball bouncing with a slowly shrinking height -> a rhythm of
  "boing" thumps (downward pitch glide), louder for harder hits.
- ``sliding``: a box is kicked and slides along the floor until friction stops it -> a
  scrape (band-passed noise) that starts with the motion and fades as the box slows.
- ``rolling``: a spoked wheel with a bump on its rim rolls and slows down -> a low rumble that
  follows the speed, plus a clack each time the bump touches the floor.
- ``pendulum``: a bob on a rod swinging from a pivot -> a short high tick at each extreme.
- ``shaking_rattle``: a hand-held shaker moved back and forth -> a burst of rattling grains at
  each turn-around.
- ``shaking_bell``: the very same shaker and motion -> a jingle-bell tone at each turn-around.

Why some classes look alike: ``metal_drop`` / ``wood_drop`` differ visually only by a colour
tint whose ranges overlap and are blurred further by a per-clip white-balance cast, and
``shaking_rattle`` / ``shaking_bell`` are drawn from identical visual distributions.  A
vision-only model can therefore not fully separate those pairs, while the sound can, so
vision+audio should clearly beat vision alone.

Variation: everything random is seeded per clip from (seed, class, clip index): sizes, colours,
positions, speeds, background texture, event timing, pitch, loudness, room noise in the
audio, camera noise in the video; also the container format (25/30/24/29.97 fps, 3-4 s,
16-48 kHz, mono/stereo; stereo clips pan the sound with the object's position).  A few clips
have no audio stream and a few an audio stream of digital silence.  Same config => byte
identical files (given the same numpy, FFmpeg and x264 versions).
"""

from __future__ import annotations

import colorsys
import csv
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Callable

import av
import cv2
import numpy as np
from tqdm import tqdm

from vida_core.config import DemoConfig as DemoParams
from vida_core.io.artifacts import atomic_path

DEMO_CLASSES: tuple[str, ...] = (
    "metal_drop",
    "wood_drop",
    "bouncing",
    "sliding",
    "rolling",
    "pendulum",
    "shaking_rattle",
    "shaking_bell",
)

# Container variety that exercises the decoders: (value, probability).
FPS_CHOICES = ((Fraction(25), 0.7), (Fraction(30), 0.1), (Fraction(24), 0.1), (Fraction(30000, 1001), 0.1))
DURATION_CHOICES = ((3.0, 0.85), (3.5, 0.05), (4.0, 0.10))
SAMPLE_RATE_CHOICES = ((44100, 0.5), (22050, 0.35), (48000, 0.1), (16000, 0.05))
STEREO_PROBABILITY = 0.4
ACTION_SECONDS = 3.0  # the action happens inside the centred 3 s window of longer clips

INFO_FILE = "demo_info.csv"
INFO_COLUMNS = ("clip_id", "path", "label", "fps", "duration", "audio")


@dataclass
class DemoConfig(DemoParams):
    """The demo's knobs (defaults in vida_core.config), checked, with the class list they choose."""

    def __post_init__(self):
        if not 1 <= self.num_classes <= len(DEMO_CLASSES):
            raise ValueError(f"demo.num_classes must be 1..{len(DEMO_CLASSES)}, got {self.num_classes}")
        fractions = (self.no_audio_fraction, self.silent_fraction)
        if min(fractions) < 0 or sum(fractions) > 1:
            raise ValueError("demo.no_audio_fraction and demo.silent_fraction must be >= 0 and sum to at most 1")
        if self.width % 2 or self.height % 2:
            raise ValueError("demo.width and demo.height must be even (H.264 yuv420p)")

    @property
    def classes(self) -> tuple[str, ...]:
        return DEMO_CLASSES[: self.num_classes]


# ----------------------------------------------------------------------------- helpers


def _choose(rng: np.random.Generator, choices):
    values, probabilities = zip(*choices)
    return values[rng.choice(len(values), p=probabilities)]


def _hsv(h: float, s: float, v: float) -> tuple[int, int, int]:
    return tuple(int(round(255 * c)) for c in colorsys.hsv_to_rgb(h, s, v))


_SHIFT = 4  # OpenCV fixed-point bits: sub-pixel positions keep slow motion smooth
_OUTLINE = (30, 30, 30)


def _pt(x: float, y: float) -> tuple[int, int]:
    return int(round(float(x) * (1 << _SHIFT))), int(round(float(y) * (1 << _SHIFT)))


def _disc(img, x, y, r, color):
    radius = int(round(r * (1 << _SHIFT)))
    cv2.circle(img, _pt(x, y), radius, color, -1, cv2.LINE_AA, _SHIFT)
    cv2.circle(img, _pt(x, y), radius, _OUTLINE, 1, cv2.LINE_AA, _SHIFT)


def _box(img, x0, y0, x1, y1, color):
    cv2.rectangle(img, _pt(x0, y0), _pt(x1, y1), color, -1, cv2.LINE_AA, _SHIFT)
    cv2.rectangle(img, _pt(x0, y0), _pt(x1, y1), _OUTLINE, 1, cv2.LINE_AA, _SHIFT)


def _line(img, x0, y0, x1, y1, color, thickness):
    cv2.line(img, _pt(x0, y0), _pt(x1, y1), color, thickness, cv2.LINE_AA, _SHIFT)


def _ringing(sr: int, freqs, amps, taus, seconds: float) -> np.ndarray:
    """Sum of exponentially decaying sines (partials above Nyquist are dropped)."""
    t = np.arange(int(seconds * sr)) / sr
    out = np.zeros_like(t)
    for f, a, tau in zip(freqs, amps, taus):
        if f < 0.45 * sr:
            out += a * np.exp(-t / tau) * np.sin(2 * np.pi * f * t)
    return out


def _band_noise(rng: np.random.Generator, n: int, sr: int, low: float, high: float) -> np.ndarray:
    """Unit-RMS noise restricted to [low, high] Hz (brick-wall FFT mask: simple, deterministic)."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1 / sr)
    spectrum[(freqs < low) | (freqs > min(high, 0.45 * sr))] = 0
    noise = np.fft.irfft(spectrum, n)
    return noise / (np.sqrt(np.mean(noise**2)) + 1e-12)


def _burst(rng, sr, seconds, tau, low, high) -> np.ndarray:
    """A short decaying noise burst (clicks, grains, the noisy part of a knock)."""
    n = max(int(seconds * sr), 64)
    return _band_noise(rng, n, sr, low, high) * np.exp(-np.arange(n) / (tau * sr))


def _place(out: np.ndarray, sr: int, time: float, sound: np.ndarray, gain: float = 1.0):
    """Add `sound` to `out` starting exactly at `time` seconds."""
    start = int(round(time * sr))
    if start >= len(out):
        return
    chunk = sound[: len(out) - start]
    out[start : start + len(chunk)] += gain * chunk


def _drop_motion(t_release: float, height: float, fall_time: float, restitution: float):
    """A thing released at rest `height` px above the floor, hopping with `restitution`.

    Returns (height_above_floor(t), impacts [(time, speed as a fraction of the first hit)]).
    """
    g = 2 * height / fall_time**2
    speed, t, impacts = g * fall_time, t_release + fall_time, []
    while speed > 0.08 * g * fall_time and t < t_release + 30:
        impacts.append((t, speed))
        speed *= restitution
        t += 2 * speed / g
    times = np.array([t for t, _ in impacts])
    # The launch speed after impact k is the arrival speed at impact k+1; nothing after the last.
    launch = np.array([v for _, v in impacts[1:]] + [0.0])

    def height_at(t):
        t = np.asarray(t, dtype=float)
        k = np.maximum(np.searchsorted(times, t, side="right") - 1, 0)
        falling = height - 0.5 * g * np.clip(t - t_release, 0, None) ** 2
        dt = t - times[k]
        hopping = np.maximum(launch[k] * dt - 0.5 * g * dt**2, 0)
        return np.where(t < times[0], falling, hopping)

    return height_at, [(t, v / (g * fall_time)) for t, v in impacts]


@dataclass
class _Glide:
    """Kicked at t_start, slows down evenly and stops after `seconds`."""

    t_start: float
    seconds: float

    def __call__(self, t):
        """(fraction of the distance covered, speed as a fraction of the kick speed) at time t."""
        u = np.clip((np.asarray(t, dtype=float) - self.t_start) / self.seconds, 0, 1)
        return 2 * u - u**2, np.where((u > 0) & (u < 1), 1 - u, 0)


@dataclass
class _Stage:
    """What every scene shares: canvas size, a scale unit, the floor line and clip timing."""

    rng: np.random.Generator
    width: int
    height: int
    duration: float

    def __post_init__(self):
        self.unit = self.height / 192  # sizes below are in pixels of a 192-high frame
        self.floor_y = int(self.height * self.rng.uniform(0.78, 0.88))
        self.action_start = (self.duration - ACTION_SECONDS) / 2
        self.background = self._background()

    def _background(self) -> np.ndarray:
        rng, w, h, floor = self.rng, self.width, self.height, self.floor_y
        img = np.empty((h, w, 3), np.float32)
        img[:floor] = _hsv(rng.random(), rng.uniform(0.1, 0.5), rng.uniform(0.45, 0.9))
        img[floor:] = _hsv(rng.random(), rng.uniform(0.1, 0.4), rng.uniform(0.2, 0.55))
        blotches = rng.standard_normal((5, 7)).astype(np.float32)
        img += rng.uniform(3, 14) * cv2.resize(blotches, (w, h), interpolation=cv2.INTER_CUBIC)[..., None]
        if rng.random() < 0.5:  # wallpaper stripes
            period = int(rng.integers(8, 28) * self.unit)
            img[:floor, :: max(period, 3)] *= rng.uniform(0.8, 0.95)
        img[max(floor - 1, 0) : floor + 1] *= 0.6  # floor edge
        return np.clip(img, 0, 255).astype(np.uint8)


@dataclass
class _Scene:
    draw: Callable[[np.ndarray, float], None]  # draws the moving thing at time t (s)
    source_x: Callable[[np.ndarray], np.ndarray]  # x (px) of what makes the sound, for stereo panning
    sound: Callable[[np.random.Generator, int, int], np.ndarray]  # (rng, sample_rate, samples) -> mono


# ----------------------------------------------------------------------------- scenes


def _drop_scene(stage: _Stage, metal: bool) -> _Scene:
    rng, u = stage.rng, stage.unit
    # Both classes draw everything visual from the same distributions except a small tint overlap.
    size_x, size_y = rng.uniform(26, 44) * u, rng.uniform(20, 32) * u
    x = rng.uniform(0.15, 0.85) * stage.width
    grey = rng.uniform(110, 185)
    tint = rng.uniform(-8, 8) if metal else rng.uniform(0, 16)  # warmer for wood, overlapping
    color = tuple(int(np.clip(grey + k * tint + rng.uniform(-6, 6), 0, 255)) for k in (1, 0.3, -1))
    height = rng.uniform(0.35, 0.65) * (stage.floor_y - size_y)
    height_at, impacts = _drop_motion(
        t_release=stage.action_start + rng.uniform(0.1, 1.0),
        height=height,
        fall_time=rng.uniform(0.35, 0.6),
        restitution=rng.uniform(0.2, 0.45),
    )
    pitch, decay = rng.uniform(700, 1600), rng.uniform(0.25, 0.6)
    knock_pitch = rng.uniform(120, 280)

    def draw(img, t):
        bottom = stage.floor_y - height_at(t)
        _box(img, x - size_x / 2, bottom - size_y, x + size_x / 2, bottom, color)

    def sound(rng, sr, n):
        out = np.zeros(n)
        for t, strength in impacts:
            if metal:  # free bar partials: inharmonic ratios, higher ones die faster
                ratios = np.array([1, 2.76, 5.40, 8.93])
                hit = _ringing(sr, pitch * ratios, [1, 0.6, 0.35, 0.2], decay / np.sqrt(ratios), 4 * decay)
                hit[: int(0.004 * sr)] += _burst(rng, sr, 0.004, 0.001, 2000, 10000)[: int(0.004 * sr)]
            else:  # wood: heavily damped low tone + short mid-band noise
                hit = _ringing(sr, [knock_pitch, 2.3 * knock_pitch], [1, 0.4], [0.035, 0.015], 0.2)
                knock = 0.5 * _burst(rng, sr, 0.05, 0.008, 300, 1500)
                hit[: len(knock)] += knock
            _place(out, sr, t, hit, strength * rng.uniform(0.85, 1.15))
        return out

    return _Scene(draw, lambda t: np.full_like(np.asarray(t, float), x), sound)


def _bouncing_scene(stage: _Stage) -> _Scene:
    rng, u = stage.rng, stage.unit
    r = rng.uniform(12, 20) * u
    x = rng.uniform(0.15, 0.85) * stage.width
    color = _hsv(rng.random(), rng.uniform(0.6, 0.95), rng.uniform(0.7, 1.0))
    height_at, impacts = _drop_motion(
        t_release=rng.uniform(0.0, 0.3),
        height=rng.uniform(0.5, 0.85) * (stage.floor_y - 2 * r),
        fall_time=rng.uniform(0.3, 0.5),
        restitution=rng.uniform(0.8, 0.9),
    )
    pitch = rng.uniform(120, 260)

    def draw(img, t):
        _disc(img, x, stage.floor_y - r - height_at(t), r, color)

    def sound(rng, sr, n):
        out = np.zeros(n)
        t = np.arange(int(0.2 * sr)) / sr
        glide = pitch * (1 + 0.8 * np.exp(-t / 0.015))  # pitch drops right after the hit: "boing"
        thump = np.sin(2 * np.pi * np.cumsum(glide) / sr) * np.exp(-t / 0.07)
        thump[: int(0.003 * sr)] += 0.3 * _burst(rng, sr, 0.003, 0.001, 1000, 6000)[: int(0.003 * sr)]
        for time, strength in impacts:
            _place(out, sr, time, thump, strength * rng.uniform(0.85, 1.15))
        return out

    return _Scene(draw, lambda t: np.full_like(np.asarray(t, float), x), sound)


def _glide_path(stage: _Stage, half_size: float):
    """Start x, signed travel and motion of a thing that is kicked and slows to a stop."""
    rng = stage.rng
    direction = rng.choice([-1, 1])
    distance = rng.uniform(0.4, 0.7) * stage.width
    margin = half_size + rng.uniform(4, 20) * stage.unit
    x0 = margin if direction > 0 else stage.width - margin
    motion = _Glide(stage.action_start + rng.uniform(0.1, 0.9), rng.uniform(1.2, 2.0))
    return x0, direction * distance, motion


def _sliding_scene(stage: _Stage) -> _Scene:
    rng, u = stage.rng, stage.unit
    size_x, size_y = rng.uniform(34, 56) * u, rng.uniform(20, 34) * u
    color = _hsv(rng.random(), rng.uniform(0.3, 0.8), rng.uniform(0.4, 0.9))
    x0, travel, motion = _glide_path(stage, size_x / 2)
    center, width = rng.uniform(1500, 3500), rng.uniform(0.3, 0.6)

    def source_x(t):
        return x0 + travel * motion(t)[0]

    def draw(img, t):
        x = source_x(t)
        _box(img, x - size_x / 2, stage.floor_y - size_y, x + size_x / 2, stage.floor_y, color)

    def sound(rng, sr, n):
        speed = motion(np.arange(n) / sr)[1]
        scrape = _band_noise(rng, n, sr, center * (1 - width), center * (1 + width))
        roughness = 1 + 0.5 * _band_noise(rng, n, sr, 5, 40)  # friction is uneven
        return 0.5 * scrape * np.clip(roughness, 0, None) * speed**0.7

    return _Scene(draw, source_x, sound)


def _rolling_scene(stage: _Stage) -> _Scene:
    rng, u = stage.rng, stage.unit
    r = rng.uniform(15, 25) * u
    rim = _hsv(rng.random(), rng.uniform(0.2, 0.7), rng.uniform(0.25, 0.6))
    hub = _hsv(rng.random(), 0.2, 0.9)
    x0, travel, motion = _glide_path(stage, r)
    bump_angle0 = rng.uniform(0, 2 * np.pi)  # angle of the rim bump, 0 = touching the floor
    rumble_top, clack_pitch = rng.uniform(150, 300), rng.uniform(700, 1500)

    def source_x(t):
        return x0 + travel * motion(t)[0]

    def rolled_angle(t):  # rolling without slipping: angle = distance / radius
        return abs(travel) * motion(t)[0] / r

    def draw(img, t):
        x, y = source_x(t), stage.floor_y - r
        bump = bump_angle0 - np.sign(travel) * rolled_angle(t)
        _disc(img, x, y, r, rim)
        _disc(img, x, y, 0.6 * r, hub)
        for k in range(4):
            a = bump + k * np.pi / 2
            _line(img, x, y, x + 0.6 * r * np.sin(a), y + 0.6 * r * np.cos(a), _OUTLINE, 1)
        _disc(img, x + r * np.sin(bump), y + r * np.cos(bump), 0.22 * r, _OUTLINE)

    def sound(rng, sr, n):
        t = np.arange(n) / sr
        speed = motion(t)[1]
        wobble = 1 + 0.4 * np.cos(rolled_angle(t))  # rumble pulses once per revolution
        out = 0.4 * _band_noise(rng, n, sr, 30, rumble_top) * speed * wobble
        # The bump is down when sign*rolled_angle == bump_angle0 (mod 2 pi): a clack each time.
        first = (np.sign(travel) * bump_angle0) % (2 * np.pi)
        clack = _ringing(sr, [clack_pitch], [1], [0.012], 0.06)
        for angle in np.arange(first, rolled_angle(np.inf), 2 * np.pi):
            fraction = angle * r / abs(travel)  # distance fraction 2u - u^2 -> invert for time
            u_time = 1 - np.sqrt(max(1 - fraction, 0))
            time = motion.t_start + u_time * motion.seconds
            _place(out, sr, time, clack, 0.6 * (1 - u_time) + 0.2)
        return out

    return _Scene(draw, source_x, sound)


def _pendulum_scene(stage: _Stage) -> _Scene:
    rng, u = stage.rng, stage.unit
    pivot_x, pivot_y = rng.uniform(0.35, 0.65) * stage.width, rng.uniform(0.05, 0.15) * stage.height
    r = rng.uniform(10, 17) * u
    length = rng.uniform(0.45, 0.75) * (stage.floor_y - pivot_y - r)
    amplitude = np.radians(rng.uniform(20, 45))
    omega, phase = 2 * np.pi / rng.uniform(1.0, 1.6), rng.uniform(0, 2 * np.pi)
    color = _hsv(rng.random(), rng.uniform(0.4, 0.9), rng.uniform(0.5, 1.0))
    rod = _hsv(0, 0, rng.uniform(0.1, 0.4))
    tick_pitch = rng.uniform(2500, 4500)

    def bob(t):
        angle = amplitude * np.cos(omega * np.asarray(t, float) + phase)
        return pivot_x + length * np.sin(angle), pivot_y + length * np.cos(angle)

    def draw(img, t):
        x, y = bob(t)
        _line(img, pivot_x, pivot_y, x, y, rod, max(int(2 * u), 1))
        _box(img, pivot_x - 4 * u, pivot_y - 3 * u, pivot_x + 4 * u, pivot_y + 1 * u, rod)
        _disc(img, x, y, r, color)

    def sound(rng, sr, n):
        out = np.zeros(n)
        tick = _ringing(sr, [tick_pitch, 1.6 * tick_pitch], [1, 0.5], [0.006, 0.004], 0.03)
        tick[: int(0.002 * sr)] += 0.3 * _burst(rng, sr, 0.002, 0.0005, 2000, 10000)[: int(0.002 * sr)]
        # Extremes where omega t + phase = k pi.
        for k in range(int(np.floor(phase / np.pi)), int(np.ceil((omega * n / sr + phase) / np.pi)) + 1):
            time = (k * np.pi - phase) / omega
            if time >= 0:
                _place(out, sr, time, tick, rng.uniform(0.8, 1.0))
        return out

    return _Scene(draw, lambda t: bob(t)[0], sound)


def _shaker_scene(stage: _Stage, bell: bool) -> _Scene:
    rng, u = stage.rng, stage.unit
    # Identical visuals for both classes: only the sound differs.
    head_w, head_h = rng.uniform(22, 34) * u, rng.uniform(16, 24) * u
    handle = rng.uniform(30, 50) * u
    color = _hsv(rng.random(), rng.uniform(0.4, 0.9), rng.uniform(0.5, 1.0))
    grip = _hsv(0.08, 0.5, rng.uniform(0.2, 0.5))
    center_x = rng.uniform(0.35, 0.65) * stage.width
    center_y = rng.uniform(0.3, 0.55) * stage.floor_y
    axis = np.radians(rng.uniform(-30, 30))
    swing = rng.uniform(0.1, 0.22) * stage.width
    freq = rng.uniform(1.2, 2.5)
    t_on = stage.action_start + rng.uniform(0.0, 0.6)
    half_swings = int(round(rng.uniform(1.6, 2.4) * 2 * freq))  # whole half-periods: stops centred
    t_off = t_on + half_swings / (2 * freq)
    turnarounds = [t_on + (k + 0.5) / (2 * freq) for k in range(half_swings)]
    bell_pitch, rattle_grains = rng.uniform(1500, 2600), int(rng.integers(8, 20))

    def offset(t):
        t = np.clip(np.asarray(t, float), t_on, t_off)
        return swing * np.sin(2 * np.pi * freq * (t - t_on))

    def source_x(t):
        return center_x + np.cos(axis) * offset(t)

    def draw(img, t):
        d = offset(t)
        x, y = center_x + np.cos(axis) * d, center_y + np.sin(axis) * d
        _line(img, x, y, x, y + handle, grip, max(int(4 * u), 1))
        center = _pt(x, y)
        axes = (int(head_w / 2 * (1 << _SHIFT)), int(head_h / 2 * (1 << _SHIFT)))
        cv2.ellipse(img, center, axes, 0, 0, 360, color, -1, cv2.LINE_AA, _SHIFT)
        cv2.ellipse(img, center, axes, 0, 0, 360, _OUTLINE, 1, cv2.LINE_AA, _SHIFT)

    def sound(rng, sr, n):
        out = np.zeros(n)
        for time in turnarounds:
            if bell:  # two slightly detuned jingle bells
                partials = bell_pitch * np.array([1, 2.0, 2.9, 4.1])
                hit = _ringing(sr, partials, [1, 0.5, 0.3, 0.2], [0.2, 0.12, 0.08, 0.05], 0.8)
                _place(out, sr, time, hit, rng.uniform(0.7, 1.0))
                _place(out, sr, time + rng.uniform(0.005, 0.015), hit * 0.6, 1.0)
            else:  # beads hitting the shell just after the turn-around
                for _ in range(rattle_grains):
                    grain = _burst(rng, sr, 0.006, 0.0015, 1500, 9000)
                    _place(out, sr, time + rng.uniform(0, 0.05), grain, rng.uniform(0.2, 0.6))
        return out

    return _Scene(draw, source_x, sound)


_SCENES: dict[str, Callable[[_Stage], _Scene]] = {
    "metal_drop": lambda stage: _drop_scene(stage, metal=True),
    "wood_drop": lambda stage: _drop_scene(stage, metal=False),
    "bouncing": _bouncing_scene,
    "sliding": _sliding_scene,
    "rolling": _rolling_scene,
    "pendulum": _pendulum_scene,
    "shaking_rattle": lambda stage: _shaker_scene(stage, bell=False),
    "shaking_bell": lambda stage: _shaker_scene(stage, bell=True),
}


# ----------------------------------------------------------------------------- clips


def _spread(count: float, config: DemoConfig, taken: set[int], class_offset: int) -> set[int]:
    """round(count) clip slots (class * clips_per_class + index), rotating through the classes and
    spread over the indices; a taken slot moves on to the next free one."""
    n_classes, n_clips = len(config.classes), config.clips_per_class
    wanted = round(count)
    picked: set[int] = set()
    for j in range(min(wanted, n_classes * n_clips - len(taken))):
        slot = (j + class_offset) % n_classes * n_clips + int((j + 0.5) * n_clips / wanted)
        while slot in taken or slot in picked:
            slot = (slot + 1) % (n_classes * n_clips)
        picked.add(slot)
    return picked


def audio_mode(label: str, index: int, config: DemoConfig) -> str:
    """'none' (no audio stream), 'silent' (all zeros) or 'yes', spread over classes deterministically."""
    total = len(config.classes) * config.clips_per_class
    no_audio = _spread(config.no_audio_fraction * total, config, set(), 0)
    silent = _spread(config.silent_fraction * total, config, no_audio, len(config.classes) // 2)
    slot = DEMO_CLASSES.index(label) * config.clips_per_class + index
    return "none" if slot in no_audio else "silent" if slot in silent else "yes"


def render_clip(label: str, index: int, config: DemoConfig = DemoConfig()):
    """Render one clip, a pure function of its arguments.

    Returns (frames uint8 [T, H, W, 3] RGB, fps as a Fraction, audio float32 [channels, samples] in
    [-1, 1] or None when the clip has no audio stream, sample_rate).
    """
    rng = np.random.default_rng([config.seed, DEMO_CLASSES.index(label), index])
    fps, duration = _choose(rng, FPS_CHOICES), _choose(rng, DURATION_CHOICES)
    sample_rate, channels = _choose(rng, SAMPLE_RATE_CHOICES), 2 if rng.random() < STEREO_PROBABILITY else 1
    stage = _Stage(rng, config.width, config.height, duration)
    scene = _SCENES[label](stage)

    frames = np.empty((round(duration * fps), config.height, config.width, 3), np.uint8)
    for i, frame in enumerate(frames):
        frame[:] = stage.background
        scene.draw(frame, float(i / fps))
    # Camera: a white-balance cast (blurs absolute colour) and about +-4 levels of sensor noise.
    white_balance = rng.uniform(0.92, 1.08, 3)
    lut = np.clip(np.arange(256)[:, None] * white_balance, 0, 255).astype(np.uint8).reshape(1, 256, 3)
    rows = frames.reshape(-1, config.width, 3)  # one big image: OpenCV's saturating ops are fast
    noise = (np.frombuffer(rng.bytes(rows.size), np.uint8) & 7).reshape(rows.shape)  # 0..7, cheap
    rows[:] = cv2.subtract(cv2.add(cv2.LUT(rows, lut), noise), np.full_like(noise, 4))

    mode = audio_mode(label, index, config)
    if mode == "none":
        return frames, fps, None, sample_rate
    n = round(duration * sample_rate)
    if mode == "silent":
        return frames, fps, np.zeros((channels, n), np.float32), sample_rate
    mono = scene.sound(rng, sample_rate, n)
    mono *= rng.uniform(0.25, 0.8) / (np.abs(mono).max() + 1e-12)  # loudness
    mono += rng.uniform(0.001, 0.006) * _band_noise(rng, n, sample_rate, 40, 6000)  # room tone
    if channels == 2:  # constant-power pan following the object
        pan = np.clip(scene.source_x(np.arange(n) / sample_rate) / config.width, 0, 1) * np.pi / 2
        audio = np.stack([mono * np.cos(pan), mono * np.sin(pan)]) * np.sqrt(2)
    else:
        audio = mono[None]
    return frames, fps, np.clip(audio, -1, 1).astype(np.float32), sample_rate


def write_mp4(path, frames, fps, audio, sample_rate, *, crf: int = 23, preset: str = "ultrafast") -> None:
    """Write H.264 (yuv420p) + AAC mp4, atomically. `audio` is float32 [channels, samples] or None.

    Single-threaded encoders and bit-exact muxing (no version string or creation time) make the
    output byte-identical for identical input.
    """
    fps = Fraction(fps).limit_denominator(1001)
    with atomic_path(path) as partial, \
            av.open(str(partial), "w", format="mp4", options={"fflags": "+bitexact"}) as container:
        video = container.add_stream("libx264", rate=fps, options={"preset": preset, "crf": str(crf)})
        video.width, video.height, video.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        video.codec_context.thread_count = 1
        video.codec_context.time_base = 1 / fps
        if audio is not None:
            layout = {1: "mono", 2: "stereo"}[audio.shape[0]]
            # The "fast" coder is 4x quicker than the default and just as good for these sounds.
            sound = container.add_stream("aac", rate=sample_rate, layout=layout,
                                         options={"aac_coder": "fast"})
            sound.codec_context.thread_count = 1
        for i, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts, frame.time_base = i, 1 / fps
            container.mux(video.encode(frame))
        container.mux(video.encode())
        if audio is not None:
            samples = np.ascontiguousarray(audio, np.float32)
            frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout=layout)
            frame.sample_rate, frame.pts, frame.time_base = sample_rate, 0, Fraction(1, sample_rate)
            container.mux(sound.encode(frame))  # the encoder re-chunks into AAC frames
            container.mux(sound.encode())


def _make_clip(job: tuple[str, int, DemoConfig, Path]) -> dict:
    label, index, config, out_dir = job
    frames, fps, audio, sample_rate = render_clip(label, index, config)
    clip_id = f"{label}_{index:03d}"
    relative = Path(label) / f"{clip_id}.mp4"
    write_mp4(out_dir / relative, frames, fps, audio, sample_rate, crf=config.crf, preset=config.preset)
    return {
        "clip_id": clip_id,
        "path": relative.as_posix(),
        "label": label,
        "fps": round(float(fps), 3),
        "duration": round(len(frames) / float(fps), 3),
        "audio": audio_mode(label, index, config),
    }


def generate_demo_dataset(out_dir: Path, config: DemoConfig = DemoConfig(), executor=None,
                          progress: bool = True) -> list[dict]:
    """Write `<out_dir>/<class>/<clip_id>.mp4` for every clip and `<out_dir>/demo_info.csv`.

    Returns the rows of demo_info.csv: clip_id, path (relative to out_dir), label, fps, duration (s,
    of the video) and audio ('yes', 'none': no audio stream, 'silent': an all-zero stream).
    """
    out_dir = Path(out_dir)
    for label in config.classes:
        (out_dir / label).mkdir(parents=True, exist_ok=True)
    jobs = [(label, index, config, out_dir)
            for label in config.classes for index in range(config.clips_per_class)]
    if executor is None:
        rows = [_make_clip(job) for job in tqdm(jobs, desc="demo clips", unit="clip", disable=not progress)]
    else:
        rows = list(executor.map(_make_clip, jobs, total=len(jobs), desc="demo clips"))

    with atomic_path(out_dir / INFO_FILE) as partial, open(partial, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=INFO_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return rows
