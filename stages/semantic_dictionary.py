"""Stage `semantic_dictionary`: each action class -> its top-N AudioSet labels -> semantic_dictionary.csv.

Class names are read as words (`adult+female+singing` -> "adult female singing") and compared
with the 527 label names by text-encoder cosine similarity (`semantic_dictionary.top_n`, paper 5).
"""

import csv

from vida_core.artifacts import atomic_path, require
from vida_core.dataset import class_names, read_manifest
from vida_core.models import audioset_labels, load_text_encoder
from vida_core.params import load_params, section
from vida_core.semantics import dictionary_for_classes

from _common import ARTIFACTS, report


def main() -> None:
    params = load_params()
    top_n = int(section(params, "semantic_dictionary").get("top_n", 5))
    classes = class_names(read_manifest(require(ARTIFACTS / "manifest.csv", "manifest")))
    encoder = load_text_encoder(params["models"]["text_encoder"], device=params.get("device", "auto"))
    rows = dictionary_for_classes(classes, encoder, [label["name"] for label in audioset_labels()], top_n)
    with atomic_path(ARTIFACTS / "semantic_dictionary.csv") as tmp:
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=["class", "rank", "label_index", "label", "similarity"])
            writer.writeheader()
            writer.writerows(rows)
    report("semantic_dictionary", {"classes": len(classes), "top_n": top_n})


if __name__ == "__main__":
    main()
