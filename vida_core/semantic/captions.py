"""Stage `captions`: caption every representative frame -> captions.json.

No frame is captioned twice:
- The captioner `effnet-lite0-labels` is the embedded image encoder's network. When
  visual.h5 holds that network's top ImageNet classes for every RGB frame (the image encoder
  computes them in its own pass), captions are worded from them: the network never runs here.
- Any other captioner (BLIP, or the embedded one beside another image encoder) goes through a
  persistent cache, `.vida/caption_cache.sqlite`, keyed by the captioner (model, weights, device,
  precision, decoding) and by the frame's pixels (a BLAKE2b hash of the 224 x 224 RGB array, so a
  re-encoded clip under the same name is captioned anew). A threshold sweep then captions only
  frames that no earlier run has captioned. The cache lives outside DVC's outs because DVC
  deletes a stage's outs before running it (unless `persist`), and DVC's run cache only helps
  when a whole stage's inputs repeat. A cached caption is the one computed first: a captioner
  whose output could depend on which frames share its batch would give the same text either way
  but for near-ties; delete the file to recompute everything.

Frames of many clips are gathered into batches of `captions.batch_size`, and the captioner is
loaded once. A clip with no representative frame gets an empty list (CAFMap then sees noise only).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path

import h5py
import numpy as np
from tqdm import tqdm

from vida_core.shared.artifacts import aligned_rows, atomic_path, read_strings
from vida_core.models.specs import model_identity

DEFAULT_CAPTION_CACHE = Path(".vida") / "caption_cache.sqlite"


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


def captioner_key(captioner) -> str:
    """What a caption depends on besides the frame: model, weights, device, precision, decoding."""
    identity = model_identity(captioner)
    model = getattr(captioner, "model", None)
    parameter = next(model.parameters(), None) if model is not None else None
    return json.dumps({**identity, "device": str(getattr(captioner, "device", "")),
                       "dtype": str(getattr(parameter, "dtype", "")),
                       "max_new_tokens": getattr(captioner, "max_new_tokens", None)}, sort_keys=True)


class CaptionCache:
    """Captions by (captioner key, frame pixels), in one SQLite file."""

    def __init__(self, path: str | Path):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(path), timeout=60)
        self.db.execute("CREATE TABLE IF NOT EXISTS captions (captioner TEXT, frame BLOB, caption TEXT, "
                        "PRIMARY KEY (captioner, frame))")

    @staticmethod
    def frame_key(image: np.ndarray) -> bytes:
        image = np.ascontiguousarray(image)
        return hashlib.blake2b(repr((image.shape, image.dtype.str)).encode() + image.tobytes(), digest_size=16).digest()

    def get(self, captioner: str, frames: list[bytes]) -> dict[bytes, str]:
        found = {}
        for lo in range(0, len(frames), 500):   # SQLite's limit on bound parameters
            part = frames[lo:lo + 500]
            rows = self.db.execute(f"SELECT frame, caption FROM captions WHERE captioner = ? AND frame IN "
                                   f"({','.join('?' * len(part))})", [captioner, *part])
            found.update(rows.fetchall())
        return found

    def put(self, captioner: str, items: list[tuple[bytes, str]]) -> None:
        with self.db:
            self.db.executemany("INSERT OR IGNORE INTO captions VALUES (?, ?, ?)",
                                [(captioner, frame, text) for frame, text in items])

    def close(self) -> None:
        self.db.close()


class CachedCaptioner:
    """A captioner that captions only frames the cache has not seen; counts what it ran."""

    def __init__(self, captioner, cache: CaptionCache):
        self.captioner, self.cache, self.key = captioner, cache, captioner_key(captioner)
        self.captioned = self.reused = 0

    def caption(self, images: np.ndarray) -> list[str]:
        keys = [CaptionCache.frame_key(image) for image in images]
        known = self.cache.get(self.key, keys)
        todo = [i for i, k in enumerate(keys) if k not in known]
        if todo:
            texts = self.captioner.caption(images[todo])
            new = [(keys[i], str(text)) for i, text in zip(todo, texts)]
            self.cache.put(self.key, new)
            known.update(new)
        self.captioned += len(todo)
        self.reused += len(keys) - len(todo)
        return [known[k] for k in keys]


def labels_from_visual(visual_h5: Path | None, captioner) -> bool:
    """True when visual.h5 holds the captioner's own network's top classes for every RGB frame."""
    if visual_h5 is None or not hasattr(captioner, "captions_from_top") or not Path(visual_h5).exists():
        return False
    with h5py.File(visual_h5, "r") as f:
        if "rgb_label_index" not in f:
            return False
        made_by = json.loads(f.attrs.get("labels_model", "{}"))
    spec = captioner.spec
    return made_by.get("weights") == spec.weights_source and spec.loader == "efficientnet_lite0"


def _captions_from_visual(clip_ids: Sequence[str], masks: np.ndarray, visual_h5: Path, captioner) -> dict[str, list[dict]]:
    with h5py.File(visual_h5, "r") as f:
        rows = aligned_rows(clip_ids, read_strings(f["clip_id"]), visual_h5, "visual_features")
        index, prob = f["rgb_label_index"], f["rgb_label_prob"]
        captions = {}
        for cid, row, mask in zip(clip_ids, rows, masks):
            frames = np.flatnonzero(mask)
            texts = captioner.captions_from_top(index[int(row)][frames], prob[int(row)][frames]) if len(frames) else []
            captions[cid] = [{"frame": int(k), "caption": text} for k, text in zip(frames, texts)]
    return captions


def run_captions(representative_h5: Path, frames_h5: Path, out_json: Path, captioner, batch_size: int,
                 video_paths: dict[str, str] | None = None, visual_h5: Path | None = None,
                 cache_path: Path | None = DEFAULT_CAPTION_CACHE) -> dict:
    """Caption the representative frames of every clip -> captions.json {model, clips}.

    With `video_paths` (clip id -> video file; `captions.source: video`), the captioner sees
    each frame whole, decoded again from the video at its own input size (frame_source.py);
    without, frames.h5's 224 px centre squares, and then the embedded captioner's words come
    from visual.h5, where the image encoder's pass already ran the same network on them.
    Other frames go through the per-frame caption cache, so no frame is captioned twice.
    """
    with h5py.File(representative_h5, "r") as rep:
        clip_ids, masks = read_strings(rep["clip_id"]), rep["mask"][()]
    counts = {}
    if video_paths is None and labels_from_visual(visual_h5, captioner):
        captions = _captions_from_visual(clip_ids, masks, visual_h5, captioner)
        counts = {"source": "visual.h5 (the image encoder's pass)"}
    else:
        cache = CaptionCache(cache_path) if cache_path is not None else None
        runner = CachedCaptioner(captioner, cache) if cache else captioner
        with h5py.File(frames_h5, "r") as fr:
            frame_rows = aligned_rows(clip_ids, read_strings(fr["clip_id"]), frames_h5, "frames")
            frames = fr["frames"]
            read_frames = lambda row, idx: frames[int(frame_rows[row]), idx]  # noqa: E731
            if video_paths is not None:
                from vida_core.semantic.frame_source import video_frame_reader
                read_frames = video_frame_reader([video_paths[cid] for cid in clip_ids],
                                                 _RowsOf(fr["timestamps"], frame_rows), read_frames, captioner.prep)
                counts["source"] = "video (whole frames)"
            captions = caption_representative_frames(clip_ids, masks, read_frames, runner, batch_size)
            if video_paths is not None:
                counts["frames_not_found_in_video"] = read_frames.fallbacks
        if cache:
            counts.update(captioned=runner.captioned, from_cache=runner.reused)
            cache.close()
    with atomic_path(out_json) as tmp:
        tmp.write_text(json.dumps({"model": model_identity(captioner), "clips": captions}, indent=1))
    return {"clips": len(captions), "frames": sum(map(len, captions.values())),
            "clips_without_caption": sum(not c for c in captions.values()), **counts}


class _RowsOf:
    """dataset[rows[i]] for index i, read when asked."""

    def __init__(self, dataset, rows):
        self.dataset, self.rows = dataset, rows

    def __getitem__(self, i):
        return self.dataset[int(self.rows[i])]


def captions_stage(stage, cache_path: Path | None = DEFAULT_CAPTION_CACHE) -> dict:
    """The `captions` stage (stages/captions.py, and `vida predict`): every representative frame's
    caption -> captions.json."""
    from vida_core.io.dataset import read_manifest
    from vida_core.models import load_captioner

    batch_size = stage.params.captions.batch_size
    captioner = stage.model(load_captioner, stage.params.models.captioner, batch_size=batch_size)
    video_paths = None
    if stage.params.captions.source == "video":  # the whole frame, decoded again at the captioner's size
        video_paths = {row["clip_id"]: row["path"] for row in read_manifest(stage.input("manifest"))}
    return run_captions(stage.input("representative"), stage.input("frames"), stage.output("captions"),
                        captioner, stage.call_batch(batch_size), video_paths, visual_h5=stage.input("visual"),
                        cache_path=cache_path)
