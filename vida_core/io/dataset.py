"""Datasets as lists of (clip_id, path, label, split, fingerprint) rows, and the manifest that records them.

Adapters:
- `mit`: Moments in Time as it ships, `<root>/{training,validation}/<class>/<clip>.mp4`, optionally with
  `moments_categories.txt` (class order), `trainingSet.csv` / `validationSet.csv` (the clip lists).
  MiT's validation set is our test split (its test labels are not public); a seeded, stratified
  fraction of training becomes val.
- `folder` (and `demo`, which is a generated folder tree): `<root>/<class>/<clip>.<video ext>`, split
  train/val/test by a seeded, stratified draw.
- `csv`: a CSV with columns `path,label[,split]` (paths relative to the CSV's folder or absolute).
  Listed files that are missing stay in the manifest: the decode stages reject them with a reason.

Clip ids: the clip's path relative to the dataset root (for `csv`, to the CSV file's folder), with
POSIX separators and the extension dropped: `<class>/<clip>` in a folder tree or the demo,
`training/<class>/<clip>` and `validation/<class>/<clip>` in MiT, `clips/run/017` for a CSV row
`clips/run/017.mp4`. Paths are normalised first, so `./a/x.mp4` and `a/x.mp4` are the same clip.
A file outside the root keeps its relative path with its leading `..` parts (`../other/x`): the id of
a file inside the root never has `..` as its first part, and distinct files have distinct relative
paths, so such ids cannot collide with any other. Two rows with the same id (`a/x.mp4` and
`a/x.avi`, or one file listed twice) are an error that names both paths.

Which files are clips: in a folder tree (and in MiT without its clip lists) every video file and
every audio-only media file (`.wav`, `.m4a`, ...) in a class folder is a row. Audio-only files are
listed rather than skipped so that the frames stage rejects them with a reason ("no video stream")
that `vida inspect artifacts/frames.h5` shows, instead of the clip vanishing without a word. Other
entries in class folders (notes, subtitles, subfolders) are left out with one warning that counts
them and names a few; hidden non-media files (`.DS_Store`) are ignored silently. A layout that
yields no clips is a DatasetError that says what was found and which layout is expected.

Fingerprints: each row's `fingerprint` is a content hash of its file (BLAKE2b, 16-byte digest, hex;
empty when the file is missing or unreadable). The stages after `manifest` depend on manifest.csv,
so changed bytes in a clip change the manifest and rerun them, and identical bytes give the same
fingerprint on every machine. Hashes are cached by file stat (`fingerprint_files`), so a rerun over
a large dataset only stats its files.
"""

from __future__ import annotations

import csv
import hashlib
import os
import random
import sqlite3
import stat
import time
import warnings
import zlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePath

from vida_core.shared.artifacts import atomic_path

VIDEO_EXTENSIONS = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".flv", ".3gp"}
AUDIO_EXTENSIONS = {".wav", ".m4a", ".mp3", ".aac", ".flac", ".ogg", ".oga", ".opus", ".wma", ".aif", ".aiff"}
MEDIA_EXTENSIONS = VIDEO_EXTENSIONS | AUDIO_EXTENSIONS
SPLITS = ("train", "val", "test")
MANIFEST_COLUMNS = ("clip_id", "path", "label", "split", "fingerprint")

FOLDER_LAYOUT = "<root>/<class>/<clip>.mp4 (one folder per class)"
MIT_LAYOUT = "<root>/{training,validation}/<class>/<clip>.mp4"
CSV_LAYOUT = "a CSV with columns path,label[,split], paths relative to the CSV's folder or absolute"

# Relative to the working directory (the project root under `dvc repro`); git-ignored.
DEFAULT_FINGERPRINT_CACHE = Path(".vida") / "fingerprints.sqlite"


class DatasetError(ValueError):
    """The dataset's files or clip list do not fit the layout its adapter expects."""


def _rng(seed: int, key: str) -> random.Random:
    # A generator per (seed, key): adding a class never reshuffles another class's clips.
    return random.Random(seed * 1_000_003 + zlib.crc32(key.encode()))


def clip_id_for(path: str | Path, base: str | Path) -> str:
    """`path` relative to `base`, POSIX separators, extension dropped (see the module docstring)."""
    try:
        rel = os.path.relpath(os.path.abspath(path), os.path.abspath(base))
    except ValueError:  # Windows, another drive: no relative path exists, the absolute one is unique
        rel = os.path.abspath(path)
    return PurePath(rel).with_suffix("").as_posix()


