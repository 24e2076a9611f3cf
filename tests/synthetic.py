"""Small synthetic artifacts in the pipeline's schemas, for tests and the learning benchmark.

Each class has a visual and an audio prototype sequence; a clip is its class's prototype
times a signal strength plus noise, so how much each modality tells about the class is a
knob. Files are written in slabs, so a 100,000-clip file never sits in memory.
"""

from __future__ import annotations

import contextlib
import csv
from pathlib import Path

import h5py
import numpy as np

from vida_core.shared import NUM_FRAMES, NUM_MEL_BINS
from vida_core.shared.artifacts import write_h5, write_strings

SLAB = 2048  # clips generated and written at a time


def _dataset(f: h5py.File, name: str, n: int, row_shape: tuple, dtype) -> h5py.Dataset:
    row_bytes = int(np.prod(row_shape)) * np.dtype(dtype).itemsize
    chunk_rows = int(max(1, min(n, 2**20 // row_bytes)))
    return f.create_dataset(name, shape=(n, *row_shape), dtype=dtype, chunks=(chunk_rows, *row_shape))


def make_synthetic(folder: str | Path, clips: int = 120, classes: int = 4, dim: int = 16,
                   dtype: str = "float32", visual_signal: float = 1.0, audio_signal: float = 1.0,
                   no_audio_every: int = 7, rejected_every: int = 0, seed: int = 0,
                   only_features: bool = False, seeds: tuple[int, ...] = (0, 1, 2),
                   order: str = "round_robin") -> dict:
    """Write manifest rows + visual/audio/label_map/generated/filter artifacts under `folder`.

    Every `no_audio_every`-th clip has no audio (zeros, has_audio false); every
    `rejected_every`-th clip is absent from the frame-based files (a frames reject), as in
    the real pipeline where audio.h5 covers all manifest rows and visual.h5 only kept clips.
    `only_features` writes just visual.h5 and audio.h5 (what the classifier benchmark reads).
    Generated audio and filter decisions exist per seed in `seeds` (seed<s>/audio, seed<s>/keep),
    as the generator and filter stages write them. `order`: "class" stores clips grouped by
    class, as manifests list them (class, then clip), "round_robin" interleaves the classes.
    Returns {"manifest": rows, "class_names": [...], <artifact>: path}.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    class_names = [f"class{c:02d}" for c in range(classes)]
    visual_proto = rng.standard_normal((classes, 2, NUM_FRAMES, dim)).astype(np.float32)
    audio_proto = rng.standard_normal((classes, NUM_FRAMES, NUM_MEL_BINS)).astype(np.float32)

    ids = [f"clip{i:06d}" for i in range(clips)]
    labels = np.arange(clips) % classes
    split_of = {0: "val", 1: "test"}
    splits = [split_of.get((i // classes) % 7, "train") for i in range(clips)]   # ~5/7 train
    if order == "class":   # rows grouped by class, like a manifest sorted by class and clip
        by_class = np.argsort(labels, kind="stable")
        labels, splits = labels[by_class], [splits[i] for i in by_class]
    manifest = [{"clip_id": c, "path": f"{c}.mp4", "label": class_names[y], "split": s}
                for c, y, s in zip(ids, labels, splits)]
    has_audio = np.arange(clips) % no_audio_every != 1 if no_audio_every else np.ones(clips, bool)
    kept = np.arange(clips) % rejected_every != 2 if rejected_every else np.ones(clips, bool)
    kept_idx = np.flatnonzero(kept)

    paths = {name: folder / f"{name}.h5" for name in
             ("visual", "audio", "label_map", "generated_svdmap", "generated_cafmap", "filter")}
    with open(folder / "manifest.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["clip_id", "path", "label", "split"])
        writer.writeheader()
        writer.writerows(manifest)
    with open(folder / "semantic_dictionary.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["class", "rank", "label_index", "label", "similarity"])
        for c, name in enumerate(class_names):
            for rank in range(5):
                writer.writerow([name, rank, 5 * c + rank, f"label{5 * c + rank}", 0.5])

    def real_audio(idx, r):
        a = -8.0 + audio_signal * audio_proto[labels[idx]] + r.standard_normal((len(idx), NUM_FRAMES, NUM_MEL_BINS))
        return np.where(has_audio[idx, None, None], a, 0.0).astype(np.float32)

    with write_h5(paths["audio"], "audio") as f:
        write_strings(f, "clip_id", ids)
        f.create_dataset("has_audio", data=has_audio)
        logmel = _dataset(f, "logmel", clips, (NUM_FRAMES, NUM_MEL_BINS), np.float32)
        for s in range(0, clips, SLAB):
            idx = np.arange(s, min(s + SLAB, clips))
            logmel[idx[0]:idx[-1] + 1] = real_audio(idx, np.random.default_rng([seed, 1, s]))

    kept_ids = [ids[i] for i in kept_idx]
    frame_based = ("visual",) if only_features else ("visual", "label_map", "generated_svdmap", "generated_cafmap")
    with contextlib.ExitStack() as stack:
        handles = {k: stack.enter_context(write_h5(paths[k], k)) for k in frame_based}
        for f in handles.values():
            write_strings(f, "clip_id", kept_ids)
        n = len(kept_idx)
        rgb = _dataset(handles["visual"], "rgb", n, (NUM_FRAMES, dim), dtype)
        flow = _dataset(handles["visual"], "flow", n, (NUM_FRAMES, dim), dtype)
        if not only_features:
            condition = _dataset(handles["label_map"], "condition", n, (NUM_FRAMES, NUM_MEL_BINS), np.float32)
            mask = _dataset(handles["label_map"], "condition_mask", n, (NUM_FRAMES,), bool)
            generated = {(k, s): _dataset(handles[k], f"seed{s}/audio", n, (NUM_FRAMES, NUM_MEL_BINS), np.float32)
                         for k in ("generated_svdmap", "generated_cafmap") for s in seeds}
            for k in ("generated_svdmap", "generated_cafmap"):
                handles[k]["seeds"] = np.asarray(seeds, dtype=np.int64)
                handles[k]["audio"] = h5py.SoftLink(f"/seed{seeds[0]}/audio")
        slab = int(min(SLAB, max(16, 2**24 // (2 * NUM_FRAMES * dim))))   # ~64 MB of visual values at a time
        for s in range(0, n, slab):
            rows = slice(s, min(s + slab, n))
            idx = kept_idx[rows]
            r = np.random.default_rng([seed, 2, s])
            v = r.standard_normal((len(idx), 2, NUM_FRAMES, dim), dtype=np.float32)
            v += visual_signal * visual_proto[labels[idx]]
            rgb[rows], flow[rows] = v[:, 0].astype(dtype), v[:, 1].astype(dtype)
            if only_features:
                continue
            audio = -8.0 + audio_signal * audio_proto[labels[idx]]
            m = r.random((len(idx), NUM_FRAMES)) < 0.3
            m[:, 0] = False
            mask[rows] = m
            condition[rows] = np.where(m[..., None], audio, 0.0)
            for key in generated:
                generated[key][rows] = audio + r.standard_normal(audio.shape).astype(np.float32)
    if not only_features:
        with write_h5(paths["filter"], "filter") as f:
            write_strings(f, "clip_id", kept_ids)
            f["seeds"] = np.asarray(seeds, dtype=np.int64)
            for s in seeds:
                f.create_dataset(f"seed{s}/keep", data=(np.arange(len(kept_ids)) + s) % 3 != 0)
            f["keep"] = h5py.SoftLink(f"/seed{seeds[0]}/keep")
    else:
        paths = {k: paths[k] for k in ("visual", "audio")}
    paths.update(manifest=manifest, class_names=class_names,
                 semantic_dictionary=folder / "semantic_dictionary.csv", manifest_csv=folder / "manifest.csv")
    return paths
