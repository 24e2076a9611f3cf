"""Caption -> label mapping against the word-level gold set -> metrics/label_map_gold.json.

Each of the gold set's words (tests/data/word_labels_gold.csv: an object or scene word and the
AudioSet labels a person would accept for its sound) is captioned as the embedded captioner
words it ("a photo of a drake"), mapped with each `label_map` reading, and scored: top1 (the
best label is accepted), any_kept (some label kept by the top-k rule is), kept_precision.

    python benchmarks/bench_label_mapping.py [--out metrics/label_map_gold.json]
    python benchmarks/bench_label_mapping.py --quick [--out FILE]   # checks the script, in seconds

`--quick`: the gold set's first words, and a bag-of-words stand-in for the text encoder
(bench_label_map_memory.BagOfWords), so its numbers mean nothing.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

from vida_core.shared.artifacts import write_json
from vida_core.models import audioset_labels, load_text_encoder
from vida_core.models.captioner import caption_from_labels
from vida_core.semantic.label_map import Reading, gold_hit_rates

ROOT = Path(__file__).resolve().parent.parent
GOLD = ROOT / "tests" / "data" / "word_labels_gold.csv"

READINGS = {  # name -> reading; "paper" is the first release's (and the paper's) mapping
    "paper": Reading.paper(),
    "strip": Reading(strip_template=True, synonyms="none", label_text="name"),
    "strip+description": Reading(strip_template=True, synonyms="none", label_text="name+description"),
    "strip+lemmas": Reading(strip_template=True, synonyms="lemmas", label_text="name"),
    "strip+lemmas+definition (default)": Reading(),
    "strip+lemmas+definition+description": Reading(label_text="name+description"),
}


def read_gold(path: Path = GOLD) -> list[tuple[str, set[int]]]:
    index = {label["name"]: label["index"] for label in audioset_labels()}
    with open(path, newline="") as f:
        return [(row["word"], {index[name] for name in row["accepted_labels"].split("|")}) for row in csv.DictReader(f)]


QUICK_WORDS = 12   # --quick: the gold set's first words


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None, help="default: metrics/label_map_gold.json "
                                                    "(with --quick: a temporary folder or $VIDA_BENCH_OUT)")
    parser.add_argument("--quick", action="store_true", help=f"the gold set's first {QUICK_WORDS} words and a "
                                                             "bag-of-words text encoder: checks the script in seconds")
    args = parser.parse_args()
    if args.out is None:
        if args.quick:
            from _quick import quick_file
            args.out = str(quick_file("label_map_gold.json"))
        else:
            args.out = str(ROOT / "metrics" / "label_map_gold.json")
    gold, names = read_gold(), [label["name"] for label in audioset_labels()]
    if args.quick:
        from bench_label_map_memory import BagOfWords
        gold, encoder, encoder_name = gold[:QUICK_WORDS], BagOfWords(), "bag-of-words (--quick)"
    else:
        encoder, encoder_name = load_text_encoder("minilm", device="cpu"), "minilm"
    results = {"gold_words": len(gold), "text_encoder": encoder_name, "top_k": 5,
               "caption": "as the embedded captioner words it: 'a photo of a <word>'"}
    for name, reading in READINGS.items():
        rates = gold_hit_rates(gold, encoder, names, reading, caption=lambda w: caption_from_labels(w, w, 0.0))
        results[name] = {key: round(value, 4) for key, value in rates.items() if key != "words"}
        print(f"{name:38s} " + "  ".join(f"{k} {v:.3f}" for k, v in results[name].items()))
    write_json(args.out, results)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
