"""Speed and memory of the decode stages (frames, audio, flow, representative) on this machine.

    python benchmarks/bench_decode_stages.py [--clips 64] [--workers 2]

Makes 3-second 340x256 25 fps clips with AAC audio, then prints clips/s for:
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from media import make_clip  # noqa: E402

from vida_core.extract import compute_flow, extract_audio, extract_frames, parallel_map  # noqa: E402


def _decode_all(path: str) -> int:
    with av.open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        return sum(1 for _ in container.decode(stream))


def make_clips(folder: Path, n: int) -> list[dict]:
    rows = []
    for i in range(n):
        path = make_clip(folder / f"clip_{i:04d}.mp4", fps=25, seconds=3.0, width=340, height=256,
                         tone_hz=300 + 10 * i)
        rows.append({"clip_id": path.stem, "path": str(path), "label": "x", "split": "train"})
    return rows


def timed(fn, *args, **kwargs) -> float:
    start = time.perf_counter()
    fn(*args, **kwargs)
    return time.perf_counter() - start


def peak_rss_mb(stage: str, rows_json: Path, out_dir: Path, workers: int) -> float:
    """Run one stage in a fresh process; return its own peak RSS (the pool's workers excluded)."""
    code = f"""
import json, resource, sys
from vida_core.extract import compute_flow, extract_audio, extract_frames
rows = json.load(open({str(rows_json)!r}))
out = {str(out_dir)!r}
if {stage!r} == "frames": extract_frames(rows, out + "/frames.h5", workers={workers})
if {stage!r} == "audio": extract_audio(rows, out + "/audio.h5", workers={workers})
if {stage!r} == "flow": compute_flow(out + "/frames.h5", out + "/flow.h5", method="dis", size=224, workers={workers})
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clips", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    n, workers = args.clips, args.workers

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        rows = make_clips(tmp / "clips", n)
        paths = [r["path"] for r in rows]
        results = {}
        results["plain decode"] = n / timed(lambda: list(parallel_map(_decode_all, paths, workers, n, "decode")))
        results["frames (224 px)"] = n / timed(extract_frames, rows, tmp / "frames.h5", size=224, workers=workers)
        results["audio"] = n / timed(extract_audio, rows, tmp / "audio.h5", workers=workers)
        for method in ("dis", "farneback"):
            results[f"flow {method} (224 px)"] = n / timed(compute_flow, tmp / "frames.h5", tmp / f"flow_{method}.h5",
                                                          method=method, size=224, workers=workers)
        print(f"\n{n} clips of 3 s, 340x256, 25 fps; {workers} workers")
        for name, rate in results.items():
            print(f"  {name:<22} {rate:7.1f} clips/s")
        print(f"  frames / plain decode time: {results['plain decode'] / results['frames (224 px)']:.2f}x")

        # Peak memory at two dataset sizes: flat means it does not grow with the clip count.
        half = tmp / "half.json"
        full = tmp / "full.json"
        half.write_text(json.dumps(rows[: n // 2]))
        full.write_text(json.dumps(rows))
        print("\npeak RSS of the stage's main process (MB):")
        for stage in ("frames", "audio", "flow"):
            sizes = []
            for listing in (half, full):
                out = tmp / f"mem_{listing.stem}"
                out.mkdir(exist_ok=True)
                if stage == "flow":
                    peak_rss_mb("frames", listing, out, workers)
                sizes.append(peak_rss_mb(stage, listing, out, workers))
            print(f"  {stage:<8} {n // 2:>5} clips: {sizes[0]:7.1f}   {n:>5} clips: {sizes[1]:7.1f}")


if __name__ == "__main__":
    multiprocessing.freeze_support()
    main()
