"""Stage `label_map`: each caption -> the AudioSet labels it evokes, and CAFMap's condition -> label_map.h5.

A caption is embedded with the text encoder and compared (cosine) with the 527 label names;
labels whose similarity is >= the mean of the top-k similarities are kept (`label_map.top_k`,
paper 5; always at least the best one). At each captioned (representative) frame the condition
is the mean label-bank feature of the kept labels; elsewhere zero, with `condition_mask` false.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np

from vida_core import NUM_FRAMES
from vida_core.io.artifacts import read_strings, write_h5, write_strings
from vida_core.models.specs import model_identity
from vida_core.semantic.text import cosine_similarities, embed_texts


def select_labels(similarities: np.ndarray, top_k: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The paper's rule, per caption: keep labels whose similarity >= mean of the top-k.

    Only the top-k are candidates. A label outside them has similarity <= the k-th largest
    <= the top-k mean, with equality only for an exact tie with all of the top-k, so this
    drops nothing but exact ties and bounds the kept count by k. The best label always
    passes (max >= mean), and is kept explicitly anyway so rounding can never leave a
    caption with no label. Returns, per row, (label indices, similarities), best first.
    """
    similarities = np.asarray(similarities, dtype=np.float64)
    top_k = max(1, min(int(top_k), similarities.shape[1]))
    out = []
    for row in similarities:
        top = np.argsort(-row, kind="stable")[:top_k]
        keep = row[top] >= row[top].mean() - 1e-9
        keep[0] = True
        out.append((top[keep].astype(np.int64), row[top[keep]].astype(np.float32)))
    return out


def pad_selections(selections: Sequence[tuple[np.ndarray, np.ndarray]],
                   width: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows of (indices, sims) -> int [M,width] padded with -1, float [M,width] padded NaN."""
    indices = np.full((len(selections), width), -1, np.int16)
    sims = np.full((len(selections), width), np.nan, np.float32)
    for i, (idx, sim) in enumerate(selections):
        indices[i, :len(idx)] = idx[:width]
        sims[i, :len(sim)] = sim[:width]
    return indices, sims


def map_captions_to_labels(
        clip_ids: Sequence[str], captions: dict[str, list[dict]], text_encoder,
        label_embeddings: np.ndarray, top_k: int) -> tuple[np.ndarray, np.ndarray]:
    """Embed every caption and select its AudioSet labels.

    Returns `label_index` int16 [N,18,top_k] (-1 = none) and `label_similarity` float32
    [N,18,top_k] (NaN = none); frames without a caption have no labels.
    """
    where = [(row, item["frame"]) for row, cid in enumerate(clip_ids)
             for item in captions.get(cid, [])]
    texts = [item["caption"] for cid in clip_ids for item in captions.get(cid, [])]
    label_index = np.full((len(clip_ids), NUM_FRAMES, top_k), -1, np.int16)
    label_similarity = np.full((len(clip_ids), NUM_FRAMES, top_k), np.nan, np.float32)
    if texts:
        # Captioners repeat themselves a lot: embed and select each distinct caption once.
        distinct, which = np.unique(np.array(texts, dtype=object), return_inverse=True)
        sims = cosine_similarities(embed_texts(text_encoder, distinct.tolist()), label_embeddings)
        indices, values = pad_selections(select_labels(sims, top_k), top_k)
        rows, frames = np.array(where).T
        label_index[rows, frames] = indices[which]
        label_similarity[rows, frames] = values[which]
    return label_index, label_similarity


def cafmap_condition(label_index: np.ndarray,
                     bank_mean: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """CAFMap's condition: at each frame with labels, the mean of their bank rows.

    `label_index` [N,18,K] (-1 = padding), `bank_mean` [527,128] -> `condition` float32
    [N,18,128] (zeros where a frame has no labels) and `condition_mask` bool [N,18]. A clip
    with no representative frame gets an all-zero condition and an all-false mask, so the
    generator sees noise only.
    """
    valid = label_index >= 0
    rows = bank_mean[np.where(valid, label_index, 0)] * valid[..., None]
    count = valid.sum(-1, keepdims=True)
    condition = rows.sum(-2) / np.maximum(count, 1)
    return condition.astype(np.float32), valid.any(-1)


def run_label_map(representative_h5: Path, captions_json: Path, label_bank_h5: Path, out_h5: Path,
                  encoder, label_names: list[str], top_k: int, params: dict) -> dict:
    with h5py.File(representative_h5, "r") as f:
        clip_ids, masks = read_strings(f["clip_id"]), f["mask"][()]
    captions = json.loads(captions_json.read_text())
    with h5py.File(label_bank_h5, "r") as f:
        bank_mean = f["mean"][()]
    for cid, mask in zip(clip_ids, masks):
        frames = [item["frame"] for item in captions["clips"].get(cid, [])]
        if cid not in captions["clips"] or any(not mask[frame] for frame in frames):
            raise RuntimeError(f"label_map: captions.json does not match representative.h5 at clip {cid}; "
                               "the captions are stale, run `dvc repro captions`")

    label_embeddings = embed_texts(encoder, label_names)
    label_index, label_similarity = map_captions_to_labels(
        clip_ids, captions["clips"], encoder, label_embeddings, top_k)
    condition, condition_mask = cafmap_condition(label_index, bank_mean)

    encoder_id = model_identity(encoder)
    with write_h5(out_h5, "label_map", params=params, models={"text_encoder": encoder_id["id"]}) as f:
        write_strings(f, "clip_id", clip_ids)
        f["label_index"] = label_index            # [N,18,top_k], -1 = no label
        f["label_similarity"] = label_similarity  # [N,18,top_k], NaN = no label
        f["condition"], f["condition_mask"] = condition, condition_mask
        f["label_embeddings"] = label_embeddings  # the 527 names, embedded once per text encoder
        write_strings(f, "label_name", label_names)
        f.attrs.update(text_encoder=json.dumps(encoder_id), top_k=top_k,
                       rule="keep labels with similarity >= mean of the top_k similarities, at least the best")
    kept = (label_index >= 0).sum(-1)[condition_mask]
    return {"clips": len(clip_ids), "conditioned_frames": int(condition_mask.sum()),
            "clips_without_condition": int((~condition_mask.any(1)).sum()),
            "mean_labels_per_frame": round(float(kept.mean()), 2) if kept.size else 0}
