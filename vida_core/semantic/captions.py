"""Stage `captions`: caption every representative frame -> captions.json.

Frames of many clips are gathered into batches of `captions.batch_size`, and the captioner is
loaded once. A clip with no representative frame gets an empty list (CAFMap then sees noise only).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import h5py
import numpy as np
from tqdm import tqdm

from vida_core.io.artifacts import aligned_rows, atomic_path, read_strings
from vida_core.models.specs import model_identity


def caption_representative_frames(
        clip_ids: Sequence[str], masks: np.ndarray,
        read_frames: Callable[[int, np.ndarray], np.ndarray],
        captioner, batch_size: int) -> dict[str, list[dict]]:
    """Caption every representative frame, batching frames across clips.

    `masks` [N,18] marks representative frames; `read_frames(row, frame_indices)` returns
    those frames uint8 [n,H,W,3]. Returns {clip_id: [{"frame", "caption"}]} in clip order,
    an empty list for a clip with no representative frame. Memory holds one batch plus
    one clip's frames, however many clips there are.
    """
    captions: dict[str, list[dict]] = {cid: [] for cid in clip_ids}
    images: list[np.ndarray] = []
    keys: list[tuple[str, int]] = []

    def flush(n: int) -> None:
        texts = captioner.caption(np.stack(images[:n]))
        for (cid, frame), text in zip(keys[:n], texts):
            captions[cid].append({"frame": frame, "caption": str(text)})
        del images[:n], keys[:n]

    for row, cid in enumerate(tqdm(clip_ids, desc="captions", unit="clip")):
        frame_indices = np.flatnonzero(masks[row])
        if len(frame_indices) == 0:
            continue
        for frame, image in zip(frame_indices, read_frames(row, frame_indices)):
            images.append(np.asarray(image))
            keys.append((cid, int(frame)))
        while len(images) >= batch_size:
            flush(batch_size)
    if images:
        flush(len(images))
    return captions


def run_captions(representative_h5: Path, frames_h5: Path, out_json: Path, captioner, batch_size: int,
                 video_paths: dict[str, str] | None = None) -> dict:
    """Caption the representative frames of every clip -> captions.json {model, clips}.

    With `video_paths` (clip id -> video file; `captions.source: video`), the captioner sees
    each frame whole, decoded again from the video at its own input size (frame_source.py);
    without, frames.h5's 224 px centre squares."""
    with h5py.File(representative_h5, "r") as rep, h5py.File(frames_h5, "r") as fr:
        clip_ids, masks = read_strings(rep["clip_id"]), rep["mask"][()]
        frame_rows = aligned_rows(clip_ids, read_strings(fr["clip_id"]), frames_h5, "frames")
        frames = fr["frames"]
        read_frames = lambda row, idx: frames[int(frame_rows[row]), idx]  # noqa: E731
        if video_paths is not None:
            from vida_core.semantic.frame_source import video_frame_reader
            read_frames = video_frame_reader([video_paths[cid] for cid in clip_ids],
                                             _RowsOf(fr["timestamps"], frame_rows), read_frames, captioner.prep)
        captions = caption_representative_frames(clip_ids, masks, read_frames, captioner, batch_size)
    with atomic_path(out_json) as tmp:
        tmp.write_text(json.dumps({"model": model_identity(captioner), "clips": captions}, indent=1))
    return {"clips": len(captions), "frames": sum(map(len, captions.values())),
            "clips_without_caption": sum(not c for c in captions.values()),
            **({"frames_not_found_in_video": read_frames.fallbacks} if video_paths is not None else {})}


class _RowsOf:
    """dataset[rows[i]] for index i, read when asked."""

    def __init__(self, dataset, rows):
        self.dataset, self.rows = dataset, rows

    def __getitem__(self, i):
        return self.dataset[int(self.rows[i])]
