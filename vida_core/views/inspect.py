"""`vida inspect`: what an artifact holds, and pictures of one clip.

`summarize` prints any artifact: its provenance (stage, params, models, package versions), the
shape and dtype of every dataset, and stage-specific counts (rejects with reasons, clips without
audio, representative frames per clip). `plot_clip` draws a clip's 18 frames in a strip with the
motion between them and the representative frames marked, above its log-mel.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import h5py
import numpy as np

from vida_core.shared.artifacts import clip_row, provenance, read_strings, resolve_clip_id
from vida_core.shared.registry import artifact


def _describe_tree(f: h5py.Group, indent: str = "  ") -> list[str]:
    lines = []
    for name, item in f.items():
        if isinstance(item, h5py.Dataset):
            extra = f", {item.compression}" if item.compression else ""
            lines.append(f"{indent}{name}: {item.shape} {item.dtype}{extra}")
        else:
            lines.append(f"{indent}{name}/")
            lines.extend(_describe_tree(item, indent + "  "))
    return lines


def _stage_counts(f: h5py.File) -> list[str]:
    lines = []
    if "clip_id" in f:
        lines.append(f"clips: {f['clip_id'].shape[0]}")
    if "rejects" in f:
        ids, reasons = read_strings(f["rejects/clip_id"]), read_strings(f["rejects/reason"])
        lines.append(f"rejected: {len(ids)}")
        lines.extend(f"  {cid}: {why}" for cid, why in zip(ids, reasons))
    if "notes" in f:     # frames: the video stream read in files that have several
        ids, notes = read_strings(f["notes/clip_id"]), read_strings(f["notes/note"])
        lines.append(f"notes: {len(ids)}")
        lines.extend(f"  {cid}: {note}" for cid, note in zip(ids, notes))
    if "has_audio" in f:
        has = f["has_audio"][()]
        reasons = read_strings(f["audio_note"]) if "audio_note" in f else ["no real audio"] * len(has)
        notes = Counter(n.split(" (")[0] for n, h in zip(reasons, has) if not h)
        lines.append(f"with audio: {int(has.sum())}, without: {int((~has).sum())}"
                     + "".join(f"\n  {n}: {c}" for n, c in notes.most_common()))
    if "mask" in f:
        mask = f["mask"][()]
        per_clip = mask.sum(1)
        lines.append(f"representative frames per clip: mean {per_clip.mean():.2f}, "
                     f"min {per_clip.min(initial=0)}, max {per_clip.max(initial=0)}; "
                     f"clips with none: {int((per_clip == 0).sum())}")
    if "magnitude" in f:
        mag = f["magnitude"][()]
        lines.append(f"motion magnitude (px): mean {mag.mean():.3f}, median {np.median(mag):.3f}, max {mag.max(initial=0):.3f}")
    return lines


def summarize_h5(path: str | Path) -> str:
    with h5py.File(path, "r") as f:
        prov = provenance(f)
        lines = [f"{path}  (stage: {prov['stage']})",
                 f"params: {json.dumps(prov['params'])}"]
        if prov.get("models"):
            lines.append(f"models: {json.dumps(prov['models'])}")
        lines.append(f"versions: {json.dumps(prov['versions'])}")
        extra_attrs = {k: v for k, v in f.attrs.items() if k not in ("stage", "params", "models", "versions")}
        for key, value in extra_attrs.items():
            lines.append(f"{key}: {value.decode() if isinstance(value, bytes) else value}")
        lines.append("datasets:")
        lines.extend(_describe_tree(f))
        lines.extend(_stage_counts(f))
        stage = prov["stage"]
    if stage == "label_bank":
        from vida_core.views.inspect_semantic import summarize_label_bank
        lines.append(summarize_label_bank(path))
    return "\n".join(lines)


def summarize_manifest(path: str | Path) -> str:
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    by_split = Counter(r["split"] for r in rows)
    by_class = Counter(r["label"] for r in rows)
    lines = [f"{path}: {len(rows)} clips, {len(by_class)} classes",
             "splits: " + ", ".join(f"{s} {by_split[s]}" for s in ("train", "val", "test"))]
    lines.extend(f"  {label}: {count}" for label, count in sorted(by_class.items()))
    return "\n".join(lines)


def _file(folder: Path, name: str) -> Path:
    """Where the registry's artifact `name` is in an artifacts folder."""
    return Path(folder) / Path(artifact(name).file).name


def _row(path: Path, clip_id: str) -> int:
    with h5py.File(path, "r") as f:
        row = clip_row(f, clip_id)
    if row is None:
        raise KeyError(f"clip '{clip_id}' is not in {path}; "
                       "`vida inspect artifacts/frames.h5` lists rejected clips")
    return row


