"""HDF5 artifacts: atomic writes, provenance attributes, chunked appends, clip alignment.

Every artifact carries a `clip_id` string dataset and attributes recording the stage, its
params, the models and the package versions that produced it. Files are written under a
temporary name and renamed when complete, so an interrupted stage never leaves a file that
looks finished. Rows are read and aligned by clip id through `read_rows` and `aligned_rows`,
the one implementation of each.
"""

from __future__ import annotations

import contextlib
import glob
import io
import itertools
import json
import os
import platform
import socket
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import h5py
import numpy as np

STRING = h5py.string_dtype("utf-8")

# Packages whose versions change what a stage computes.
_TRACKED_PACKAGES = ("vida", "numpy", "h5py", "av", "opencv-python-headless", "torch",
                     "transformers", "sentence-transformers", "onnxruntime", "openvino", "dvc")


class MissingArtifactError(FileNotFoundError):
    """An upstream artifact is absent: the message names the stage that makes it."""


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in _TRACKED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return versions


# Temporaries are named .<file>.<host>.<pid>.tmp, so a later run can tell whose they are.
_HOST = socket.gethostname().replace(".", "_") or "host"
STALE_FOREIGN_SECONDS = 24 * 3600   # another machine's temporary is left alone for this long


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_if_stale(tmp: Path, host: str, pid: str) -> bool:
    """Delete a temporary written by process `pid` on `host` if it was left by a killed run: this
    machine's whose process is gone, another machine's (shared storage) once it is a day old."""
    try:
        if host == _HOST and pid.isdigit():
            stale = int(pid) != os.getpid() and not _pid_alive(int(pid))
        else:
            stale = time.time() - tmp.stat().st_mtime > STALE_FOREIGN_SECONDS
        if stale:
            tmp.unlink()
        return stale
    except FileNotFoundError:   # another process cleaned it first
        return False


def remove_stale_temporaries(path: Path) -> list[Path]:
    """Delete temporaries of `path` left by killed runs (see `_remove_if_stale`). Returns what
    was removed."""
    removed = []
    for tmp in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        host, _, pid = tmp.name[len(path.name) + 2:-len(".tmp")].rpartition(".")
        if _remove_if_stale(tmp, host, pid):
            removed.append(tmp)
    return removed


def remove_dead_temporaries(paths: Iterable[str | Path]) -> list[Path]:
    """Delete the temporaries of killed runs (see `_remove_if_stale`) beside any of `paths`, and
    inside those that are folders. For stage start-up: a rerun whose output DVC restores from its
    run cache writes nothing, so `atomic_path` never gets to remove that output's temporary."""
    folders, trees = set(), set()
    for path in map(Path, paths):
        folders.add(path.parent)
        if path.is_dir():
            trees.add(path)
    candidates = [tmp for folder in folders for tmp in folder.glob(".*.tmp")]
    candidates += [tmp for tree in trees for tmp in tree.rglob(".*.tmp")]
    removed = []
    for tmp in set(candidates):
        # .<file>.<host>.<pid>.tmp: the host has no dots, the pid is a number.
        rest, _, pid = tmp.name[1:-len(".tmp")].rpartition(".")
        name, _, host = rest.rpartition(".")
        if name and host and pid.isdigit() and _remove_if_stale(tmp, host, pid):
            removed.append(tmp)
    return sorted(removed)


def _fsync(path: Path, directory: bool = False) -> None:
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary sibling of `path`; move it into place only if the block succeeds.

    The bytes are synced to disk before the rename and the rename before returning, so a crash
    leaves either the old file or the complete new one, never a half file under the real name.
    Temporaries of killed earlier runs (hundreds of GB at scale) are removed first.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    tmp = path.with_name(f".{path.name}.{_HOST}.{os.getpid()}.tmp")
    try:
        yield tmp
        if tmp.is_dir():
            raise IsADirectoryError(f"{tmp}: atomic_path writes files, not folders")
        _fsync(tmp)
        os.replace(tmp, path)
        _fsync(path.parent, directory=True)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def write_h5(path: str | Path, stage: str, params: dict | None = None,
             models: dict | None = None) -> Iterator[h5py.File]:
    """Open a new HDF5 artifact for writing, stamped with provenance, renamed when closed."""
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs["stage"] = stage
            f.attrs["params"] = json.dumps(params or {}, sort_keys=True)
            f.attrs["models"] = json.dumps(models or {}, sort_keys=True)
            f.attrs["versions"] = json.dumps(package_versions(), sort_keys=True)
            yield f


