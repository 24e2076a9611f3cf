"""Streaming features from HDF5 artifacts, joined by clip_id.

Nothing here loads a whole feature file: a `ClipBatches` epoch reads `BUFFER_ROWS` rows at a
time and cuts them into batches, so memory stays flat whether visual.h5 holds 300 clips or
100,000. In table order (evaluation, generation) a buffer is `BLOCK_ROWS`-row runs of
consecutive clips, which HDF5 reads fast. Shuffled (training), each buffer is the next
`BUFFER_ROWS` clips of a seeded permutation of the whole split, read in file order: artifacts
store clips grouped by class (manifest order), so shuffling blocks of neighbours would give a
batch of 64 only ~8 of MiT's 339 classes; a uniform sample gives ~58. The rows of a buffer are
scattered, but each is one read of its own bytes (the learning features are stored uncompressed).

Artifacts come in different row orders (audio.h5 covers every manifest row, visual.h5 only
the clips whose frames were kept), so every column is aligned to one clip list, the
"table", with `vida_core.shared.artifacts.align`; batches are indexed by table position.
"""

from __future__ import annotations

import contextlib
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import torch

from vida_core.shared.artifacts import MissingArtifactError, aligned_rows, read_rows, read_strings

BLOCK_ROWS = 128     # rows read contiguously; the unit of block shuffling
BUFFER_ROWS = 1024   # rows held in memory at once (bounds memory, sets shuffle quality)
CHUNK_CACHE_BYTES = 16 * 2**20  # per dataset; holds a block's chunks when its rows are scattered
SPLITS = ("train", "val", "test")


@dataclass
class ClipTable:
    """The clips a stage works on, in artifact order, with what the manifest says of them."""
    clip_ids: list[str]
    split: np.ndarray        # str [N]: train / val / test
    label: np.ndarray        # int [N]: index into class_names
    class_names: list[str]
    has_audio: np.ndarray    # bool [N]: real audio exists (audio.h5)

    def __len__(self) -> int:
        return len(self.clip_ids)

    def positions(self, split: str | None = None, mask: np.ndarray | None = None) -> np.ndarray:
        """Table positions in `split` (all when None) where `mask` holds, ascending."""
        keep = np.ones(len(self), bool) if split is None else self.split == split
        if mask is not None:
            keep &= mask
        return np.flatnonzero(keep)

    def counts(self) -> dict:
        """Clips per split, and how many of them have real audio (reported by every stage)."""
        out = {}
        for s in SPLITS:
            in_split = self.split == s
            out[f"{s}_clips"] = int(in_split.sum())
            out[f"{s}_no_audio"] = int((in_split & ~self.has_audio).sum())
        return out


def build_table(clip_ids: list[str], manifest_rows: list[dict], audio_h5: str | Path | None = None,
                class_names: list[str] | None = None) -> ClipTable:
    """Join artifact clip ids with the manifest's split and label and audio.h5's has_audio."""
    by_id = {row["clip_id"]: row for row in manifest_rows}
    missing = [c for c in clip_ids if c not in by_id]
    if missing:
        raise ValueError(f"{len(missing)} clips (e.g. {missing[:3]}) are not in the manifest: the "
                         "artifacts are older than manifest.csv; rerun `dvc repro`.")
    class_names = class_names or sorted({row["label"] for row in manifest_rows})
    class_index = {name: i for i, name in enumerate(class_names)}
    split = np.array([by_id[c]["split"] for c in clip_ids], dtype=object)
    label = np.array([class_index[by_id[c]["label"]] for c in clip_ids], dtype=np.int64)
    has_audio = np.zeros(len(clip_ids), bool)
    if audio_h5 is not None:
        with h5py.File(audio_h5, "r") as f:
            rows = aligned_rows(clip_ids, read_strings(f["clip_id"]), audio_h5, "audio")
            has_audio = f["has_audio"][()][rows].astype(bool)
    return ClipTable(list(clip_ids), split, label, class_names, has_audio)


def check_class_counts(table: ClipTable, need: dict[str, int], what: str) -> None:
    """Fail with one clear message when a class has fewer clips in a split than `what` needs."""
    problems = []
    for s, minimum in need.items():
        counts = Counter(table.label[table.split == s].tolist())
        for i, name in enumerate(table.class_names):
            if counts.get(i, 0) < minimum:
                problems.append(f"'{name}' has {counts.get(i, 0)} {s} clips (needs {minimum})")
    if problems:
        raise ValueError(f"{what}: " + "; ".join(problems[:10]) + (" ..." if len(problems) > 10 else "")
                         + ". Add clips to these classes, drop them from the dataset, or check the "
                         "manifest's split column and the frames stage's rejects.")


class H5Column:
    """One dataset of one HDF5 artifact, aligned to a ClipTable's clip order."""

    def __init__(self, path: str | Path, name: str, clip_ids: list[str], stage: str):
        self.path, self.name, self.stage = Path(path), name, stage
        if not self.path.exists():
            raise MissingArtifactError(f"{self.path} is missing: it is produced by the '{stage}' stage; "
                                    f"run `dvc repro {stage}`.")
        with h5py.File(self.path, "r") as f:
            if name not in f:
                made_for = f" (it was made for seeds {f['seeds'][()].tolist()})" if "seeds" in f else ""
                raise KeyError(f"{self.path} has no dataset '{name}'{made_for}; rerun `dvc repro {stage}`.")
            self.row_shape = f[name].shape[1:]
            self.rows = aligned_rows(clip_ids, read_strings(f["clip_id"]), self.path, stage)

    def read(self, f: h5py.File, positions: np.ndarray) -> np.ndarray:
        return read_rows(f[self.name], self.rows[positions])


