"""`executor: ray`: per-clip work as Ray tasks over blocks of clips, models as pools of Ray actors.

Same contract as `vida_core.executors` (read its docstring), on a Ray cluster:

- `RayExecutor.map(fn, items)` pulls items lazily, `block_size` at a time, and runs each block
  as one Ray task (one task per clip would cost more in scheduling than a small clip costs to
  decode). At most `max_in_flight` items are out at once, so memory stays flat for 800k clips,
  and results come back in input order, so artifacts are the same as `executor: local`.
- A task whose worker process died (a decoder segfault, the OOM killer, a lost node) is
  retried once by Ray; if it dies again, its clips are re-run one task each (retried once too)
  to find the clip that kills the worker, which becomes a `WorkerDied`. An ordinary exception
  in `fn` is a bug: it is re-raised here, naming the item and the node.
- Clips are read by path, so every node must see the data at the same path. Before the first
  block, a probe on every node checks the project folder and the first item's paths, and fails
  naming the path, the node and the fix.
- `ModelPool` loads a model in each of `actors` Ray actors (on GPUs when the device is cuda)
  and has the model's own API (`.caption`, `.encode`, `.tag`, `.spec`, `.dim`, ...): each call's
  batch is cut at the model's own batch boundaries and the pieces run on the actors in
  parallel, so a call runs the same forward passes as the local model would run for it.

Ray is an optional extra (`pip install -e ".[ray]"`); this module is imported only when
`executor: ray` is chosen.
"""

from __future__ import annotations

import collections
import functools
import itertools
import logging
import os
import socket
import sys
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from tqdm import tqdm

try:
    import ray
    from ray.exceptions import RayError, RayTaskError
    from ray.util import ActorPool
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
except ImportError as err:  # pragma: no cover - exercised only without the extra
    raise ImportError("executor: ray needs Ray, an optional extra of this project: "
                      "pip install -e '.[ray]' (on every node of the cluster)") from err

from vida_core.executors.base import RemoteTraceback, WorkerDied, describe_model, picklable

RETRIES = 1   # like the local executor: a task whose worker dies is retried once


def connect(address: str | None = None, workers: int = 1) -> None:
    """Join the Ray cluster at `address` ("auto", "host:port", "ray://host:10001"), or start
    Ray on this machine with `workers` CPUs when it is None; once per process."""
    if ray.is_initialized():
        return
    quiet = dict(logging_level=logging.WARNING, configure_logging=True)
    if address is None:
        ray.init(address="local", num_cpus=max(1, workers), include_dashboard=False, **quiet)
        return
    try:
        ray.init(address=address, **quiet)
    except (ConnectionError, RayError) as err:
        # Ray >= 2.59 protects the clusters `ray start` makes with a token; with "auto" a driver
        # uses ~/.ray/auth_token by itself, with an explicit address only in token mode.
        raise ConnectionError(
            f"cannot join the Ray cluster at ray.address={address}: {err}. Is `ray start` running there? "
            "On a cluster node, ray.address: auto finds it. With an explicit address and a cluster that "
            "uses token authentication, `export RAY_AUTH_MODE=token` with the cluster's token in "
            "~/.ray/auth_token (or RAY_AUTH_TOKEN).") from err


