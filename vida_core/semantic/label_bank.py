"""Stage `label_bank`: the mean 128-bin audio feature of each AudioSet label -> label_bank.h5.

Sources (`label_bank.source`):
- `audioset` (default, as the paper): AudioSet media files under `audioset_root`, labelled by
  `audioset_csv` (balanced_train_segments.csv style), featurised with the audio stage's own
  log-mel function. On the demo, a sound-only stand-in rendered by the `demo_audioset` stage
  (vida_core.io.demo_audioset), disjoint from every demo clip.
- `tagged_train_audio`: the run's own real audio (audio.h5 rows with has_audio), labelled by
  the audio tagger on the waveforms: every label scored >= `min_prob`, plus always the clip's
  top-1 label. In the label-budget study only the pool U's clips (no classifier trains on
  them); with `protocol.labels_per_class: all`, the train split's clips. Val and test clips
  never enter the bank.
A clip's feature is its 18 x 128 log-mel averaged over the 18 steps. A label with no example
(`covered` false) borrows, with `label_bank.backoff: ontology` (default), the pooled mean of its
nearest relatives in the AudioSet ontology that have examples: its parents, else its children,
else its siblings; failing those (or with `backoff: global_mean`, the first release's rule) it
gets the global mean of all bank clips. `backoff` records which, per label.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import h5py
import numpy as np
from tqdm import tqdm

from vida_core.shared import CLIP_SECONDS, NUM_AUDIOSET_LABELS, NUM_MEL_BINS, SAMPLE_RATE
from vida_core.shared.artifacts import read_rows, read_strings, write_h5, write_strings
from vida_core.extract import DECODE_ERRORS
from vida_core.io.decode import decode_audio_track
from vida_core.models.tagger import tag_rows

BACKOFF_KINDS = ("own", "parent", "child", "sibling", "global_mean")
BANK_FALLBACK_RULE = {
    "ontology": ("a label with no bank example (covered=false) gets the pooled mean of its nearest covered "
                 "ontology relatives: parents, else children, else siblings, else the global mean of all bank clips"),
    "global_mean": "a label with no bank example (covered=false) gets the global mean of all bank clips",
}


def split_rows(clip_ids: Sequence[str], split_of: dict[str, str], has_audio: np.ndarray,
               split: str = "train") -> np.ndarray:
    """Increasing row indices of clips in `split` that have real audio. Clips absent from
    the manifest count as not in the split, so val/test clips can never slip in."""
    return np.array([i for i, cid in enumerate(clip_ids)
                     if split_of.get(cid) == split and has_audio[i]], dtype=np.int64)


def tagged_label_sets(scores: np.ndarray, min_prob: float) -> list[np.ndarray]:
    """Per clip, the labels the tagger gives >= min_prob, plus always its top-1 label."""
    sets = []
    for row in np.asarray(scores):
        chosen = np.flatnonzero(row >= min_prob)
        sets.append(np.union1d(chosen, [int(np.argmax(row))]).astype(np.int64))
    return sets


def accumulate_label_bank(features: np.ndarray, label_sets: Sequence[np.ndarray],
                          num_labels: int = NUM_AUDIOSET_LABELS, backoff: str = "global_mean", relatives=None):
    """Mean pooled feature of each label over the clips carrying it.

    `features` [M,128] (one pooled log-mel per clip), `label_sets` per clip label indices.
    Returns `mean` float32 [num_labels,128], `count` int64 [num_labels], `covered` bool and
    `kind` (per label, one of BACKOFF_KINDS: where its mean came from). With backoff
    "ontology", `relatives(label)` -> {"parent": [...], "child": [...], "sibling": [...]}.
    """
    features = np.asarray(features, dtype=np.float64)
    total = np.zeros((num_labels, features.shape[1]))
    count = np.zeros(num_labels, np.int64)
    used = np.zeros(len(features), bool)
    for i, labels in enumerate(label_sets):
        labels = np.unique(np.asarray(labels, dtype=np.int64))
        if len(labels):
            total[labels] += features[i]
            count[labels] += 1
            used[i] = True
    if not used.any():
        raise ValueError("label bank: no clip carries a label, so no label has an example")
    covered = count > 0
    mean = np.empty_like(total)
    mean[covered] = total[covered] / count[covered, None]
    kind = np.where(covered, "own", "global_mean").astype(object)
    mean[~covered] = features[used].mean(0)
    if backoff == "ontology":
        for label in np.flatnonzero(~covered):
            related = relatives(int(label))
            for relation in ("parent", "child", "sibling"):
                donors = [r for r in related[relation] if covered[r]]
                if donors:  # their examples pooled: a well-covered relative weighs more
                    mean[label] = total[donors].sum(0) / count[donors].sum()
                    kind[label] = relation
                    break
    elif backoff != "global_mean":
        raise ValueError(f"label_bank.backoff must be ontology or global_mean, not {backoff!r}")
    return mean.astype(np.float32), count, covered, kind


def bank_relatives(backoff: str):
    """The ontology lookup `accumulate_label_bank` needs for `backoff` (None for global_mean)."""
    if backoff != "ontology":
        return None
    from vida_core.semantic.ontology import audioset_ontology
    return audioset_ontology().relatives


def leave_one_out_banks(label_bank_h5: Path, clip_ids: Sequence[str]) -> dict[str, np.ndarray]:
    """For each of `clip_ids` that fed the bank (tagged_train_audio), the bank's means rebuilt
    without that clip, by the bank's own rule: a clip's CAFMap condition must not carry its own
    real audio. Clips that are not bank clips (all of them with an external bank) are absent."""
    with h5py.File(label_bank_h5, "r") as f:
        if "clip_feature" not in f:   # a bank without per-clip features (older, or hand-made)
            return {}
        bank_ids = read_strings(f["clip_id"])
        if not set(bank_ids) & set(clip_ids):
            return {}
        features = f["clip_feature"][()]
        offsets, flat = f["clip_labels_offset"][()], f["clip_labels"][()].astype(np.int64)
        backoff, num_labels = str(f.attrs["fallback"]), len(f["mean"])
    label_sets = [flat[offsets[i]:offsets[i + 1]] for i in range(len(bank_ids))]
    relatives, position = bank_relatives(backoff), {cid: i for i, cid in enumerate(bank_ids)}
    banks = {}
    for cid in tqdm([c for c in clip_ids if c in position], desc="label_map: leave-one-out banks", unit="clip"):
        keep = np.arange(len(bank_ids)) != position[cid]
        banks[cid] = accumulate_label_bank(features[keep], [s for s, k in zip(label_sets, keep) if k],
                                           num_labels, backoff, relatives)[0]
    return banks


def read_audioset_csv(path: str | Path) -> list[dict]:
    """AudioSet segment lists (`balanced_train_segments.csv` style): comment lines start
    with '#'; rows are YTID, start_seconds, end_seconds, "mid1,mid2,...".
    Returns [{ytid, start, end, mids}]."""
    rows = []
    with open(path, newline="") as f:
        for fields in csv.reader((line for line in f if not line.startswith("#")),
                                 skipinitialspace=True):
            if len(fields) < 4:
                continue
            rows.append({"ytid": fields[0].strip(), "start": float(fields[1]),
                         "end": float(fields[2]),
                         "mids": [m.strip() for m in ",".join(fields[3:]).split(",") if m.strip()]})
    return rows


def index_audioset_files(root: str | Path) -> dict[str, list[Path]]:
    """YTID -> media files under `root` named `<YTID>.<ext>` or `<YTID>_<start...>.<ext>`.

    YouTube ids are 11 characters and may contain '_' and '-', so the id is the first 11
    characters of the stem."""
    index: dict[str, list[Path]] = {}
    for path in sorted(Path(root).rglob("*")):
        stem = path.stem
        if path.is_file() and len(stem) >= 11 and (len(stem) == 11 or stem[11] == "_"):
            index.setdefault(stem[:11], []).append(path)
    return index


def pick_audioset_file(candidates: Sequence[Path], start: float) -> Path:
    """Prefer the file whose `_start` suffix equals the segment start, else the first."""
    for path in candidates:
        suffix = path.stem[12:].split("_")[0]
        try:
            if abs(float(suffix) - start) < 0.5 or abs(float(suffix) / 1000 - start) < 0.5:
                return path
        except ValueError:
            continue
    return candidates[0]


def segment_window(audio: np.ndarray, start: float, end: float,
                   seconds: float = CLIP_SECONDS) -> np.ndarray:
    """The clip-length window centred in the labelled segment, zero-padded if short.

    A file that reaches past `end` is taken to be the whole video, so the window is centred
    on (start+end)/2 of it; a shorter file is taken to be the segment already cut out, so
    the window is centred in the file."""
    length = int(round(seconds * SAMPLE_RATE))
    centre = (start + end) / 2 * SAMPLE_RATE if len(audio) >= end * SAMPLE_RATE else len(audio) / 2
    begin = max(0, int(round(centre - length / 2)))
    window = audio[begin:begin + length]
    return np.pad(window, (0, length - len(window)))


def audioset_bank_examples(rows: Iterable[dict], files: dict[str, list[Path]],
                           mid_to_index: dict[str, int],
                           logmel_fn: Callable[[np.ndarray], np.ndarray]):
    """Pooled features and label sets of AudioSet segments, for `accumulate_label_bank`.

    Unknown mids, missing files and unreadable files are counted, never fatal.
    Returns (YTIDs used, features [M,128], label_sets, report dict of counts).
    """
    report = {"segments": 0, "used": 0, "missing_file": 0, "unreadable": 0,
              "unknown_mids": 0, "no_known_label": 0}
    ids, features, label_sets = [], [], []
    for row in tqdm(list(rows), desc="label_bank (audioset)", unit="segment"):
        report["segments"] += 1
        labels = [mid_to_index[m] for m in row["mids"] if m in mid_to_index]
        report["unknown_mids"] += len(row["mids"]) - len(labels)
        if not labels:
            report["no_known_label"] += 1
            continue
        if row["ytid"] not in files:
            report["missing_file"] += 1
            continue
        try:
            audio = decode_audio_track(str(pick_audioset_file(files[row["ytid"]], row["start"])))
        except DECODE_ERRORS:  # a bad file: count it and go on (the bank is a mean)
            report["unreadable"] += 1
            continue
        logmel = logmel_fn(segment_window(audio, row["start"], row["end"]))
        features.append(np.asarray(logmel, np.float32).mean(0))
        label_sets.append(np.array(sorted(set(labels)), np.int64))
        ids.append(row["ytid"])
        report["used"] += 1
    features = np.stack(features) if features else np.zeros((0, NUM_MEL_BINS), np.float32)
    return ids, features, label_sets, report


def tagged_train_audio(audio_h5: Path, split_of: dict[str, str], tagger, min_prob: float):
    """Bank examples from the train split's real audio, labelled by the audio tagger."""
    with h5py.File(audio_h5, "r") as f:
        clip_ids, has_audio = read_strings(f["clip_id"]), f["has_audio"][()]
        rows = split_rows(clip_ids, split_of, has_audio, "train")
        if not len(rows):
            raise RuntimeError("label_bank: no training clip has real audio, so the bank would be empty; "
                               "check audio.h5 (`vida inspect`) or use label_bank.source: audioset")
        scores = tag_rows(tagger.tag, f["waveform"], rows, desc="label_bank: tagging train audio")
        features = read_rows(f["logmel"], rows, transform=lambda x: x.mean(1), block=1024)
    n_train = sum(split == "train" for split in split_of.values())
    counts = {"train_clips": n_train, "train_clips_with_audio": len(rows)}
    return [clip_ids[i] for i in rows], features, tagged_label_sets(scores, min_prob), counts


