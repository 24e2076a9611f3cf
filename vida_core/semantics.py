"""The semantic side of VIDA: captions, caption -> AudioSet label mapping, the label bank,
and the semantic dictionary (design.md section 1, CAFMap and SVDMap).

Everything here works on numpy arrays and on model objects that follow the model API
(`.caption(images)`, `.encode(texts)`, `.tag(waveforms)`), so it is testable with small fakes.
Stage scripts in `stages/` read params, call these functions and write the artifacts.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from vida_core import CLIP_SECONDS, NUM_AUDIOSET_LABELS, NUM_FRAMES, NUM_MEL_BINS, SAMPLE_RATE
from vida_core.decode import decode_audio_track

BANK_FALLBACK = "global_mean"
BANK_FALLBACK_RULE = ("labels with no bank example get the global mean of all bank clips' "
                      "pooled features (covered=false)")


def model_identity(model) -> dict:
    """{role, name, id, weights} of a loaded model, for artifact provenance. `id` is the
    Hugging Face id, else the local folder, else the short name of an embedded model."""
    spec = getattr(model, "spec", None)
    name = str(getattr(spec, "name", ""))
    return {"role": str(getattr(spec, "role", "")), "name": name,
            "id": str(getattr(spec, "hf_id", None) or getattr(spec, "folder", None) or name),
            "weights": str(getattr(spec, "weights_source", "") or "")}


# ---------------------------------------------------------------- captions

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


# ---------------------------------------------------------------- text similarity

def class_name_to_text(name: str) -> str:
    """MiT class names read as words: `adult+female+singing` -> `adult female singing`."""
    return " ".join(re.sub(r"[+_\-]", " ", name).split())


def normalize_rows(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def cosine_similarities(queries: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """[M,D] x [L,D] -> [M,L] cosine similarity (inputs re-normalised to be safe)."""
    return normalize_rows(queries) @ normalize_rows(keys).T


def embed_texts(text_encoder, texts: Sequence[str]) -> np.ndarray:
    """[len(texts), D] float32 embeddings; an empty list gives a [0, D] array."""
    if not texts:
        return np.zeros((0, int(getattr(text_encoder, "dim", 1))), np.float32)
    return np.asarray(text_encoder.encode(list(texts)), dtype=np.float32)


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


def dictionary_for_classes(class_names: Sequence[str], text_encoder,
                           label_names: Sequence[str], top_n: int,
                           label_embeddings: np.ndarray | None = None) -> list[dict]:
    """The semantic dictionary: each action class's top-N AudioSet labels by cosine
    similarity of the class name (read as words) and the label names.

    Rows {class, rank (1 = best), label_index, label, similarity}, classes in given order.
    """
    if label_embeddings is None:
        label_embeddings = embed_texts(text_encoder, label_names)
    sims = cosine_similarities(
        embed_texts(text_encoder, [class_name_to_text(c) for c in class_names]), label_embeddings)
    rows = []
    for name, row in zip(class_names, sims):
        for rank, index in enumerate(np.argsort(-row, kind="stable")[:top_n], start=1):
            rows.append({"class": name, "rank": rank, "label_index": int(index),
                         "label": label_names[index], "similarity": round(float(row[index]), 6)})
    return rows


# ---------------------------------------------------------------- label bank

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
                          num_labels: int = NUM_AUDIOSET_LABELS):
    """Mean pooled feature of each label over the clips carrying it.

    `features` [M,128] (one pooled log-mel per clip), `label_sets` per clip label indices.
    Returns `mean` float32 [num_labels,128], `count` int64 [num_labels], `covered` bool.
    Uncovered labels get the global mean of the clips that entered the bank (BANK_FALLBACK).
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
    mean[~covered] = features[used].mean(0)
    return mean.astype(np.float32), count, covered


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
        except Exception:  # any decode failure: count it and go on (the bank is a mean)
            report["unreadable"] += 1
            continue
        logmel = logmel_fn(segment_window(audio, row["start"], row["end"]))
        features.append(np.asarray(logmel, np.float32).mean(0))
        label_sets.append(np.array(sorted(set(labels)), np.int64))
        ids.append(row["ytid"])
        report["used"] += 1
    features = np.stack(features) if features else np.zeros((0, NUM_MEL_BINS), np.float32)
    return ids, features, label_sets, report
