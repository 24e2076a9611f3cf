"""A sound-only stand-in for AudioSet on the demo: the label bank's external source.

In the paper the label bank is AudioSet: the mean audio feature of clips that people labelled,
none of them from the action dataset. The demo has no AudioSet, so this module renders one for
the demo's world: the sounds the demo's objects make and distractor sounds no demo class makes,
each under its real AudioSet ids (several per clip, as AudioSet's annotations carry a label and
its ancestors), about `demo.bank_clips_per_sound` clips each, from random streams disjoint from
every demo clip's (so no bank clip is a classifier's, a generator's or a test clip). It is laid
out as `label_bank.source: audioset` reads real AudioSet: `<YTID>.m4a` media files and a
`segments.csv` in the style of `balanced_train_segments.csv`.

What it cannot stand in for: real AudioSet's label noise, its 527 classes (most are absent
here and get the bank's back-off) and its acoustic variety within a class.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from tqdm import tqdm

from vida_core.shared.artifacts import atomic_path
from vida_core.io.demo import (
    _SCENES,
    SAMPLE_RATE_CHOICES,
    DemoConfig,
    _band_noise,
    _burst,
    _choose,
    _place,
    _ringing,
    _Stage,
)

SEGMENTS_FILE = "segments.csv"
SECONDS = 3.0
# Bank clips draw from streams [seed, STREAM_OFFSET + sound, index]; demo clips from [seed, class,
# index] with class < 7, so the two never share a random stream.
STREAM_OFFSET = 1000

SoundMaker = Callable[[np.random.Generator, int, int, DemoConfig], np.ndarray]


def _demo_sound(label: str) -> SoundMaker:
    """The sound of a demo class's object, from a scene drawn but never rendered."""
    def make(rng, sr, n, config):
        stage = _Stage(rng, config.width, config.height, SECONDS)
        return _SCENES[label](stage, config).sound(rng, sr, n)
    return make


def _sine(rng, sr, n, config):
    t = np.arange(n) / sr
    return np.sin(2 * np.pi * rng.uniform(250, 3000) * t) * np.minimum(1, np.minimum(t, t[::-1]) / 0.05)


def _white_noise(rng, sr, n, config):
    return _band_noise(rng, n, sr, 20, sr / 2 - 1)


def _pink_noise(rng, sr, n, config):
    spectrum = np.fft.rfft(rng.standard_normal(n))
    spectrum[1:] /= np.sqrt(np.arange(1, len(spectrum)))
    return np.fft.irfft(spectrum, n)


def _buzzer(rng, sr, n, config):
    out, pitch = np.zeros(n), rng.uniform(90, 300)
    buzz = np.sign(np.sin(2 * np.pi * pitch * np.arange(int(rng.uniform(0.4, 0.9) * sr)) / sr))
    for start in np.sort(rng.uniform(0, SECONDS - 0.5, int(rng.integers(1, 4)))):
        _place(out, sr, start, buzz)
    return out


def _knock(rng, sr, n, config):
    out, low = np.zeros(n), rng.uniform(150, 400)
    start = rng.uniform(0.2, 1.2)
    for k in range(int(rng.integers(2, 5))):
        _place(out, sr, start + k * rng.uniform(0.18, 0.3), _burst(rng, sr, 0.08, 0.012, low, 4 * low))
    return out


def _hum(rng, sr, n, config):
    t, mains = np.arange(n) / sr, rng.choice([50.0, 60.0])
    return sum(np.sin(2 * np.pi * mains * k * t) / k for k in range(1, 6))


def _whistle(rng, sr, n, config):
    t = np.arange(n) / sr
    pitch = rng.uniform(1200, 2800) * (1 + 0.02 * np.sin(2 * np.pi * rng.uniform(4, 7) * t))
    envelope = np.clip(np.sin(np.pi * t / SECONDS) * 3, 0, 1)
    return np.sin(2 * np.pi * np.cumsum(pitch) / sr) * envelope + 0.05 * _band_noise(rng, n, sr, 1000, 5000)


def _chirp(rng, sr, n, config):
    out, low, high = np.zeros(n), rng.uniform(300, 800), rng.uniform(2000, 5000)
    length = int(rng.uniform(0.15, 0.4) * sr)
    sweep = np.sin(2 * np.pi * np.cumsum(np.linspace(low, high, length)) / sr)
    for start in np.arange(rng.uniform(0, 0.3), SECONDS - 0.4, rng.uniform(0.5, 0.9)):
        _place(out, sr, start, sweep)
    return out


def _wood_block(rng, sr, n, config):
    out, pitch = np.zeros(n), rng.uniform(700, 1300)
    hit = _ringing(sr, pitch * np.array([1, 2.4]), [1, 0.4], [0.03, 0.015], 0.12)
    for time in np.arange(rng.uniform(0, 0.4), SECONDS, rng.uniform(0.25, 0.5)):
        _place(out, sr, time, hit, rng.uniform(0.7, 1.0))
    return out


