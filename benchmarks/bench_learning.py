"""Benchmark of the learning stages: streaming memory at scale, and training time at demo size.

1. stream: writes a synthetic visual.h5 + audio.h5 of --clips clips (D = --dim, float16),
   then runs the real classify code for one epoch of one condition (real_audio) on it in a
   fresh process, and reports that process's peak RSS next to the file sizes. Flat memory
   means the peak stays near the demo-size peak however large the files get.
   (100,000 clips at D = 1280 make a ~9 GB visual.h5: use --clips 100000 where the disk allows.)
2. demo: times SVDMap and CAFMap training + generation and the full classify stage (every
   condition x 3 seeds) with the default knobs on demo-sized synthetic data (320 clips, 8 classes).

    python benchmarks/bench_learning.py                 # both, 20,000 clips for the stream part
    python benchmarks/bench_learning.py --clips 100000 --folder /big/disk/bench
    python benchmarks/bench_learning.py --skip-demo --clips 2000 --dim 256
    python benchmarks/bench_learning.py --quick [--json FILE]   # tiny files and models: checks the script

`--quick`: the stream part on 200 clips at D = 16, the demo part on 64 clips at D = 16 with tiny
networks, one epoch and one seed; the report also goes to --json (default with --quick: a
temporary folder or $VIDA_BENCH_OUT).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import sys
import tempfile
import time
from pathlib import Path
from queue import Empty


def _measure(queue, job, kwargs):
    """Run job(**kwargs) in this (fresh) process; report seconds and peak RSS."""
    start = time.perf_counter()
    result = job(**kwargs)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024   # KiB on Linux
    queue.put({"seconds": round(time.perf_counter() - start, 1), "peak_rss_mb": round(peak_mb), **(result or {})})


def in_fresh_process(job, **kwargs) -> dict:
    """Peak RSS of a fresh process measures the job alone, not what the parent already holds."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    process = ctx.Process(target=_measure, args=(queue, job, kwargs))
    process.start()
    while True:
        try:
            result = queue.get(timeout=1)
            break
        except Empty:
            if not process.is_alive():
                raise RuntimeError(f"{job.__name__} failed in its process (exit code {process.exitcode})")
    process.join()
    return result


def _table(paths):
    from vida_core.shared.artifacts import clip_ids
    from vida_core.learn.data import build_table
    return build_table(clip_ids(paths["visual"]), paths["manifest"], paths["audio"])


def classify_one_epoch(folder: str) -> dict:
    import torch
    from vida_core.io.dataset import read_manifest
    from vida_core.learn.classify import run_condition, top_k_accuracy
    from vida_core.shared.config import ClassifyConfig

    folder = Path(folder)
    paths = {"visual": folder / "visual.h5", "audio": folder / "audio.h5",
             "manifest": read_manifest(folder / "manifest.csv")}
    table = _table(paths)
    config = ClassifyConfig(seeds=[0], epochs=1)
    result = run_condition("real_audio", table, paths, config, torch.device("cpu"))
    labels = table.label[result["test_positions"]]
    return {"train_clips": int((table.split == "train").sum()),
            "test_top1": round(top_k_accuracy(result["logits"][0], labels, 1), 3)}


