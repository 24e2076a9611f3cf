"""Human-readable views of the semantic artifacts, for `vida inspect`: captions.json,
label_bank.h5, semantic_dictionary.csv, and a picture of a clip's captions and labels."""

from __future__ import annotations

import csv
import json
import textwrap
from collections import defaultdict
from pathlib import Path

import h5py
import numpy as np

from vida_core.shared.artifacts import clip_row, read_strings


def summarize_captions(path: str | Path, clip: str | None = None) -> str:
    """Counts and the model; with `clip`, that clip's captions, else a few examples."""
    data = json.loads(Path(path).read_text())
    clips = data["clips"]
    lines = [f"captions: {path}", f"model: {data.get('model')}",
             f"clips: {len(clips)}, captioned frames: {sum(map(len, clips.values()))}, "
             f"clips without a representative frame: {sum(not c for c in clips.values())}"]
    if clip is not None:
        if clip not in clips:
            return "\n".join(lines + [f"clip {clip!r} is not in {path}"])
        shown = {clip: clips[clip]}
    else:
        shown = dict(list((cid, c) for cid, c in clips.items() if c)[:5])
    for cid, items in shown.items():
        lines.append(f"{cid}:" + ("" if items else " (no representative frame)"))
        lines += [f"  frame {item['frame']:2d}: {item['caption']}" for item in items]
    return "\n".join(lines)


def summarize_label_bank(path: str | Path) -> str:
    """Source, coverage, and the best-supported labels of label_bank.h5."""
    with h5py.File(path, "r") as f:
        count, covered = f["count"][()], f["covered"][()]
        names = read_strings(f["label_name"])
        attrs = {k: f.attrs[k] for k in ("source", "fallback_rule", "counts", "tagger") if k in f.attrs}
    lines = [f"label bank: {path}", f"source: {attrs.get('source')}",
             f"labels covered: {int(covered.sum())} of {len(covered)}; "
             f"uncovered: {attrs.get('fallback_rule')}",
             f"counts: {attrs.get('counts')}"]
    if attrs.get("tagger") not in (None, "{}"):
        lines.append(f"tagger: {attrs['tagger']}")
    lines.append("most examples:")
    lines += [f"  {count[i]:6d}  {names[i]}" for i in np.argsort(-count, kind="stable")[:10] if count[i]]
    return "\n".join(lines)


def summarize_dictionary(path: str | Path) -> str:
    """Each action class with its top AudioSet labels and similarities, one line per class."""
    by_class = defaultdict(list)
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            by_class[row["class"]].append(row)
    lines = [f"semantic dictionary: {path} ({len(by_class)} classes)"]
    for name, rows in by_class.items():
        rows.sort(key=lambda r: int(r["rank"]))
        lines.append(f"{name}: " + ", ".join(f"{r['label']} ({float(r['similarity']):.2f})" for r in rows))
    return "\n".join(lines)


def _row_of(f: h5py.File, clip_id: str) -> int:
    row = clip_row(f, clip_id)
    if row is None:
        raise KeyError(f"clip {clip_id!r} is not in {f.filename}")
    return row


def plot_captions(clip_id: str, frames_h5: str | Path, representative_h5: str | Path,
                  captions_json: str | Path, label_map_h5: str | Path, out_png: str | Path) -> Path:
    """PNG of a clip's representative frames, each with its caption and kept labels
    (with similarities) under it."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with h5py.File(representative_h5, "r") as f:
        mask = f["mask"][_row_of(f, clip_id)]
    items = json.loads(Path(captions_json).read_text())["clips"].get(clip_id, [])
    with h5py.File(label_map_h5, "r") as f:
        row = _row_of(f, clip_id)
        label_index, label_similarity = f["label_index"][row], f["label_similarity"][row]
        names = read_strings(f["label_name"])
    frame_numbers = sorted({item["frame"] for item in items} or np.flatnonzero(mask).tolist())
    with h5py.File(frames_h5, "r") as f:
        row = _row_of(f, clip_id)
        images = f["frames"][row, frame_numbers] if frame_numbers else f["frames"][row, :1]

    n = max(1, len(frame_numbers))
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n, 4.6), squeeze=False)
    for ax, image, frame in zip(axes[0], images, frame_numbers or [0]):
        ax.imshow(image)
        ax.set_xticks([]), ax.set_yticks([])
        caption = next((item["caption"] for item in items if item["frame"] == frame), None)
        if caption is None:
            ax.set_title("no representative frame" if not frame_numbers else f"frame {frame}", fontsize=9)
            continue
        labels = [f"{names[i]} {s:.2f}" for i, s in zip(label_index[frame], label_similarity[frame]) if i >= 0]
        ax.set_title(f"frame {frame}", fontsize=9)
        ax.set_xlabel(textwrap.fill(caption, 34) + "\n\n" + "\n".join(labels), fontsize=8)
    fig.suptitle(clip_id, fontsize=10)
    fig.tight_layout()
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return out_png