def audioset_examples(root: str | None, csv_path: str | None, labels: list[dict]):
    """Bank examples from AudioSet media files and their segment labels."""
    from vida_core.extract.logmel import logmel_18x128

    if not root or not csv_path or not Path(root).is_dir() or not Path(csv_path).is_file():
        raise FileNotFoundError(f"label_bank.source is audioset but label_bank.audioset_root ({root}) or "
                                f"label_bank.audioset_csv ({csv_path}) is not there; point both at AudioSet in params.yaml "
                                "(the demo's stand-in, data/demo_audioset, is generated only for the demo), or set "
                                "label_bank.source: tagged_train_audio to build the bank from the run's own audio")
    if not Path(csv_path).resolve().is_relative_to(Path(root).resolve()):
        raise ValueError(f"label_bank.audioset_csv ({csv_path}) must lie inside label_bank.audioset_root "
                         f"({root}), the folder DVC watches for this stage, so that editing it reruns the bank")
    mid_to_index = {label["mid"]: label["index"] for label in labels}
    ids, features, label_sets, counts = audioset_bank_examples(
        read_audioset_csv(csv_path), index_audioset_files(root), mid_to_index, logmel_18x128)
    if not ids:
        raise RuntimeError(f"label_bank: no AudioSet segment could be used ({counts}); "
                           "check label_bank.audioset_root and label_bank.audioset_csv")
    return ids, features, label_sets, counts