def task_slots(num_cpus_per_task: float) -> int:
    """How many tasks of `num_cpus_per_task` CPUs the cluster runs at once (0: none fit anywhere)."""
    return sum(int(node["Resources"].get("CPU", 0) // num_cpus_per_task)
               for node in ray.nodes() if node["Alive"])


# ------------------------------------------------------------------------------ tasks

@dataclass
class _Failure:
    """What a block returns when `fn` raised on one of its items."""
    position: int        # of the item inside the block
    error: BaseException
    traceback: str
    node: str


def _node_name() -> str:
    return f"{socket.gethostname()} ({ray.util.get_node_ip_address()})"


def _enter(cwd: str) -> None:
    """Run in the driver's working directory, so relative clip paths mean the same on every node."""
    if os.getcwd() != cwd:
        os.chdir(cwd)
    try:
        import cv2
        cv2.setNumThreads(1)   # one task per CPU already
    except ImportError:
        pass


def _run_block(fn: Callable, items: list, cwd: str):
    if not os.path.isdir(cwd):   # a node that joined after the probe
        return _Failure(0, NodeCannotSeeData(f"the Ray node {_node_name()} has no folder {cwd}: the project and its "
                                             "data must be on storage every node sees, at the same path"),
                        "", _node_name())
    _enter(cwd)
    results = []
    for position, item in enumerate(items):
        try:
            results.append(fn(item))
        except Exception as err:  # a bug, not a dead worker: reported, never retried
            return _Failure(position, picklable(err), traceback.format_exc(), _node_name())
    return results


def _missing_here(cwd: str, paths: list[str]) -> list[str]:
    """The probe: which of the driver's folder and paths this node cannot see."""
    return [p for p in [cwd, *paths] if not os.path.exists(os.path.join(cwd, p))]


_run_block_task = ray.remote(_run_block)
_probe_task = ray.remote(_missing_here)


class NodeCannotSeeData(RuntimeError):
    """A node of the cluster cannot open a path this machine can: the data is not shared."""


def _paths_in(item: Any) -> list[str]:
    """Strings or paths in an item (or its top-level parts) that exist here: what workers will open."""
    parts = item if isinstance(item, (tuple, list)) else (item,)
    found = []
    for part in parts:
        if isinstance(part, (str, os.PathLike)):
            try:
                if os.path.exists(part):
                    found.append(os.fspath(part))
            except (OSError, ValueError):   # not a path after all (too long, NUL byte)
                pass
    return found


def check_nodes_see(paths: list[str], what: str = "", num_cpus: float = 1) -> None:
    """Fail naming the node, the path and the fix when a node that runs tasks cannot see the
    driver's working directory or one of `paths` (relative to it, or absolute)."""
    cwd = os.getcwd()
    nodes = [n for n in ray.nodes() if n["Alive"] and n["Resources"].get("CPU", 0) >= num_cpus]
    probes = [_probe_task.options(num_cpus=0, scheduling_strategy=NodeAffinitySchedulingStrategy(
        n["NodeID"], soft=False)).remote(cwd, paths) for n in nodes]
    for node, missing in zip(nodes, ray.get(probes)):
        if missing:
            raise NodeCannotSeeData(
                f"{what or 'executor: ray'}: the Ray node {node['NodeManagerAddress']} (node id "
                f"{node['NodeID'][:12]}) cannot open {missing[0]}, which this machine can (working directory "
                f"{cwd}). Clips are read by path, so the project folder and the data must be on storage "
                "that every node sees at the same path (e.g. an NFS or cloud-file mount). Mount it there on "
                "every node, or run with `executor: local`.")


class RayExecutor:
    """Per-clip work as Ray tasks of `block_size` items, each reserving `num_cpus_per_task` CPUs.

    `address` None starts Ray on this machine with `workers` CPUs; otherwise the cluster at
    `address` decides how many tasks run at once. `max_in_flight` (default: twice what the
    cluster runs at once) bounds the items taken from the input and not yet yielded. `fn`
    travels pickled by reference: it must be a module-level function importable on every node.
    """

    def __init__(self, workers: int = 1, address: str | None = None, block_size: int = 16,
                 num_cpus_per_task: float = 1.0, max_in_flight: int | None = None, preload=(),
                 actors: int = 2, num_gpus_per_actor: float = 1.0):
        if block_size < 1 or num_cpus_per_task <= 0:
            raise ValueError(f"ray.block_size must be >= 1 and ray.num_cpus_per_task > 0, "
                             f"not {block_size} and {num_cpus_per_task}")
        self.workers, self.address = workers, address
        self.block_size, self.num_cpus_per_task = block_size, num_cpus_per_task
        self.max_in_flight = max_in_flight
        self.actors, self.num_gpus_per_actor = actors, num_gpus_per_actor
        # `preload` is the local executor's forkserver hint; Ray workers import on first use.

    def model(self, loader: Callable, name: str, *, device: str, **kwargs):
        """A `ModelPool` of `actors` copies of `loader(name, device=device, **kwargs)`, on GPUs when
        the device is cuda (or auto on a cluster with GPUs), with the model's API."""
        connect(self.address, self.workers)
        gpus = cluster_gpus()
        if device.startswith("cuda") and not gpus:
            raise ValueError(f"device is {device} but the Ray cluster has no GPUs; use device: auto or cpu")
        num_gpus = self.num_gpus_per_actor if gpus and device != "cpu" else 0
        return ModelPool(loader, name, device=device, actors=self.actors, num_gpus=num_gpus, **kwargs)

    def call_batch(self, batch: int) -> int:
        """`batch` x `actors`: one call keeps every actor busy."""
        return batch * self.actors

    def map(self, fn: Callable, items: Iterable, *, total: int | None = None, desc: str = "") -> Iterator:
        """`fn(item)`, or a `WorkerDied`, for each item in input order, with a progress bar."""
        if total is None and hasattr(items, "__len__"):
            total = len(items)
        bar = tqdm(total=total, desc=desc, unit="clip", dynamic_ncols=True, mininterval=1.0)
        try:
            for result in self._map(fn, iter(items), desc):
                bar.update()
                yield result
        finally:
            bar.close()

    def _map(self, fn: Callable, source: Iterator, desc: str) -> Iterator:
        connect(self.address, self.workers)
        slots = task_slots(self.num_cpus_per_task)
        if slots == 0:  # Ray would queue the tasks forever
            raise RuntimeError(f"{desc or 'executor: ray'}: no node of the Ray cluster has "
                               f"ray.num_cpus_per_task={self.num_cpus_per_task} CPUs to give a task")
        block_size = min(self.block_size, self.max_in_flight or self.block_size)
        max_blocks = max(1, -(-(self.max_in_flight or 2 * slots * self.block_size) // block_size))
        first = list(itertools.islice(source, block_size))
        if not first:
            return
        # The first item with a path this machine sees: every node must see it too.
        check_nodes_see(next((p for item in first if (p := _paths_in(item))), []), desc, self.num_cpus_per_task)
        blocks = itertools.chain([first], iter(lambda: list(itertools.islice(source, block_size)), []))
        run = _run_block_task.options(num_cpus=self.num_cpus_per_task, max_retries=RETRIES)
        fn_ref, cwd = ray.put(fn), os.getcwd()   # fn is shipped once, not with every block
        pending: collections.deque = collections.deque()   # (items' ref, their count, the task), oldest first
        index = 0   # of the first item of the oldest pending block
        try:
            while True:
                for block in itertools.islice(blocks, max_blocks - len(pending)):
                    # Items wait in Ray's object store, not in this process, until their task runs.
                    items = ray.put(block)
                    pending.append((items, len(block), run.remote(fn_ref, items, cwd)))
                if not pending:
                    return
                items, count, task = pending.popleft()
                yield from self._results(fn, fn_ref, items, task, index, cwd)
                index += count
        finally:
            for _, _, task in pending:   # stopped early or failed: nothing more is wanted
                ray.cancel(task, force=True)

    def _results(self, fn, fn_ref, items, task, index: int, cwd: str) -> list:
        """The block's results; a block whose worker died twice is re-run one item per task."""
        try:
            outcome = _get(task)
        except _Died:
            run_one = _run_block_task.options(num_cpus=self.num_cpus_per_task, max_retries=RETRIES)
            singles = [run_one.remote(fn_ref, [item], cwd) for item in ray.get(items)]
            outcome = []
            for position, single in enumerate(singles):
                try:
                    result = _get(single)
                except _Died as died:
                    outcome.append(WorkerDied(f"{died} (retried once)"))
                    continue
                if isinstance(result, _Failure):
                    result.position = position
                    outcome = result
                    break
                outcome.extend(result)
        if isinstance(outcome, _Failure):
            error = outcome.error
            if hasattr(error, "add_note"):  # Python 3.11+
                error.add_note(f"raised by {getattr(fn, '__name__', fn)} in a Ray worker on {outcome.node}, "
                               f"on item {index + outcome.position}")
            raise error from RemoteTraceback(outcome.traceback)
        return outcome


class _Died(Exception):
    """The worker process running a task died on every attempt."""


def _get(ref):
    """ray.get, with a dead worker as `_Died` and a broken worker environment as a RuntimeError."""
    try:
        return ray.get(ref)
    except RayTaskError as err:   # _run_block itself failed: fn or its module can't be loaded there
        raise RuntimeError(f"a Ray worker could not run the task: {err}. Is this project installed, "
                           "at the same version, on every node?") from err
    except RayError as err:   # WorkerCrashedError, OutOfMemoryError, NodeDiedError, ...
        raise _Died(f"Ray worker process died ({type(err).__name__})") from err


# ----------------------------------------------------------------------------- models

class _ModelActor:
    """One loaded model inside a Ray actor; errors travel back as `_Failure`s."""

    def __init__(self, loader: Callable, args: tuple, kwargs: dict, torch_threads: int | None):
        if torch_threads:
            import torch

            # oneDNN's CPU results depend on the thread count: use the driver's, as a local run
            # would (Ray gives an actor of one CPU one thread), so CPU features equal local ones.
            torch.set_num_threads(torch_threads)
        self.model, self.error = None, None
        try:
            self.model = loader(*args, **kwargs)
        except Exception as err:
            self.error = _Failure(0, picklable(err), traceback.format_exc(), _node_name())

    def describe(self):
        """The model's plain attributes (spec, dim, batch_size, ...) and method names."""
        if self.error is not None:
            return self.error
        return describe_model(self.model)

    def call(self, method: str, batch, args: tuple, kwargs: dict):
        try:
            return getattr(self.model, method)(batch, *args, **kwargs)
        except Exception as err:
            return _Failure(0, picklable(err), traceback.format_exc(), _node_name())


# Loaders whose calls must reach one actor whole: sentence-transformers sorts a call's texts by
# length before batching, so cutting a call would change which texts share a padded batch.
WHOLE_CALLS = {"load_text_encoder"}


class ModelPool:
    """`actors` copies of `loader(*args, **kwargs)` in Ray actors, with the model's own API.

    Method calls take a batch (array or list) first; the batch is cut at the model's own
    `batch_size` boundaries (whole, for `WHOLE_CALLS`), the pieces run on idle actors, and the
    results are joined in order. Each actor reserves `num_gpus` GPUs (0 on CPU) and one CPU.
    """

    def __init__(self, loader: Callable, *args, actors: int = 2, num_gpus: float = 0, **kwargs):
        if actors < 1:
            raise ValueError(f"ray.actors must be at least 1, not {actors}")
        # Actors the cluster cannot place would wait for resources forever: start only those that fit.
        resources = ray.cluster_resources()
        fits = int(resources.get("CPU", 0)) if not num_gpus else int(resources.get("GPU", 0) // num_gpus)
        if fits < 1:
            raise RuntimeError(f"the Ray cluster has no room for a model actor ({resources.get('CPU', 0)} CPUs, "
                               f"{resources.get('GPU', 0)} GPUs; each actor needs 1 CPU and {num_gpus} GPUs)")
        if actors > fits:
            print(f"[ray] {actors} model actors asked, {fits} fit on the cluster: starting {fits}", file=sys.stderr)
            actors = fits
        actor = ray.remote(_ModelActor).options(num_cpus=1, num_gpus=num_gpus, max_restarts=0)
        torch = sys.modules.get("torch")   # the models' loaders import it
        threads = torch.get_num_threads() if torch else None
        self._actors = [actor.remote(loader, args, kwargs, threads) for _ in range(actors)]
        info = ray.get(self._actors[0].describe.remote())
        _raise_failure(info, f"{getattr(loader, '__name__', loader)} in a Ray actor")
        for other in ray.get([a.describe.remote() for a in self._actors[1:]]):
            _raise_failure(other, f"{getattr(loader, '__name__', loader)} in a Ray actor")
        self._attrs, self._methods = info["attrs"], set(info["methods"])
        self._whole = getattr(loader, "__name__", "") in WHOLE_CALLS
        self._pool = ActorPool(self._actors)

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        if name in self._attrs:
            return self._attrs[name]
        if name in self._methods:
            return functools.partial(self._call, name)
        raise AttributeError(f"the pooled model has no attribute {name!r}")

    def _pieces(self, batch) -> list:
        size = self._attrs.get("batch_size")
        if self._whole or not size or len(batch) <= size:
            return [batch]
        return [batch[lo:lo + size] for lo in range(0, len(batch), size)]

    def _call(self, method: str, batch, *args, **kwargs):
        pieces = self._pieces(batch)
        parts = list(self._pool.map(lambda a, piece: a.call.remote(method, piece, args, kwargs), pieces))
        for part in parts:
            _raise_failure(part, f"{method} in a Ray actor")
        return parts[0] if len(parts) == 1 else _join(parts)

    def close(self) -> None:
        """Stop the actors now (they also stop when this process ends)."""
        for a in self._actors:
            ray.kill(a)
        self._actors = []


def _join(parts: list):
    """The results of a call's pieces joined in order: lists chained, arrays concatenated, and
    tuples (e.g. `features_and_logits`) joined element by element."""
    if isinstance(parts[0], tuple):
        return tuple(_join([part[i] for part in parts]) for i in range(len(parts[0])))
    if isinstance(parts[0], list):
        return [x for part in parts for x in part]
    import numpy as np
    return np.concatenate(parts)


def _raise_failure(outcome, where: str) -> None:
    if isinstance(outcome, _Failure):
        error = outcome.error
        if hasattr(error, "add_note"):
            error.add_note(f"raised by {where} on {outcome.node}")
        raise error from RemoteTraceback(outcome.traceback)


def cluster_gpus() -> float:
    return float(ray.cluster_resources().get("GPU", 0))


EXECUTOR = RayExecutor
