"""Embedded demo dataset: clips of things an ImageNet model recognises, making sounds an AudioSet
tagger recognises, the sound following what is seen.

Every clip is a real mp4 (H.264 video + AAC audio): one object drawn on a textured wall and
floor, moving, with a sound synthesised from that motion, sample-aligned with it (the bell
sounds when its swing turns, the chord when the hand crosses the strings). Objects are either
drawn from primitives (analog and digital clocks) or pasted from four shipped emoji sprites
(ambulance, bell, banjo, maracas: Noto Color Emoji artwork, Apache-2.0, see
resources/ATTRIBUTION.md), scaled, rotated and mirrored per clip. They were chosen so that the
embedded captioner (EfficientNet-Lite0's ImageNet labels) names them and the embedded tagger
(YAMNet) hears their sounds; `DEMO_TARGETS` lists what each class should be called and heard as,
and benchmarks/bench_demo_semantics.py measures both (numbers in the README).

Classes (what it looks like -> what it sounds like):

- ``clock_ticking``: an analog wall clock whose second hand jumps twice a second -> a
  tick-tock click at every jump.
- ``siren``: an ambulance drives across -> a wailing siren, loudest as it passes the middle.
- ``digital_alarm``: a digital alarm clock that rattles on its shelf -> groups of beeps.
- ``bell_ringing``: a bell swinging from a beam -> a cast-bell tone at each end of the swing.
- ``banjo``: a banjo strummed (it rocks with every strum) -> a chord.
- ``clock_ringing``: the very same clock as ``clock_ticking`` -> its alarm bell ringing; while
  it rings, its striker swings ``demo.clock_cue`` pixels between the bell caps (0: no cue).
- ``maracas``: maracas shaken back and forth -> a shower of bead clicks at each turn-around.

``clock_ticking`` / ``clock_ringing`` are drawn from identical visual distributions (the same
random values in the same order) except for the striker cue: at ``clock_cue: 0`` vision alone
cannot tell them apart and the sound can, so no audio generated from the video may help there
(the negative control); above 0 a small, brief visible cue goes with the ringing sound, which a
generator trained on unlabelled clips with audio may learn to hear (the positive setting).

Variation: everything random is seeded per clip from (seed, class, clip index): sizes, colours,
positions, speeds, background texture, event timing, pitch, loudness, room noise in the
audio, camera noise in the video; also the container format (25/30/24/29.97 fps, 3-4 s,
16-48 kHz, mono/stereo; stereo clips pan the sound with the object's position).  A few clips
have no audio stream and a few an audio stream of digital silence.  Same config => byte
identical files (given the same numpy, OpenCV, FFmpeg and x264 versions).
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

from vida_core.shared.config import DemoConfig as DemoParams
from vida_core.shared.artifacts import atomic_path

RESOURCES = Path(__file__).resolve().parent.parent / "resources"

DEMO_CLASSES: tuple[str, ...] = (
    "clock_ticking",
    "siren",
    "digital_alarm",
    "bell_ringing",
    "banjo",
    "clock_ringing",
    "maracas",
)

# What a person would call each class's object (ImageNet class names the captioner may give)
# and the AudioSet labels of its sound that a person would accept. Used to measure the demo.
DEMO_TARGETS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "clock_ticking": (("analog clock", "wall clock"), ("Tick-tock", "Tick", "Clock", "Mechanisms")),
    "siren": (("ambulance",), ("Siren", "Ambulance (siren)", "Police car (siren)", "Fire engine, fire truck (siren)",
                               "Emergency vehicle", "Civil defense siren", "Alarm")),
    "digital_alarm": (("digital clock",), ("Alarm clock", "Alarm", "Beep, bleep", "Buzzer", "Clock")),
    "bell_ringing": (("chime",), ("Bell", "Church bell", "Tubular bells", "Chime", "Jingle bell", "Ding-dong",
                                  "Ding", "Wind chime")),
    "banjo": (("banjo",), ("Banjo", "Plucked string instrument", "Guitar", "Acoustic guitar", "Ukulele",
                           "Strum", "Mandolin")),
    "clock_ringing": (("analog clock", "wall clock"), ("Alarm clock", "Alarm", "Bell", "Telephone bell ringing",
                                                       "Ringtone", "Clock", "Bicycle bell", "Ding")),
    "maracas": (("maraca",), ("Maraca", "Rattle (instrument)", "Rattle", "Shuffle", "Percussion")),
}

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
    """The demo's knobs (defaults in vida_core.shared.config), checked, with the class list they choose."""

    def __post_init__(self):
        if not 1 <= self.num_classes <= len(DEMO_CLASSES):
            raise ValueError(f"demo.num_classes must be 1..{len(DEMO_CLASSES)}, got {self.num_classes}")
        fractions = (self.no_audio_fraction, self.silent_fraction)
        if min(fractions) < 0 or sum(fractions) > 1:
            raise ValueError("demo.no_audio_fraction and demo.silent_fraction must be >= 0 and sum to at most 1")
        if self.bank_clips_per_sound < 1:
            raise ValueError(f"demo.bank_clips_per_sound must be >= 1, got {self.bank_clips_per_sound}")
        if self.clock_cue < 0:
            raise ValueError(f"demo.clock_cue must be >= 0 (pixels), got {self.clock_cue}")
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


