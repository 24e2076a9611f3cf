"""SVDMap's semantic filter: keep a clip's generated audio when it "sounds like" its class.

A tagger labels each clip's generated 18 x 128 log-mel with its top-k AudioSet labels; the
semantic dictionary lists the AudioSet labels that go with the clip's action class; their IoU
decides. `filter.tagger` picks the tagger: `feature_head`, the small head distilled on the run's
own audio (`feature_tagger.py`), or `audio_tagger`, the configured audio tagger itself (AST,
the paper's way: `AudioTaggerOnLogmel`). Both offer `predict(logmel_raw [B,18,128]) -> [B,527]`.

`keep` is computed for every clip but only used for TRAIN clips: it decides which generated
training samples the classifier learns from, while at val and test every clip gets its
generated audio (labels are unknown there).

SVDMap's audio exists once per seed, so the filter decides once per seed (seed<s>/keep).
The diagnostics a user tunes `filter.*` on (IoU, keep rates, per class) are computed on TRAIN
clips only, the clips the filter acts on; val and test clips are not summarised at all.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import h5py
import numpy as np

from vida_core.shared.artifacts import write_h5, write_strings
from vida_core.shared.config import ConfigError, FilterConfig
from vida_core.learn.data import ClipBatches, ClipTable, H5Column, per_seed

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


class AudioTaggerOnLogmel:
    """`filter.tagger: audio_tagger`: the audio tagger itself tags the 18 x 128 log-mel, with the
    feature head's interface (`predict`). Only a tagger with `tag_logmel` (AST, whose filterbank
    the log-mel is) can; any other fails here, before any clip is tagged."""

    def __init__(self, tagger, name: str = ""):
        name = name or getattr(getattr(tagger, "spec", None), "name", type(tagger).__name__)
        if not callable(getattr(tagger, "tag_logmel", None)):
            raise ConfigError(
                f"filter: filter.tagger is audio_tagger, but the audio tagger '{name}' (models.audio_tagger) "
                "cannot tag the pipeline's 18 x 128 log-mel: it is AST's 128-bin filterbank, and this tagger "
                "reads its own features of waveforms (YAMNet: 64-band log-mel patches). Use "
                "`filter.tagger: feature_head` (the head distilled on the run's audio), or "
                "`models.audio_tagger: ast` (or an AST folder or Hugging Face id).")
        self.tagger, self.name = tagger, name

    def predict(self, logmel_raw: np.ndarray) -> np.ndarray:
        """Raw (un-normalised) log-mel [B,18,128] -> label probabilities [B,527]."""
        return self.tagger.tag_logmel(logmel_raw)


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


def generated_seeds(generated_h5: str | Path) -> list[int]:
    with h5py.File(generated_h5, "r") as f:
        return [int(s) for s in f["seeds"][()]]


def run_filter(generated_h5: str | Path, tagger, dictionary: dict[str, set[int]], table: ClipTable,
               config: FilterConfig, out_h5: str | Path, params: dict, models: dict | None = None,
               audio_h5: str | Path | None = None) -> tuple[dict, list[dict]]:
    """Tag each seed's generated audio, score IoU with the class's dictionary labels -> filter.h5.

    With `audio_h5`, the same IoU is also measured on the real audio of the train clips that
    have it: a reference for how often the tagger and the dictionary agree at all, so a low
    keep rate can be told apart from poor generated audio. Returns the train-only summary
    and one row per class (train clips, mean over seeds), for the keep-rate plot.
    """
    missing = [c for c in table.class_names if c not in dictionary]
    if missing:
        raise ValueError(f"semantic_dictionary.csv has no labels for classes {missing[:5]}; "
                         "rerun `dvc repro semantic_dictionary`.")
    labels = [dictionary[table.class_names[c]] for c in table.label]
    seeds = generated_seeds(generated_h5)
    train = table.split == "train"
    related = label_matcher(config.match)
    other = "ontology" if config.match == "exact" else "exact"   # reported beside, never used
    ious, keeps, other_keeps = [], [], []
    with write_h5(out_h5, "filter", params=params, models=models) as f:
        write_strings(f, "clip_id", table.clip_ids)
        write_strings(f, "class_names", table.class_names)
        f.create_dataset("seeds", data=np.asarray(seeds, dtype=np.int64))
        for seed in seeds:
            column = H5Column(generated_h5, per_seed("audio", seed), table.clip_ids, "generate_svdmap")
            topk, topk_score = tag_top_k(tagger, column, table, config.top_k)
            seed_ious = np.array([iou(top, wanted, related) for top, wanted in zip(topk, labels)], dtype=np.float32)
            keep = seed_ious >= config.iou_threshold
            other_keeps.append([iou(top, wanted, label_matcher(other)) >= config.iou_threshold
                                for top, wanted in zip(topk, labels)])
            f.create_dataset(per_seed("topk", seed), data=topk)
            f.create_dataset(per_seed("topk_score", seed), data=topk_score)
            f.create_dataset(per_seed("iou", seed), data=seed_ious)
            f.create_dataset(per_seed("keep", seed), data=keep)   # used for train clips only
            ious.append(seed_ious)
            keeps.append(keep)
        for name in ("topk", "iou", "keep"):   # the first seed's, under the plain names
            f[name] = h5py.SoftLink("/" + per_seed(name, seeds[0]))
        summary, per_class = filter_diagnostics(table, np.stack(ious), np.stack(keeps), config)
        summary["seeds"] = seeds
        summary["match"] = config.match
        summary["tagger"] = config.tagger
        summary["tagger_models"] = dict(models or {})   # what tagged: the head's checkpoint or the audio tagger
        summary["train"][f"kept_fraction_if_match_{other}"] = (
            float(np.asarray(other_keeps)[:, train].mean()) if train.any() else 0.0)
        if audio_h5 is not None:
            real_topk, _ = tag_top_k(tagger, H5Column(audio_h5, "logmel", table.clip_ids, "audio"), table, config.top_k)
            real_ious = np.array([iou(top, wanted, related) for top, wanted in zip(real_topk, labels)],
                                 dtype=np.float32)
            with_audio = train & table.has_audio
            summary["train"]["real_audio_iou_mean"] = float(real_ious[with_audio].mean()) if with_audio.any() else 0.0
            summary["train"]["real_audio_kept_fraction"] = (
                float((real_ious[with_audio] >= config.iou_threshold).mean()) if with_audio.any() else 0.0)
            # The reference on real audio, train clips with audio only; NaN elsewhere.
            f.create_dataset("real_audio_iou", data=np.where(with_audio, real_ious, np.nan).astype(np.float32))
        for key in ("mean_iou", "train_clips", "kept_fraction"):
            f.create_dataset(f"class_{key}", data=np.array([row[key] for row in per_class]))
        # Train clips' IoU distribution per class (all seeds): histogram over [0, 1] in 10 bins.
        edges = np.linspace(0, 1, 11)
        f.create_dataset("class_iou_histogram", data=np.stack(
            [np.histogram(np.stack(ious)[:, train & (table.label == c)], edges)[0]
             for c in range(len(table.class_names))]))
        f.create_dataset("iou_histogram_edges", data=edges)
        f.attrs["summary"] = json.dumps(summary)
    return summary, per_class


def filter_diagnostics(table: ClipTable, ious: np.ndarray, keeps: np.ndarray, config: FilterConfig) -> tuple[dict, list[dict]]:
    """What a user tunes the filter on, over TRAIN clips only: IoU, keep rates, per class (means over seeds).

    ious, keeps: [seeds, clips]. Val and test clips take no part: tuning on them would peek at
    the clips the classifier is evaluated on.
    """
    train = table.split == "train"
    per_class = []
    for c, name in enumerate(table.class_names):
        rows = train & (table.label == c)
        per_class.append({
            "class": name,
            "train_clips": int(rows.sum()),
            "mean_iou": float(ious[:, rows].mean()) if rows.any() else 0.0,
            "kept_fraction": float(keeps[:, rows].mean()) if rows.any() else 0.0,
        })
    kept = keeps[:, train].sum(1)
    summary = {
        "top_k": config.top_k,
        "iou_threshold": config.iou_threshold,
        "train": {   # train clips only, means over seeds
            "iou_mean": float(ious[:, train].mean()) if train.any() else 0.0,
            "kept": float(kept.mean()),
            "kept_fraction": float(keeps[:, train].mean()) if train.any() else 0.0,
            "classes_without_kept_clip": float(np.mean([
                sum(not keeps[s, train & (table.label == c)].any() for c in range(len(table.class_names)))
                for s in range(len(keeps))])),
        },
        "per_seed_kept_fraction": [float(k[train].mean()) if train.any() else 0.0 for k in keeps],
        **table.counts(),
    }
    return summary, per_class
