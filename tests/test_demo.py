"""The embedded demo dataset: real, decodable, deterministic clips whose sound follows the sight."""

from __future__ import annotations

import hashlib
import json
import platform
from pathlib import Path

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


def _onsets(audio: np.ndarray, sample_rate: int, gap: float = 0.2) -> list[float]:
    """Times (s) where the loudness first rises above 30 % of its peak, at least `gap` apart."""
    loudness = np.abs(audio).sum(0)
    loud = np.flatnonzero(loudness > 0.3 * loudness.max()) / sample_rate
    return [t for i, t in enumerate(loud) if i == 0 or t - loud[i - 1] > gap]


def _changed(frames: np.ndarray, k: int) -> bool:
    """Whether frame k visibly differs from frame k-1 (camera noise is about +-4 levels)."""
    return int((np.abs(frames[k].astype(np.int16) - frames[k - 1]).max(-1) > 40).sum()) > 5


def test_clock_ticks_are_heard_when_the_second_hand_jumps():
    for index in range(3):
        frames, fps, audio, sample_rate = render_clip("clock_ticking", index, WITH_AUDIO)
        onsets = _onsets(audio, sample_rate)
        assert len(onsets) >= 5
        for onset in onsets:  # the first frame shown at or after the tick shows the jumped hand
            k = int(np.ceil(onset * float(fps) - 1e-6))
            assert k < len(frames) and _changed(frames, k), (index, onset)
        still = [k for k in range(1, len(frames)) if not any(k - 1 < t * float(fps) <= k for t in onsets)]
        assert sum(_changed(frames, k) for k in still) <= 0.1 * len(still)  # and nothing moves otherwise


def test_bell_strikes_at_the_ends_of_its_swing():
    for index in range(3):
        frames, fps, audio, sample_rate = render_clip("bell_ringing", index, WITH_AUDIO)
        # Where the bell is: the centroid column of pixels that change between frames.
        moving = [np.abs(frames[k].astype(np.int16) - frames[k - 1]).max(-1) > 40 for k in range(1, len(frames))]
        motion = np.array([m.sum() for m in moving], float)
        for onset in _onsets(audio, sample_rate, gap=0.4):
            k = int(round(onset * float(fps)))
            if 2 <= k < len(motion) - 2:  # the swing turns: motion there is a local low
                assert motion[k - 1] <= np.median(motion) + 1e-9 or motion[k] <= np.median(motion), (index, onset)


def test_look_alike_clocks_sound_different():
    def busy(label):  # fraction of 20 ms windows that are loud
        out = []
        for i in range(3):
            audio, sample_rate = render_clip(label, i, WITH_AUDIO)[2:]
            mono = np.abs(audio).mean(0)
            windows = mono[: len(mono) // (sample_rate // 50) * (sample_rate // 50)].reshape(-1, sample_rate // 50)
            out.append(float((windows.max(1) > 0.1 * mono.max()).mean()))
        return out

    assert max(busy("clock_ticking")) < 0.25 < min(busy("clock_ringing"))


def test_the_clock_cue_is_the_only_visible_difference_and_only_while_ringing():
    """clock_cue moves the ringing clock's striker while it rings and changes nothing else: at
    cue 0 the frames are those of a clock that never rings (every random draw is the same), and
    the ticking clock and the sound do not depend on the cue."""
    quiet, cued = DemoConfig(clock_cue=0.0, **_small()), DemoConfig(clock_cue=6.0, **_small())
    for index in range(2):
        frames0, _, audio0, _ = render_clip("clock_ringing", index, quiet)
        frames6, _, audio6, _ = render_clip("clock_ringing", index, cued)
        changed = np.array([not np.array_equal(a, b) for a, b in zip(frames0, frames6)])
        assert 0.2 < changed.mean() < 0.9            # while it rings, not between bursts or before
        assert np.array_equal(audio0, audio6)        # the cue is seen, never heard
        ticking0, ticking6 = render_clip("clock_ticking", index, quiet)[0], render_clip("clock_ticking", index, cued)[0]
        assert np.array_equal(ticking0, ticking6)
        # Where it differs, only a small region around the striker does.
        diff = np.abs(frames0.astype(int) - frames6.astype(int)).max(-1)
        assert (diff > 0).mean(axis=(1, 2)).max() < 0.02
    with pytest.raises(ValueError, match="clock_cue"):
        DemoConfig(clock_cue=-1.0)


def _small() -> dict:
    return {"width": 128, "height": 96}


# The tiny demo's file hashes as the locked environment (requirements.lock, default TORCH_SPEC)
# writes them on x86-64. A mismatch means a package that encodes the clips (PyAV and the FFmpeg it
# bundles, numpy, OpenCV) is not the locked version: the pipeline's artifacts will then differ from
# the committed dvc.lock from the first stage on. After `bash setup.sh --update-lock` changes one of
# them, regenerate this table (docs/environment.md).
LOCKED_TINY_DEMO = "data/tiny_demo_sha256.json"


@pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"),
                    reason="the committed hashes are the locked environment's on x86-64")
def test_the_locked_environment_writes_the_committed_tiny_demo(tiny_dataset):
    out_dir, _ = tiny_dataset
    expected = json.loads((Path(__file__).parent / LOCKED_TINY_DEMO).read_text())
    got = _digests(out_dir)
    differing = sorted(name for name in expected if got.get(name) != expected[name])
    assert not differing and set(got) == set(expected), (
        f"the tiny demo differs from the locked environment's in {differing or sorted(set(got) ^ set(expected))}: "
        f"is this environment installed from requirements.lock (bash setup.sh)?")