# ----------------------------------------------------------------------------- sounds


def _bell_tone(sr: int, pitch: float, decay: float) -> np.ndarray:
    """A cast bell: hum, prime, minor third, fifth and octave partials, long decay."""
    ratios = np.array([0.5, 1.0, 1.19, 1.5, 2.0, 2.5, 3.0])
    amps = [0.4, 1.0, 0.6, 0.4, 0.5, 0.3, 0.2]
    return _ringing(sr, pitch * ratios, amps, decay * np.linspace(1.3, 0.35, len(ratios)), 2.5 * decay)


def _tick(rng, sr: int, pitch: float) -> np.ndarray:
    """A clock's escapement click: three very short metal partials and a noise snap."""
    click = _ringing(sr, pitch * np.array([1, 1.5, 2.3]), [1, 0.7, 0.5], [0.003, 0.002, 0.0015], 0.03)
    snap = _burst(rng, sr, 0.01, 0.0008, 2000, 8000)
    click[: len(snap)] += snap
    return click


# ----------------------------------------------------------------------------- drawing


def _sprite(name: str) -> np.ndarray:
    """A shipped RGBA sprite (resources/demo_sprite_<name>.png) as float32 [h,w,4] in 0..1."""
    if name not in _SPRITES:
        bgra = cv2.imread(str(RESOURCES / f"demo_sprite_{name}.png"), cv2.IMREAD_UNCHANGED)
        _SPRITES[name] = cv2.cvtColor(bgra, cv2.COLOR_BGRA2RGBA).astype(np.float32) / 255
    return _SPRITES[name]


_SPRITES: dict[str, np.ndarray] = {}


def _paste(img: np.ndarray, sprite: np.ndarray, x: float, y: float, width: float,
           angle: float = 0.0, pivot=(0.5, 0.5)) -> None:
    """Draw `sprite` `width` px wide with its `pivot` (fractions of its size) at (x, y),
    rotated by `angle` degrees about the pivot, alpha-blended, sub-pixel placed."""
    h, w = sprite.shape[:2]
    scale = width / w
    px, py = pivot[0] * w, pivot[1] * h
    matrix = cv2.getRotationMatrix2D((px, py), angle, scale)
    matrix[:, 2] += (x - px, y - py)
    layer = cv2.warpAffine(sprite, matrix, (img.shape[1], img.shape[0]), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0, 0))
    alpha = layer[..., 3:]
    img[:] = (img * (1 - alpha) + 255 * layer[..., :3] * alpha).astype(np.uint8)


