"""Throughput of `executor: ray` against `executor: local`, by number of workers.

    python benchmarks/bench_ray.py [--out DIR] [--workers 1,2] [--clips-per-worker 64] [--models]  # this machine
    python benchmarks/bench_ray.py --gpu --out DIR                                        # 16 cores + 1 GPU
    python benchmarks/bench_ray.py --quick [--out DIR]     # checks the script in seconds; "skipped" without Ray

Makes its own 340x256 demo clips, then for each worker count W times, on a Ray started here
with W CPUs (and on the local executor with W processes, at the smallest and largest W):

- `map`: the executor alone running the stage's per-clip function (frames at 224 px, audio,
  DIS flow at 112 px, the pipeline's defaults) with the results dropped: how the compute scales;
- `stage`: the whole stage writing its HDF5 artifact in this process, as `dvc repro` runs it (the
  writer is not parallel: it becomes the bottleneck as W grows).

Each on 64 x W clips (48 x W with `--gpu`); whole stages at the ends of the range of W. The rate is the steady one, over the last three quarters of the results;
what the run took beyond that is reported as its fixed cost (a fresh pool, fresh Ray workers
importing their modules).

Also the cost of Ray itself: start-up, and the overhead per task and per clip of empty work.
With `--models` (always with `--gpu`), captions and visual features with the embedded models,
in this process and through 1, 2 and 4 Ray actors (on the GPU with `--gpu`: actors share it).

Results go to DIR (default: $VIDA_BENCH_OUT, else ./bench_ray_out) as `bench_ray.json` and
`bench_ray.md`, rewritten after every measurement, so a run cut short keeps what it measured.
`--gpu` is sized to finish in about 5 minutes on 16 cores and one GPU (768 clips), and skips what
is left after `--budget-s` (330 s).
On a shared machine, timings vary from run to run: rerun to see by how much.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

try:
    import ray  # noqa: E402
except ImportError:   # the `ray` extra is not installed: --help works, a run says so (--quick: skipped)
    ray = None

from vida_core.executors import LocalExecutor  # noqa: E402
from vida_core.extract.audio import _audio_of, extract_audio  # noqa: E402
from vida_core.extract.flow import _flow_of, compute_flow  # noqa: E402
from vida_core.extract.frames import _frames_of, extract_frames  # noqa: E402
from vida_core.extract.representative import select_representative  # noqa: E402
from vida_core.io.demo import DEMO_CLASSES, DemoConfig, generate_demo_dataset  # noqa: E402

if ray is not None:
    from vida_core.executors.ray import ModelPool, RayExecutor, connect  # noqa: E402

FRAME_SIZE, FLOW_SIZE, FLOW_OPTIONS = 224, 112, {"preset": "fast"}   # params.yaml defaults


class Report:
    """Rows of measurements, written as JSON and a markdown table after each one."""

    def __init__(self, out: Path, meta: dict):
        self.out, self.meta, self.rows = out, meta, []
        out.mkdir(parents=True, exist_ok=True)

    def add(self, **row) -> None:
        self.rows.append(row)
        print("  " + "  ".join(f"{k}={v}" for k, v in row.items()), flush=True)
        (self.out / "bench_ray.json").write_text(json.dumps({"meta": self.meta, "rows": self.rows}, indent=1))
        lines = [f"# bench_ray ({self.meta['mode']})", "", "```", json.dumps(self.meta, indent=1), "```", "",
                 "| what | executor | workers | clips/s | s | notes |", "| --- | --- | ---: | ---: | ---: | --- |"]
        lines += [f"| {r['what']} | {r['executor']} | {r.get('workers', '')} | {r.get('clips_per_s', '')} | "
                  f"{r.get('seconds', '')} | {r.get('notes', '')} |" for r in self.rows]
        (self.out / "bench_ray.md").write_text("\n".join(lines) + "\n")


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _noop(item):
    return item


def make_clips(folder: Path, n: int, quick: bool = False) -> list[dict]:
    classes = 2 if quick else len(DEMO_CLASSES)
    width, height = (128, 96) if quick else (340, 256)
    config = DemoConfig(num_classes=classes, clips_per_class=math.ceil(n / classes), width=width, height=height)
    made = generate_demo_dataset(folder, config, executor=LocalExecutor(1 if quick else os.cpu_count() or 1))
    made = sorted(made, key=lambda r: (int(r["clip_id"].rsplit("_", 1)[1]), r["clip_id"]))[:n]  # classes mixed
    return [{"clip_id": r["clip_id"], "path": str(folder / r["path"])} for r in made]


class Clock:
    """Wraps an executor and notes when each result arrives: the rate over the last three quarters
    of a run is the steady throughput, without the fixed costs of its start (a fresh pool, fresh
    Ray workers importing their modules), which are what remains of the run's time."""

    def __init__(self, executor):
        self.executor, self.arrivals = executor, []

    def map(self, fn, items, **kwargs):
        self.arrivals, start = [], time.perf_counter()
        for result in self.executor.map(fn, items, **kwargs):
            self.arrivals.append(time.perf_counter() - start)
            yield result

    def add_to(self, report: Report, what: str, name: str, workers: int, notes: str = "") -> None:
        n, arrivals = len(self.arrivals), self.arrivals
        quarter = n // 4
        window = arrivals[-1] - arrivals[quarter - 1 if quarter else 0]
        if window < 0.2 * arrivals[-1]:   # results came in one burst: too few clips for a rate
            report.add(what=what, executor=name, workers=workers, seconds=round(arrivals[-1], 2),
                       notes=f"{n} clips: too few for a steady rate; whole run {n / arrivals[-1]:.1f} clips/s")
            return
        rate = (n - quarter) / window
        report.add(what=what, executor=name, workers=workers, clips_per_s=round(rate, 1), seconds=round(arrivals[-1], 2),
                   notes=f"{n} clips, steady rate over the last 3/4; fixed {max(0.0, arrivals[-1] - n / rate):.2f} s"
                         + (f"; {notes}" if notes else ""))


