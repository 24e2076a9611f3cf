"""Text similarity shared by the semantic stages: names read as words, embeddings, cosine."""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

RESOURCES = Path(__file__).resolve().parent.parent / "resources"


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


# What captioners put around the object: "a photo of a wall clock", "a picture of a dog",
# "there is a man ...". Left in, the template outweighs the object in a short caption and maps
# every caption to "Camera".
TEMPLATE_PREFIXES = ("a photo of", "a picture of", "an image of", "a close up of", "a closeup of",
                     "a photograph of", "a view of", "there is", "there are", "this is")
ARTICLES = {"a", "an", "the"}


def strip_template(caption: str) -> str:
    """The caption's content words: template prefix and articles removed, lower case.

    "a photo of a wall clock or an analog clock" -> "wall clock or analog clock";
    "a man playing a guitar on the stage" -> "man playing guitar on stage".
    """
    text = " ".join(caption.lower().replace(",", " , ").split())
    for prefix in TEMPLATE_PREFIXES:
        if text == prefix or text.startswith(prefix + " "):
            text = text[len(prefix):]
            break
    words = [word for word in text.split() if word not in ARTICLES]
    return " ".join(words).replace(" , ", ", ").strip(" ,") or caption.lower().strip()


@lru_cache(maxsize=1)
def imagenet_wordnet() -> dict[str, tuple[str, str]]:
    """ImageNet class name (its first WordNet lemma, as the label captioner writes it), lower
    case -> (all its lemmas, e.g. "chime, bell, gong", and the WordNet definition)."""
    names = (RESOURCES / "imagenet_labels.txt").read_text(encoding="utf-8").splitlines()
    out = {}
    with open(RESOURCES / "imagenet_wordnet.tsv", encoding="utf-8") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            out[names[int(row["index"])].lower()] = (row["lemmas"], row["definition"])
    return out


def with_synonyms(text: str, wordnet: dict[str, tuple[str, str]]) -> str:
    """Each "or"-separated phrase that is an ImageNet class name -> its lemma list, so that
    "chime" reads "chime, bell, gong" and "killer whale" reads "... orca ..."; other text as is."""
    phrases = [p.strip() for p in text.split(" or ")]
    return " or ".join(wordnet[p][0] if p in wordnet else p for p in phrases)