def _clock_face(img, x, y, r, rim, hands, second_angle, striker_offset: float = 0.0):
    """An analog alarm clock: two bell caps and a striker on top, rim, face, 12 hour marks,
    hour/minute hands and a red second hand. `striker_offset` (pixels) moves the striker's head
    sideways: the only thing the ringing clock may show that the ticking one does not."""
    for side in (-1, 1):   # the bell caps, sitting on the rim at +-40 degrees
        a = np.radians(40) * side
        _disc(img, x + 1.12 * r * np.sin(a), y - 1.12 * r * np.cos(a), 0.24 * r, (200, 170, 60))
    top = y - 1.08 * r
    head_x, head_y = x + striker_offset, top - 0.3 * r
    _line(img, x, top, head_x, head_y, (60, 60, 60), max(int(round(0.05 * r)), 2))
    _disc(img, head_x, head_y, 0.07 * r, (60, 60, 60))
    _disc(img, x, y, r * 1.08, rim)
    _disc(img, x, y, r, (246, 244, 236))
    for k in range(12):
        a = 2 * np.pi * k / 12
        inner = 0.78 if k % 3 == 0 else 0.86
        _line(img, x + inner * r * np.sin(a), y - inner * r * np.cos(a), x + 0.95 * r * np.sin(a),
              y - 0.95 * r * np.cos(a), (25, 25, 25), 3 if k % 3 == 0 else 1)
    for angle, length, thickness in ((hands[0], 0.5, 4), (hands[1], 0.75, 3)):
        _line(img, x, y, x + length * r * np.sin(angle), y - length * r * np.cos(angle), (25, 25, 25), thickness)
    _line(img, x, y, x + 0.85 * r * np.sin(second_angle), y - 0.85 * r * np.cos(second_angle), (200, 25, 25), 1)
    _disc(img, x, y, 0.05 * r, (25, 25, 25))


_SEGMENTS = {  # seven-segment digits: segments a b c d e f g
    "0": "abcdef", "1": "bc", "2": "abdeg", "3": "abcdg", "4": "bcfg", "5": "acdfg",
    "6": "acdefg", "7": "abc", "8": "abcdefg", "9": "abcdfg"}


def _seven_segment(img, x, y, w, h, digit: str, color, thickness: int):
    """One seven-segment digit with its top-left corner at (x, y)."""
    ends = {"a": ((0, 0), (1, 0)), "b": ((1, 0), (1, 0.5)), "c": ((1, 0.5), (1, 1)), "d": ((0, 1), (1, 1)),
            "e": ((0, 0.5), (0, 1)), "f": ((0, 0), (0, 0.5)), "g": ((0, 0.5), (1, 0.5))}
    for segment in _SEGMENTS[digit]:
        (u0, v0), (u1, v1) = ends[segment]
        _line(img, x + u0 * w, y + v0 * h, x + u1 * w, y + v1 * h, color, thickness)


# ----------------------------------------------------------------------------- scenes


def _clock_scene(stage: _Stage, ringing: bool, cue: float = 0.0) -> _Scene:
    """An analog alarm clock whose second hand ticks twice a second. Both classes draw the same
    random values in the same order and look the same: one ticks, the other's alarm rings (a bell
    struck ~18 times a second, in bursts). While it rings, the ringing clock's striker swings
    `cue` pixels (of a 192-high frame) either way between its bell caps at the strike rate; at
    cue 0 nothing visible tells the two classes apart (demo.clock_cue)."""
    rng, u = stage.rng, stage.unit
    r = rng.uniform(48, 66) * u
    x = rng.uniform(0.3, 0.7) * stage.width
    y = rng.uniform(r * 1.45 + 4, max(stage.floor_y - r * 1.1 - 4, r * 1.45 + 5))
    rim = _hsv(rng.random(), rng.uniform(0.2, 0.8), rng.uniform(0.15, 0.6))
    hands = rng.uniform(0, 2 * np.pi, 2)
    second0, first_tick = rng.uniform(0, 2 * np.pi), rng.uniform(0.05, 0.5)
    ticks = first_tick + 0.5 * np.arange(int((stage.duration - first_tick) / 0.5) + 1)
    tick_pitch = rng.uniform(2600, 3600)
    bell_pitch, strike_rate = rng.uniform(1800, 2600), rng.uniform(15, 20)
    ring_on, ring_len, ring_gap = stage.action_start + rng.uniform(0, 0.6), rng.uniform(0.6, 0.9), rng.uniform(0.2, 0.4)

    def rings_at(t: float) -> bool:
        return ringing and t >= ring_on and (t - ring_on) % (ring_len + ring_gap) < ring_len

    def draw(img, t):
        jumps = np.searchsorted(ticks, t, side="right")
        striker = cue * u * np.sin(2 * np.pi * strike_rate * (t - ring_on)) if rings_at(t) else 0.0
        _clock_face(img, x, y, r, rim, hands, second0 + jumps * np.pi / 60, striker)  # 3 degrees a tick

    def sound(rng, sr, n):
        out = np.zeros(n)
        if not ringing:
            for k, time in enumerate(ticks):  # "tick", "tock": two escapement pitches
                _place(out, sr, time, _tick(rng, sr, tick_pitch * (1 if k % 2 else 0.8)), rng.uniform(0.8, 1.0))
            return out
        strike = _ringing(sr, bell_pitch * np.array([1, 2.76, 5.4]), [1, 0.5, 0.3], [0.05, 0.03, 0.02], 0.1)
        for time in np.arange(ring_on, n / sr, 1 / strike_rate):
            if (time - ring_on) % (ring_len + ring_gap) < ring_len:
                _place(out, sr, time, strike, rng.uniform(0.7, 0.9))
        return out

    return _Scene(draw, lambda t: np.full_like(np.asarray(t, float), x), sound)


