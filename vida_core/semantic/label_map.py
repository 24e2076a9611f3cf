"""Stage `label_map`: each caption -> the AudioSet labels it evokes, and CAFMap's condition -> label_map.h5.

A caption is read (`label_map.strip_template`: template and articles dropped; `synonyms`: an
ImageNet class name becomes its WordNet lemmas and definition), embedded with the text encoder
and compared (cosine) with the 527 labels (`label_text`: their names, or names plus ontology
descriptions). Labels whose similarity is >= the mean of the top-k similarities are kept
(`top_k`, paper 5; always at least the best one). At each captioned (representative) frame the
condition is the mean label-bank feature of the kept labels; elsewhere zero, with
`condition_mask` false. A clip that fed the bank itself (`label_bank.source:
tagged_train_audio`) gets its condition from the bank rebuilt without it, so no condition
carries the clip's own real audio.

Clips are mapped and written in blocks of BLOCK_CLIPS, so memory does not grow with the
dataset (the captions themselves are read from captions.json whole).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from vida_core.shared import NUM_FRAMES, NUM_MEL_BINS
from vida_core.shared.artifacts import STRING, RowWriter, read_strings, write_h5, write_strings
from vida_core.models.specs import model_identity
from vida_core.shared.config import asdict
from vida_core.semantic.label_bank import leave_one_out_banks
from vida_core.semantic.text import cosine_similarities, embed_texts, imagenet_wordnet, strip_template

BLOCK_CLIPS = 2048          # clips mapped and written at a time
CACHE_CAPTIONS = 50_000     # distinct captions whose labels are remembered across blocks (~20 MB)


@dataclass(frozen=True)
class Reading:
    """How captions and labels are turned into text (the label_map params but top_k)."""

    strip_template: bool = True
    synonyms: str = "lemmas+definition"   # none | lemmas | lemmas+definition
    label_text: str = "name"              # name | name+description

    @classmethod
    def paper(cls) -> Reading:
        """The paper's and the first release's reading: the caption and label names as they are."""
        return cls(strip_template=False, synonyms="none", label_text="name")


def caption_query(caption: str, reading: Reading) -> str:
    """The text embedded for a caption: "a photo of a drake" -> "drake: adult male of a wild
    or domestic duck" with the defaults."""
    text = strip_template(caption) if reading.strip_template else caption
    if reading.synonyms == "none":
        return text
    wordnet = imagenet_wordnet()
    parts = []
    for phrase in text.split(" or "):  # the label captioner's "X or Y"
        phrase = phrase.strip()
        lemmas, definition = wordnet.get(phrase.lower(), (phrase, ""))
        parts.append(f"{lemmas}: {definition}" if reading.synonyms == "lemmas+definition" and definition else lemmas)
    return "; ".join(parts)


def label_texts(label_names: Sequence[str], reading: Reading) -> list[str]:
    """What each of the 527 labels is embedded as."""
    if reading.label_text == "name":
        return list(label_names)
    from vida_core.semantic.ontology import audioset_ontology

    ontology = audioset_ontology()
    return [f"{name}: {ontology.description(i)}".rstrip(": ") for i, name in enumerate(label_names)]


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


