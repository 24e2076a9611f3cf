"""`executor: local`: worker processes on this machine (the contract is in `vida_core.executors`)."""

from __future__ import annotations

import multiprocessing
import signal
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from multiprocessing.connection import wait
from multiprocessing.reduction import ForkingPickler
from typing import Any

from tqdm import tqdm

from vida_core.executors.base import RemoteTraceback, WorkerDied, picklable

ATTEMPTS = 2  # a crash on one item is retried once in a fresh worker


class LocalExecutor:
    """`workers` processes on this machine; `workers <= 1` runs `fn` in this process.

    `max_in_flight` (default 2 x workers) bounds the items taken from the input and not yet
    yielded; `initializer` runs once in each worker; `preload` lists modules the forkserver
    imports (it takes effect only when the forkserver starts, i.e. on the first pool of a process).
    `fn`, items and results travel pickled: `fn` must be a module-level function.
    """

    def __init__(self, workers: int, max_in_flight: int | None = None, initializer: Callable | None = None,
                 preload: Sequence[str] = ()):
        self.workers = workers
        self.max_in_flight = max_in_flight if max_in_flight is not None else 2 * max(workers, 1)
        if self.max_in_flight < 1:
            raise ValueError(f"max_in_flight must be at least 1, not {self.max_in_flight}")
        self.initializer = initializer
        self.preload = list(preload)

    def model(self, loader: Callable, name: str, *, device: str, **kwargs):
        """The model itself, in this process."""
        return loader(name, device=device, **kwargs)

    def call_batch(self, batch: int) -> int:
        return batch

    def map(self, fn: Callable, items: Iterable, *, total: int | None = None, desc: str = "") -> Iterator:
        """`fn(item)`, or a `WorkerDied`, for each item in input order, with a progress bar."""
        if total is None and hasattr(items, "__len__"):
            total = len(items)
        bar = tqdm(total=total, desc=desc, unit="clip", dynamic_ncols=True, mininterval=1.0)
        try:
            if self.workers <= 1:
                for item in items:
                    result = fn(item)
                    bar.update()
                    yield result
            else:
                # closing(): when this generator is closed (a consumer stopped early), the workers stop now.
                with closing(self._pool_map(fn, items)) as results:
                    for result in results:
                        bar.update()
                        yield result
        finally:
            bar.close()

    def _pool_map(self, fn: Callable, items: Iterable) -> Iterator:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(self.preload)

        def start_worker() -> _Worker:
            parent_end, child_end = context.Pipe()
            process = context.Process(target=_worker_main, args=(child_end, fn, self.initializer),
                                      daemon=True, name="vida-executor-worker")
            process.start()
            child_end.close()
            worker = _Worker(process, parent_end)
            pool.append(worker)
            return worker

        pool: list[_Worker] = []
        source = iter(items)
        exhausted = False
        pulled = 0                          # items taken from the input so far
        next_out = 0                        # index of the next result to yield
        reorder: dict[int, Any] = {}        # results that finished ahead of next_out
        finished = False
        try:
            while True:
                # Hand out work while the in-flight bound allows: to an idle worker, or a new one.
                while not exhausted and pulled - next_out < self.max_in_flight:
                    worker = next((w for w in pool if w.task is None), None)
                    if worker is None and len(pool) >= self.workers:
                        break
                    try:
                        item = next(source)
                    except StopIteration:
                        exhausted = True
                        break
                    (worker or start_worker()).give(_Task(pulled, item))
                    pulled += 1

                if next_out in reorder:
                    yield reorder.pop(next_out)
                    next_out += 1
                    continue
                if exhausted and next_out == pulled:
                    finished = True
                    return

                # Wait for a reply or a death; a dead process's sentinel wakes us at once.
                handles = {}
                for w in pool:
                    handles[w.conn] = handles[w.process.sentinel] = w
                fired = set(wait(list(handles)))
                for worker in {handles[h] for h in fired}:
                    for kind, *payload in worker.receive():
                        if kind == "started":
                            worker.started = True
                            continue
                        task, worker.task = worker.task, None
                        if kind == "error":
                            error, remote_traceback = payload
                            if hasattr(error, "add_note"):  # Python 3.11+
                                error.add_note(f"raised by {getattr(fn, '__name__', fn)} in a worker, on item {task.index}")
                            raise error from RemoteTraceback(remote_traceback)
                        reorder[task.index] = payload[0]
                    if not worker.closed and worker.process.sentinel not in fired:
                        continue  # alive
                    pool.remove(worker)
                    why = worker.bury()
                    if not worker.started:  # not the item's fault: fn, preload or the environment is broken
                        raise RuntimeError(f"a worker process failed to start: {why}; its stderr says why")
                    task = worker.task
                    if task is None:
                        continue
                    task.attempts += 1
                    if task.attempts < ATTEMPTS:
                        start_worker().give(task)  # the retry runs in a fresh process
                    else:
                        reorder[task.index] = WorkerDied(f"{why} (retried once)")
        finally:
            _shut_down(pool, graceful=finished)