def write_label_bank(out_h5: Path, ids, features, label_sets, counts: dict, labels: list[dict],
                     source: str, min_prob: float, tagger: dict, params: dict, backoff: str = "ontology") -> dict:
    """Accumulate the bank and write label_bank.h5; returns the counts for the closing line."""
    mean, count, covered, kind = accumulate_label_bank(features, label_sets, len(labels), backoff,
                                                       bank_relatives(backoff))
    counts = dict(counts, bank_clips=len(ids), labels_covered=int(covered.sum()),
                  labels_uncovered=int((~covered).sum()),
                  labels_by_source={k: int((kind == k).sum()) for k in BACKOFF_KINDS})
    with write_h5(out_h5, "label_bank", params=params,
                  models={"audio_tagger": tagger.get("id", "")} if tagger else {}) as f:
        write_strings(f, "clip_id", ids)  # the clips that entered the bank (AudioSet: YTIDs)
        f["mean"], f["count"], f["covered"] = mean, count, covered
        # Each bank clip's pooled feature: label_map rebuilds the bank without a clip for that clip.
        f["clip_feature"] = np.asarray(features, np.float32).reshape(len(ids), -1)
        write_strings(f, "backoff", kind)  # per label: own, parent, child, sibling or global_mean
        write_strings(f, "label_name", [label["name"] for label in labels])
        # Which labels each bank clip fed, as a ragged list: clip i's are
        # clip_labels[clip_labels_offset[i]:clip_labels_offset[i+1]].
        f.create_dataset("clip_labels", data=np.concatenate(label_sets).astype(np.int16))
        f["clip_labels_offset"] = np.cumsum([0] + [len(s) for s in label_sets])
        f.attrs.update(source=source, fallback=backoff, fallback_rule=BANK_FALLBACK_RULE[backoff],
                       counts=json.dumps(counts), tagger=json.dumps(tagger),
                       min_prob=min_prob if source == "tagged_train_audio" else np.nan)
    return counts