class CaptionMapper:
    """Caption -> (kept label indices, similarities), each distinct caption embedded once
    (captioners repeat themselves a lot), remembering up to CACHE_CAPTIONS of them."""

    def __init__(self, text_encoder, label_embeddings: np.ndarray, top_k: int, reading: Reading = Reading()):
        self.encoder, self.label_embeddings = text_encoder, label_embeddings
        self.top_k, self.reading = top_k, reading
        self.cache: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def __call__(self, captions: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """`label_index` int16 [M,top_k] (-1 = none) and `label_similarity` float32 [M,top_k]."""
        new = sorted({c for c in captions if c not in self.cache})
        if len(self.cache) + len(new) > CACHE_CAPTIONS:  # forget, then map all of this call's anew
            self.cache.clear()
            new = sorted(set(captions))
        if new:
            queries = [caption_query(c, self.reading) for c in new]
            sims = cosine_similarities(embed_texts(self.encoder, queries), self.label_embeddings)
            indices, values = pad_selections(select_labels(sims, self.top_k), self.top_k)
            self.cache.update(zip(new, zip(indices, values)))
        if not captions:
            return np.zeros((0, self.top_k), np.int16), np.zeros((0, self.top_k), np.float32)
        indices, values = zip(*(self.cache[c] for c in captions))
        return np.stack(indices), np.stack(values)


def map_captions_to_labels(
        clip_ids: Sequence[str], captions: dict[str, list[dict]], text_encoder,
        label_embeddings: np.ndarray, top_k: int, reading: Reading = Reading(),
        mapper: CaptionMapper | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Every caption of `clip_ids` -> its AudioSet labels.

    Returns `label_index` int16 [N,18,top_k] (-1 = none) and `label_similarity` float32
    [N,18,top_k] (NaN = none); frames without a caption have no labels.
    """
    mapper = mapper or CaptionMapper(text_encoder, label_embeddings, top_k, reading)
    where = [(row, item["frame"]) for row, cid in enumerate(clip_ids) for item in captions.get(cid, [])]
    texts = [item["caption"] for cid in clip_ids for item in captions.get(cid, [])]
    label_index = np.full((len(clip_ids), NUM_FRAMES, top_k), -1, np.int16)
    label_similarity = np.full((len(clip_ids), NUM_FRAMES, top_k), np.nan, np.float32)
    if texts:
        rows, frames = np.array(where).T
        label_index[rows, frames], label_similarity[rows, frames] = mapper(texts)
    return label_index, label_similarity


def cafmap_condition(label_index: np.ndarray,
                     bank_mean: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """CAFMap's condition: at each frame with labels, the mean of their bank rows.

    `label_index` [N,18,K] (-1 = padding), `bank_mean` [527,128] -> `condition` float32
    [N,18,128] (zeros where a frame has no labels) and `condition_mask` bool [N,18]. A clip
    with no representative frame gets an all-zero condition and an all-false mask, so the
    generator sees noise only. Frames are summed label slot by label slot, so no
    [N,18,K,128] array is ever built.
    """
    valid = label_index >= 0
    condition = np.zeros((*label_index.shape[:2], bank_mean.shape[1]), np.float64)
    for slot in range(label_index.shape[-1]):
        condition += bank_mean[np.where(valid[..., slot], label_index[..., slot], 0)] * valid[..., slot, None]
    condition /= np.maximum(valid.sum(-1, keepdims=True), 1)
    return condition.astype(np.float32), valid.any(-1)


def check_captions_match(clip_ids: Sequence[str], masks: np.ndarray, captions: dict[str, list[dict]]) -> None:
    for cid, mask in zip(clip_ids, masks):
        frames = [item["frame"] for item in captions.get(cid, [])]
        if cid not in captions or any(not mask[frame] for frame in frames):
            raise RuntimeError(f"label_map: captions.json does not match representative.h5 at clip {cid}; "
                               "the captions are stale, run `dvc repro captions`")


def run_label_map(representative_h5: Path, captions_json: Path, label_bank_h5: Path, out_h5: Path,
                  encoder, label_names: list[str], top_k: int, params: dict,
                  reading: Reading = Reading()) -> dict:
    with h5py.File(representative_h5, "r") as f:
        clip_ids, masks = read_strings(f["clip_id"]), f["mask"][()]
    captions = json.loads(captions_json.read_text())["clips"]
    with h5py.File(label_bank_h5, "r") as f:
        bank_mean = f["mean"][()]
    check_captions_match(clip_ids, masks, captions)
    own_out = leave_one_out_banks(label_bank_h5, clip_ids)

    label_embeddings = embed_texts(encoder, label_texts(label_names, reading))
    mapper = CaptionMapper(encoder, label_embeddings, top_k, reading)
    encoder_id = model_identity(encoder)
    counts = {"conditioned_frames": 0, "clips_without_condition": 0, "labels_kept": 0}
    with write_h5(out_h5, "label_map", params=params, models={"text_encoder": encoder_id["id"]}) as f:
        writer = RowWriter(f, {
            "clip_id": ((), STRING, {}),
            "label_index": ((NUM_FRAMES, top_k), np.int16, {}),        # -1 = no label
            "label_similarity": ((NUM_FRAMES, top_k), np.float32, {}),  # NaN = no label
            "condition": ((NUM_FRAMES, NUM_MEL_BINS), np.float32, {}),
            "condition_mask": ((NUM_FRAMES,), bool, {}),
        }, flush_every=BLOCK_CLIPS)
        for start in range(0, len(clip_ids), BLOCK_CLIPS):
            block = clip_ids[start:start + BLOCK_CLIPS]
            label_index, label_similarity = map_captions_to_labels(block, captions, encoder, label_embeddings,
                                                                   top_k, reading, mapper)
            condition, condition_mask = cafmap_condition(label_index, bank_mean)
            for row, cid in enumerate(block):  # a bank clip's condition comes from the bank without it
                if cid in own_out:
                    condition[row] = cafmap_condition(label_index[row:row + 1], own_out[cid])[0][0]
            for row, cid in enumerate(block):
                writer.append(clip_id=cid, label_index=label_index[row], label_similarity=label_similarity[row],
                              condition=condition[row], condition_mask=condition_mask[row])
            counts["conditioned_frames"] += int(condition_mask.sum())
            counts["clips_without_condition"] += int((~condition_mask.any(1)).sum())
            counts["labels_kept"] += int((label_index >= 0).sum())
        writer.flush()
        f["label_embeddings"] = label_embeddings  # the 527 labels as embedded, once per text encoder
        write_strings(f, "label_name", label_names)
        f.attrs.update(text_encoder=json.dumps(encoder_id), top_k=top_k, reading=json.dumps(reading.__dict__),
                       rule="keep labels with similarity >= mean of the top_k similarities, at least the best",
                       leave_one_out_clips=len(own_out))
    frames = counts.pop("conditioned_frames")
    kept = counts.pop("labels_kept")
    return {"clips": len(clip_ids), "conditioned_frames": frames, **counts, "leave_one_out_clips": len(own_out),
            "mean_labels_per_frame": round(kept / frames, 2) if frames else 0}


def gold_hit_rates(gold: Sequence[tuple[str, set[int]]], text_encoder, label_names: Sequence[str],
                   reading: Reading, top_k: int = 5, caption=lambda word: word) -> dict:
    """How often a word's mapped labels are ones a person accepts for its sound.

    `gold`: (word, accepted label indices); `caption(word)` is how the captioner would say it.
    Returns top1 (the best label is accepted), any_kept (some kept label is) and
    kept_precision (the mean fraction of kept labels that are).
    """
    mapper = CaptionMapper(text_encoder, embed_texts(text_encoder, label_texts(label_names, reading)), top_k, reading)
    indices, _ = mapper([caption(word) for word, _ in gold])
    kept = [[int(i) for i in row if i >= 0] for row in indices]
    return {"words": len(gold),
            "top1": float(np.mean([row[0] in accepted for row, (_, accepted) in zip(kept, gold)])),
            "any_kept": float(np.mean([bool(set(row) & accepted) for row, (_, accepted) in zip(kept, gold)])),
            "kept_precision": float(np.mean([np.mean([i in accepted for i in row])
                                             for row, (_, accepted) in zip(kept, gold)]))}


def label_map_stage(stage) -> dict:
    """The `label_map` stage (stages/label_map.py, and `vida predict` with the project's label bank):
    captions -> AudioSet labels -> CAFMap's condition -> label_map.h5."""
    from vida_core.models import audioset_labels, load_text_encoder

    cfg, text_encoder = stage.params.label_map, stage.params.models.text_encoder
    encoder = stage.model(load_text_encoder, text_encoder)
    reading = Reading(strip_template=cfg.strip_template, synonyms=cfg.synonyms, label_text=cfg.label_text)
    return run_label_map(stage.input("representative"), stage.input("captions"), stage.input("label_bank"),
                         stage.output("label_map"), encoder, [label["name"] for label in audioset_labels()],
                         cfg.top_k, params={"label_map": asdict(cfg), "models.text_encoder": text_encoder},
                         reading=reading)
