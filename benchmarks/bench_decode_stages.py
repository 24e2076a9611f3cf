"""Speed of the per-clip stages (frames, audio, flow, representative) against their baselines.

    python benchmarks/bench_decode_stages.py [--clips-dir DIR] [--clips 20] [--repeat 5]
                                             [--workers 2] [--rounds 3] [--baseline-rev main] [--json FILE]
    python benchmarks/bench_decode_stages.py --quick [--json FILE]   # checks the script, in seconds

Clips: every video under `--clips-dir` (your own), else `--clips` generated 340x256 demo clips
(H.264 + AAC); the list is repeated `--repeat` times so that pool start-up weighs as it does on a
real dataset. Prints clips/s, each beside the baselines measured in the same run:

- plain OpenCV decode: `cv2.VideoCapture` reading every frame, one process;
- the paper's reference recipe: every round(fps/6)-th frame written as a JPEG, Farneback (the
  reference parameters) on consecutive JPEG pairs with x/y flow written as PNGs, the audio pulled
  out by an `ffmpeg` subprocess (by PyAV when there is no ffmpeg), one process and `--workers`;
- ours: each stage function in a fresh Python process, as DVC runs it (process start, imports and
  pool start-up included; the time inside the process is printed too), with `--workers` workers;
- with `--baseline-rev REV`: the same stages of that git revision (e.g. `main`), side by side.

`--rounds` repeats the measurements (interleaved) and prints min-max ranges, since timings on a
shared machine vary. Also prints each stage's peak memory (main process / largest worker).

`--quick`: 2 demo clips of 128x96 px, once, 1 worker, 1 round, the reference recipe on 1 clip,
HEAD as the baseline revision (unless given), and --json by default into a temporary folder or
$VIDA_BENCH_OUT; its numbers mean nothing.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
VIDEO_SUFFIXES = {".mp4", ".mkv", ".avi", ".webm", ".mov", ".m4v"}
STAGES = ("frames", "audio", "flow", "representative")
FARNEBACK = dict(pyr_scale=0.5, levels=3, winsize=15, iterations=3, poly_n=5, poly_sigma=1.2, flags=0)

# Runs one stage of the code under `sys.path[0]` on the rows in argv[2]; prints seconds and peak RSS.
STAGE_DRIVER = r"""
import json, resource, sys, time
stage, rows_file, out, workers = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
from vida_core.executors import make_executor
from vida_core.extract.frames import extract_frames
from vida_core.extract.audio import extract_audio
from vida_core.extract.flow import compute_flow
from vida_core.extract.representative import select_representative

def main():
    rows = json.load(open(rows_file))
    preload = {"frames": "vida_core.extract.frames", "audio": "vida_core.extract.audio",
               "flow": "vida_core.extract.flow"}.get(stage)
    executor = make_executor("local", workers=workers, preload=(preload,) if preload else ())
    start = time.perf_counter()
    if stage == "frames":
        extract_frames(rows, out + "/frames.h5", size=224, executor=executor)
    elif stage == "audio":
        extract_audio(rows, out + "/audio.h5", executor=executor)
    elif stage == "flow":
        compute_flow(out + "/frames.h5", out + "/flow.h5", method="dis", size=112, options={"preset": "fast"},
                     executor=executor)
    else:
        select_representative(out + "/flow.h5", out + "/representative.h5", 1.2)
    seconds = time.perf_counter() - start
    # Stop the forkserver and wait for it: it has reaped the workers, so their CPU time lands here.
    import multiprocessing.forkserver
    multiprocessing.forkserver._forkserver._stop()
    usage = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = sum(u.ru_utime + u.ru_stime for u in usage)
    hwm = [line for line in open("/proc/self/status") if line.startswith("VmHWM")]
    rss = int(hwm[0].split()[1]) / 1024 if hwm else usage[0].ru_maxrss / 1024
    print(json.dumps({"inside": seconds, "cpu": cpu, "rss_mb": rss, "worker_rss_mb": usage[1].ru_maxrss / 1024}))

