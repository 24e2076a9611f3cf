"""Speed and memory of the decode stages (frames, audio, flow, representative) on this machine.

    python benchmarks/bench_decode_stages.py [--clips 64] [--workers 2]

Makes 340x256 demo clips (mostly 3 s at 25 fps, H.264 + AAC), then prints clips/s for:
- plain sequential decode of every frame of the same clips (the floor `frames` is compared to),
- the `frames` stage (18 frames at 224 px), the `audio` stage,
- `flow` at 224 px with DIS and with Farneback,
and the peak memory (RSS) of each stage at two dataset sizes, to show that it stays flat.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av

from vida_core.io.demo import DemoConfig, generate_demo_dataset
from vida_core.extract import compute_flow, extract_audio, extract_frames


def _decode_all(path: str) -> int:
    with av.open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        return sum(1 for _ in container.decode(stream))


def make_clips(folder: Path, n: int, workers: int) -> list[dict]:
    config = DemoConfig(clips_per_class=max(1, n // 8), width=340, height=256, workers=workers)
    rows = generate_demo_dataset(folder, config)[:n]
    return [{"clip_id": r["clip_id"], "path": str(folder / r["path"]), "label": r["label"], "split": "train"}
            for r in rows]


def timed(fn, *args, **kwargs) -> float:
    start = time.perf_counter()
    fn(*args, **kwargs)
    return time.perf_counter() - start


def peak_rss_mb(stage: str, rows_json: Path, out_dir: Path, workers: int) -> tuple[float, float]:
    """Run one stage in a fresh process; return the peak RSS of it and of its largest worker."""
    code = f"""
import json, resource, sys
from vida_core.extract import compute_flow, extract_audio, extract_frames
rows = json.load(open({str(rows_json)!r}))
out = {str(out_dir)!r}
if {stage!r} == "frames": extract_frames(rows, out + "/frames.h5", workers={workers})
if {stage!r} == "audio": extract_audio(rows, out + "/audio.h5", workers={workers})
if {stage!r} == "flow": compute_flow(out + "/frames.h5", out + "/flow.h5", method="dis", size=224, workers={workers})
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
      resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    main, worker = out.stdout.strip().splitlines()[-1].split()
    return float(main), float(worker)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clips", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    n, workers = args.clips, args.workers

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        rows = make_clips(tmp / "clips", n, workers)
        paths = [r["path"] for r in rows]
        results = {}
        # One process first (the per-clip cost), then the stage's pool (what `dvc repro` sees,
        # pool start-up included).
        results["plain decode, 1 process"] = n / timed(lambda: [_decode_all(p) for p in paths])
        for w in sorted({1, workers}):
            results[f"frames 224 px, {w} worker(s)"] = n / timed(extract_frames, rows, tmp / "frames.h5", size=224, workers=w)
        results[f"audio, {workers} worker(s)"] = n / timed(extract_audio, rows, tmp / "audio.h5", workers=workers)
        for method in ("dis", "farneback"):
            for w in sorted({1, workers}):
                results[f"flow {method} 224 px, {w} worker(s)"] = n / timed(
                    compute_flow, tmp / "frames.h5", tmp / f"flow_{method}.h5", method=method, size=224, workers=w)
        print(f"\n{n} demo clips, 340x256 (mostly 3 s, 25 fps)")
        for name, rate in results.items():
            print(f"  {name:<32} {rate:7.1f} clips/s")
        ratio = results["plain decode, 1 process"] / results["frames 224 px, 1 worker(s)"]
        print(f"  frames time / plain decode time, one process each: {ratio:.2f}x")

        # Peak memory at two dataset sizes: flat means it does not grow with the clip count.
        half = tmp / "half.json"
        full = tmp / "full.json"
        half.write_text(json.dumps(rows[: n // 2]))
        full.write_text(json.dumps(rows))
        print("\npeak RSS in MB (stage process / largest worker):")
        for stage in ("frames", "audio", "flow"):
            sizes = []
            for listing in (half, full):
                out = tmp / f"mem_{listing.stem}"
                out.mkdir(exist_ok=True)
                if stage == "flow":
                    peak_rss_mb("frames", listing, out, workers)
                sizes.append(peak_rss_mb(stage, listing, out, workers))
            print(f"  {stage:<8} {n // 2:>5} clips: {sizes[0][0]:6.0f} / {sizes[0][1]:4.0f}"
                  f"   {n:>5} clips: {sizes[1][0]:6.0f} / {sizes[1][1]:4.0f}")


if __name__ == "__main__":
    multiprocessing.freeze_support()
    main()