def check_unique_clip_ids(rows: list[dict]) -> None:
    """Fail naming both paths of each clip id that two rows share (the first three such ids)."""
    path_of: dict[str, str] = {}
    clashes = []
    for r in rows:
        if r["clip_id"] in path_of:
            clashes.append(f"'{r['clip_id']}' is both {path_of[r['clip_id']]} and {r['path']}")
        else:
            path_of[r["clip_id"]] = r["path"]
    if clashes:
        more = f" (and {len(clashes) - 3} more)" if len(clashes) > 3 else ""
        raise DatasetError(f"{len(clashes)} clip id(s) name two files: {'; '.join(clashes[:3])}{more}. "
                           "A clip id is the path without its extension: rename or remove one file of each pair.")


def _is_media(path: Path) -> bool:
    return path.suffix.lower() in MEDIA_EXTENSIONS


def _examples(names: Sequence[str], n: int = 3) -> str:
    return ", ".join(names[:n]) + (", ..." if len(names) > n else "")


def _scan_class_folders(base: Path) -> tuple[list[tuple[str, Path]], list[str]]:
    """(class, file) for every media file in `base/<class>/`, and the class-folder entries left out."""
    found, left_out = [], []
    for class_dir in sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for entry in sorted(class_dir.iterdir()):
            if entry.is_file() and _is_media(entry):
                found.append((class_dir.name, entry))
            elif not entry.name.startswith("."):  # hidden files (.DS_Store, ...) are never clips
                left_out.append(f"{class_dir.name}/{entry.name}" + ("/" if entry.is_dir() else ""))
    return found, left_out


def _warn_left_out(left_out: list[str], base: Path) -> None:
    if left_out:
        warnings.warn(f"{base}: left out {len(left_out)} file(s) or folder(s) in class folders that are "
                      f"neither video nor audio files: {_examples(left_out)}", stacklevel=3)


def _no_clips_error(root: Path, layout: str) -> DatasetError:
    """What `root` holds instead of clips, and the layout expected."""
    entries = sorted(root.iterdir()) if root.is_dir() else []
    folders = [p.name for p in entries if p.is_dir() and not p.name.startswith(".")]
    loose = [p.name for p in entries if p.is_file() and _is_media(p)]
    found = (f"{len(folders)} folder(s) ({_examples(folders)}) without video or audio files in them"
             if folders else "no class folders")
    if loose:
        found += f", and {len(loose)} video/audio file(s) directly in it ({_examples(loose)})"
    hint = " (for Moments in Time set dataset.name: mit)" if "training" in folders else ""
    return DatasetError(f"no clips in {root}: found {found}. Expected {layout}{hint}.")


def scan_folder_per_class(root: Path) -> list[dict]:
    """Rows (clip_id, path, label) for a `<root>/<class>/<clip>` tree; no split yet."""
    root = Path(root)
    found, left_out = _scan_class_folders(root)
    if not found:
        raise _no_clips_error(root, FOLDER_LAYOUT)
    _warn_left_out(left_out, root)
    loose = [p.name for p in root.iterdir() if p.is_file() and _is_media(p)]
    if loose:
        warnings.warn(f"{len(loose)} video/audio file(s) directly in {root} are in no class folder and "
                      f"are not clips: {_examples(sorted(loose))}", stacklevel=2)
    return [{"clip_id": clip_id_for(path, root), "path": str(path), "label": label} for label, path in found]


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


def _mit_pairs(base: Path, listing: Path) -> list[tuple[str, str]]:
    """(path relative to `base`, class) from MiT's clip list if shipped, else from the folders."""
    if listing.exists():
        return _read_mit_list(listing)
    if not base.is_dir():
        return []
    found, left_out = _scan_class_folders(base)
    _warn_left_out(left_out, base)
    return [(f"{label}/{path.name}", label) for label, path in found]


def scan_mit(root: Path) -> list[dict]:
    """Rows for Moments in Time; `training` clips get split None (decided later), `validation` -> test."""
    root = Path(root)
    rows = []
    for folder, list_name, split in (("training", "trainingSet.csv", None),
                                     ("validation", "validationSet.csv", "test")):
        base = root / folder
        for rel, label in _mit_pairs(base, root / list_name):
            path = base / rel
            rows.append({"clip_id": clip_id_for(path, root), "path": str(path), "label": label, "split": split})
    if not rows:
        raise DatasetError(f"No Moments-in-Time clips under {root}: expected {MIT_LAYOUT} (validation/ "
                           "optional) or its trainingSet.csv. Set dataset.root to the MiT folder.")
    return rows