def _siren_scene(stage: _Stage) -> _Scene:
    """An ambulance drives across with its siren wailing; loudness peaks as it passes the middle."""
    rng, u = stage.rng, stage.unit
    width = rng.uniform(135, 165) * u
    direction = -1  # the sprite faces left (mirrored, the captioner knows it less well)
    speed = rng.uniform(0.08, 0.16) * stage.width  # px per second: it stays mostly in view
    x_mid = stage.width / 2 + rng.uniform(-0.1, 0.1) * stage.width
    t_mid = stage.duration / 2 + rng.uniform(-0.4, 0.4)
    base, depth, period = rng.uniform(650, 950), rng.uniform(200, 380), rng.uniform(1.2, 2.0)
    phase = rng.uniform(0, 2 * np.pi)
    aspect = _sprite("ambulance").shape[0] / _sprite("ambulance").shape[1]

    def source_x(t):
        return x_mid + direction * speed * (np.asarray(t, float) - t_mid)

    def draw(img, t):
        bottom = stage.floor_y + 2 * u
        _paste(img, _sprite("ambulance"), float(source_x(t)), bottom - width * aspect / 2, width)

    def sound(rng, sr, n):
        t = np.arange(n) / sr
        pitch = base + depth * np.sin(2 * np.pi * t / period + phase)
        cycles = 2 * np.pi * np.cumsum(pitch) / sr
        wail = np.sin(cycles) + 0.3 * np.sin(2 * cycles) + 0.15 * np.sin(3 * cycles)
        distance = (source_x(t) - stage.width / 2) / stage.width
        return wail / (1 + 6 * distance**2)

    return _Scene(draw, source_x, sound)


def _bell_scene(stage: _Stage) -> _Scene:
    """A bell swinging from a beam; its clapper strikes at each end of the swing."""
    rng, u = stage.rng, stage.unit
    width = rng.uniform(90, 115) * u
    pivot_x, pivot_y = rng.uniform(0.35, 0.65) * stage.width, rng.uniform(0.08, 0.16) * stage.height
    amplitude, omega = rng.uniform(18, 32), 2 * np.pi / rng.uniform(1.1, 1.7)
    phase = rng.uniform(0, 2 * np.pi)
    beam = _hsv(rng.uniform(0.05, 0.1), rng.uniform(0.4, 0.7), rng.uniform(0.25, 0.45))
    pitch, decay = rng.uniform(600, 1100), rng.uniform(0.5, 0.9)

    def angle_at(t):
        return amplitude * np.cos(omega * np.asarray(t, float) + phase)

    def draw(img, t):
        _box(img, pivot_x - 30 * u, pivot_y - 8 * u, pivot_x + 30 * u, pivot_y, beam)
        _paste(img, _sprite("bell"), pivot_x, pivot_y, width, angle=float(angle_at(t)), pivot=(0.5, 0.0))

    def sound(rng, sr, n):
        out = np.zeros(n)
        tone = _bell_tone(sr, pitch, decay)
        for k in range(int(np.floor(phase / np.pi)), int(np.ceil((omega * n / sr + phase) / np.pi)) + 1):
            time = (k * np.pi - phase) / omega  # the ends of the swing
            if time >= 0:
                _place(out, sr, time, tone, rng.uniform(0.7, 1.0))
        return out

    return _Scene(draw, lambda t: pivot_x - 0.5 * width * np.sin(np.radians(angle_at(t))), sound)