def plot_clip(clip_id: str, artifacts: str | Path, out_png: str | Path) -> Path:
    """PNG: the clip's 18 frames with motion under them (representative frames framed in red), and its log-mel."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    artifacts = Path(artifacts)
    i = _row(_file(artifacts, "frames"), clip_id)
    with h5py.File(_file(artifacts, "frames"), "r") as f:
        frames, stamps = f["frames"][i], f["timestamps"][i]
    magnitude = mask = None
    if (_file(artifacts, "flow")).exists():
        with h5py.File(_file(artifacts, "flow"), "r") as f:
            magnitude = f["magnitude"][_row(_file(artifacts, "flow"), clip_id)]
    if (_file(artifacts, "representative")).exists():
        with h5py.File(_file(artifacts, "representative"), "r") as f:
            mask = f["mask"][_row(_file(artifacts, "representative"), clip_id)]
            threshold = f.attrs.get("threshold")
    logmel = note = None
    if (_file(artifacts, "audio")).exists():
        with h5py.File(_file(artifacts, "audio"), "r") as f:
            j = _row(_file(artifacts, "audio"), clip_id)
            logmel, has_audio = f["logmel"][j], bool(f["has_audio"][j])
            note = "" if has_audio else read_strings(f["audio_note"])[j]

    fig = plt.figure(figsize=(18, 6.2))
    grid = fig.add_gridspec(3, 18, height_ratios=[1.0, 0.9, 1.4], hspace=0.35)
    for k in range(18):
        ax = fig.add_subplot(grid[0, k])
        ax.imshow(frames[k])
        ax.set_xticks([]), ax.set_yticks([])
        ax.set_title(f"{k}\n{stamps[k]:.2f}s", fontsize=7)
        if mask is not None and mask[k]:
            for spine in ax.spines.values():
                spine.set_edgecolor("red"), spine.set_linewidth(3)
    if magnitude is not None:
        ax = fig.add_subplot(grid[1, :])
        x = np.arange(1, 18)   # magnitude[i] is the motion into frame i+1
        colours = ["red" if mask is not None and mask[k] else "grey" for k in x]
        ax.bar(x, magnitude, color=colours)
        if mask is not None and threshold is not None:
            ax.axhline(threshold * magnitude.mean(), color="red", ls="--", lw=1,
                       label=f"threshold {threshold} x mean")
            ax.legend(loc="upper right", fontsize=8)
        ax.set_xlim(-0.5, 17.5), ax.set_xticks(range(18))
        ax.set_ylabel("motion (px)")
    if logmel is not None:
        ax = fig.add_subplot(grid[2, :])
        ax.imshow(logmel.T, origin="lower", aspect="auto", cmap="magma", extent=(-0.5, 17.5, 0, 128))
        ax.set_xticks(range(18)), ax.set_ylabel("mel bin"), ax.set_xlabel("frame step (1/6 s)")
        ax.set_title("real audio log-mel" + (f" - no audio: {note}" if note else ""), fontsize=9)
    fig.suptitle(clip_id)
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=80, bbox_inches="tight")
    plt.close(fig)
    return out_png


def summarize_other(path: str | Path, clip: str | None = None) -> str:
    """JSON and CSV artifacts other than the manifest (captions, dictionary, metrics)."""
    path = Path(path)
    if path.name == "captions.json":
        from vida_core.views.inspect_semantic import summarize_captions
        return summarize_captions(path, clip)
    if path.name == "semantic_dictionary.csv":
        from vida_core.views.inspect_semantic import summarize_dictionary
        return summarize_dictionary(path)
    if path.name == "roles.csv":
        return summarize_roles(path)
    if path.suffix == ".json":
        return json.dumps(json.loads(path.read_text()), indent=2)
    if path.suffix == ".csv":
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
        return "\n".join(", ".join(r) for r in rows[:50]) + (f"\n... {len(rows) - 50} more rows" if len(rows) > 50 else "")
    raise ValueError(f"don't know how to summarise {path}; give an .h5, .csv or .json artifact")


def summarize_roles(path: str | Path) -> str:
    """The label-budget study's roles: clips per role and class (roles.csv)."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    counts = Counter((r["label"], r["role"]) for r in rows)
    roles = [r for r in ("pool", "pool_val", "reservoir", "val", "test") if any(k[1] == r for k in counts)]
    labels = sorted({r["label"] for r in rows})
    width = max(len(label) for label in labels) + 2
    lines = [f"{path}: {len(rows)} clips; pool = U (unlabelled, fits generators, tagger and bank), "
             "reservoir = the clips that may be labelled",
             f"{'class':<{width}}" + "".join(f"{r:>11}" for r in roles)]
    lines += [f"{label:<{width}}" + "".join(f"{counts[(label, r)]:>11}" for r in roles) for label in labels]
    return "\n".join(lines)


def find_clip(query: str, artifacts: str | Path) -> str:
    """The clip id a user typed: exact, or a unique suffix of the ids in frames.h5 (else the manifest)."""
    frames = _file(artifacts, "frames")
    if frames.exists():
        with h5py.File(frames, "r") as f:
            ids = read_strings(f["clip_id"]) + read_strings(f["rejects/clip_id"])
    else:
        with open(_file(artifacts, "manifest"), newline="") as f:
            ids = [row["clip_id"] for row in csv.DictReader(f)]
    return resolve_clip_id(query, ids, frames)


def plot_clip_all(clip_id: str, artifacts: str | Path, out_png: str | Path) -> list[Path]:
    """Every picture of a clip that the artifacts present allow; returns the PNG paths."""
    artifacts, out_png = Path(artifacts), Path(out_png)
    written = [plot_clip(clip_id, artifacts, out_png)]
    if (_file(artifacts, "captions")).exists() and (_file(artifacts, "label_map")).exists():
        from vida_core.views.inspect_semantic import plot_captions
        target = out_png.with_name(out_png.stem + "_captions.png")
        plot_captions(clip_id, _file(artifacts, "frames"), _file(artifacts, "representative"),
                      _file(artifacts, "captions"), _file(artifacts, "label_map"), target)
        written.append(target)
    if (_file(artifacts, "generated_svdmap")).exists() and (_file(artifacts, "generated_cafmap")).exists():
        from vida_core.views.inspect_learning import plot_generated
        target = out_png.with_name(out_png.stem + "_generated.png")
        plot_generated(clip_id, _file(artifacts, "audio"), _file(artifacts, "generated_svdmap"),
                       _file(artifacts, "generated_cafmap"), target)
        written.append(target)
    return written