# name -> (AudioSet display names, the first being what the sound is; how it sounds). The demo's
# own sounds first (their names are demo classes), then distractors no demo class makes.
BANK_SOUNDS: dict[str, tuple[tuple[str, ...], SoundMaker]] = {
    "clock_ticking": (("Tick-tock", "Clock"), _demo_sound("clock_ticking")),
    "siren": (("Ambulance (siren)", "Siren", "Emergency vehicle"), _demo_sound("siren")),
    "digital_alarm": (("Beep, bleep", "Alarm clock"), _demo_sound("digital_alarm")),
    "bell_ringing": (("Church bell", "Bell"), _demo_sound("bell_ringing")),
    "banjo": (("Banjo", "Plucked string instrument", "Musical instrument", "Music"), _demo_sound("banjo")),
    "clock_ringing": (("Alarm clock", "Alarm"), _demo_sound("clock_ringing")),
    "maracas": (("Maraca", "Rattle (instrument)", "Percussion", "Musical instrument", "Music"),
                _demo_sound("maracas")),
    "sine": (("Sine wave",), _sine),
    "white_noise": (("White noise",), _white_noise),
    "pink_noise": (("Pink noise",), _pink_noise),
    "buzzer": (("Buzzer", "Alarm"), _buzzer),
    "knock": (("Knock",), _knock),
    "hum": (("Hum",), _hum),
    "whistle": (("Whistle",), _whistle),
    "chirp": (("Chirp tone",), _chirp),
    "wood_block": (("Wood block", "Percussion", "Musical instrument", "Music"), _wood_block),
}


def bank_ytid(sound_index: int, index: int) -> str:
    """An 11-character id, as YouTube's: 'demo' + sound (3 digits) + clip (4 digits)."""
    return f"demo{sound_index:03d}{index:04d}"


def render_bank_sound(sound: str, index: int, config: DemoConfig) -> tuple[np.ndarray, int]:
    """One stand-in clip, a pure function of its arguments: (mono float32 in [-1, 1], sample rate)."""
    sound_index = list(BANK_SOUNDS).index(sound)
    rng = np.random.default_rng([config.seed, STREAM_OFFSET + sound_index, index])
    sample_rate = _choose(rng, SAMPLE_RATE_CHOICES)
    n = round(SECONDS * sample_rate)
    mono = np.asarray(BANK_SOUNDS[sound][1](rng, sample_rate, n, config), np.float64)
    mono *= rng.uniform(0.25, 0.8) / (np.abs(mono).max() + 1e-12)
    mono += rng.uniform(0.001, 0.006) * _band_noise(rng, n, sample_rate, 40, 6000)  # room tone
    return np.clip(mono, -1, 1).astype(np.float32), sample_rate


def write_m4a(path: Path, mono: np.ndarray, sample_rate: int) -> None:
    """AAC in an MP4 container, atomically; bit-exact muxing, so equal input gives equal bytes."""
    with atomic_path(path) as partial, \
            av.open(str(partial), "w", format="mp4", options={"fflags": "+bitexact"}) as container:
        stream = container.add_stream("aac", rate=sample_rate, layout="mono", options={"aac_coder": "fast"})
        stream.codec_context.thread_count = 1
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(mono[None]), format="fltp", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = sample_rate, 0, Fraction(1, sample_rate)
        container.mux(stream.encode(frame))
        container.mux(stream.encode())


def _make_bank_clip(job: tuple[str, int, DemoConfig, Path]) -> str:
    sound, index, config, out_dir = job
    mono, sample_rate = render_bank_sound(sound, index, config)
    ytid = bank_ytid(list(BANK_SOUNDS).index(sound), index)
    write_m4a(out_dir / f"{ytid}.m4a", mono, sample_rate)
    return ytid


def generate_demo_audioset(out_dir: Path, config: DemoConfig, clips_per_sound: int, mid_of: dict[str, str],
                           executor=None, progress: bool = True) -> list[dict]:
    """Write every stand-in clip as `<out_dir>/<YTID>.m4a` and their labels as `<out_dir>/segments.csv`.

    `mid_of` maps AudioSet display names to mids. Returns the segment rows {ytid, sound, mids}."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    missing = sorted({name for names, _ in BANK_SOUNDS.values() for name in names} - set(mid_of))
    if missing:
        raise ValueError(f"demo_audioset: not AudioSet class names: {missing}")
    jobs = [(sound, index, config, out_dir) for sound in BANK_SOUNDS for index in range(clips_per_sound)]
    if executor is None:
        ytids = [_make_bank_clip(job) for job in tqdm(jobs, desc="demo AudioSet stand-in", unit="clip",
                                                       disable=not progress)]
    else:
        ytids = list(executor.map(_make_bank_clip, jobs, total=len(jobs), desc="demo AudioSet stand-in"))
    rows = [{"ytid": ytid, "sound": sound, "mids": [mid_of[name] for name in BANK_SOUNDS[sound][0]]}
            for ytid, (sound, *_rest) in zip(ytids, jobs)]
    labels = {mid for row in rows for mid in row["mids"]}
    with atomic_path(out_dir / SEGMENTS_FILE) as partial, open(partial, "w", newline="") as f:
        f.write("# A sound-only stand-in for AudioSet, rendered by the VIDA demo generator (not from YouTube)\n")
        f.write(f"# num_ytids={len(rows)}, num_segs={len(rows)}, num_unique_labels={len(labels)}, "
                f"num_positive_labels={sum(len(r['mids']) for r in rows)}\n")
        f.write("# YTID, start_seconds, end_seconds, positive_labels\n")
        for row in rows:
            f.write(f'{row["ytid"]}, 0.000, {SECONDS:.3f}, "{",".join(row["mids"])}"\n')
    return rows