def demo_timings(folder: str, quick: bool = False) -> dict:
    import numpy as np
    import torch
    from vida_core.shared import NUM_MEL_BINS
    from vida_core.shared.artifacts import clip_ids
    from vida_core.shared.registry import CLASSIFY_CONDITIONS
    from vida_core.learn.classify import run_condition
    from vida_core.learn.conditions import CONDITIONS
    from vida_core.learn.visual_pool import run_visual_pool
    from vida_core.shared.config import CAFMapConfig, ClassifyConfig, GeneratorConfig
    from vida_core.learn.generators import generator_columns, run_generator
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))   # test support, not the package
    from synthetic import make_synthetic

    folder = Path(folder)
    clips, dim = (64, 16) if quick else (320, 1280)
    paths = make_synthetic(folder / "demo", clips=clips, classes=8, dim=dim, dtype="float16",
                           visual_signal=0.1, audio_signal=0.3)
    table, ids, device = _table(paths), clip_ids(paths["visual"]), torch.device("cpu")
    out = {}
    # --quick: tiny networks, one epoch, one seed (the defaults otherwise)
    tiny = dict(hidden=16, input_proj=16, epochs=1, cross_fit_folds=2) if quick else {}
    classify_config = ClassifyConfig(seeds=[0], hidden=16, input_proj=8, epochs=1) if quick else ClassifyConfig()
    for kind, config in (("svdmap", GeneratorConfig(**tiny)), ("cafmap", CAFMapConfig(**tiny))):
        columns = generator_columns(kind, ids, paths["audio"], paths["visual"], paths["label_map"])
        start = time.perf_counter()
        seeds = classify_config.seeds
        summary, _ = run_generator(kind, table, columns, config, seeds, device, folder / f"{kind}.pt",
                                   folder / f"generated_{kind}.h5", params={})
        out[f"generate_{kind}_seconds"] = round(time.perf_counter() - start, 1)
        out[f"generate_{kind}_epochs"] = [s["epochs_run"] for s in summary["per_seed"].values()]
        out[f"generate_{kind}_models"] = f"{len(seeds)} seeds x (1 + {config.cross_fit_folds} folds)"
    # The controls' inputs are stages of their own (generate_<variant>, visual_pool): the generated audio of
    # the plain generator stands in for its variants (the same shape, so the same classifier cost) and
    # visual_pool is fitted as its stage fits it without a pool (on the train split).
    for name in {need for c in CLASSIFY_CONDITIONS for need in CONDITIONS[c].needs} - set(paths):
        if name.startswith(("generated_svdmap", "generated_cafmap")):
            paths[name] = paths["generated_svdmap" if name.startswith("generated_svdmap") else "generated_cafmap"]
        elif name == "visual_pool":
            paths[name] = folder / "visual_pool.h5"
            run_visual_pool(paths["visual"], table, np.flatnonzero(table.split == "train"), paths[name],
                            NUM_MEL_BINS, params={})
        else:
            raise SystemExit(f"bench_learning: no input for {name!r}, which a condition needs")
    config = classify_config
    start = time.perf_counter()
    for name in CLASSIFY_CONDITIONS:
        run_condition(name, table, paths, config, device)
    out["classify_seconds"] = round(time.perf_counter() - start, 1)
    out["classify_runs"] = f"{len(CLASSIFY_CONDITIONS)} conditions x {len(config.seeds)} seeds"
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=20_000, help="clips in the synthetic stream files")
    parser.add_argument("--dim", type=int, default=1280, help="visual feature size D (effnet-lite0: 1280)")
    parser.add_argument("--folder", default=None, help="where to write the files (default: a temporary folder)")
    parser.add_argument("--skip-stream", action="store_true")
    parser.add_argument("--skip-demo", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the report here")
    parser.add_argument("--quick", action="store_true", help="tiny files and models: checks the script in seconds")
    args = parser.parse_args()
    if args.quick:
        args.clips, args.dim = 200, 16
        if args.json is None:
            from _quick import quick_file
            args.json = quick_file("learning.json")

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))   # test support, not the package
    from synthetic import make_synthetic

    with tempfile.TemporaryDirectory(dir=args.folder) as tmp:
        report = {"cpu_threads": __import__("os").cpu_count()}
        if not args.skip_stream:
            folder = Path(tmp) / "stream"
            start = time.perf_counter()
            make_synthetic(folder, clips=args.clips, classes=50, dim=args.dim, dtype="float16",
                           visual_signal=0.2, audio_signal=0.2, only_features=True)
            sizes = {name: round((folder / name).stat().st_size / 2**20) for name in ("visual.h5", "audio.h5")}
            report["stream"] = {"clips": args.clips, "dim": args.dim, "file_mb": sizes,
                                "write_seconds": round(time.perf_counter() - start, 1),
                                **in_fresh_process(classify_one_epoch, folder=str(folder))}
            print(json.dumps(report["stream"]), flush=True)
        if not args.skip_demo:
            report["demo"] = in_fresh_process(demo_timings, folder=tmp, quick=args.quick)
            print(json.dumps(report["demo"]), flush=True)
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