def bench_executor(report: Report, name: str, executor, workers: int, rows: list[dict], tmp: Path,
                   stages: bool = True) -> None:
    """Each stage's per-clip work alone (results dropped), then (`stages`) each stage writing its
    artifact. Without `stages`, flow's work runs on frames made by the local executor."""
    clock = Clock(executor)
    for what, fn, jobs in (("frames", _frames_of, ((r["path"], FRAME_SIZE, 2.5) for r in rows)),
                           ("audio", _audio_of, ((r["path"], -80.0) for r in rows))):
        for _ in clock.map(fn, jobs, total=len(rows), desc=what):
            pass
        clock.add_to(report, f"{what} map", name, workers)
    out = tmp / f"{name}-{workers}"
    out.mkdir()
    if not stages:
        extract_frames(rows, out / "frames.h5", size=FRAME_SIZE, executor=LocalExecutor(os.cpu_count() or 1))
    stages = {} if not stages else {
        "frames": lambda: extract_frames(rows, out / "frames.h5", size=FRAME_SIZE, executor=clock),
        "audio": lambda: extract_audio(rows, out / "audio.h5", executor=clock),
        "flow": lambda: compute_flow(out / "frames.h5", out / "flow.h5", "dis", FLOW_SIZE, FLOW_OPTIONS, executor=clock),
    }
    for what, run in stages.items():
        seconds = timed(run)
        clock.add_to(report, f"{what} stage", name, workers, f"whole stage {len(rows) / seconds:.1f} clips/s")
    # Flow's per-clip work alone: its input is frames read from frames.h5 by this process.
    with h5py.File(out / "frames.h5", "r") as f:
        frames = f["frames"]
        jobs = ((frames[i], "dis", FLOW_SIZE, FLOW_OPTIONS) for i in range(len(frames)))
        for _ in clock.map(_flow_of, jobs, total=len(rows), desc="flow"):
            pass
    clock.add_to(report, "flow map", name, workers, "frames read and sent by this process")
    for artifact in ("frames.h5", "audio.h5", "flow.h5"):
        (out / artifact).unlink(missing_ok=True)


def start_ray(report: Report, workers: int) -> None:
    ray.shutdown()
    seconds = timed(lambda: connect(None, workers))
    report.add(what="ray start-up", executor="ray", workers=workers, seconds=round(seconds, 2),
               notes="ray.init of a local instance, once per stage process")


def bench_overhead(report: Report, workers: int) -> None:
    for block in (1, 16):
        n = 64 * block
        seconds = timed(lambda: list(RayExecutor(workers, block_size=block).map(_noop, range(n))))
        report.add(what=f"empty work, block_size {block}", executor="ray", workers=workers,
                   seconds=round(seconds, 2),
                   notes=f"{1000 * seconds / (n / block):.1f} ms per task, {1000 * seconds / n:.2f} ms per clip")