@dataclass
class _Task:
    index: int
    item: Any
    attempts: int = 0


class _Worker:
    """One worker process, its pipe, and the task it holds (None when idle)."""

    def __init__(self, process, conn):
        self.process, self.conn = process, conn
        self.task: _Task | None = None
        self.started = False  # it has run its initializer and is taking tasks
        self.closed = False   # its end of the pipe is closed: it has died

    def give(self, task: _Task) -> None:
        self.task = task
        try:
            self.conn.send((task.item,))  # a tuple: None alone tells the worker to exit
        except (BrokenPipeError, ConnectionResetError):
            pass  # it died: its sentinel reports that, and the task is retried

    def receive(self) -> list[tuple]:
        """Every whole message waiting in the pipe."""
        messages = []
        try:
            while self.conn.poll():
                messages.append(self.conn.recv())
        except (EOFError, OSError):  # closed, or cut mid-message by a death
            self.closed = True
        return messages

    def bury(self) -> str:
        """Reap the dead process; how it died, in words."""
        self.process.join(5)
        if self.process.exitcode is None:  # pipe closed but still running: should not happen
            self.process.kill()
            self.process.join()
        self.conn.close()
        code = self.process.exitcode
        if code < 0:
            try:
                return f"worker process killed by {signal.Signals(-code).name}"
            except ValueError:
                return f"worker process killed by signal {-code}"
        return f"worker process exited with code {code}"


def _shut_down(pool: list[_Worker], graceful: bool) -> None:
    """Stop every worker: ask idle ones to exit after a clean run, terminate them otherwise."""
    for worker in pool:
        if graceful:
            try:
                worker.conn.send(None)
            except OSError:
                pass
        else:
            worker.process.terminate()
    for worker in pool:
        worker.process.join(5)
        if worker.process.exitcode is None:
            worker.process.kill()
            worker.process.join()
        worker.conn.close()


def _worker_main(conn, fn: Callable, initializer: Callable | None) -> None:
    # Ctrl-C reaches the whole process group: the parent handles it and terminates the workers.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    init_error = None
    try:
        _one_thread_for_opencv()
        if initializer is not None:
            initializer()
    except Exception as err:  # reported on the first task, so a broken initializer fails the stage
        init_error = err
    try:
        conn.send(("started",))
    except OSError:
        return
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return  # the parent is gone
        if task is None:
            return
        (item,) = task
        try:
            if init_error is not None:
                raise RuntimeError(f"the worker initializer failed: {init_error!r}") from init_error
            reply = ForkingPickler.dumps(("ok", fn(item)))
        except Exception as err:  # fn's exceptions, and results that can't be pickled
            reply = ForkingPickler.dumps(("error", picklable(err), traceback.format_exc()))
        try:
            conn.send_bytes(reply)
        except OSError:
            return


def _one_thread_for_opencv() -> None:
    # One process per core already: keep OpenCV from starting its own threads in each.
    try:
        import cv2
    except ImportError:
        return
    cv2.setNumThreads(1)


EXECUTOR = LocalExecutor
