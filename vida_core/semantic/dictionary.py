"""Stage `semantic_dictionary`: each action class -> its top-N AudioSet labels -> semantic_dictionary.csv.

Class names are read as words (`adult+female+singing` -> "adult female singing") and compared
with the 527 label names by text-encoder cosine similarity (`semantic_dictionary.top_n`, paper 5).
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from vida_core.shared.artifacts import atomic_path
from vida_core.semantic.text import class_name_to_text, cosine_similarities, embed_texts

DICTIONARY_COLUMNS = ["class", "rank", "label_index", "label", "similarity"]


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


def write_dictionary(rows: list[dict], path: Path) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=DICTIONARY_COLUMNS)
            writer.writeheader()
            writer.writerows(rows)
