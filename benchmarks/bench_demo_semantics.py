"""Both ends of the semantic chain on the demo, from a pipeline run -> metrics/demo_semantics.json.

Per demo class (vida_core.io.demo.DEMO_TARGETS says what each should be called and heard as):
- caption accuracy: of the captioned (representative) frames in captions.json, how many the
  captioner names right (its first-named object is one of the class's ImageNet names);
- mapped labels: how many of those frames' labels in label_map.h5 include one of the class's
  intended AudioSet labels (the label_map reading the run used), the top-1 label alone, and the
  same captions mapped as the first release did (`Reading.paper()`);
- tagger agreement: of the clips with audio in audio.h5, how many YAMNet top-5 tags include one
  of the class's intended labels (top-1 too).

    dvc repro && python benchmarks/bench_demo_semantics.py [--artifacts artifacts]
    python benchmarks/bench_demo_semantics.py --quick [--out FILE]   # checks the script, in seconds

`--quick` makes the four artifacts it reads for 2 classes x 3 tiny demo clips first: the manifest
and audio.h5 by the pipeline's own code, captions.json and label_map.h5 made up in the stages'
formats (half of each clip's frames named right), and maps captions with a bag-of-words stand-in
for the text encoder; its numbers mean nothing.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import h5py
import numpy as np

from vida_core.shared.artifacts import read_strings, write_json
from vida_core.io.dataset import read_manifest
from vida_core.io.demo import DEMO_TARGETS
from vida_core.models import audioset_labels, load_audio_tagger, load_text_encoder
from vida_core.semantic.label_map import CaptionMapper, Reading
from vida_core.semantic.text import embed_texts, strip_template

ROOT = Path(__file__).resolve().parent.parent


def first_object(caption: str) -> str:
    return strip_template(caption).split(" or ")[0].strip()


def quick_artifacts(folder: Path) -> Path:
    """--quick: manifest.csv, audio.h5, captions.json and label_map.h5 of 2 classes x 3 tiny clips."""
    from _quick import tiny_clips

    from vida_core.shared import NUM_FRAMES
    from vida_core.extract.audio import extract_audio
    from vida_core.shared.artifacts import write_strings
    from vida_core.io.dataset import build_manifest, write_manifest
    from vida_core.models.captioner import caption_from_labels

    tiny_clips(folder / "clips", classes=2, per_class=3)
    rows = build_manifest("demo", folder / "clips", val_fraction=0.2, test_fraction=0.2, fingerprint_cache=None)
    write_manifest(rows, folder / "manifest.csv")
    extract_audio(rows, folder / "audio.h5")
    index = {name: i for i, name in enumerate(label["name"] for label in audioset_labels())}
    top_k, captions = 5, {}
    label_index = np.full((len(rows), NUM_FRAMES, top_k), -1, np.int16)
    for r, row in enumerate(rows):
        objects, sounds = DEMO_TARGETS[row["label"]]
        captions[row["clip_id"]] = [{"frame": 3, "caption": caption_from_labels(objects[0], "banjo", 0.5)},
                                    {"frame": 9, "caption": caption_from_labels("lampshade", objects[0], 0.0)}]
        label_index[r, 3, :2] = [index[sounds[0]], index["Music"]]
        label_index[r, 9, :1] = index["Music"]
    (folder / "captions.json").write_text(json.dumps({"model": {}, "clips": captions}))
    with h5py.File(folder / "label_map.h5", "w") as f:
        write_strings(f, "clip_id", [row["clip_id"] for row in rows])
        f["label_index"] = label_index
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifacts", default=str(ROOT / "artifacts"))
    parser.add_argument("--out", default=None, help="default: metrics/demo_semantics.json (with --quick: a "
                                                    "temporary folder or $VIDA_BENCH_OUT)")
    parser.add_argument("--quick", action="store_true", help="tiny artifacts of its own instead of a run's: "
                                                             "checks the script in seconds")
    args = parser.parse_args()
    if args.quick:
        import tempfile

        from _quick import quick_file
        args.artifacts = str(quick_artifacts(Path(tempfile.mkdtemp(prefix="vida-demo-semantics-"))))
        args.out = args.out or str(quick_file("demo_semantics.json"))
    args.out = args.out or str(ROOT / "metrics" / "demo_semantics.json")
    folder = Path(args.artifacts)
    names = [label["name"] for label in audioset_labels()]
    index = {name: i for i, name in enumerate(names)}
    label_of = {row["clip_id"]: row["label"] for row in read_manifest(folder / "manifest.csv")}
    captions = json.loads((folder / "captions.json").read_text())["clips"]
    with h5py.File(folder / "label_map.h5", "r") as f:
        map_ids, label_index = read_strings(f["clip_id"]), f["label_index"][()]
    rows = {cid: i for i, cid in enumerate(map_ids)}

    # The same captions mapped as the first release (and the paper) did, for comparison.
    if args.quick:
        from bench_label_map_memory import BagOfWords
        encoder = BagOfWords()
    else:
        encoder = load_text_encoder("minilm", device="cpu")
    paper = CaptionMapper(encoder, embed_texts(encoder, names), 5, Reading.paper())
    distinct = sorted({item["caption"] for items in captions.values() for item in items})
    paper_labels = dict(zip(distinct, paper(distinct)[0]))

    counts = defaultdict(lambda: defaultdict(int))
    examples = defaultdict(lambda: defaultdict(int))
    for cid, items in captions.items():
        label = label_of[cid]
        objects, sounds = DEMO_TARGETS[label]
        wanted = {index[s] for s in sounds}
        for item in items:
            c = counts[label]
            c["frames"] += 1
            c["caption_right"] += first_object(item["caption"]) in objects
            kept = [int(i) for i in label_index[rows[cid], item["frame"]] if i >= 0]
            c["mapped_any"] += bool(set(kept) & wanted)
            c["mapped_top1"] += bool(kept) and kept[0] in wanted
            c["paper_any"] += bool({int(i) for i in paper_labels[item["caption"]] if i >= 0} & wanted)
            examples[label][first_object(item["caption"])] += 1

    tagger = load_audio_tagger("yamnet", device="cpu")
    with h5py.File(folder / "audio.h5", "r") as f:
        audio_ids, has_audio = read_strings(f["clip_id"]), f["has_audio"][()]
        rows_with_audio = np.flatnonzero(has_audio)
        waveforms = f["waveform"][()][rows_with_audio].astype(np.float32) / 32768
    scores = tagger.tag(waveforms)
    for row, score in zip(rows_with_audio, scores):
        label = label_of[audio_ids[row]]
        wanted = {index[s] for s in DEMO_TARGETS[label][1]}
        top = np.argsort(-score)[:5]
        c = counts[label]
        c["clips_with_audio"] += 1
        c["tagger_top5"] += bool(set(top.tolist()) & wanted)
        c["tagger_top1"] += int(top[0]) in wanted

    result = {}
    for label in DEMO_TARGETS:
        c = counts[label]
        result[label] = {
            "captioned_frames": c["frames"],
            "caption_accuracy": round(c["caption_right"] / max(c["frames"], 1), 3),
            "mapped_labels_hit": round(c["mapped_any"] / max(c["frames"], 1), 3),
            "mapped_top1_hit": round(c["mapped_top1"] / max(c["frames"], 1), 3),
            "mapped_labels_hit_paper_reading": round(c["paper_any"] / max(c["frames"], 1), 3),
            "clips_with_audio": c["clips_with_audio"],
            "tagger_top5_agreement": round(c["tagger_top5"] / max(c["clips_with_audio"], 1), 3),
            "tagger_top1_agreement": round(c["tagger_top1"] / max(c["clips_with_audio"], 1), 3),
            "captions_most_often": dict(sorted(examples[label].items(), key=lambda kv: -kv[1])[:3]),
        }
    total = {key: sum(counts[label][key] for label in DEMO_TARGETS)
             for key in ("frames", "caption_right", "mapped_any", "mapped_top1", "paper_any", "clips_with_audio", "tagger_top5",
                         "tagger_top1")}
    result["all"] = {"caption_accuracy": round(total["caption_right"] / total["frames"], 3),
                     "mapped_labels_hit": round(total["mapped_any"] / total["frames"], 3),
                     "mapped_top1_hit": round(total["mapped_top1"] / total["frames"], 3),
                     "mapped_labels_hit_paper_reading": round(total["paper_any"] / total["frames"], 3),
                     "tagger_top5_agreement": round(total["tagger_top5"] / total["clips_with_audio"], 3),
                     "tagger_top1_agreement": round(total["tagger_top1"] / total["clips_with_audio"], 3)}
    for label, row in result.items():
        print(f"{label:14s} " + "  ".join(f"{k} {v}" for k, v in row.items() if k != "captions_most_often"))
    write_json(args.out, result)
    print(f"wrote {args.out}")
    if args.quick:
        import shutil
        shutil.rmtree(folder)


if __name__ == "__main__":
    main()