def read_csv_dataset(csv_path: Path) -> list[dict]:
    """Rows for a CSV dataset; clip ids are relative to the CSV's folder, paths as the stages open them."""
    csv_path = Path(csv_path)
    rows = []
    with open(csv_path, newline="") as f:
        reader = csv.DictReader(f)
        missing = {"path", "label"} - set(reader.fieldnames or [])
        if missing:
            raise DatasetError(f"{csv_path}: missing column(s) {sorted(missing)}; expected {CSV_LAYOUT}")
        for record in reader:
            path = Path(record["path"])
            if not path.is_absolute():
                path = csv_path.parent / path
            split = (record.get("split") or "").strip() or None
            if split is not None and split not in SPLITS:
                raise DatasetError(f"{csv_path}: split '{split}' for {record['path']} is not one of {SPLITS}")
            rows.append({"clip_id": clip_id_for(path, csv_path.parent), "path": str(path),
                         "label": record["label"].strip(), "split": split})
    if not rows:
        raise DatasetError(f"{csv_path} lists no clips: expected {CSV_LAYOUT}, one row per clip")
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


@dataclass(frozen=True)
class DatasetLayout:
    """A dataset recipe: how its clips are found (`scan(root, csv) -> (rows, class order or None)`),
    what the layout looks like (for errors), and whether it reads `dataset.csv` instead of a folder."""
    scan: Callable[[Path | None, Path | None], tuple[list[dict], list[str] | None]]
    layout: str
    reads_csv: bool = False


def _scan_csv(root, csv_path):
    return read_csv_dataset(Path(csv_path)), None


def _scan_mit(root, csv_path):
    return scan_mit(root), mit_class_order(root)


def _scan_folder(root, csv_path):
    if not root.is_dir():
        raise FileNotFoundError(f"dataset.root {root} is not a folder: expected {FOLDER_LAYOUT}")
    return [dict(r, split=None) for r in scan_folder_per_class(root)], None


# `dataset.name` -> its recipe; the demo is a folder per class that the demo_data stage writes.
DATASET_LAYOUTS: dict[str, DatasetLayout] = {
    "demo": DatasetLayout(_scan_folder, FOLDER_LAYOUT),
    "folder": DatasetLayout(_scan_folder, FOLDER_LAYOUT),
    "mit": DatasetLayout(_scan_mit, MIT_LAYOUT),
    "csv": DatasetLayout(_scan_csv, CSV_LAYOUT, reads_csv=True),
}


def _scan(name: str, root, csv_path) -> tuple[list[dict], list[str] | None]:
    """The dataset's rows (split None where not fixed) and its class order, if it has one."""
    if name not in DATASET_LAYOUTS:
        raise ValueError(f"dataset.name '{name}' is not one of {', '.join(DATASET_LAYOUTS)}")
    recipe = DATASET_LAYOUTS[name]
    if recipe.reads_csv:
        if csv_path is None:
            raise DatasetError(f"dataset.name is {name} but dataset.csv is not set: expected {recipe.layout}")
    elif root is None:
        raise DatasetError(f"dataset.root is not set: expected {recipe.layout}")
    return recipe.scan(Path(root) if root is not None else None, csv_path)


def build_manifest(name: str, root: str | Path | None = None, csv_path: str | Path | None = None,
                   classes=None, max_clips_per_class: int | None = None, val_fraction: float = 0.15,
                   test_fraction: float = 0.15, seed: int = 0,
                   fingerprint_cache: str | Path | None = DEFAULT_FINGERPRINT_CACHE) -> list[dict]:
    """The manifest rows for a dataset, sorted by split then clip id, each with its file's fingerprint.

    `fingerprint_cache`: the sqlite file of cached hashes (see `fingerprint_files`); None hashes
    every file without keeping the hashes.
    """
    rows, class_order = _scan(name, root, csv_path)
    check_unique_clip_ids(rows)
    rows = select_classes(rows, classes, class_order)
    rows = cap_clips_per_class(rows, max_clips_per_class, seed)
    rows = assign_splits(rows, val_fraction, test_fraction, seed)
    order = {s: i for i, s in enumerate(SPLITS)}
    rows = sorted(rows, key=lambda r: (order[r["split"]], r["clip_id"]))
    # Only the clips kept are hashed: a 10-class subset of MiT reads 10 classes' bytes.
    for r, fingerprint in zip(rows, fingerprint_files([r["path"] for r in rows], fingerprint_cache)):
        r["fingerprint"] = fingerprint
    return rows


def check_watched(rows: list[dict], root: str | Path, csv_path: str | Path | None = None) -> list[str]:
    """What DVC can and cannot see change: the manifest stage depends on `dataset.root`.

    A CSV outside the root is an error (editing it would rerun nothing); clips outside the root
    are allowed, and returned, so the stage can warn that changes to them are only picked up
    when the manifest reruns for another reason (`dvc repro -f manifest`).
    """
    root = Path(root).resolve()
    if csv_path is not None and not Path(csv_path).resolve().is_relative_to(root):
        raise DatasetError(f"dataset.csv ({csv_path}) is outside dataset.root ({root}): the manifest stage "
                           "depends on dataset.root, so edits to the CSV would rerun nothing. Put the CSV "
                           "inside dataset.root (its paths may still point anywhere) or set dataset.root "
                           "to the CSV's folder.")
    return [r["clip_id"] for r in rows if not Path(r["path"]).resolve().is_relative_to(root)]