def bench_models(report: Report, rows: list[dict], tmp: Path, device: str, setups: list[tuple],
                 cpus: int | None = None, cache_path: Path | None = None) -> None:
    """Captions and visual features with the embedded models, in process and through Ray actors.
    `cache_path`: the caption cache (default: run_captions' own, under the working directory)."""
    from vida_core.learn.visual_features import extract_visual_features
    from vida_core.models import load_captioner, load_image_encoder
    from vida_core.semantic.captions import DEFAULT_CAPTION_CACHE, run_captions

    n, cpus = len(rows), cpus or os.cpu_count() or 1
    extract_frames(rows, tmp / "m_frames.h5", size=FRAME_SIZE, executor=RayExecutor(cpus))
    compute_flow(tmp / "m_frames.h5", tmp / "m_flow.h5", "dis", FLOW_SIZE, FLOW_OPTIONS, executor=RayExecutor(cpus))
    select_representative(tmp / "m_flow.h5", tmp / "m_rep.h5", 1.2)
    caption_batch, encoder_batch, batch_clips = 16, 64, 8   # params.yaml and stages/visual_features.py
    reference = {}   # the in-process outputs, which the actors' must equal

    def same_as_reference(what: str, output: Path) -> str:
        if what == "captions":
            text = json.loads(output.read_text())["clips"]
            return "same captions as in process" if reference.setdefault(what, text) == text else "CAPTIONS DIFFER"
        with h5py.File(output, "r") as f:
            features = np.concatenate([f["rgb"][()], f["flow"][()]], axis=1).astype(np.float32)
        first = reference.setdefault(what, features)
        if np.array_equal(first, features):
            return "same features as in process"
        return f"FEATURES DIFFER, max abs {np.abs(first - features).max():.2g}"

    for label, actors, gpus in setups:
        def model(loader, batch):
            if actors == 0:
                return loader(load_name[loader], device=device, batch_size=batch)
            return ModelPool(loader, load_name[loader], device=device, batch_size=batch, actors=actors, num_gpus=gpus)

        load_name = {load_captioner: "effnet-lite0-labels", load_image_encoder: "effnet-lite0"}
        scale = max(1, actors)   # Stage.call_batch
        start = time.perf_counter()
        captioner = model(load_captioner, caption_batch)
        loaded = time.perf_counter() - start
        seconds = timed(lambda: run_captions(tmp / "m_rep.h5", tmp / "m_frames.h5", tmp / "captions.json",
                                             captioner, caption_batch * scale,
                                             cache_path=cache_path or DEFAULT_CAPTION_CACHE))
        frames = sum(len(c) for c in json.loads((tmp / "captions.json").read_text())["clips"].values())
        report.add(what="captions", executor=label, workers=actors, clips_per_s=round(n / seconds, 1),
                   seconds=round(seconds, 2), notes=f"{frames / seconds:.0f} frames/s; loading {loaded:.1f} s; {device}; "
                                                    + same_as_reference("captions", tmp / "captions.json"))
        if actors:
            captioner.close()
        encoder = model(load_image_encoder, encoder_batch)
        seconds = timed(lambda: extract_visual_features(tmp / "m_frames.h5", tmp / "m_flow.h5", tmp / "visual.h5",
                                                        encoder, batch_clips=batch_clips * scale))
        report.add(what="visual_features", executor=label, workers=actors, clips_per_s=round(n / seconds, 1),
                   seconds=round(seconds, 2), notes=f"{36 * n / seconds:.0f} images/s; {device}; "
                                                    + same_as_reference("visual", tmp / "visual.h5"))
        if actors:
            encoder.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=None, help="default: $VIDA_BENCH_OUT, else ./bench_ray_out")
    parser.add_argument("--gpu", action="store_true", help="16-core GPU machine: 1-16 workers, models on cuda")
    parser.add_argument("--clips-per-worker", type=int, help="W workers get this many x W clips (default 48 with --gpu, else 64)")
    parser.add_argument("--budget-s", type=float, help="skip what is left after this many seconds (default 330 with --gpu)")
    parser.add_argument("--workers", help="comma-separated; default 1,2,4,8,16 with --gpu, else 1,2")
    parser.add_argument("--models", action="store_true", help="also captions and visual features (always with --gpu)")
    parser.add_argument("--quick", action="store_true",
                        help="a local Ray of 1 worker (2 CPUs at most), 4 small clips, the models on 2 of them in "
                             "process and in 1 actor: checks the script in seconds (default --out: a temporary folder or "
                             "$VIDA_BENCH_OUT); without Ray installed, says skipped")
    args = parser.parse_args()
    if ray is None:
        if args.quick:
            print("skipped: ray is not installed (pip install -e '.[ray]')")
            return
        sys.exit("bench_ray needs Ray: pip install -e '.[ray]'")
    if args.quick:
        if args.gpu:
            sys.exit("--quick runs on the CPU: leave out --gpu")
        args.workers, args.clips_per_worker, args.models = args.workers or "1", args.clips_per_worker or 4, True
        if args.out is None:
            from _quick import quick_dir
            args.out = str(quick_dir())
    args.out = args.out or os.environ.get("VIDA_BENCH_OUT", "bench_ray_out")
    workers = [int(w) for w in (args.workers or ("1,2,4,8,16" if args.gpu else "1,2")).split(",")]
    per_worker = args.clips_per_worker or (48 if args.gpu else 64)
    budget = args.budget_s or (330 if args.gpu else float("inf"))
    clips = per_worker * max(workers)
    device = "cuda" if args.gpu else "cpu"
    meta = {"mode": "gpu" if args.gpu else "quick" if args.quick else "cpu", "clips": clips,
            "clips_per_worker": per_worker,
            "clip": f"{'128x96' if args.quick else '340x256'} demo, mostly 3 s at 25 fps",
            "frames": f"{FRAME_SIZE} px", "flow": f"DIS fast at {FLOW_SIZE} px", "block_size": 16,
            "cpus": os.cpu_count(), "machine": platform.machine(), "python": platform.python_version(),
            "ray": ray.__version__}
    if args.gpu:
        import torch
        meta["gpu"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none found"
    report = Report(Path(args.out), meta)
    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        start = time.perf_counter()
        rows = make_clips(tmp / "clips", clips, quick=args.quick)
        seconds = time.perf_counter() - start
        report.add(what="make demo clips", executor="local", workers=os.cpu_count(), seconds=round(seconds, 1))
        ends = (workers[0], workers[-1])

        def within_budget(what: str) -> bool:
            if time.perf_counter() - began < budget:
                return True
            report.add(what=what, executor="", notes=f"skipped: past the {budget:.0f} s budget")
            return False

        # Order of importance, so that a time budget cuts the least useful: Ray's scaling (whole
        # stages at the ends of the range), the local executor at 1 worker, the models, local at W.
        for w in workers:
            if within_budget(f"ray, {w} workers"):
                start_ray(report, w)
                if w in ends:
                    bench_overhead(report, w)
                bench_executor(report, "ray", RayExecutor(w), w, rows[: per_worker * w], tmp, stages=w in ends)
                print(f"[bench_ray] ray at {w} workers done at {time.perf_counter() - began:.0f} s", flush=True)
        ray.shutdown()
        if within_budget(f"local, {workers[0]} workers"):
            bench_executor(report, "local", LocalExecutor(workers[0]), workers[0], rows[: per_worker * workers[0]], tmp)
        if (args.models or args.gpu) and within_budget("models"):
            cpus = min(2, os.cpu_count() or 1) if args.quick else os.cpu_count() or 1
            connect(None, cpus)
            gpu = args.gpu
            setups = [("in process", 0, 0), ("ray actors", 1, 1.0 if gpu else 0), ("ray actors", 2, 0.5 if gpu else 0)]
            if gpu:
                setups.append(("ray actors", 4, 0.25))
            if args.quick:
                setups = setups[:2]
            bench_models(report, rows[: 128 if gpu else 2 if args.quick else 16], tmp, device, setups, cpus,
                         cache_path=tmp / "caption_cache.sqlite" if args.quick else None)   # --quick: not the project's
            ray.shutdown()
        if workers[-1] != workers[0] and within_budget(f"local, {workers[-1]} workers"):
            bench_executor(report, "local", LocalExecutor(workers[-1]), workers[-1], rows[: per_worker * workers[-1]], tmp)
    report.meta["total_s"] = round(time.perf_counter() - began, 1)
    report.meta["driver_peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    report.add(what="done", executor="", seconds=report.meta["total_s"])
    print(f"[bench_ray] wrote {Path(args.out) / 'bench_ray.md'}")


if __name__ == "__main__":
    main()