if __name__ == "__main__":
    main()
"""


# ----------------------------------------------------------------------------------- baselines

def opencv_decode(path: str) -> int:
    """Plain decode of every frame with OpenCV."""
    capture = cv2.VideoCapture(path)
    count = 0
    while capture.read()[0]:
        count += 1
    capture.release()
    return count


def reference_recipe(job: tuple[str, str]) -> None:
    """The paper's recipe for one clip: JPEG frames at 6 fps, Farneback on the JPEG pairs with
    the flow written as PNGs, and the audio by an ffmpeg subprocess."""
    path, work = job
    out = Path(work) / Path(path).stem
    out.mkdir(parents=True, exist_ok=True)
    capture = cv2.VideoCapture(path)
    step = max(1, round((capture.get(cv2.CAP_PROP_FPS) or 30) / 6))
    jpegs, index = [], 0
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        if index % step == 0:
            jpegs.append(out / f"img_{len(jpegs):05d}.jpg")
            cv2.imwrite(str(jpegs[-1]), frame)
        index += 1
    capture.release()
    previous = None
    for k, jpeg in enumerate(jpegs):
        grey = cv2.imread(str(jpeg), cv2.IMREAD_GRAYSCALE)
        if previous is not None:
            flow = cv2.calcOpticalFlowFarneback(previous, grey, None, **FARNEBACK)
            for axis, name in ((0, "x"), (1, "y")):   # the usual +-20 px quantisation to uint8
                image = np.clip(flow[..., axis] * (127.5 / 20) + 127.5, 0, 255).astype(np.uint8)
                cv2.imwrite(str(out / f"flow_{name}_{k:05d}.png"), image)
        previous = grey
    wav = out / "audio.wav"
    if shutil.which("ffmpeg"):
        subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", path, "-vn", "-ac", "1", "-ar", "16000", str(wav)],
                       check=False)
    else:
        _pyav_wav(path, wav)
    shutil.rmtree(out)


def _pyav_wav(path: str, wav: Path) -> None:
    import wave

    import av

    with av.open(path) as container:
        if not container.streams.audio:
            return
        resampler = av.AudioResampler(format="s16", layout="mono", rate=16000)
        chunks = [out.to_ndarray() for frame in container.decode(audio=0) for out in resampler.resample(frame)]
    with wave.open(str(wav), "wb") as f:
        f.setnchannels(1), f.setsampwidth(2), f.setframerate(16000)
        f.writeframes(np.concatenate(chunks, axis=1).tobytes() if chunks else b"")


# ----------------------------------------------------------------------------------------- ours

def code_root(rev: str | None, tmp: Path) -> Path:
    """This checkout, or `vida_core` of git revision `rev` unpacked into a temporary folder."""
    if rev is None:
        return ROOT
    folder = tmp / f"rev-{rev.replace('/', '_')}"
    if not folder.exists():
        folder.mkdir()
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "vida_core"], check=True, capture_output=True)
        subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)
    return folder


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_stages(code: Path, rows_file: Path, out: Path, workers: int) -> dict[str, dict]:
    """Each stage in a fresh process on the code under `code`; wall seconds (process start to
    exit), seconds inside the process, and peak memory."""
    out.mkdir(parents=True, exist_ok=True)
    driver = out / "driver.py"
    driver.write_text(STAGE_DRIVER)
    env = {"PYTHONPATH": str(code), "PATH": "/usr/bin:/bin", "HOME": str(out)}
    results = {}
    for stage in STAGES:
        start, cpu = time.perf_counter(), _children_cpu()
        proc = subprocess.run([sys.executable, str(driver), stage, str(rows_file), str(out), str(workers)],
                              capture_output=True, text=True, env=env, cwd=out)
        wall = time.perf_counter() - start
        if proc.returncode:
            sys.exit(f"{stage} failed under {code}:\n{proc.stderr[-3000:]}")
        # The stage process, its forkserver and workers (process start and imports included).
        results[stage] = {"wall": wall, "cpu_total": _children_cpu() - cpu,
                          **json.loads(proc.stdout.strip().splitlines()[-1])}
    return results


# ----------------------------------------------------------------------------------------- main

def find_or_make_clips(args, tmp: Path) -> list[str]:
    if args.clips_dir:
        paths = sorted(str(p) for p in Path(args.clips_dir).rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES)
        if not paths:
            sys.exit(f"no video files ({', '.join(sorted(VIDEO_SUFFIXES))}) under {args.clips_dir}")
        return paths[:args.clips] if args.clips else paths
    from vida_core.executors import make_executor
    from vida_core.io.demo import DemoConfig, generate_demo_dataset

    n = args.clips or 20
    config = DemoConfig(width=128, height=96, num_classes=2) if args.quick else DemoConfig(width=340, height=256)
    config.clips_per_class = -(-n // config.num_classes)   # every demo class
    rows = generate_demo_dataset(tmp / "clips", config, executor=make_executor("local", args.workers), progress=False)
    return [str(tmp / "clips" / r["path"]) for r in rows[:n]]


def spread(values: list[float]) -> str:
    lo, hi = min(values), max(values)
    return f"{statistics.median(values):7.1f}" + (f" ({lo:.1f}-{hi:.1f})" if len(values) > 1 else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips-dir", help="a folder of your clips (searched recursively)")
    parser.add_argument("--clips", type=int, default=0, help="clips to use (default: all found, or 20 demo clips)")
    parser.add_argument("--repeat", type=int, default=5, help="how many times the clip list is repeated")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline-rev", default=None, help="also time the stages of this git revision")
    parser.add_argument("--reference-clips", type=int, default=10, help="clips the (slow) reference recipe runs on")
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    parser.add_argument("--quick", action="store_true", help="2 small clips, 1 worker, 1 round: checks the script")
    args = parser.parse_args()
    if args.quick:
        args.clips, args.repeat, args.workers, args.rounds, args.reference_clips = args.clips or 2, 1, 1, 1, 1
        args.baseline_rev = args.baseline_rev or "HEAD"
        if args.json is None:
            from _quick import quick_file
            args.json = quick_file("decode_stages.json")

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        paths = find_or_make_clips(args, tmp)
        rows = [{"clip_id": f"r{r}/{i:05d}", "path": p, "label": "x", "split": "train"}
                for r in range(args.repeat) for i, p in enumerate(paths)]
        rows_file = tmp / "rows.json"
        rows_file.write_text(json.dumps(rows))
        listing = [r["path"] for r in rows]
        n = len(rows)
        codes = {"ours": code_root(None, tmp)}
        if args.baseline_rev:
            codes[args.baseline_rev] = code_root(args.baseline_rev, tmp)
        reference = paths[:args.reference_clips]
        # A forked worker of the reference recipe's pool can hang for good (a lock inherited from this
        # process's OpenCV/FFmpeg threads): --quick, which must not hang, spawns its worker instead.
        pool_context = multiprocessing.get_context("spawn") if args.quick else None

        rates: dict[str, list[float]] = {}
        memory: dict[tuple[str, str], list[tuple[float, float]]] = {}

        cpu_per_clip: dict[str, list[float]] = {}

        def note(name: str, clips: int, seconds: float, cpu: float | None = None) -> None:
            rates.setdefault(name, []).append(clips / seconds)
            if cpu is not None:   # CPU-seconds per clip, all processes together
                cpu_per_clip.setdefault(name, []).append(cpu / clips)

        def cpu_now() -> float:
            usage = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
            return sum(u.ru_utime + u.ru_stime for u in usage)

        for round_ in range(args.rounds):
            print(f"round {round_ + 1}/{args.rounds} ...", file=sys.stderr)
            start, cpu = time.perf_counter(), cpu_now()
            for p in listing:
                opencv_decode(p)
            note("plain OpenCV decode, 1 process", n, time.perf_counter() - start, cpu_now() - cpu)
            start, cpu = time.perf_counter(), cpu_now()
            for p in reference:
                reference_recipe((p, str(tmp / "ref")))
            note("reference recipe, 1 process", len(reference), time.perf_counter() - start, cpu_now() - cpu)
            start, cpu = time.perf_counter(), cpu_now()
            with ProcessPoolExecutor(args.workers, mp_context=pool_context) as pool:
                list(pool.map(reference_recipe, [(p, str(tmp / "ref")) for p in reference]))
            note(f"reference recipe, {args.workers} processes", len(reference), time.perf_counter() - start,
                 cpu_now() - cpu)
            for label, code in codes.items():
                stages = run_stages(code, rows_file, tmp / f"out-{label}", args.workers)
                for stage, r in stages.items():
                    note(f"{label}: {stage}", n, r["wall"], r["cpu_total"])
                    note(f"{label}: {stage} (inside the process)", n, r["inside"])
                    memory.setdefault((label, stage), []).append((r["rss_mb"], r["worker_rss_mb"]))
                note(f"{label}: frames + audio + flow + representative", n, sum(r["wall"] for r in stages.values()),
                     sum(r["cpu_total"] for r in stages.values()))
                note(f"{label}: together (inside the processes)", n, sum(r["inside"] for r in stages.values()))

    ffmpeg = "ffmpeg subprocess" if shutil.which("ffmpeg") else "PyAV (no ffmpeg here)"
    source = args.clips_dir or f"{len(paths)} generated {'128x96' if args.quick else '340x256'} demo clips"
    print(f"\n{n} clips ({source}, x{args.repeat}), {args.workers} workers, {args.rounds} rounds; "
          f"clips/s as median (min-max); reference recipe on {len(reference)} clips, audio by {ffmpeg}\n")
    plain = statistics.median(rates["plain OpenCV decode, 1 process"])
    ref1 = statistics.median(rates["reference recipe, 1 process"])
    print(f"{'':<48}{'clips/s':>22}   vs plain decode   vs reference (1 process)")
    for name, values in rates.items():
        median = statistics.median(values)
        print(f"{name:<48}{spread(values):>22}   {plain / median:>6.2f}x time  {median / ref1:>8.1f}x speed")
    # On a shared machine wall time measures the neighbours too; CPU time much less so.
    def cores(name: str) -> int:
        return 1 if "1 process" in name else args.workers

    cpu_rates = {name: [cores(name) / c for c in values] for name, values in cpu_per_clip.items()}
    plain_cpu = statistics.median(cpu_rates["plain OpenCV decode, 1 process"])
    ref_cpu = statistics.median(cpu_rates["reference recipe, 1 process"])
    print(f"\nCPU-time basis: clips/s on free cores (= cores / CPU-seconds per clip of all its processes, process "
          f"start and pool start-up included); {args.workers} cores, 1 for the one-process baselines")
    print(f"{'':<48}{'clips/s':>22}   vs plain decode   vs reference (1 process)")
    for name, values in cpu_rates.items():
        median = statistics.median(values)
        print(f"{name:<48}{spread(values):>22}   {plain_cpu / median:>6.2f}x time  {median / ref_cpu:>8.1f}x speed")
    print("\npeak memory, MB (stage process / largest worker):")
    for label in codes:
        print("  " + label + ": " + ", ".join(
            f"{stage} {max(m for m, _ in memory[label, stage]):.0f}/{max(w for _, w in memory[label, stage]):.0f}"
            for stage in STAGES))
    print("\ntargets: frames + audio + flow + representative >= 30 clips/s; frames time <= 1.5x plain decode")
    if args.json:
        args.json.write_text(json.dumps({"clips_per_second": rates, "cpu_seconds_per_clip": cpu_per_clip,
                                         "clips": n, "workers": args.workers}, indent=1))
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
