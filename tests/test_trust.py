"""Trust on real data: crashes become rejects, bugs fail the stage, too many rejects fail it,
damaged audio is kept with a note, killed runs leave no temporaries, reruns are byte-identical."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml

from media import damage_packets, make_clip
from vida_core.executors import LocalExecutor
from vida_core.extract import ClipError
from vida_core.extract import frames as frames_module
from vida_core.extract.audio import extract_audio
from vida_core.extract.flow import compute_flow
from vida_core.extract.frames import extract_frames
from vida_core.shared import artifacts
from vida_core.shared.artifacts import read_strings, write_h5
from vida_core.shared.stage import Stage, TooManyRejects

ROOT = Path(__file__).resolve().parents[1]


def _rows(paths):
    return [{"clip_id": Path(p).stem, "path": str(p)} for p in paths]


# -------------------------------------------------------------- crashes, bugs, reject limit

def crash_on_marked_clips():
    """Worker initializer: the decoder segfaults on any clip whose name contains 'crash'."""
    real = frames_module.decode_frames

    def decode(path, **kwargs):
        if "crash" in Path(path).name:
            os.kill(os.getpid(), signal.SIGSEGV)
        return real(path, **kwargs)

    frames_module.decode_frames = decode


def test_a_decoder_that_segfaults_rejects_its_clip_and_names_the_signal(tmp_path):
    clips = [make_clip(tmp_path / name, seconds=3.0, audio_codec=None)
             for name in ("a.mp4", "crash.mp4", "b.mp4")]
    executor = LocalExecutor(workers=2, initializer=crash_on_marked_clips)
    summary = extract_frames(_rows(clips), tmp_path / "frames.h5", size=32, executor=executor)
    assert summary["kept"] == 2 and summary["rejected"] == 1
    clip_id, reason = summary["rejects"][0]
    assert clip_id == "crash" and "SIGSEGV" in reason and "retried" in reason
    with h5py.File(tmp_path / "frames.h5") as f:
        assert read_strings(f["clip_id"]) == ["a", "b"]
        assert read_strings(f["rejects/reason"])[0] == reason


def test_a_code_error_fails_the_stage_naming_the_clip(tmp_path, monkeypatch):
    clip = make_clip(tmp_path / "fine.mp4", seconds=3.0, audio_codec=None)

    def buggy(path, **kwargs):
        return 1 / 0

    monkeypatch.setattr(frames_module, "decode_frames", buggy)
    with pytest.raises(ClipError, match="frames: unexpected ZeroDivisionError on clip .*fine.mp4"):
        extract_frames(_rows([clip]), tmp_path / "frames.h5", size=32)
    assert not (tmp_path / "frames.h5").exists()


def test_a_code_error_in_audio_is_not_turned_into_missing_audio(tmp_path, monkeypatch):
    from vida_core.extract import audio as audio_module

    clip = make_clip(tmp_path / "fine.mp4", seconds=3.0)
    monkeypatch.setattr(audio_module, "decode_audio", lambda path, **kwargs: [][1])
    with pytest.raises(ClipError, match="audio: unexpected IndexError on clip"):
        extract_audio(_rows([clip]), tmp_path / "audio.h5")


def test_too_many_rejects_fail_the_stage_with_the_reasons(tmp_path):
    (tmp_path / "params.yaml").write_text("max_reject_fraction: 0.25\n")
    stage = Stage("frames", root=tmp_path)
    stage.check_rejects(4, [("a", "no video stream")])                       # 25 %: passes
    with pytest.raises(TooManyRejects) as err:
        stage.check_rejects(4, [("a", "no video stream"), ("b", "too short: 1.00 s, under ...")])
    message = str(err.value)
    for words in ("2 of 4 clips (50%)", "max_reject_fraction=0.25", "1 x 'no video stream'",
                  "1 x 'too short'", "vida inspect"):
        assert words in message


def test_the_frames_stage_exits_non_zero_above_the_limit_and_keeps_the_artifact(tmp_path):
    (tmp_path / "data" / "x").mkdir(parents=True)
    good = make_clip(tmp_path / "data" / "x" / "good.mp4", seconds=3.0, audio_codec=None)
    for name in ("bad1.mp4", "bad2.mp4"):
        (good.parent / name).write_bytes(b"not a video")
    (tmp_path / "artifacts").mkdir()
    from vida_core.io.dataset import write_manifest
    write_manifest([{"clip_id": p.stem, "path": str(p), "label": "x", "split": "train", "fingerprint": ""}
                    for p in sorted(good.parent.iterdir())], tmp_path / "artifacts" / "manifest.csv")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"workers": 1, "frames": {"resolution": 32}}))
    proc = subprocess.run([sys.executable, str(ROOT / "stages" / "frames.py")], cwd=tmp_path,
                          capture_output=True, text=True)
    assert proc.returncode != 0
    assert "2 of 3 clips (67%) rejected" in proc.stderr and "not a readable media file" in proc.stderr
    assert (tmp_path / "artifacts" / "frames.h5").exists()   # so `vida inspect` shows the rejects


# ------------------------------------------------------------------------- damaged audio

def test_a_damaged_audio_packet_is_kept_with_a_note_in_audio_h5(tmp_path):
    clip = make_clip(tmp_path / "clip.mp4", seconds=3.0)
    damage_packets(clip, "audio", [0])
    summary = extract_audio(_rows([clip]), tmp_path / "audio.h5")
    assert summary["with_audio"] == 1 and summary["unreadable"] == 0
    with h5py.File(tmp_path / "audio.h5") as f:
        assert bool(f["has_audio"][0]) and "skipped 1 damaged audio packet" in read_strings(f["audio_note"])[0]


# ------------------------------------------------------------------------- temporaries

def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_temporaries_of_killed_runs_are_removed_by_the_next_write(tmp_path):
    host = artifacts._HOST
    stale = tmp_path / f".x.h5.{host}.{_dead_pid()}.tmp"
    live = tmp_path / f".x.h5.{host}.{os.getppid()}.tmp"          # a running process's: kept
    fresh_foreign = tmp_path / ".x.h5.otherhost.123.tmp"         # another machine's, recent: kept
    old_foreign = tmp_path / ".x.h5.otherhost.456.tmp"           # another machine's, a day old: removed
    for path in (stale, live, fresh_foreign, old_foreign):
        path.write_bytes(b"partial")
    day_ago = time.time() - artifacts.STALE_FOREIGN_SECONDS - 60
    os.utime(old_foreign, (day_ago, day_ago))
    with write_h5(tmp_path / "x.h5", "test") as f:
        f["a"] = np.arange(3)
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted([live.name, fresh_foreign.name, "x.h5"])


def test_a_stage_killed_mid_write_leaves_only_a_temporary_that_the_rerun_removes(tmp_path):
    clips = [make_clip(tmp_path / f"c{i}.mp4", seconds=3.0, audio_codec=None) for i in range(3)]
    script = (
        "import os, signal, sys\n"
        "import vida_core.extract.frames as m\n"
        "real, calls = m._frames_of, []\n"
        "def dying(job):\n"
        "    calls.append(job)\n"
        "    if len(calls) == 2:\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
        "    return real(job)\n"
        "m._frames_of = dying\n"
        f"rows = [dict(clip_id=str(i), path=p) for i, p in enumerate({[str(c) for c in clips]!r})]\n"
        f"m.extract_frames(rows, {str(tmp_path / 'frames.h5')!r}, size=32, workers=1)\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True)
    assert proc.returncode == -signal.SIGKILL
    assert [p.name for p in tmp_path.glob(".frames.h5.*.tmp")]        # the killed run's partial file
    extract_frames(_rows(clips), tmp_path / "frames.h5", size=32)
    assert not list(tmp_path.glob(".frames.h5.*.tmp")) and (tmp_path / "frames.h5").exists()


def _writing(path: Path) -> subprocess.Popen:
    """A process in the middle of writing `path` through write_h5 (it waits there)."""
    script = ("import time\n"
              "from vida_core.shared.artifacts import write_h5\n"
              f"with write_h5({str(path)!r}, 'test') as f:\n"
              "    f['partial'] = list(range(1000))\n"
              "    f.flush()\n"
              "    print('writing', flush=True)\n"
              "    time.sleep(120)\n")
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "writing\n"
    return proc


def test_temporaries_of_killed_writes_are_removed_when_a_stage_or_vida_starts(tmp_path, monkeypatch):
    """A rerun whose output DVC restores from its run cache never writes it, so no atomic_path
    of that file removes the killed run's temporary: any stage starting (or `vida`) does."""
    from typer.testing import CliRunner

    from vida_core.shared.registry import artifact
    from vida_core.views.cli import app

    (tmp_path / "params.yaml").write_text("max_reject_fraction: 0.25\n")
    killed, running = _writing(artifact("frames").path(tmp_path)), _writing(artifact("audio").path(tmp_path))
    try:
        killed.kill()
        killed.wait()
        folder = tmp_path / "artifacts"
        assert len(list(folder.glob(".frames.h5.*.tmp"))) == 1 and len(list(folder.glob(".audio.h5.*.tmp"))) == 1
        Stage("flow", root=tmp_path)
        assert not list(folder.glob(".frames.h5.*.tmp"))           # the killed writer's: removed
        assert len(list(folder.glob(".audio.h5.*.tmp"))) == 1       # a running writer's: kept
    finally:
        running.kill()
        running.wait()
    # A dead process's temporary inside a folder artifact (the demo clips), and `vida` starting.
    demo_tmp = artifact("demo").path(tmp_path) / "bell" / f".bell_0001.mp4.{artifacts._HOST}.{_dead_pid()}.tmp"
    demo_tmp.parent.mkdir(parents=True)
    demo_tmp.write_bytes(b"partial")
    monkeypatch.chdir(tmp_path)
    CliRunner().invoke(app, ["inspect", "artifacts/none.h5"])
    assert not demo_tmp.exists() and not list((tmp_path / "artifacts").glob(".*.tmp"))


