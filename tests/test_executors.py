"""The local executor: ordered, bounded, and a worker crash costs one item, never the stage."""

import multiprocessing
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
import types
import uuid
from pathlib import Path

import numpy as np
import pytest

from vida_core.executors import LocalExecutor, RemoteTraceback, WorkerDied, executor_names, make_executor

try:
    import psutil
except ImportError:  # multiprocessing's own bookkeeping is checked either way
    psutil = None

TIMEOUT_S = 60


# Worker functions: module level, so the workers can unpickle them.

def _square_after_sleep(job):
    x, delay = job
    time.sleep(delay)
    return x * x


def _record_attempt(tmp_dir: str, item: int) -> None:
    Path(tmp_dir, f"{item}-{uuid.uuid4().hex}").touch()


def _segfault_on_three(job):
    item, tmp_dir = job
    _record_attempt(tmp_dir, item)
    if item == 3:
        os.kill(os.getpid(), signal.SIGSEGV)
    return item * 10


def _sigkill_on_first_try_of_two(job):
    item, tmp_dir = job
    _record_attempt(tmp_dir, item)
    marker = Path(tmp_dir, "crashed-once")
    if item == 2 and not marker.exists():
        marker.touch()
        os.kill(os.getpid(), signal.SIGKILL)
    return item * 10


def _raise_on_five(item):
    if item == 5:
        raise ValueError(f"bad item {item}")
    return item


def _slow_identity(item):
    time.sleep(0.05)
    return item


def _every_tenth_slow(item):
    time.sleep(0.2 if item % 10 == 0 else 0.001)  # the others race ahead of a slow item
    return item


def _two_megabytes(item):
    return np.ones(2_000_000 // 8)


# Helpers

def _within_timeout(fn, seconds=TIMEOUT_S):
    """fn() run in a thread; fails the test instead of hanging it."""
    outcome = {}

    def target():
        try:
            outcome["value"] = fn()
        except BaseException as err:
            outcome["error"] = err

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"no result after {seconds} s: the executor hangs"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def _live_workers() -> list:
    """Worker processes still running: multiprocessing's list, and the forkserver's live children."""
    alive = {p.pid for p in multiprocessing.active_children()}
    if psutil is not None:
        for forkserver in psutil.Process().children():  # workers are the forkserver's children
            alive |= {p.pid for p in forkserver.children(recursive=True)
                      if p.is_running() and p.status() != psutil.STATUS_ZOMBIE}
    return sorted(alive)


def _env_with_tests_importable() -> dict:
    """The environment for a Python subprocess that imports this module and vida_core."""
    here = Path(__file__).parent
    paths = [str(here), str(here.parent), os.environ.get("PYTHONPATH", "")]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}


def _attempts(tmp_path: Path, item: int) -> int:
    return len(list(tmp_path.glob(f"{item}-*")))


# Tests

@pytest.mark.parametrize("workers", [1, 2])
def test_results_in_input_order_from_a_generator(workers):
    rng = random.Random(0)
    jobs = [(x, rng.uniform(0, 0.03)) for x in range(40)]  # random sleeps: workers finish out of order
    results = _within_timeout(lambda: list(LocalExecutor(workers).map(_square_after_sleep, (j for j in jobs))))
    assert results == list(map(_square_after_sleep, jobs))


def test_empty_input_and_fewer_items_than_workers():
    assert list(LocalExecutor(2).map(_slow_identity, [])) == []
    assert list(LocalExecutor(4).map(_slow_identity, [7])) == [7]
    assert _live_workers() == []


def test_a_segfault_costs_one_item_after_one_retry(tmp_path):
    jobs = [(item, str(tmp_path)) for item in range(8)]
    results = _within_timeout(lambda: list(LocalExecutor(2).map(_segfault_on_three, iter(jobs))))
    assert isinstance(results[3], WorkerDied)
    assert "SIGSEGV" in results[3].reason
    assert _attempts(tmp_path, 3) == 2
    assert [r for i, r in enumerate(results) if i != 3] == [i * 10 for i in range(8) if i != 3]
    assert _live_workers() == []


def test_a_crash_on_the_first_try_only_is_retried_to_the_real_result(tmp_path):
    jobs = [(item, str(tmp_path)) for item in range(5)]
    results = _within_timeout(lambda: list(LocalExecutor(2).map(_sigkill_on_first_try_of_two, jobs)))
    assert results == [0, 10, 20, 30, 40]
    assert _attempts(tmp_path, 2) == 2


def test_an_exception_in_fn_is_raised_in_the_parent_and_stops_the_workers():
    def run():
        with pytest.raises(ValueError, match="bad item 5") as caught:
            list(LocalExecutor(2).map(_raise_on_five, range(100)))
        return caught.value

    error = _within_timeout(run)
    assert isinstance(error.__cause__, RemoteTraceback)
    assert "_raise_on_five" in str(error.__cause__)  # the worker's traceback travels with it
    assert _live_workers() == []


def test_stopping_early_leaves_no_worker_running():
    def first_three():
        seen = []
        for result in LocalExecutor(2).map(_slow_identity, range(1000)):
            seen.append(result)
            if len(seen) == 3:
                break
        return seen

    assert _within_timeout(first_three) == [0, 1, 2]
    assert _live_workers() == []


