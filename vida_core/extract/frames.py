"""Stage `frames`: 18 RGB frames per clip at 6 fps -> frames.h5, with a reason for every reject.

The clips run through the executor (`vida_core.executors`) and results are appended to the
artifact in chunks as they arrive, in manifest order, so memory stays flat with the dataset
size and the file is the same whatever the number of workers. Each worker lzf-compresses its
own clip's frames (one chunk per clip), so the writing process only appends ready bytes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vida_core.shared import NUM_FRAMES
from vida_core.executors import WorkerDied, make_executor
from vida_core.extract import DECODE_ERRORS, clip_error
from vida_core.shared.artifacts import STRING, RowWriter, encode_row, write_h5, write_strings
from vida_core.io.dataset import read_manifest
from vida_core.io.decode import ClipRejected, decode_frames
from vida_core.shared.config import FramesConfig, asdict


FRAMES_STORAGE = {"compression": "lzf"}   # one chunk per clip, compressed in the workers


def _frames_of(job: tuple[str, int, float]):
    """(encoded frames, timestamps, "", note) of a kept clip, the note saying which video stream
    was read when the file has several; (None, None, reason, "") of a reject."""
    path, size, min_duration = job
    try:
        decoded = decode_frames(path, size=size, min_duration=min_duration)
        frames, stamps = decoded
        return encode_row(frames, **FRAMES_STORAGE), stamps, "", decoded.note
    except ClipRejected as err:
        return None, None, str(err), ""
    except DECODE_ERRORS as err:
        return None, None, f"decode error ({err.__class__.__name__}: {err})", ""
    except Exception as err:
        raise clip_error("frames", path, err) from err


def extract_frames(rows: list[dict], out_path: str | Path, size: int = FramesConfig.resolution,
                   min_duration: float = FramesConfig.min_duration,
                   executor=None, params: dict | None = None, workers: int = 1) -> dict:
    """Decode 18 frames per manifest row into `frames.h5`; returns kept/rejected counts.

    Kept clips read from a file with several video streams are listed in `notes/clip_id` and
    `notes/note` (which stream was read), a group written only when there is such a clip.
    """
    rejected_ids, reasons, noted = [], [], []
    with write_h5(out_path, "frames", params) as f:
        writer = RowWriter(f, {
            "clip_id": ((), STRING, {}),
            "frames": ((NUM_FRAMES, size, size, 3), np.uint8,
                       {"chunks": (1, NUM_FRAMES, size, size, 3), **FRAMES_STORAGE}),
            "timestamps": ((NUM_FRAMES,), np.float64, {}),
        }, flush_every=8)
        jobs = ((r["path"], size, min_duration) for r in rows)
        results = (executor or make_executor("local", workers)).map(_frames_of, jobs, total=len(rows), desc="frames")
        for row, result in zip(rows, results):
            frames, stamps, reason, note = (None, None, f"decoder crashed: {result.reason}", "") \
                if isinstance(result, WorkerDied) else result
            if frames is None:
                rejected_ids.append(row["clip_id"])
                reasons.append(reason)
            else:
                writer.append(clip_id=row["clip_id"], frames=frames, timestamps=stamps)
                if note:
                    noted.append((row["clip_id"], note))
        writer.flush()
        rejects = f.create_group("rejects")
        write_strings(rejects, "clip_id", rejected_ids)
        write_strings(rejects, "reason", reasons)
        if noted:
            notes = f.create_group("notes")
            write_strings(notes, "clip_id", [cid for cid, _ in noted])
            write_strings(notes, "note", [note for _, note in noted])
        f.attrs["kept"], f.attrs["rejected"] = writer.count, len(rejected_ids)
    return {"kept": writer.count, "rejected": len(rejected_ids),
            "rejects": list(zip(rejected_ids, reasons))}


def frames_stage(stage) -> dict:
    """The `frames` stage (stages/frames.py, and `vida predict` on its own artifacts folder):
    every manifest clip's 18 frames -> frames.h5. Returns the counts and the rejects."""
    knobs = stage.params.frames
    rows = read_manifest(stage.input("manifest"))
    summary = extract_frames(rows, stage.output("frames"), size=knobs.resolution, min_duration=knobs.min_duration,
                             executor=stage.executor(("vida_core.extract.frames",)),
                             params={"frames": asdict(knobs)})
    return {**summary, "clips": len(rows)}
