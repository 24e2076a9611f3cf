"""What every executor shares: the contract (`Executor`), and what a failed item becomes."""

from __future__ import annotations

import inspect
import pickle
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from multiprocessing.reduction import ForkingPickler
from typing import Any, Protocol

@dataclass(frozen=True)
class WorkerDied:
    """Yielded in place of a result when the worker process died on that item on every attempt."""
    reason: str  # e.g. "worker process killed by SIGSEGV (retried once)"


class RemoteTraceback(Exception):
    """The worker's traceback, chained as the cause of an exception re-raised in the parent."""

    def __str__(self) -> str:
        return self.args[0]


class Executor(Protocol):
    """What a stage asks of an executor. Results never depend on which executor runs the work."""

    def map(self, fn: Callable, items: Iterable, *, total: int | None = None, desc: str = "") -> Iterator:
        """`fn(item)` (or a `WorkerDied`) for each item, in input order."""
        ...

    def model(self, loader: Callable, name: str, *, device: str, **kwargs) -> Any:
        """`loader(name, device=device, **kwargs)`, or something with the same API that runs it
        elsewhere (a pool of copies): what the model declares in `pool_attributes`, and its methods."""
        ...

    def call_batch(self, batch: int) -> int:
        """How many inputs to hand such a model per call so that all its copies have work."""
        ...


def picklable(err: Exception) -> Exception:
    """`err` if it survives a pickle round trip, else a RuntimeError with its text."""
    try:
        pickle.loads(ForkingPickler.dumps(err))
        return err
    except Exception:
        return RuntimeError(f"{err.__class__.__name__}: {err}")


def describe_model(model) -> dict:
    """What a pool shows of its model: its public methods, and the attributes the model's class
    declares in `pool_attributes` (plain values, the same in every copy). A declared attribute
    the model lacks is an error here, on the first actor, not a missing attribute mid-stage."""
    declared = getattr(type(model), "pool_attributes", None)
    if declared is None:
        raise TypeError(f"{type(model).__name__} declares no pool_attributes: a model used through a pool must "
                        "list the attributes stage code reads from it")
    missing = [name for name in declared if not hasattr(model, name)]
    if missing:
        raise AttributeError(f"{type(model).__name__} declares pool attributes it does not have: {missing}")
    methods = [name for name in dir(model)
               if not name.startswith("_") and inspect.isroutine(getattr(type(model), name, None))]
    return {"attrs": {name: getattr(model, name) for name in declared}, "methods": methods}