def provenance(f: h5py.File) -> dict:
    """The stage, params, models and versions an artifact was made with."""
    out = {}
    for key in ("stage", "params", "models", "versions"):
        value = f.attrs.get(key)
        if isinstance(value, bytes):
            value = value.decode()
        out[key] = json.loads(value) if key != "stage" and value else value
    return out


def read_strings(dataset: h5py.Dataset) -> list[str]:
    return [s.decode() if isinstance(s, bytes) else str(s) for s in dataset[()]]


def write_strings(f: h5py.Group, name: str, values: Sequence[str]) -> None:
    f.create_dataset(name, data=np.asarray(list(values), dtype=object), dtype=STRING)


def clip_ids(path: str | Path) -> list[str]:
    with h5py.File(path, "r") as f:
        return read_strings(f["clip_id"])


def align(wanted: Sequence[str], available: Sequence[str]) -> np.ndarray:
    """Row index in `available` of each id in `wanted` (-1 where absent)."""
    position = {cid: i for i, cid in enumerate(available)}
    return np.array([position.get(cid, -1) for cid in wanted], dtype=np.int64)


def aligned_rows(wanted: Sequence[str], available: Sequence[str], source: str | Path, stage: str) -> np.ndarray:
    """Row index in `available` of every id in `wanted`; an error naming the stale artifact
    and the stage to rerun when any is absent."""
    rows = align(wanted, available)
    if (rows < 0).any():
        absent = [wanted[i] for i in np.flatnonzero(rows < 0)[:3]]
        raise ValueError(f"{int((rows < 0).sum())} clips (e.g. {absent}) are missing from {source}: "
                         f"it is older than the artifacts that list them; rerun `dvc repro {stage}`.")
    return rows


def read_rows(ds: h5py.Dataset, rows: np.ndarray, transform=None, block: int | None = None) -> np.ndarray:
    """`ds[rows]` for any order of unique rows (HDF5 itself needs sorted selections).

    Dense selections are read as one contiguous slice, which is far faster than point
    selection. With `block`, rows are read `block` at a time and `transform` is applied to
    each block, so a big dataset is never loaded whole just to reduce some of its rows.
    """
    rows = np.asarray(rows, dtype=np.int64)
    if block is not None:
        transform = transform or (lambda x: x)
        parts = [transform(read_rows(ds, rows[i:i + block])) for i in range(0, len(rows), block)]
        return np.concatenate(parts) if parts else transform(np.asarray(ds[:0]))
    if len(rows) == 0:
        out = np.asarray(ds[:0])
        return transform(out) if transform else out
    order = np.argsort(rows, kind="stable")
    sorted_rows = rows[order]
    lo, hi = int(sorted_rows[0]), int(sorted_rows[-1]) + 1
    if hi - lo <= 2 * len(rows):
        data = ds[lo:hi][sorted_rows - lo]
    else:
        data = ds[sorted_rows]
    out = np.empty_like(data)
    out[order] = data
    return transform(out) if transform else out


