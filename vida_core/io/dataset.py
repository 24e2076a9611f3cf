"""Datasets as lists of (clip_id, path, label, split) rows, and the manifest that records them.

Adapters (design.md section 6):
- `mit`: Moments in Time as it ships, `<root>/{training,validation}/<class>/<clip>.mp4`, optionally with
  `moments_categories.txt` (class order), `trainingSet.csv` / `validationSet.csv` (the clip lists).
  MiT's validation set is our test split (its test labels are not public); a seeded, stratified
  fraction of training becomes val.
- `folder` (and `demo`, which is a generated folder tree): `<root>/<class>/<clip>.<video ext>`, split
  train/val/test by a seeded, stratified draw.
- `csv`: a CSV with columns `path,label[,split]` (paths relative to the CSV's folder or absolute).
  Listed files that are missing stay in the manifest: the decode stages reject them with a reason.
"""

from __future__ import annotations

import csv
import random
import warnings
import zlib
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from .artifacts import atomic_path

VIDEO_EXTENSIONS = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".flv", ".3gp"}
SPLITS = ("train", "val", "test")
MANIFEST_COLUMNS = ("clip_id", "path", "label", "split")


def _rng(seed: int, key: str) -> random.Random:
    # A generator per (seed, key): adding a class never reshuffles another class's clips.
    return random.Random(seed * 1_000_003 + zlib.crc32(key.encode()))


def _videos_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS)


def scan_folder_per_class(root: Path) -> list[dict]:
    """Rows (clip_id, path, label) for a `<root>/<class>/<clip>` tree; no split yet."""
    rows = []
    for class_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for video in _videos_under(class_dir):
            rows.append({"clip_id": f"{class_dir.name}/{video.stem}", "path": str(video),
                         "label": class_dir.name})
    return rows


def _read_mit_list(csv_path: Path) -> list[tuple[str, str]]:
    """(relative path, class) pairs from MiT's trainingSet.csv / validationSet.csv."""
    pairs = []
    with open(csv_path, newline="") as f:
        for record in csv.reader(f):
            if len(record) >= 2 and record[0].strip():
                pairs.append((record[0].strip(), record[1].strip()))
    return pairs


def mit_class_order(root: Path) -> list[str] | None:
    """Class names in the order of `moments_categories.txt` (lines `name,index`), if shipped."""
    path = root / "moments_categories.txt"
    if not path.exists():
        return None
    entries = []
    for line in path.read_text().splitlines():
        if line.strip():
            name, _, index = line.strip().rpartition(",")
            entries.append((int(index), name) if index.isdigit() else (len(entries), line.strip()))
    return [name for _, name in sorted(entries)]


def scan_mit(root: Path) -> list[dict]:
    """Rows for Moments in Time; `training` clips get split None (decided later), `validation` -> test."""
    rows = []
    for folder, list_name, split in (("training", "trainingSet.csv", None),
                                     ("validation", "validationSet.csv", "test")):
        base = root / folder
        listing = root / list_name
        if listing.exists():
            pairs = _read_mit_list(listing)
        elif base.is_dir():
            pairs = [(f"{c.name}/{v.name}", c.name)
                     for c in sorted(p for p in base.iterdir() if p.is_dir())
                     for v in _videos_under(c)]
        else:
            continue
        for rel, label in pairs:
            rows.append({"clip_id": f"{folder}/{Path(rel).with_suffix('').as_posix()}",
                         "path": str(base / rel), "label": label, "split": split})
    if not rows:
        raise FileNotFoundError(
            f"No Moments-in-Time clips under {root}: expected {root}/training/<class>/<clip>.mp4 "
            "(and optionally validation/). Set dataset.root to the MiT folder.")
    return rows


def read_csv_dataset(csv_path: Path) -> list[dict]:
    rows = []
    with open(csv_path, newline="") as f:
        reader = csv.DictReader(f)
        missing = {"path", "label"} - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{csv_path}: missing column(s) {sorted(missing)}; expected path,label[,split]")
        for record in reader:
            path = Path(record["path"])
            if not path.is_absolute():
                path = csv_path.parent / path
            split = (record.get("split") or "").strip() or None
            if split is not None and split not in SPLITS:
                raise ValueError(f"{csv_path}: split '{split}' for {record['path']} is not one of {SPLITS}")
            clip_id = Path(record["path"]).with_suffix("").as_posix().lstrip("./")
            rows.append({"clip_id": clip_id, "path": str(path), "label": record["label"].strip(),
                         "split": split})
    return rows


