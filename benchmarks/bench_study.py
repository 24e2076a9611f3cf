"""Wall and CPU time of the label-budget study: `dvc repro` of the whole DAG from a clean clone.

    python benchmarks/bench_study.py [--rev HEAD] [-S key=value ...] [--tiny | --quick] [--json FILE]

Clones the repository at `--rev` into a temporary folder, applies `-S` overrides to params.yaml,
runs `dvc repro` once and reports the wall time, the CPU time of every process it ran (stage
processes and their workers), the seconds of each stage (from DVC's "Running stage" lines), and
the study's grid (k values, label draws, seeds, conditions) with the cost per classifier run, so
that the cost of a bigger grid can be read off: the learning stages scale with the number of
runs, the data stages with the number of clips. `--tiny` shrinks the demo and the grid to check
that the benchmark works on the real DAG (minutes). `--quick` checks the script in seconds: the
same steps on a toy git + DVC project (benchmarks/_quick.py: this pipeline's DAG cut down to a
few stages, each a tiny script that checks params.yaml with the pipeline's config, the `--tiny`
overrides included, and writes the stage's outputs), --json by default into a temporary folder
or $VIDA_BENCH_OUT.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_pipeline import DVC, ROOT, set_params, timed_stages  # noqa: E402

TINY = ["demo.clips_per_class=24", "demo.width=128", "demo.height=96", "frames.resolution=64",
        "flow.resolution=32", "protocol.reservoir_per_class=4", "protocol.labels_per_class=[1,2]",
        "protocol.label_draws=2", "protocol.train_epochs=20", "classify.seeds=[0]",
        "generate_svdmap.epochs=3", "generate_cafmap.epochs=3", "feature_tagger.epochs=3"]
# --quick: the toy project's stages
QUICK_STAGES = ["demo_data", "manifest", "label_budget", "generate_svdmap", "classify_baseline", "classify_svdmap",
                "results"]
LEARNING = ("generate_", "classify_", "results", "filter", "visual_pool", "cafmap_controls", "feature_tagger",
            "label_budget")


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def bench(rev: str, overrides: list[str], folder: Path, source: Path = ROOT) -> dict:
    repo = folder / "vida"
    subprocess.run(["git", "clone", "-q", str(source), str(repo)], check=True)
    subprocess.run(["git", "-c", "advice.detachedHead=false", "checkout", "-q", rev], cwd=repo, check=True)
    if overrides:
        set_params(repo, overrides)
    params = yaml.safe_load((repo / "params.yaml").read_text())
    cpu0 = children_cpu()
    wall, stages = timed_stages(DVC + ["repro"], repo)
    cpu = children_cpu() - cpu0
    protocol, seeds = params.get("protocol", {}), params["classify"]["seeds"]
    ks = protocol.get("labels_per_class", "all")
    runs = len(seeds) * (1 if ks == "all" else len(ks) * protocol.get("label_draws", 1))
    classify = {name: s for name, s in stages.items() if name.startswith("classify_")}
    learning = sum(s for name, s in stages.items() if name.startswith(LEARNING))
    clips = params["demo"]["clips_per_class"] * params["demo"]["num_classes"]
    return {"rev": rev, "overrides": overrides, "wall_s": wall, "cpu_s": cpu, "stages": stages,
            "clips": clips, "grid": {"labels_per_class": ks, "label_draws": protocol.get("label_draws"),
                                     "seeds": seeds, "conditions": len(classify), "runs_per_condition": runs},
            "classify_s": sum(classify.values()), "classify_s_per_run": sum(classify.values()) / max(1, runs * len(classify)),
            "learning_s": learning, "data_s": wall - learning,
            "metrics": json.loads((repo / "metrics" / "results.json").read_text())}


def report(r: dict) -> None:
    print(f"\n{'stage':<28}{'seconds':>10}")
    for name, seconds in r["stages"].items():
        print(f"{name:<28}{seconds:>10.1f}")
    g = r["grid"]
    print(f"\n`dvc repro` of {r['clips']} demo clips: {r['wall_s']:.0f} s wall ({r['wall_s'] / 60:.1f} min), "
          f"{r['cpu_s']:.0f} s CPU (all processes)")
    print(f"data and model stages {r['data_s']:.0f} s; learning chain {r['learning_s']:.0f} s, of which the "
          f"{g['conditions']} classifier stages {r['classify_s']:.0f} s")
    print(f"grid: k = {g['labels_per_class']}, {g['label_draws']} draws, seeds {g['seeds']}: "
          f"{g['runs_per_condition']} runs per condition, {r['classify_s_per_run']:.2f} s per classifier run")
    print("(a bigger grid costs about that much per extra run and condition; generators scale with seeds)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rev", default="HEAD")
    parser.add_argument("-S", "--set-param", action="append", default=[], help="params override, as for dvc exp run")
    parser.add_argument("--tiny", action="store_true", help="a tiny demo and grid: checks the benchmark on the real "
                                                            "DAG (minutes)")
    parser.add_argument("--quick", action="store_true", help="a toy DVC project in this pipeline's shape: checks the "
                                                             "script in seconds")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    start = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        source = ROOT
        if args.quick:
            from _quick import quick_file, toy_dvc_project

            source = toy_dvc_project(Path(tmp) / "toy", QUICK_STAGES)
            args.json = args.json or quick_file("study_cost.json")
        overrides = (TINY if args.tiny or args.quick else []) + args.set_param
        result = bench(args.rev, overrides, Path(tmp), source)
    report(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
        print(f"wrote {args.json}")
    print(f"(benchmark {time.time() - start:.0f} s in all)", file=sys.stderr)


if __name__ == "__main__":
    main()