# ------------------------------------------------------------------------- determinism

def _per_clip_stages(clips, out: Path, workers: int):
    out.mkdir()
    extract_frames(_rows(clips), out / "frames.h5", size=64, workers=workers)
    extract_audio(_rows(clips), out / "audio.h5", workers=workers)
    compute_flow(out / "frames.h5", out / "flow.h5", size=32, options={"preset": "fast"}, workers=workers)
    return {name: (out / name).read_bytes() for name in ("frames.h5", "audio.h5", "flow.h5")}


def test_per_clip_stages_are_byte_identical_across_runs_and_worker_counts(tmp_path):
    clips = [
        # A long clip whose 3 s window starts at 4.5 s: the decoder seeks. Intra refresh makes the
        # keyframe it lands on a P picture, the case that gave garbage that varied run to run.
        make_clip(tmp_path / "long.mp4", fps=25, seconds=12.0, video_options={"x264-params": "intra-refresh=1:keyint=50"}),
        make_clip(tmp_path / "short.mp4", fps=30, seconds=2.8),
        make_clip(tmp_path / "plain.mp4", fps=24, seconds=3.0, channels=2),
    ]
    first = _per_clip_stages(clips, tmp_path / "one", workers=1)
    second = _per_clip_stages(clips, tmp_path / "two", workers=2)
    assert first == second
    with h5py.File(tmp_path / "one" / "frames.h5") as f:
        assert f.attrs["rejected"] == 0 and f["timestamps"][0, 0] == pytest.approx(4.5, abs=0.05)


# ------------------------------------------------------------------------------ demo_data

def test_demo_data_does_nothing_when_the_dataset_is_not_the_demo(tmp_path):
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"dataset": {"name": "folder", "root": "mine"}}))
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, str(ROOT / "stages" / "demo_data.py")], cwd=tmp_path,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert [p.name for p in (tmp_path / "data" / "demo").iterdir()] == ["NOT_GENERATED.txt"]
    assert time.perf_counter() - start < 20   # interpreter start and imports; generating takes minutes
    shutil.rmtree(tmp_path / "data")
