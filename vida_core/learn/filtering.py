"""SVDMap's semantic filter: keep a clip's generated audio when it "sounds like" its class.

The feature-space tagger labels each clip's generated 18 x 128 log-mel with its top-k
AudioSet labels; the semantic dictionary lists the AudioSet labels that go with the clip's
action class; their IoU decides. `keep` is computed for every clip but only used for TRAIN
clips: it decides which generated training samples the classifier learns from, while at
val and test every clip gets its generated audio (labels are unknown there).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from vida_core.io.artifacts import write_h5, write_strings
from vida_core.config import FilterConfig
from vida_core.learn.data import ClipBatches, ClipTable, H5Column

TAG_BATCH = 256


def iou(a, b, related=None) -> float:
    """Intersection over union of two label sets (0 when both are empty).

    With `related(x, y)` (filter.match: ontology), a label of `a` counts as shared when it is
    related to some label of `b`, e.g. "Church bell" tagged against "Bell" in the dictionary.
    """
    a, b = set(a), set(b)
    if related is None:
        shared = len(a & b)
    else:
        shared = sum(any(related(x, y) for y in b) for x in a)
    union = len(a) + len(b) - shared
    return shared / union if union else 0.0


def label_matcher(match: str):
    """filter.match -> the `related` argument of `iou` (None for exact)."""
    if match == "exact":
        return None
    if match == "ontology":
        from vida_core.semantic.ontology import audioset_ontology
        return audioset_ontology().related
    raise ValueError(f"filter.match must be exact or ontology, not {match!r}")


def top_k_labels(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k highest scores per row, best first (ties: lower index first)."""
    return np.argsort(-np.asarray(scores, dtype=np.float64), axis=1, kind="stable")[:, :k]


def read_semantic_dictionary(path: str | Path) -> dict[str, set[int]]:
    """class -> the AudioSet label indices listed for it (semantic_dictionary.csv)."""
    labels: dict[str, set[int]] = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            labels.setdefault(row["class"], set()).add(int(row["label_index"]))
    return labels


def _numpy(x) -> np.ndarray:
    return x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)


def tag_top_k(tagger, column: H5Column, table: ClipTable, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The tagger's top-k label indices [N, k] and their scores for every clip, streamed."""
    topk = np.zeros((len(table), k), np.int32)
    topk_score = np.zeros((len(table), k), np.float32)
    for batch in ClipBatches({"audio": column}, table.positions(), TAG_BATCH):
        scores = _numpy(tagger.predict(batch["audio"].numpy()))
        positions = batch["position"].numpy()
        topk[positions] = top_k_labels(scores, k)
        topk_score[positions] = np.take_along_axis(scores, topk[positions], axis=1)
    return topk, topk_score


def run_filter(generated_h5: str | Path, tagger, dictionary: dict[str, set[int]], table: ClipTable,
               config: FilterConfig, out_h5: str | Path, params: dict, models: dict | None = None,
               audio_h5: str | Path | None = None) -> tuple[dict, list[dict]]:
    """Tag generated audio, score IoU with the class's dictionary labels -> filter.h5.

    With `audio_h5`, the same IoU is also measured on the real audio of the clips that have
    it: a reference for how often the tagger and the dictionary agree at all, so a low keep
    rate can be told apart from poor generated audio. Returns the summary (for
    metrics/filter.json) and one row per class (for a plot).
    """
    missing = [c for c in table.class_names if c not in dictionary]
    if missing:
        raise ValueError(f"semantic_dictionary.csv has no labels for classes {missing[:5]}; "
                         "rerun `dvc repro semantic_dictionary`.")
    labels = [dictionary[table.class_names[c]] for c in table.label]
    topk, topk_score = tag_top_k(tagger, H5Column(generated_h5, "audio", table.clip_ids, "generate_svdmap"),
                                 table, config.top_k)
    related = label_matcher(config.match)
    ious = np.array([iou(top, wanted, related) for top, wanted in zip(topk, labels)], dtype=np.float32)
    keep = ious >= config.iou_threshold
    other = "ontology" if config.match == "exact" else "exact"  # reported beside, never used
    other_keep = np.array([iou(top, wanted, label_matcher(other)) >= config.iou_threshold
                           for top, wanted in zip(topk, labels)])

    train = table.split == "train"
    per_class = []
    for c, name in enumerate(table.class_names):
        in_class = table.label == c
        per_class.append({
            "class": name,
            "mean_iou": float(ious[in_class].mean()) if in_class.any() else 0.0,
            "train_clips": int((in_class & train).sum()),
            "train_kept": int((in_class & train & keep).sum()),
            "kept_fraction": float(keep[in_class & train].mean()) if (in_class & train).any() else 0.0,
        })
    summary = {
        "top_k": config.top_k,
        "iou_threshold": config.iou_threshold,
        "iou_mean": float(ious.mean()),
        "iou_mean_train": float(ious[train].mean()) if train.any() else 0.0,
        "train_kept": int((keep & train).sum()),
        "train_kept_fraction": float(keep[train].mean()) if train.any() else 0.0,
        "match": config.match,
        f"train_kept_fraction_if_match_{other}": float(other_keep[train].mean()) if train.any() else 0.0,
        "classes_without_kept_train_clip": sum(row["train_kept"] == 0 for row in per_class),
        **table.counts(),
    }
    real_ious = None
    if audio_h5 is not None:
        real_topk, _ = tag_top_k(tagger, H5Column(audio_h5, "logmel", table.clip_ids, "audio"), table, config.top_k)
        real_ious = np.array([iou(top, wanted, related) for top, wanted in zip(real_topk, labels)],
                             dtype=np.float32)
        with_audio = train & table.has_audio
        summary["real_audio_iou_mean_train"] = float(real_ious[with_audio].mean()) if with_audio.any() else 0.0
        summary["real_audio_kept_fraction_train"] = (float((real_ious[with_audio] >= config.iou_threshold).mean())
                                                     if with_audio.any() else 0.0)
    with write_h5(out_h5, "filter", params=params, models=models) as f:
        write_strings(f, "clip_id", table.clip_ids)
        f.create_dataset("topk", data=topk)
        f.create_dataset("topk_score", data=topk_score)
        f.create_dataset("iou", data=ious)
        f.create_dataset("keep", data=keep)   # used for train clips only
        if real_ious is not None:             # the reference on real audio; NaN where a clip has none
            f.create_dataset("real_audio_iou", data=np.where(table.has_audio, real_ious, np.nan).astype(np.float32))
        write_strings(f, "class_names", table.class_names)
        for key in ("mean_iou", "train_clips", "train_kept", "kept_fraction"):
            f.create_dataset(f"class_{key}", data=np.array([row[key] for row in per_class]))
        # IoU distribution per class: histogram over [0, 1] in 10 bins, one row per class.
        edges = np.linspace(0, 1, 11)
        f.create_dataset("class_iou_histogram",
                         data=np.stack([np.histogram(ious[table.label == c], edges)[0]
                                        for c in range(len(table.class_names))]))
        f.create_dataset("iou_histogram_edges", data=edges)
        f.attrs["summary"] = json.dumps(summary)
    return summary, per_class
