"""Stage `representative`: frames whose motion reaches `threshold` x the clip's mean -> representative.h5."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from vida_core.shared import NUM_FRAMES
from vida_core.shared.artifacts import read_strings, write_h5, write_strings

# A clip whose mean motion is below this (pixels between sampled frames) is static: it has no
# representative frame, rather than every frame passing `0 >= threshold * 0`.
STATIC_MOTION_PX = 0.01


def representative_frames(magnitude: np.ndarray, threshold: float) -> tuple[np.ndarray, list[str]]:
    """Frame i+1 is representative when magnitude[i] >= threshold * mean(magnitude of its clip).

    magnitude [N, 17] -> mask [N, 18] (frame 0 never: no motion leads into it), and a note per clip.
    """
    magnitude = np.asarray(magnitude, dtype=np.float64)
    mean = magnitude.mean(axis=1, keepdims=True)
    mask = np.zeros((magnitude.shape[0], NUM_FRAMES), dtype=bool)
    mask[:, 1:] = magnitude >= threshold * mean
    static = mean[:, 0] < STATIC_MOTION_PX
    mask[static] = False
    notes = [f"static clip (mean motion {m:.3f} px < {STATIC_MOTION_PX}): no representative frame" if s
             else ("" if row.any() else f"no frame reaches {threshold} x mean motion")
             for m, s, row in zip(mean[:, 0], static, mask)]
    return mask, notes


def select_representative(flow_path: str | Path, out_path: str | Path, threshold: float,
                          params: dict | None = None) -> dict:
    with h5py.File(flow_path, "r") as src:
        ids = read_strings(src["clip_id"])
        magnitude = src["magnitude"][()]
    mask, notes = representative_frames(magnitude, threshold)
    with write_h5(out_path, "representative", params) as f:
        write_strings(f, "clip_id", ids)
        f.create_dataset("mask", data=mask)
        write_strings(f, "note", notes)
        f.attrs["threshold"] = threshold
    return {"clips": len(ids), "representative_per_clip": float(mask.sum(1).mean()) if len(ids) else 0.0,
            "without_representative": int((~mask.any(1)).sum())}


def representative_stage(stage) -> dict:
    """The `representative` stage (stages/representative.py, and `vida predict`)."""
    threshold = stage.params.threshold
    return select_representative(stage.input("flow"), stage.output("representative"), threshold,
                                 params={"threshold": threshold})