def _pluck(rng, sr: int, pitch: float, brightness: float) -> np.ndarray:
    """A plucked string: harmonics that die faster the higher they are, and a pick noise."""
    t = np.arange(int(1.2 * sr)) / sr
    out = np.zeros_like(t)
    for k in range(1, 16):
        if pitch * k > 0.45 * sr:
            break
        out += np.sin(np.pi * k * brightness) / k * np.exp(-t * (1 + 0.35 * k) / 0.6) * np.sin(2 * np.pi * pitch * k * t)
    out[: int(0.0125 * sr)] += 0.3 * _burst(rng, sr, 0.0125, 0.002, 1000, 6000)[: int(0.0125 * sr)]
    return out


_CHORDS = ((196, 247, 294, 392, 494), (262, 330, 392, 523, 659), (294, 370, 440, 587, 740))  # G, C, D


def _banjo_scene(stage: _Stage) -> _Scene:
    """A banjo strummed: at each strum the banjo rocks and a chord sounds."""
    rng, u = stage.rng, stage.unit
    width = rng.uniform(150, 175) * u
    x, y = rng.uniform(0.45, 0.55) * stage.width, rng.uniform(0.5, 0.56) * stage.floor_y
    tilt = rng.uniform(-10, 10)
    interval = rng.uniform(0.4, 0.6)
    strums = stage.action_start + rng.uniform(0.05, 0.3) + interval * np.arange(int(ACTION_SECONDS / interval))
    chords = [_CHORDS[k] for k in rng.integers(0, len(_CHORDS), len(strums))]
    brightness = rng.uniform(0.2, 0.3)

    def since_strum(t):
        k = np.searchsorted(strums, t, side="right")
        return t - strums[k - 1] if k > 0 else np.inf

    def draw(img, t):
        dt = since_strum(t)
        rock = 4 * np.exp(-dt / 0.15) if np.isfinite(dt) else 0.0
        _paste(img, _sprite("banjo"), x, y, width, angle=tilt + rock)

    def sound(rng, sr, n):
        out = np.zeros(n)
        for time, chord in zip(strums, chords):
            for j, pitch in enumerate(chord):  # strings 15 ms apart, top to bottom
                _place(out, sr, time + 0.015 * j, _pluck(rng, sr, pitch, brightness), 0.5 * rng.uniform(0.8, 1.0))
        return out

    return _Scene(draw, lambda t: np.full_like(np.asarray(t, float), x), sound)