@contextlib.contextmanager
def open_columns(columns: dict[str, H5Column]):
    """Open each distinct file once (in the process that iterates, so h5py handles never fork)."""
    paths = {col.path for col in columns.values()}
    files = {p: h5py.File(p, "r", rdcc_nbytes=CHUNK_CACHE_BYTES) for p in paths}
    try:
        yield files
    finally:
        for f in files.values():
            f.close()


class ClipBatches(torch.utils.data.IterableDataset):
    """Batches of aligned columns for the table positions given, streamed from HDF5.

    Each batch is a dict: one float32 tensor per column ([B, *row shape]), `position` (table
    positions, int64 tensor), `epoch`, and every `extras` array indexed at those positions.
    Without shuffle, batches follow table order (what generation and evaluation need).
    With shuffle, the order depends only on (seed, epoch): call `set_epoch` each epoch.
    """

    def __init__(self, columns: dict[str, H5Column], positions: np.ndarray, batch_size: int,
                 shuffle: bool = False, seed: int = 0, extras: dict[str, np.ndarray] | None = None):
        self.columns = columns
        self.positions = np.sort(np.asarray(positions, dtype=np.int64))
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.epoch = 0
        self.extras = extras or {}

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return -(-len(self.positions) // self.batch_size)

    def _buffers(self) -> list[list[np.ndarray]]:
        """Each buffer as a list of ascending position arrays, read one array at a time.

        In order: runs of BLOCK_ROWS neighbours. Shuffled by (seed, epoch): BUFFER_ROWS positions
        of a permutation of all positions, a uniform sample however the rows are stored.
        """
        if self.shuffle:
            order = np.random.default_rng([self.seed, self.epoch]).permutation(self.positions)
            return [[np.sort(order[i:i + BUFFER_ROWS])] for i in range(0, len(order), BUFFER_ROWS)]
        blocks = [self.positions[i:i + BLOCK_ROWS] for i in range(0, len(self.positions), BLOCK_ROWS)]
        per_buffer = max(1, BUFFER_ROWS // BLOCK_ROWS)
        return [blocks[i:i + per_buffer] for i in range(0, len(blocks), per_buffer)]

    def __iter__(self):
        rng = np.random.default_rng([self.seed, self.epoch, 1])
        with open_columns(self.columns) as files:
            pieces, count = [], 0   # rows of the batch being filled; it may span buffers
            for blocks in self._buffers():
                # Array by array, each ascending (read_rows reads a dense run as one slice).
                data = {name: np.concatenate([col.read(files[col.path], b) for b in blocks])
                        for name, col in self.columns.items()}
                data["position"] = np.concatenate(blocks)
                n = len(data["position"])
                order = rng.permutation(n) if self.shuffle else np.arange(n)
                start = 0
                while start < n:
                    take = min(self.batch_size - count, n - start)
                    pieces.append({k: v[order[start:start + take]] for k, v in data.items()})
                    count, start = count + take, start + take
                    if count == self.batch_size:
                        yield self._batch(pieces)
                        pieces, count = [], 0
            if pieces:
                yield self._batch(pieces)

    def _batch(self, pieces: list[dict[str, np.ndarray]]) -> dict:
        data = {k: np.concatenate([p[k] for p in pieces]) for k in pieces[0]}
        batch = {name: torch.from_numpy(np.asarray(data[name], dtype=np.float32)) for name in self.columns}
        batch["position"] = torch.from_numpy(data["position"])
        batch["epoch"] = self.epoch
        for name, values in self.extras.items():
            batch[name] = values[data["position"]]
        return batch


def feature_stats(column: H5Column, positions: np.ndarray, batch_size: int = 256,
                  min_std: float = 1e-3) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and std over the given clips and all their time steps, in one streaming pass."""
    if len(positions) == 0:
        raise ValueError(f"no clips to compute statistics of {column.path}:{column.name} from")
    total = sq = None
    count = 0
    for batch in ClipBatches({"x": column}, positions, batch_size):
        x = batch["x"].double().reshape(-1, batch["x"].shape[-1])
        total = x.sum(0) if total is None else total + x.sum(0)
        sq = (x * x).sum(0) if sq is None else sq + (x * x).sum(0)
        count += x.shape[0]
    mean = total / count
    var = (sq / count - mean * mean).clamp_min(0)
    return mean.float().numpy(), var.sqrt().clamp_min(min_std).float().numpy()


def per_seed(name: str, seed: int) -> str:
    """The dataset of one seed in an artifact that the learning chain writes once per seed."""
    return f"seed{seed}/{name}"


def clip_rng(seed: int, clip_id: str, *more: int) -> np.random.Generator:
    """The per-clip random generator: same (seed, clip_id) -> same draws, on any machine."""
    return np.random.default_rng([seed, zlib.crc32(clip_id.encode()), *more])
