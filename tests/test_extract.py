"""The decode stages end to end on files the tests make, bad ones included."""

import os
import signal
import subprocess
import sys
import textwrap

import h5py
import numpy as np
import pytest

from media import make_clip
from vida_core.shared.artifacts import read_strings
from vida_core.extract.audio import extract_audio
from vida_core.extract.flow import compute_flow, motion_magnitude, optical_flow
from vida_core.extract.frames import extract_frames
from vida_core.extract.representative import representative_frames, select_representative


def test_flow_magnitude_of_a_known_shift():
    rng = np.random.default_rng(0)
    texture = (rng.random((40, 40)) * 255).astype(np.uint8)
    texture = np.kron(texture, np.ones((8, 8), np.uint8))          # 320 x 320, smooth enough to track
    shift = 3
    frames = np.stack([np.repeat(texture[:224, k * shift:k * shift + 224, None], 3, axis=2) for k in range(4)])
    for method in ("dis", "farneback"):
        flow = optical_flow(frames, method, size=224)
        assert flow.shape == (3, 224, 224, 2)
        inner = flow[:, 16:-16, 16:-16]
        # The content moves left by `shift` pixels per frame.
        assert np.median(inner[..., 0]) == pytest.approx(-shift, abs=0.3)
        assert np.median(np.abs(inner[..., 1])) < 0.3
    # Flow computed at half size is reported in pixels of the full-size frames.
    half = optical_flow(frames, "dis", size=112)
    assert np.median(motion_magnitude(half, 224 / 112)) == pytest.approx(shift, abs=0.5)


def test_representative_rule_is_greater_or_equal_and_marks_frame_i_plus_1():
    magnitude = np.ones((1, 17))
    magnitude[0, 4] = 3.0                       # mean = (16 + 3) / 17
    threshold = 3.0 / magnitude.mean()          # exactly at the threshold: >= keeps it
    mask, notes = representative_frames(magnitude, threshold)
    assert mask.shape == (1, 18)
    assert mask[0].nonzero()[0].tolist() == [5] and notes == [""]
    mask, _ = representative_frames(magnitude, threshold * 1.0001)
    assert not mask.any()


def test_static_clip_has_no_representative_frame_and_a_note():
    mask, notes = representative_frames(np.zeros((2, 17)), 1.2)
    assert not mask.any() and all("static" in n for n in notes)


def _rows(tmp_path):
    good = make_clip(tmp_path / "good.mp4", fps=30, seconds=3.0, width=340, height=256)
    surround = make_clip(tmp_path / "surround.mp4", fps=25, channels=6, sample_rate=48000)
    silent = make_clip(tmp_path / "silent.mp4", silent=True)
    mute = make_clip(tmp_path / "mute.mp4", audio_codec=None)
    portrait = make_clip(tmp_path / "portrait.mp4", fps=60, width=1080, height=1920, seconds=3.2)
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "text.mp4").write_text("not a video")
    audio_only = make_clip(tmp_path / "audio_only.m4a", audio_only=True)
    one_frame = make_clip(tmp_path / "one_frame.mp4", frames=1)
    paths = [good, surround, silent, mute, portrait, tmp_path / "empty.mp4", tmp_path / "text.mp4",
             audio_only, one_frame, tmp_path / "listed_but_missing.mp4"]
    return [{"clip_id": p.stem, "path": str(p), "label": "x", "split": "train"} for p in paths]


def test_decode_stages_survive_bad_clips(tmp_path):
    rows = _rows(tmp_path)
    summary = extract_frames(rows, tmp_path / "frames.h5", size=64, workers=2)
    assert summary["kept"] == 5 and summary["rejected"] == 5
    with h5py.File(tmp_path / "frames.h5") as f:
        assert read_strings(f["clip_id"]) == ["good", "surround", "silent", "mute", "portrait"]
        assert f["frames"].shape == (5, 18, 64, 64, 3) and f["timestamps"].shape == (5, 18)
        reasons = dict(zip(read_strings(f["rejects/clip_id"]), read_strings(f["rejects/reason"])))
    assert "empty" in reasons["empty"] and "not a readable" in reasons["text"]
    assert "no video stream" in reasons["audio_only"] and "too short" in reasons["one_frame"]
    assert "not found" in reasons["listed_but_missing"]

    audio = extract_audio(rows, tmp_path / "audio.h5", workers=2)
    assert audio["clips"] == 10
    with h5py.File(tmp_path / "audio.h5") as f:
        has = dict(zip(read_strings(f["clip_id"]), f["has_audio"][()]))
        notes = dict(zip(read_strings(f["clip_id"]), read_strings(f["audio_note"])))
        assert f["logmel"].shape == (10, 18, 128) and f["waveform"].dtype == np.int16
    assert has["good"] and has["surround"] and has["portrait"] and has["audio_only"]
    assert not has["silent"] and "digital silence" in notes["silent"]
    assert not has["mute"] and notes["mute"] == "no audio stream"

    compute_flow(tmp_path / "frames.h5", tmp_path / "flow.h5", size=32, workers=2)
    select_representative(tmp_path / "flow.h5", tmp_path / "representative.h5", 1.2)
    with h5py.File(tmp_path / "flow.h5") as f, h5py.File(tmp_path / "representative.h5") as r:
        assert f["flow"].shape == (5, 17, 32, 32, 2) and f["flow"].dtype == np.float16
        assert r["mask"].shape == (5, 18) and read_strings(r["clip_id"]) == read_strings(f["clip_id"])


@pytest.mark.slow   # tests/test_trust.py checks the same bytes across runs in the fast lane
def test_same_inputs_give_identical_artifacts(tmp_path):
    rows = _rows(tmp_path)[:3]
    extract_frames(rows, tmp_path / "a.h5", size=32, workers=1)
    extract_frames(rows, tmp_path / "b.h5", size=32, workers=2)
    assert (tmp_path / "a.h5").read_bytes() == (tmp_path / "b.h5").read_bytes()


def test_interrupted_stage_leaves_no_artifact(tmp_path):
    clips = [make_clip(tmp_path / f"c{i}.mp4", width=320, height=240) for i in range(3)]
    script = textwrap.dedent(f"""
        import os, signal, vida_core.extract.frames as extract
        original = extract._frames_of
        calls = []
        def dying(job):
            calls.append(job)
            if len(calls) == 2:
                os.kill(os.getpid(), signal.SIGKILL)
            return original(job)
        extract._frames_of = dying
        rows = [dict(clip_id=str(i), path=p) for i, p in enumerate({[str(c) for c in clips]!r})]
        extract.extract_frames(rows, {str(tmp_path / 'frames.h5')!r}, size=32, workers=1)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True)
    assert proc.returncode == -signal.SIGKILL
    assert not (tmp_path / "frames.h5").exists()
    # Rerunning finishes the job.
    rows = [dict(clip_id=str(i), path=str(c)) for i, c in enumerate(clips)]
    assert extract_frames(rows, tmp_path / "frames.h5", size=32)["kept"] == 3
    assert os.path.getsize(tmp_path / "frames.h5") > 0