def select_classes(rows: list[dict], classes, class_order: Sequence[str] | None = None) -> list[dict]:
    """Keep the chosen classes: None = all, an int K = the first K classes, or a list of names."""
    if classes is None:
        return rows
    present = list(dict.fromkeys(class_order or [])) or sorted({r["label"] for r in rows})
    present = [c for c in present if any(r["label"] == c for r in rows)]
    if isinstance(classes, int):
        chosen = set(present[:classes])
    else:
        chosen = set(classes)
        unknown = chosen - set(present)
        if unknown:
            raise ValueError(f"dataset.classes names classes not in the dataset: {sorted(unknown)}")
    return [r for r in rows if r["label"] in chosen]


def cap_clips_per_class(rows: list[dict], max_clips: int | None, seed: int) -> list[dict]:
    """A seeded sample of at most `max_clips` clips per (class, fixed split) group."""
    if not max_clips:
        return rows
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows:
        groups[(r["label"], r.get("split"))].append(r)
    kept = set()
    for (label, split), members in groups.items():
        members = sorted(members, key=lambda r: r["clip_id"])
        _rng(seed, f"cap/{label}/{split}").shuffle(members)
        kept.update(r["clip_id"] for r in members[:max_clips])
    return [r for r in rows if r["clip_id"] in kept]


def assign_splits(rows: list[dict], val_fraction: float, test_fraction: float, seed: int) -> list[dict]:
    """Give each clip without a split one, by a seeded draw stratified by class.

    Each class gets round(n * fraction) val and test clips, at least one of each when it has three
    clips or more; a class too small for that is named in a warning and kept in train.
    """
    needs = defaultdict(list)
    has_test = {r["label"] for r in rows if r.get("split") == "test"}
    for r in rows:
        if not r.get("split"):
            needs[r["label"]].append(r)
    for label, members in needs.items():
        members.sort(key=lambda r: r["clip_id"])
        _rng(seed, f"split/{label}").shuffle(members)
        n = len(members)
        n_test = 0 if label in has_test else max(1, round(n * test_fraction)) if test_fraction else 0
        n_val = max(1, round(n * val_fraction)) if val_fraction else 0
        if n - n_test - n_val < 1:
            warnings.warn(f"class '{label}' has {n} clip(s), too few for a train/val/test split "
                          f"(needs at least {n_test + n_val + 1}); all its clips go to train", stacklevel=2)
            n_test = n_val = 0
        for i, r in enumerate(members):
            r["split"] = "test" if i < n_test else "val" if i < n_test + n_val else "train"
    return rows


def build_manifest(name: str, root: str | Path | None = None, csv_path: str | Path | None = None,
                   classes=None, max_clips_per_class: int | None = None, val_fraction: float = 0.15,
                   test_fraction: float = 0.15, seed: int = 0) -> list[dict]:
    """The manifest rows for a dataset, sorted by split then clip id."""
    class_order = None
    if name == "mit":
        root = Path(root)
        rows = scan_mit(root)
        class_order = mit_class_order(root)
    elif name in ("folder", "demo"):
        root = Path(root)
        if not root.is_dir():
            raise FileNotFoundError(f"dataset.root {root} is not a folder of <class>/<clip> videos")
        rows = [dict(r, split=None) for r in scan_folder_per_class(root)]
    elif name == "csv":
        rows = read_csv_dataset(Path(csv_path))
    else:
        raise ValueError(f"dataset.name '{name}' is not one of demo, mit, folder, csv")
    rows = select_classes(rows, classes, class_order)
    rows = cap_clips_per_class(rows, max_clips_per_class, seed)
    rows = assign_splits(rows, val_fraction, test_fraction, seed)
    ids = [r["clip_id"] for r in rows]
    if len(set(ids)) != len(ids):
        dupes = sorted({i for i in ids if ids.count(i) > 1})[:5]
        raise ValueError(f"clip ids are not unique, e.g. {dupes}: rename the files or use a CSV manifest")
    order = {s: i for i, s in enumerate(SPLITS)}
    return sorted(rows, key=lambda r: (order[r["split"]], r["clip_id"]))


def write_manifest(rows: list[dict], path: str | Path) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=MANIFEST_COLUMNS, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)


def read_manifest(path: str | Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def class_names(rows: list[dict]) -> list[str]:
    return sorted({r["label"] for r in rows})