def write_json(path: str | Path, data) -> None:
    """Write a metrics/plot json atomically (a crashed stage leaves no half file)."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n")


@dataclass(frozen=True)
class EncodedRow:
    """One row of a dataset stored one row per chunk, already through the dataset's filters.

    Workers compress their own rows (`encode_row`) and the writing process only appends the
    bytes (`RowWriter`, by HDF5's direct chunk write), so compression scales with the workers
    instead of queueing in the one writer. Rows also travel between processes in this form
    (`read_encoded_row` / `decode_row`): a few hundred KB of lzf instead of MB of pixels.
    """
    data: bytes
    filter_mask: int      # HDF5's bit per filter that was skipped (lzf skips rows it can't shrink)
    shape: tuple          # the row's shape (the chunk is (1, *shape))
    dtype: str
    storage: tuple        # sorted (key, value) filter settings: compression, compression_opts, shuffle


def _filters(extra: dict) -> tuple:
    return tuple(sorted((k, extra[k]) for k in ("compression", "compression_opts", "shuffle") if extra.get(k)))


_scratch_files = itertools.count()


@contextlib.contextmanager
def _scratch_h5() -> Iterator[h5py.File]:
    """An HDF5 file in memory only (never touches the disk), to run h5py's own filters."""
    name = f"vida-scratch-{os.getpid()}-{next(_scratch_files)}.h5"
    with h5py.File(name, "w", driver="core", backing_store=False) as f:
        yield f


def encode_row(row: np.ndarray, **storage) -> EncodedRow:
    """`row` through the filters `storage` names (e.g. compression="lzf"), by h5py's own filter
    code, so a file of such rows reads back with plain h5py like any other."""
    row = np.ascontiguousarray(row)
    with _scratch_h5() as f:
        ds = f.create_dataset("row", data=row[None], chunks=(1, *row.shape), **storage)
        mask, data = ds.id.read_direct_chunk((0,) * ds.ndim)
    return EncodedRow(bytes(data), int(mask), tuple(row.shape), row.dtype.str, _filters(storage))


def read_encoded_row(ds: h5py.Dataset, index: int) -> EncodedRow:
    """Row `index` of a dataset stored one row per chunk, as stored (no decompression here)."""
    if ds.chunks != (1, *ds.shape[1:]):
        raise ValueError(f"{ds.name} is chunked {ds.chunks}, not one row per chunk")
    mask, data = ds.id.read_direct_chunk((index,) + (0,) * (ds.ndim - 1))
    storage = {"compression": ds.compression, "compression_opts": ds.compression_opts, "shuffle": ds.shuffle}
    return EncodedRow(bytes(data), int(mask), tuple(ds.shape[1:]), ds.dtype.str, _filters(storage))


def decode_row(encoded: EncodedRow) -> np.ndarray:
    """The array an `EncodedRow` holds (h5py's filters undo what `encode_row` did)."""
    dtype, shape = np.dtype(encoded.dtype), (1, *encoded.shape)
    filters = sum(1 for key, _ in encoded.storage if key != "compression_opts")
    if encoded.filter_mask == 2**filters - 1:      # every filter skipped (e.g. lzf on noise): raw bytes
        return np.frombuffer(encoded.data, dtype).reshape(encoded.shape).copy()

    def write(f: h5py.File) -> h5py.Dataset:
        ds = f.create_dataset("row", shape=shape, dtype=dtype, chunks=shape, **dict(encoded.storage))
        ds.id.write_direct_chunk((0,) * len(shape), encoded.data, filter_mask=encoded.filter_mask)
        return ds

    if encoded.filter_mask == 0:
        with _scratch_h5() as f:
            return write(f)[0]
    # Some filters skipped: HDF5 honours that mask only once the file is reopened.
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        write(f)
    with h5py.File(buffer, "r") as f:
        return f["row"][0]


class RowWriter:
    """Append per-clip rows to resizable, chunked datasets as results arrive.

    Memory stays flat however many clips a stage processes: rows are buffered up to
    `flush_every` and then written, and each dataset grows along its first axis. A row may be
    an `EncodedRow` (compressed by a worker with `encode_row` and the same settings as the
    dataset, which must then be chunked one row per chunk): its bytes are written as they are.
    """

    def __init__(self, f: h5py.File, specs: dict[str, tuple[tuple[int, ...], object, dict]],
                 flush_every: int = 16):
        """`specs`: name -> (row shape, dtype, extra create_dataset kwargs such as compression)."""
        self.f = f
        self.specs = specs
        self.flush_every = flush_every
        self.buffer: dict[str, list] = {name: [] for name in specs}
        self.count = 0
        for name, (shape, dtype, extra) in specs.items():
            extra = dict(extra)
            # About 1 MiB per chunk, and never more than one row of a big per-clip array.
            row_bytes = int(np.prod(shape, dtype=np.int64)) * (
                64 if dtype is STRING else np.dtype(dtype).itemsize)
            rows_per_chunk = int(max(1, min(4096, 2**20 // max(row_bytes, 1))))
            chunks = extra.pop("chunks", (rows_per_chunk, *shape))
            f.create_dataset(name, shape=(0, *shape), maxshape=(None, *shape), dtype=dtype,
                             chunks=chunks, **extra)

    def append(self, **row) -> None:
        for name in self.specs:
            self.buffer[name].append(row[name])
        if len(self.buffer[next(iter(self.specs))]) >= self.flush_every:
            self.flush()

    def _check_encoded(self, name: str, row: EncodedRow) -> None:
        shape, dtype, extra = self.specs[name]
        ds = self.f[name]
        wanted = (tuple(shape), np.dtype(dtype).str, _filters(extra))
        if ds.chunks != (1, *shape) or (row.shape, row.dtype, row.storage) != wanted:
            raise ValueError(f"{name}: an encoded row of shape {row.shape}, {row.dtype}, filters {row.storage} "
                             f"can't go into a dataset of rows {wanted} chunked {ds.chunks}")

    def flush(self) -> None:
        n = len(self.buffer[next(iter(self.specs))])
        if not n:
            return
        for name, (shape, dtype, _) in self.specs.items():
            ds = self.f[name]
            ds.resize(self.count + n, axis=0)
            values = self.buffer[name]
            if any(isinstance(v, EncodedRow) for v in values):
                for i, value in enumerate(values, start=self.count):
                    if isinstance(value, EncodedRow):
                        self._check_encoded(name, value)
                        ds.id.write_direct_chunk((i,) + (0,) * len(shape), value.data, filter_mask=value.filter_mask)
                    else:
                        ds[i] = value
            else:
                ds[self.count:self.count + n] = (np.asarray(values, dtype=object) if dtype is STRING
                                                  else np.stack([np.asarray(v) for v in values]))
            self.buffer[name] = []
        self.count += n


def save_torch(obj, path: str | Path) -> None:
    """`torch.save` atomically and byte-reproducibly.

    torch.save names the archive inside the file after the file it writes to; saving to a
    buffer names it the same every time, so the same weights give the same bytes.
    """
    import io

    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    with atomic_path(path) as tmp:
        tmp.write_bytes(buffer.getvalue())


class UnknownClipError(KeyError):
    """A clip id that is not in an artifact; the message lists close matches."""

    def __str__(self) -> str:
        return str(self.args[0])


def resolve_clip_id(query: str, ids: Sequence[str], source: str | Path = "the artifact") -> str:
    """The clip id `query` names: itself, or the one id ending in `/query` (a unique suffix).

    Otherwise an UnknownClipError that lists the ids it could have meant.
    """
    if query in ids:
        return query
    suffixed = [cid for cid in ids if cid.endswith("/" + query.lstrip("/"))]
    if len(suffixed) == 1:
        return suffixed[0]
    if suffixed:
        raise UnknownClipError(f"clip '{query}' matches {len(suffixed)} clips in {source}: "
                               f"{', '.join(suffixed[:8])}; give more of the path")
    import difflib

    close = difflib.get_close_matches(query, ids, n=5, cutoff=0.5) or \
        [cid for cid in ids if query in cid][:5]
    hint = f"; did you mean {', '.join(close)}?" if close else f" (e.g. {', '.join(ids[:3])})"
    raise UnknownClipError(f"clip '{query}' is not in {source}{hint}")


def clip_row(f: h5py.File, clip_id: str) -> int | None:
    """Row of `clip_id` in an open artifact, or None when it is not there."""
    ids = read_strings(f["clip_id"])
    return ids.index(clip_id) if clip_id in ids else None
