"""The visual_pool control of the label-budget study (stage `visual_pool` -> visual_pool.h5).

A stream of the audio's width (128 per step) learned from the unlabelled pool's visual features
alone: PCA of the standardised RGB+flow features of U's clips, every step a row. A classifier given
it instead of generated audio tells "unlabelled video helps" from "audio helps": it has seen U,
like the generators, but never its sound.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vida_core.shared import NUM_FRAMES
from vida_core.shared.artifacts import RowWriter, write_h5, write_strings
from vida_core.learn.data import ClipBatches, ClipTable, H5Column

BLOCK = 256


def fit_visual_pca(visual_h5: Path, table: ClipTable, fit_positions: np.ndarray, width: int):
    """(mean, std, components [D, width], explained variance ratio [width]) of the per-step,
    per-feature standardised RGB+flow features of the `fit_positions` clips, in one streaming pass."""
    columns = {name: H5Column(visual_h5, name, table.clip_ids, "visual_features") for name in ("rgb", "flow")}
    total = sq = cross = None
    count = 0
    for batch in ClipBatches(columns, fit_positions, BLOCK):
        x = np.concatenate([batch["rgb"].numpy(), batch["flow"].numpy()], -1)
        x = x.reshape(-1, x.shape[-1]).astype(np.float64)   # every step of every clip is a row
        total = x.sum(0) if total is None else total + x.sum(0)
        sq = (x * x).sum(0) if sq is None else sq + (x * x).sum(0)
        cross = x.T @ x if cross is None else cross + x.T @ x
        count += len(x)
    mean = total / count
    std = np.sqrt(np.maximum(sq / count - mean ** 2, 0)).clip(min=1e-3)
    covariance = (cross / count - np.outer(mean, mean)) / np.outer(std, std)
    values, vectors = np.linalg.eigh(covariance)
    order = np.argsort(values)[::-1][:width]
    vectors = vectors[:, order]
    vectors *= np.where(vectors[np.abs(vectors).argmax(0), np.arange(len(order))] < 0, -1, 1)   # a fixed sign per component
    explained = values[order] / values.sum()
    if len(order) < width:  # features narrower than the stream (a small image encoder): zero columns keep its width
        vectors = np.pad(vectors, ((0, 0), (0, width - len(order))))
        explained = np.pad(explained, (0, width - len(order)))
    return mean, std, vectors, explained


def run_visual_pool(visual_h5: Path, table: ClipTable, fit_positions: np.ndarray, out_h5: Path, width: int,
                    params: dict) -> dict:
    """visual_pool.h5: every clip's RGB+flow features projected on U's top `width` components."""
    if len(fit_positions) == 0:
        raise ValueError("visual_pool: no clip to learn the visual stream from (the pool is empty and so is train)")
    mean, std, components, explained = fit_visual_pca(visual_h5, table, fit_positions, width)
    columns = {name: H5Column(visual_h5, name, table.clip_ids, "visual_features") for name in ("rgb", "flow")}
    with write_h5(out_h5, "visual_pool", params=params) as f:
        write_strings(f, "clip_id", table.clip_ids)
        f["mean"], f["std"], f["components"], f["explained"] = mean, std, components.astype(np.float32), explained
        f.create_dataset("fitted_on", data=np.isin(np.arange(len(table)), fit_positions))
        writer = RowWriter(f, {"features": ((NUM_FRAMES, width), np.float32, {})}, flush_every=BLOCK)
        for batch in ClipBatches(columns, np.arange(len(table)), BLOCK):
            x = np.concatenate([batch["rgb"].numpy(), batch["flow"].numpy()], -1).astype(np.float64)
            z = ((x - mean) / std) @ components
            for row in z.astype(np.float32):
                writer.append(features=row)
        writer.flush()
    return {"clips": len(table), "fitted_on": int(len(fit_positions)), "width": width,
            "explained": round(float(explained.sum()), 4)}
