"""The embedded demo dataset: real, decodable, deterministic clips whose sound follows the sight."""

from __future__ import annotations

import hashlib

import av
import numpy as np
import pytest

from vida_core.executors import make_executor
from vida_core.io.demo import DEMO_CLASSES, INFO_FILE, DemoConfig, audio_mode, generate_demo_dataset, render_clip

# 3 classes x 2 clips, with fractions high enough that one clip has no audio and one is silent.
TINY = DemoConfig(clips_per_class=2, num_classes=3, no_audio_fraction=0.2, silent_fraction=0.2)
WITH_AUDIO = DemoConfig(no_audio_fraction=0.0, silent_fraction=0.0)


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("demo")
    return out_dir, generate_demo_dataset(out_dir, TINY, progress=False)


def _digests(folder) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_clips_decode_with_expected_streams(tiny_dataset):
    out_dir, rows = tiny_dataset
    assert len(rows) == 6 and {r["label"] for r in rows} == set(DEMO_CLASSES[:3])
    assert sorted(r["audio"] for r in rows) == ["none", "silent", "yes", "yes", "yes", "yes"]
    assert (out_dir / INFO_FILE).read_text().splitlines()[0] == "clip_id,path,label,fps,duration,audio"
    for row in rows:
        assert row["path"] == f"{row['label']}/{row['clip_id']}.mp4"
        with av.open(str(out_dir / row["path"])) as container:
            assert len(container.streams.video) == 1
            assert len(container.streams.audio) == (0 if row["audio"] == "none" else 1)
            assert container.duration / 1e6 == pytest.approx(row["duration"], abs=0.1)
            assert 2.9 < row["duration"] < 4.1
            video = container.streams.video[0]
            assert video.codec_context.name == "h264"
            assert float(video.average_rate) == pytest.approx(row["fps"], abs=0.01)
            n_frames = sum(1 for _ in container.decode(video=0))
            assert n_frames == round(row["duration"] * row["fps"])
        if row["audio"] != "none":
            with av.open(str(out_dir / row["path"])) as container:
                samples = np.concatenate([f.to_ndarray().ravel() for f in container.decode(audio=0)])
            peak = np.abs(samples).max()
            assert peak == 0.0 if row["audio"] == "silent" else peak > 0.05


def test_generation_is_byte_identical(tiny_dataset, tmp_path):
    out_dir, _ = tiny_dataset
    # A second run, in parallel this time: worker count must not change a byte.
    generate_demo_dataset(tmp_path, TINY, executor=make_executor("local", workers=2))
    first, second = _digests(out_dir), _digests(tmp_path)
    assert len(first) == 7 and first == second


def test_audio_modes_spread_over_classes():
    config = DemoConfig()
    modes = [(label, audio_mode(label, i, config))
             for label in config.classes for i in range(config.clips_per_class)]
    for mode in ("none", "silent"):
        labels = [label for label, m in modes if m == mode]
        assert len(labels) == round(0.03 * len(modes)) and len(set(labels)) >= 6


def _first_landing(frames: np.ndarray, fps) -> tuple[float, float]:
    """Between which two frame times a falling thing first lands, seen from frame differences only."""
    moving = np.abs(np.diff(frames.astype(np.int16), axis=0)).sum(-1) > 40  # camera noise stays below
    rows = np.arange(frames.shape[1])
    lowest = [rows[m.any(1)].max() if m.any() else -1 for m in moving]  # diff k: frames k and k+1
    k = next(k for k in range(len(lowest) - 1) if 0 <= lowest[k] >= lowest[k + 1])  # stops going down
    return k / float(fps), (k + 1) / float(fps)


@pytest.mark.parametrize("label", ["metal_drop", "wood_drop", "bouncing"])
def test_impact_sound_is_heard_when_seen(label):
    for index in range(3):
        frames, fps, audio, sample_rate = render_clip(label, index, WITH_AUDIO)
        loudness = np.abs(audio).sum(0)
        onset = np.argmax(loudness > 0.3 * loudness.max()) / sample_rate  # the first hit is the loudest
        before, after = _first_landing(frames, fps)
        # Pixels resolve the landing to about a frame: allow one frame either side.
        assert before - 1 / float(fps) <= onset <= after + 1 / float(fps), (index, onset, before)


def _power_spectrum(audio: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    return np.fft.rfftfreq(audio.shape[1], 1 / sample_rate), np.abs(np.fft.rfft(audio.mean(0))) ** 2 + 1e-20


def _spectral_centroid(audio: np.ndarray, sample_rate: int) -> float:
    freqs, power = _power_spectrum(audio, sample_rate)
    return float((power * freqs).sum() / power.sum())


def _spectral_flatness(audio: np.ndarray, sample_rate: int) -> float:
    """Geometric over arithmetic mean of the power in 0.5-7 kHz: near 1 for noise, near 0 for tones."""
    freqs, power = _power_spectrum(audio, sample_rate)
    band = power[(freqs > 500) & (freqs < 7000)]
    return float(np.exp(np.log(band).mean()) / band.mean())


def test_look_alike_classes_sound_different():
    def measure(label, measure_fn):
        return [measure_fn(*render_clip(label, i, WITH_AUDIO)[2:]) for i in range(3)]

    # Metal rings high, wood knocks low.
    assert min(measure("metal_drop", _spectral_centroid)) > max(measure("wood_drop", _spectral_centroid))
    # Rattle grains are noise (flat spectrum), bells are tones (peaky spectrum).
    rattle, bell = measure("shaking_rattle", _spectral_flatness), measure("shaking_bell", _spectral_flatness)
    assert min(rattle) > 5 * max(bell)
