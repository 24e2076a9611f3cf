"""Text similarity shared by the semantic stages: names read as words, embeddings, cosine."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np


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
