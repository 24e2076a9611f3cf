"""Executors: how the per-clip work of a stage runs. A table, so another engine plugs in beside.

`make_executor(name, workers)` gives an object with `map(fn, items, total=, desc=)`, which
yields `fn(item)` for every item in input order, whatever the number of workers, so a stage's
output is the same byte for byte however it ran.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterable, Iterator, Sequence

from tqdm import tqdm


def _quiet_worker() -> None:
    # One process per core already: keep OpenCV from starting its own threads in each.
    try:
        import cv2
        cv2.setNumThreads(1)
    except ImportError:
        pass


class LocalExecutor:
    """A process pool on this machine (in-process when workers <= 1)."""

    def __init__(self, workers: int = 1, preload: Sequence[str] = ()):
        self.workers = workers
        self.preload = list(preload)

    def map(self, fn: Callable, items: Iterable, *, total: int | None = None, desc: str = "") -> Iterator:
        bar = dict(total=total, desc=desc, unit="clip", dynamic_ncols=True, mininterval=1.0)
        if self.workers <= 1:
            yield from tqdm(map(fn, items), **bar)
            return
        # forkserver, not fork: a process that has run FFmpeg or BLAS threads can't be forked safely.
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(self.preload)
        with context.Pool(self.workers, initializer=_quiet_worker) as pool:
            yield from tqdm(pool.imap(fn, items, chunksize=1), **bar)


EXECUTORS: dict[str, Callable[..., LocalExecutor]] = {"local": LocalExecutor}


def make_executor(name: str = "local", workers: int = 1, **options):
    if name not in EXECUTORS:
        raise ValueError(f"executor {name!r} is not one of {sorted(EXECUTORS)}")
    return EXECUTORS[name](workers=workers, **options)
