"""The visual_features stage on the CPU: PyTorch fp32 (today's runtime) against OpenVINO, side by side.

    python benchmarks/bench_visual_features.py [--clips 40] [--rounds 2] [--clips-dir DIR] [--json FILE]
    python benchmarks/bench_visual_features.py --quick [--json FILE]   # 2 small clips, 1 round: checks the script

Makes frames.h5 and flow.h5 from 340x256 demo clips (or your clips) with our own stages, then runs
`extract_visual_features` with each `visual_features.runtime` in turn, `--rounds` times
interleaved, and prints clips/s, images/s, the speed-up over PyTorch (target: 4x) and the
cosine between the two runtimes' features (target: >= 0.999).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

from vida_core.executors import make_executor
from vida_core.extract.flow import compute_flow
from vida_core.extract.frames import extract_frames
from vida_core.learn.visual_features import extract_visual_features
from vida_core.models import load_image_encoder

RUNTIMES = ("torch", "openvino")


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a.reshape(-1, a.shape[-1]).astype(np.float32)
    b = b.reshape(-1, b.shape[-1]).astype(np.float32)
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--clips-dir", help="a folder of your clips (searched recursively)")
    parser.add_argument("--json", type=Path, help="also write the numbers here (with --quick: default a temporary "
                                                  "folder or $VIDA_BENCH_OUT)")
    parser.add_argument("--quick", action="store_true", help="2 demo clips of 128x96 px, 1 round: checks the script")
    args = parser.parse_args()
    if args.quick:
        args.clips, args.rounds = 2, 1
        if args.json is None:
            from _quick import quick_file
            args.json = quick_file("visual_features.json")
    report = {"rounds": args.rounds}
    workers = 1 if args.quick else 2   # --quick: in this process, no pool to start
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if args.clips_dir:
            paths = sorted(str(p) for p in Path(args.clips_dir).rglob("*.mp4"))[:args.clips]
        else:
            from vida_core.io.demo import DemoConfig, generate_demo_dataset

            config = (DemoConfig(width=128, height=96, num_classes=2, clips_per_class=1) if args.quick else
                      DemoConfig(width=340, height=256, clips_per_class=-(-args.clips // 8)))
            rows = generate_demo_dataset(tmp / "clips", config, executor=make_executor("local", workers), progress=False)
            paths = [str(tmp / "clips" / r["path"]) for r in rows[:args.clips]]
        rows = [{"clip_id": f"c/{i:05d}", "path": p} for i, p in enumerate(paths)]
        extract_frames(rows, tmp / "frames.h5", workers=workers)
        compute_flow(tmp / "frames.h5", tmp / "flow.h5", workers=workers)
        with h5py.File(tmp / "frames.h5") as f:
            clips = f["frames"].shape[0]
        report["clips"] = clips
        encoders = {}
        for runtime in RUNTIMES:
            start = time.perf_counter()
            encoders[runtime] = load_image_encoder("effnet-lite0", device="cpu", batch_size=64, runtime=runtime)
            print(f"{runtime}: loaded in {time.perf_counter() - start:.1f} s")
        seconds: dict[str, list[float]] = {r: [] for r in RUNTIMES}
        cpu: dict[str, list[float]] = {r: [] for r in RUNTIMES}   # all threads of this process
        for _ in range(args.rounds):
            for runtime, encoder in encoders.items():
                start, cpu_start = time.perf_counter(), time.process_time()
                extract_visual_features(tmp / "frames.h5", tmp / "flow.h5", tmp / f"visual_{runtime}.h5", encoder)
                seconds[runtime].append(time.perf_counter() - start)
                cpu[runtime].append(time.process_time() - cpu_start)
        print(f"\n{clips} clips ({2 * 18 * clips} images), {args.rounds} rounds, interleaved:")
        for runtime, values in seconds.items():
            speedups = [t / s for t, s in zip(seconds["torch"], values)]
            cpu_speedups = [t / s for t, s in zip(cpu["torch"], cpu[runtime])]
            print(f"  {runtime:<10} {clips / max(values):5.2f}-{clips / min(values):5.2f} clips/s  "
                  f"({36 * clips / max(values):.0f}-{36 * clips / min(values):.0f} images/s)  "
                  f"speed-up over torch {min(speedups):.2f}-{max(speedups):.2f}x (wall), "
                  f"{min(cpu_speedups):.2f}-{max(cpu_speedups):.2f}x (CPU time)")
            report[runtime] = {"seconds": values, "cpu_seconds": cpu[runtime], "speedups": speedups,
                               "cpu_speedups": cpu_speedups}
        with h5py.File(tmp / "visual_torch.h5") as ref, h5py.File(tmp / "visual_openvino.h5") as fast:
            for key in ("rgb", "flow"):
                c = cosines(ref[key][()], fast[key][()])
                print(f"  cosine openvino vs torch, {key}: min {c.min():.7f}, mean {c.mean():.7f}")
                report[f"cosine_{key}"] = {"min": float(c.min()), "mean": float(c.mean())}
            same = (ref["rgb_label_index"][..., :2] == fast["rgb_label_index"][..., :2]).all(-1).mean()
            print(f"  RGB frames with the same top-2 ImageNet classes: {100 * same:.1f} %")
            report["same_top2_percent"] = float(100 * same)
        print("\ntargets: openvino >= 4x torch; cosine >= 0.999")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