def write_manifest(rows: list[dict], path: str | Path) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=MANIFEST_COLUMNS, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)


def read_manifest(path: str | Path) -> list[dict]:
    """Manifest rows as strings; a manifest written before fingerprints gets empty ones."""
    with open(path, newline="") as f:
        return [dict(row, fingerprint=row.get("fingerprint") or "") for row in csv.DictReader(f)]


def class_names(rows: list[dict]) -> list[str]:
    return sorted({r["label"] for r in rows})


# --- Content fingerprints, cached by file stat ------------------------------------------------

_HASH_BLOCK = 1 << 20
# Named after the hash: a different hash would start a fresh table instead of reusing stale values.
_CACHE_TABLE = "blake2b_128"
# A file changed less than this long ago may change again within the same timestamp tick
# (up to 2 s on some file systems) without its stat key changing, so its hash is not cached yet.
_RACY_NS = 2_000_000_000
_COMMIT_EVERY = 1000  # an interrupted first run over a large dataset keeps most of its work


def hash_file(path: str | Path) -> str:
    """BLAKE2b (16-byte digest, hex) of the file's bytes, read in 1 MiB blocks."""
    digest = hashlib.blake2b(digest_size=16)
    block = bytearray(_HASH_BLOCK)
    view = memoryview(block)
    with open(path, "rb") as f:
        while n := f.readinto(block):
            digest.update(view[:n])
    return digest.hexdigest()


def _hash_or_empty(path: str) -> str:
    try:
        return hash_file(path)
    except OSError:  # vanished or unreadable: the decode stages reject it with the reason
        return ""


def _stat_key(path: str) -> tuple[str, int] | None:
    """(size:mtime:ctime:inode, last change in ns) of a regular file, None if there is none to read.

    ctime as well as mtime: tools can set mtime back (touch -r, tar), not ctime.
    """
    try:
        st = os.stat(path)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    return f"{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}:{st.st_ino}", max(st.st_mtime_ns, st.st_ctime_ns)


def _open_cache(cache_path: str | Path | None) -> sqlite3.Connection:
    if cache_path is None:
        db = sqlite3.connect(":memory:")
    else:
        Path(cache_path).parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(cache_path, timeout=60)  # another process may be writing it
    db.execute(f"CREATE TABLE IF NOT EXISTS {_CACHE_TABLE} "
               "(path TEXT PRIMARY KEY, stat_key TEXT NOT NULL, fingerprint TEXT NOT NULL)")
    return db


def _hash_many(paths: list[str], workers: int) -> Iterator[str]:
    # Threads overlap reads (hashlib and file reads release the GIL); chunks bound the futures queued.
    with ThreadPoolExecutor(max(1, workers)) as pool:
        for start in range(0, len(paths), 256):
            yield from pool.map(_hash_or_empty, paths[start:start + 256])


def fingerprint_files(paths: Iterable[str | Path],
                      cache_path: str | Path | None = DEFAULT_FINGERPRINT_CACHE, workers: int = 4) -> list[str]:
    """Content fingerprints of `paths`, in order ('' for a file that is missing or unreadable).

    The cache, a sqlite file at `cache_path` (table `blake2b_128`: path, stat_key, fingerprint),
    keeps each hash with the file's absolute path and stat key (size, mtime, ctime, inode): while
    these are unchanged the file is not read again; a change in any of them rehashes it. None: no
    cache, every file is read.
    """
    absolute = [os.path.abspath(p) for p in paths]
    fingerprints = [""] * len(absolute)
    db = _open_cache(cache_path)
    try:
        to_hash = []  # (index, stat key, last change)
        for i, path in enumerate(absolute):
            stat_key = _stat_key(path)
            if stat_key is None:
                continue
            cached = db.execute(f"SELECT fingerprint FROM {_CACHE_TABLE} WHERE path = ? AND stat_key = ?",
                                (path, stat_key[0])).fetchone()
            if cached:
                fingerprints[i] = cached[0]
            else:
                to_hash.append((i, *stat_key))
        now = time.time_ns()
        hashed = _hash_many([absolute[i] for i, _, _ in to_hash], workers)
        for n, ((i, key, changed), fingerprint) in enumerate(zip(to_hash, hashed), 1):
            fingerprints[i] = fingerprint
            if fingerprint and now - changed >= _RACY_NS:
                db.execute(f"INSERT OR REPLACE INTO {_CACHE_TABLE} VALUES (?, ?, ?)",
                           (absolute[i], key, fingerprint))
            if n % _COMMIT_EVERY == 0:
                db.commit()
        db.commit()
    finally:
        db.close()
    return fingerprints
