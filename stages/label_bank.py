"""Stage `label_bank`: the mean 128-bin audio feature of each AudioSet label -> label_bank.h5.

Sources (`label_bank.source`):
- `tagged_train_audio` (default): the training split's own real audio (audio.h5 rows with
  has_audio), labelled by the audio tagger on the waveforms: every label scored >= `min_prob`,
  plus always the clip's top-1 label. Val and test clips never enter the bank.
- `audioset`: AudioSet media files under `audioset_root`, labelled by `audioset_csv`
  (balanced_train_segments.csv style), featurised with the audio stage's own log-mel function.
A clip's feature is its 18 x 128 log-mel averaged over the 18 steps. Labels with no example get
the global mean of all bank clips and `covered` false.
"""

import json
from pathlib import Path

import h5py
import numpy as np

from vida_core.artifacts import read_strings, require, write_h5, write_strings
from vida_core.dataset import read_manifest
from vida_core.feature_tagger import read_rows, tag_rows
from vida_core.models import audioset_labels, load_audio_tagger
from vida_core.params import load_params, section
from vida_core.semantics import (BANK_FALLBACK, BANK_FALLBACK_RULE, accumulate_label_bank,
                                 audioset_bank_examples, index_audioset_files, model_identity,
                                 read_audioset_csv, split_rows, tagged_label_sets)

from _common import ARTIFACTS, report


def tagged_train_audio(params: dict, min_prob: float):
    manifest = read_manifest(require(ARTIFACTS / "manifest.csv", "manifest"))
    split_of = {r["clip_id"]: r["split"] for r in manifest}
    tagger = load_audio_tagger(params["models"]["audio_tagger"], device=params.get("device", "auto"))
    with h5py.File(require(ARTIFACTS / "audio.h5", "audio"), "r") as f:
        clip_ids, has_audio = read_strings(f["clip_id"]), f["has_audio"][()]
        rows = split_rows(clip_ids, split_of, has_audio, "train")
        if not len(rows):
            raise RuntimeError("label_bank: no training clip has real audio, so the bank would be empty; "
                               "check audio.h5 (`vida inspect`) or use label_bank.source: audioset")
        scores = tag_rows(tagger.tag, f["waveform"], rows, desc="label_bank: tagging train audio")
        features = read_rows(f["logmel"], rows, transform=lambda x: x.mean(1))
    n_train = sum(split == "train" for split in split_of.values())
    counts = {"train_clips": n_train, "train_clips_with_audio": len(rows)}
    label_sets = tagged_label_sets(scores, min_prob)
    return [clip_ids[i] for i in rows], features, label_sets, counts, model_identity(tagger)


def audioset(cfg: dict, labels: list[dict]):
    from vida_core.audio_features import logmel_18x128

    root, csv_path = cfg.get("audioset_root"), cfg.get("audioset_csv")
    if not root or not csv_path or not Path(root).is_dir() or not Path(csv_path).is_file():
        raise FileNotFoundError(f"label_bank.source is audioset but label_bank.audioset_root ({root}) or "
                                f"label_bank.audioset_csv ({csv_path}) is not there; set both in params.yaml")
    mid_to_index = {label["mid"]: label["index"] for label in labels}
    return audioset_bank_examples(read_audioset_csv(csv_path), index_audioset_files(root),
                                  mid_to_index, logmel_18x128)


def main() -> None:
    params = load_params()
    cfg = section(params, "label_bank")
    source = cfg.get("source", "tagged_train_audio")
    min_prob = float(cfg.get("min_prob", 0.2))
    labels = audioset_labels()
    tagger = {}
    if source == "tagged_train_audio":
        ids, features, label_sets, counts, tagger = tagged_train_audio(params, min_prob)
    elif source == "audioset":
        ids, features, label_sets, counts = audioset(cfg, labels)
        if not ids:
            raise RuntimeError(f"label_bank: no AudioSet segment could be used ({counts}); "
                               "check label_bank.audioset_root and label_bank.audioset_csv")
    else:
        raise ValueError(f"label_bank.source must be tagged_train_audio or audioset, not {source!r}")

    mean, count, covered = accumulate_label_bank(features, label_sets, len(labels))
    counts.update(bank_clips=len(ids), labels_covered=int(covered.sum()),
                  labels_uncovered=int((~covered).sum()))
    stage_params = {"label_bank": cfg, "models.audio_tagger": params["models"].get("audio_tagger")}
    with write_h5(ARTIFACTS / "label_bank.h5", "label_bank", params=stage_params,
                  models={"audio_tagger": tagger.get("id", "")} if tagger else {}) as f:
        write_strings(f, "clip_id", ids)  # the clips that entered the bank (AudioSet: YTIDs)
        f["mean"], f["count"], f["covered"] = mean, count, covered
        write_strings(f, "label_name", [label["name"] for label in labels])
        # Which labels each bank clip fed, as a ragged list: clip i's are
        # clip_labels[clip_labels_offset[i]:clip_labels_offset[i+1]].
        f.create_dataset("clip_labels", data=np.concatenate(label_sets).astype(np.int16))
        f["clip_labels_offset"] = np.cumsum([0] + [len(s) for s in label_sets])
        f.attrs.update(source=source, fallback=BANK_FALLBACK, fallback_rule=BANK_FALLBACK_RULE,
                       counts=json.dumps(counts), tagger=json.dumps(tagger),
                       min_prob=min_prob if source == "tagged_train_audio" else np.nan)
    report("label_bank", {"source": source, **counts})


if __name__ == "__main__":
    main()
