"""Executors: `map(fn, items)` in input order, over worker processes, crash-safe and bounded.

`make_executor(name, workers, **options)` gives the executor of module `vida_core/executors/<name>.py`
(its `EXECUTOR`): `local` (worker processes here) or `ray` (a Ray cluster). Each keeps the same
contract, so an executor changes speed, never results:

- Ordered output: `map` yields one value per item, in input order, whatever the number of
  workers or the order in which workers finish, so the artifacts written from it are
  byte-identical for 1 or N workers.
- Bounded: at most `max_in_flight` items are taken from the input and not yet handed to the
  consumer. Items are pulled lazily (the input may be a generator over 800k rows), and when the
  consumer (an HDF5 writer) is slower than the workers, workers wait instead of results piling
  up in the parent's memory.
- Crash-safe: a worker killed by a signal (FFmpeg segfaulting on a hostile file) or exiting is
  noticed at once, replaced, and its item retried once in the fresh worker; if that one dies
  too, the item's result is a `WorkerDied` with the reason, and the stage goes on. An ordinary
  Python exception raised by `fn` is a bug, not bad input: it is re-raised in the parent with
  the worker's traceback chained, and the workers are stopped. A worker that dies before taking
  any item (fn can't be imported there, the initializer crashes) fails the map with a
  RuntimeError too: the environment is broken, not the item.
- No orphans: workers are stopped when `map` ends, raises, or is closed (a `for` loop that
  breaks closes it; a consumer that keeps the iterator should call `.close()`). On Ctrl-C they
  ignore SIGINT and the parent stops them; if the parent dies, they exit on the closed pipe.

Workers start from a forkserver, not by fork: a process that has run FFmpeg or BLAS threads
can't be forked safely. `preload` names modules the forkserver imports once, so each worker
starts with them already imported.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

from vida_core.executors.base import Executor, RemoteTraceback, WorkerDied, picklable
from vida_core.executors.local import LocalExecutor

__all__ = ["Executor", "LocalExecutor", "RemoteTraceback", "WorkerDied", "executor_names", "make_executor",
           "picklable"]


def executor_names() -> list[str]:
    """Every executor: each module of this package but `base` (an executor is one file here)."""
    return sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if m.name != "base")


def make_executor(name: str = "local", workers: int = 1, **options) -> Executor:
    """The executor of `vida_core/executors/<name>.py` with `workers` and its own `options`
    (with `Stage.executor`, the params section of the same name, e.g. `ray:`)."""
    module = f"vida_core.executors.{name}"
    try:
        if name == "base":
            raise ModuleNotFoundError(name=module)
        factory = importlib.import_module(module).EXECUTOR
    except ModuleNotFoundError as err:
        if err.name != module:
            raise   # the executor's own dependency is missing (Ray, say): say that, not "unknown"
        raise ValueError(f"unknown executor {name!r}; known: {', '.join(executor_names())}") from None
    return factory(workers=workers, **options)