def _running(pid: int) -> bool:
    if psutil is not None:
        return psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def test_ctrl_c_leaves_no_worker_running():
    code = textwrap.dedent("""
        import multiprocessing, signal
        # A shell starts background jobs with SIGINT ignored, and Python keeps an ignored SIGINT:
        # restore Ctrl-C's usual meaning, whatever launched the tests.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        from test_executors import _slow_identity
        from vida_core.executors import LocalExecutor
        for i, result in enumerate(LocalExecutor(2).map(_slow_identity, range(100_000))):
            if i == 2:
                print(*[p.pid for p in multiprocessing.active_children()], flush=True)
    """)
    parent = subprocess.Popen([sys.executable, "-c", code], env=_env_with_tests_importable(),
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    worker_pids = [int(pid) for pid in parent.stdout.readline().split()]
    assert len(worker_pids) == 2
    # A SIGINT that lands while Python runs a finalizer is reported and ignored ("Exception
    # ignored in ..."), as in any program: press Ctrl-C again until it stops, as a user would.
    deadline = time.monotonic() + TIMEOUT_S
    while parent.poll() is None and time.monotonic() < deadline:
        parent.send_signal(signal.SIGINT)
        try:
            parent.wait(1.0)
        except subprocess.TimeoutExpired:
            pass
    assert parent.poll() not in (None, 0)
    deadline = time.monotonic() + 10
    while any(map(_running, worker_pids)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(map(_running, worker_pids))


def test_input_is_pulled_no_further_than_max_in_flight_ahead_of_the_consumer():
    max_in_flight = 4
    pulled, consumed, furthest_ahead = 0, 0, 0

    def items():
        nonlocal pulled, furthest_ahead
        for item in range(40):
            pulled += 1
            furthest_ahead = max(furthest_ahead, pulled - consumed)
            yield item

    def consume():
        nonlocal consumed
        for result in LocalExecutor(2, max_in_flight=max_in_flight).map(_every_tenth_slow, items()):
            assert result == consumed
            consumed += 1
            time.sleep(0.01)  # a consumer slower than the workers, but for the slow items

    _within_timeout(consume)
    assert consumed == 40
    assert furthest_ahead == max_in_flight  # reached, never passed


_PEAK_RSS_SCENARIO = textwrap.dedent("""
    import sys, time
    from test_executors import _two_megabytes
    from {module} import {map_name}

    n = int(sys.argv[1])
    for result in {call}:
        time.sleep(0.02)  # a consumer slower than the workers
    print([line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM")][0])
""")


def peak_rss_mb(items: int, use_parallel_map: bool = False) -> float:
    """Peak RSS of a fresh parent mapping `items` x 2 MB results to a slow consumer, in MB."""
    if use_parallel_map:  # today's extract.parallel_map, for comparison
        code = _PEAK_RSS_SCENARIO.format(module="vida_core.extract", map_name="parallel_map",
                                         call="parallel_map(_two_megabytes, range(n), 2, n, 'rss')")
    else:
        code = _PEAK_RSS_SCENARIO.format(module="vida_core.executors", map_name="LocalExecutor",
                                         call="LocalExecutor(2).map(_two_megabytes, range(n))")
    done = subprocess.run([sys.executable, "-c", code, str(items)], env=_env_with_tests_importable(),
                          capture_output=True, text=True, timeout=TIMEOUT_S)
    assert done.returncode == 0, done.stderr
    return int(done.stdout.split()[-1]) / 1024


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmHWM from /proc")
@pytest.mark.slow   # seconds of items through the pool; the fast lane keeps the ordering and crash tests
def test_peak_memory_of_the_parent_does_not_grow_with_the_number_of_items():
    at_50, at_200 = peak_rss_mb(50), peak_rss_mb(200)
    assert at_200 - at_50 < 30, f"peak RSS {at_50:.0f} MB at 50 items, {at_200:.0f} MB at 200"


def _failing_initializer():
    raise OSError("no such codec")


def test_a_failing_initializer_fails_the_map():
    with pytest.raises(RuntimeError, match="no such codec"):
        _within_timeout(lambda: list(LocalExecutor(2, initializer=_failing_initializer).map(abs, range(10))))
    assert _live_workers() == []


def test_workers_that_cannot_start_fail_the_map_instead_of_every_item(monkeypatch):
    # A function the workers can't import: every worker dies before taking its first item.
    ghost = types.ModuleType("ghost_module_only_in_the_parent")
    exec("def double(x):\n    return 2 * x", ghost.__dict__)
    monkeypatch.setitem(sys.modules, ghost.__name__, ghost)
    with pytest.raises(RuntimeError, match="failed to start"):
        _within_timeout(lambda: list(LocalExecutor(2).map(ghost.double, range(100))))
    assert _live_workers() == []


def test_make_executor():
    assert isinstance(make_executor("local", workers=2, max_in_flight=3), LocalExecutor)
    assert make_executor().workers == 1
    assert executor_names() == ["local", "ray"]
    with pytest.raises(ValueError, match="local, ray"):
        make_executor("slurm")


# ------------------------------------------------------------- what a pool of a model shows

def test_a_new_pool_attribute_is_shown_and_a_missing_one_fails_at_once():
    from vida_core.executors.base import describe_model

    class Toy:
        pool_attributes = ("spec", "batch_size", "geometry")   # `geometry` is the new one

        def __init__(self, with_geometry=True):
            self.spec, self.batch_size = "toy", 4
            if with_geometry:
                self.geometry = (260, 260)

        def run(self, batch):
            return batch

    shown = describe_model(Toy())
    assert shown["attrs"] == {"spec": "toy", "batch_size": 4, "geometry": (260, 260)} and shown["methods"] == ["run"]
    with pytest.raises(AttributeError, match="geometry"):
        describe_model(Toy(with_geometry=False))

    class Undeclared:
        def run(self, batch):
            return batch

    with pytest.raises(TypeError, match="pool_attributes"):
        describe_model(Undeclared())