def _digital_alarm_scene(stage: _Stage) -> _Scene:
    """A digital alarm clock beeping: it rattles on the shelf with every group of beeps."""
    rng, u = stage.rng, stage.unit
    w, h = rng.uniform(140, 175) * u, rng.uniform(62, 80) * u
    x, bottom = rng.uniform(0.3, 0.7) * stage.width, stage.floor_y + rng.uniform(-2, 2) * u
    case = _hsv(rng.random(), rng.uniform(0, 0.4), rng.uniform(0.1, 0.85))
    digits_color = _hsv(rng.choice([0.0, 0.33, 0.55]), 0.9, 1.0)
    hour, minute = int(rng.integers(1, 13)), int(rng.integers(0, 60))
    text = f"{hour:2d}{minute:02d}"
    beep_pitch, beeps = rng.uniform(2000, 3500), int(rng.integers(3, 5))
    groups = stage.action_start + rng.uniform(0, 0.3) + np.arange(0, 3.0, 1.0)

    def shake(t):  # the clock rattles on the shelf while it beeps
        beeping = np.any((t >= groups) & (t < groups + beeps * 0.125))
        return 3 * u * np.sin(2 * np.pi * 12 * t) if beeping else 0.0

    def draw(img, t):
        left, top = x + shake(t) - w / 2, bottom - h
        _box(img, left, top, left + w, bottom, case)
        _box(img, left + 6 * u, top + 6 * u, left + w - 6 * u, bottom - 6 * u, (15, 15, 15))
        dw, dh, gap = (w - 30 * u) / 4.6, h - 22 * u, 4 * u
        for k, digit in enumerate(text):
            dx = left + 12 * u + k * (dw + gap) + (gap * 2 if k >= 2 else 0)
            if digit != " ":
                _seven_segment(img, dx, top + 11 * u, dw - gap, dh, digit, digits_color, max(int(5 * u), 2))
        for dy in (0.35, 0.65):
            _disc(img, left + 12 * u + 2 * (dw + gap) + gap / 2, top + 11 * u + dy * dh, 1.5 * u, digits_color)

    def sound(rng, sr, n):
        out = np.zeros(n)
        beep = np.sign(np.sin(2 * np.pi * beep_pitch * np.arange(int(0.07 * sr)) / sr)) * 0.5
        for start in groups:
            for k in range(beeps):
                _place(out, sr, start + k * 0.125, beep, 1.0)
        return out

    return _Scene(draw, lambda t: np.full_like(np.asarray(t, float), x), sound)


def _maracas_scene(stage: _Stage) -> _Scene:
    """Maracas shaken back and forth: the beads rattle at each turn-around."""
    rng, u = stage.rng, stage.unit
    width = rng.uniform(130, 155) * u
    center_x = rng.uniform(0.4, 0.6) * stage.width
    center_y = rng.uniform(0.45, 0.55) * stage.floor_y
    axis = np.radians(rng.uniform(-30, 30))
    swing, freq = rng.uniform(0.06, 0.14) * stage.width, rng.uniform(2.3, 2.7)
    t_on = stage.action_start + rng.uniform(0.0, 0.2)
    half_swings = int(round(rng.uniform(2.5, 2.8) * 2 * freq))  # shaken for most of the clip
    t_off = t_on + half_swings / (2 * freq)
    turnarounds = [t_on + (k + 0.5) / (2 * freq) for k in range(half_swings)]
    grains = int(rng.integers(25, 35))

    def offset(t):
        t = np.clip(np.asarray(t, float), t_on, t_off)
        return swing * np.sin(2 * np.pi * freq * (t - t_on))

    def draw(img, t):
        d = offset(t)
        _paste(img, _sprite("maracas"), center_x + np.cos(axis) * d, center_y + np.sin(axis) * d, width,
               angle=float(8 * d / max(swing, 1)))

    def sound(rng, sr, n):
        out = np.zeros(n)
        for time in turnarounds:  # beads hit the shell in a short shower after each turn-around
            for _ in range(grains):
                grain = _burst(rng, sr, 0.01, 0.002, 2500, 9000)
                _place(out, sr, time + rng.gamma(2.0, 0.015), grain, rng.uniform(0.2, 0.6))
        return out

    return _Scene(draw, lambda t: center_x + np.cos(axis) * offset(t), sound)


_SCENES: dict[str, Callable[[_Stage, DemoConfig], _Scene]] = {
    "clock_ticking": lambda stage, config: _clock_scene(stage, ringing=False),
    "clock_ringing": lambda stage, config: _clock_scene(stage, ringing=True, cue=config.clock_cue),
    "siren": lambda stage, config: _siren_scene(stage),
    "bell_ringing": lambda stage, config: _bell_scene(stage),
    "banjo": lambda stage, config: _banjo_scene(stage),
    "digital_alarm": lambda stage, config: _digital_alarm_scene(stage),
    "maracas": lambda stage, config: _maracas_scene(stage),
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
    scene = _SCENES[label](stage, config)

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
