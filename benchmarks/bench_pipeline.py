"""Time every stage of `dvc repro` on the demo, from a clean clone, for one or more git revisions
side by side, and the threshold sweep `dvc exp run -S threshold=1.3`.

    python benchmarks/bench_pipeline.py --rev main --rev HEAD [-S key=value ...] [--no-sweep]

For each revision (in the order given, one after the other on this machine): clone this
repository into a temporary folder, check the revision out, run each stage with
`dvc repro --single-item STAGE` in DAG order (timing each), then commit and run
`dvc exp run -S threshold=1.3`, timing each stage it reruns from DVC's own output. Prints a
table of seconds per stage with one column per revision, the totals and ratios, the sweep,
each revision's `metrics/classify.json`, and which artifacts differ in bytes between revisions.
`-S` overrides params.yaml in every clone (e.g. `-S demo.clips_per_class=10` for a quick run).
The clones run with PYTHONPATH set to the clone, so each runs its own code.

`--quick` checks the script in seconds: the same steps on a toy git + DVC project (benchmarks/
_quick.py: this pipeline's DAG cut down to demo_data, manifest, representative and results,
each a tiny script that checks params.yaml with the pipeline's config and writes the
stage's outputs) with two commits, timed as revisions HEAD~1 and HEAD, `-S demo.clips_per_class=2`,
and --json by default into a temporary folder or $VIDA_BENCH_OUT.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
DVC = [sys.executable, "-m", "dvc"]
# --quick: the toy project's stages (the threshold sweep reruns representative and results)
QUICK_STAGES = ["demo_data", "manifest", "representative", "results"]


def dag_order(stages: dict) -> list[str]:
    """Stages in an order where each comes after the stages whose outs it reads."""
    producer = {}
    for name, stage in stages.items():
        for out in stage.get("outs", []) + stage.get("metrics", []):
            producer[next(iter(out)) if isinstance(out, dict) else out] = name
    order, seen = [], set()

    def visit(name):
        if name in seen:
            return
        seen.add(name)
        for dep in stages[name].get("deps", []):
            for path, owner in producer.items():
                if dep == path or dep.startswith(path.rstrip("/") + "/") or path.startswith(dep.rstrip("/") + "/"):
                    if owner != name:
                        visit(owner)
        order.append(name)

    for name in stages:
        visit(name)
    return order


def clone_env(repo: Path) -> dict:
    """This environment, with the clone first on PYTHONPATH and this checkout off it."""
    extra = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep)
             if p and Path(p).resolve() != ROOT]
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(repo), *extra]), "PATH": path}


def run(cmd: list[str], repo: Path) -> str:
    proc = subprocess.run(cmd, cwd=repo, capture_output=True, text=True, env=clone_env(repo))
    if proc.returncode:
        sys.exit(f"{' '.join(cmd)} failed in {repo}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc.stdout + proc.stderr


def timed_stages(cmd: list[str], repo: Path) -> tuple[float, dict[str, float]]:
    """Run a dvc command; total seconds and the seconds of each stage it ran (from its
    "Running stage 'X'" lines: a stage lasts until the next one starts or the command ends)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=clone_env(repo))
    marks, tail = [], []
    for line in proc.stdout:
        tail = (tail + [line])[-60:]
        if line.startswith("Running stage '"):
            marks.append((line.split("'")[1], time.perf_counter()))
    end = time.perf_counter()
    if proc.wait():
        sys.exit(f"{' '.join(cmd)} failed in {repo}:\n{''.join(tail)}")
    stops = [t for _, t in marks[1:]] + [end]
    return end - start, {name: stop - t for (name, t), stop in zip(marks, stops)}


def set_params(repo: Path, overrides: list[str]) -> None:
    params = yaml.safe_load((repo / "params.yaml").read_text())
    for item in overrides:
        key, value = item.split("=", 1)
        *parents, leaf = key.split(".")
        node = params
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = yaml.safe_load(value)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def bench_revision(rev: str, folder: Path, overrides: list[str], sweep: bool, source: Path = ROOT) -> dict:
    repo = folder / "vida"
    subprocess.run(["git", "clone", "-q", str(source), str(repo)], check=True)
    subprocess.run(["git", "-c", "advice.detachedHead=false", "checkout", "-q", rev], cwd=repo, check=True)
    if overrides:
        set_params(repo, overrides)
    stages = yaml.safe_load((repo / "dvc.yaml").read_text())["stages"]
    seconds = {}
    for name in dag_order(stages):
        print(f"[{rev}] {name} ...", file=sys.stderr, flush=True)
        seconds[name] = timed_stages(DVC + ["repro", "--single-item", name], repo)[0]
    result = {"rev": rev, "repo": str(repo), "stages": seconds, "total": sum(seconds.values()),
              "metrics": json.loads((repo / "metrics" / "results.json").read_text()),
              "lock": yaml.safe_load((repo / "dvc.lock").read_text())}
    if sweep:
        run(["git", "add", "-A"], repo)   # (a reproduced dvc.lock may equal the committed one: nothing to add)
        run(["git", "-c", "user.name=bench", "-c", "user.email=bench@example.com", "commit", "-q", "--allow-empty",
             "-m", "repro"], repo)
        print(f"[{rev}] dvc exp run -S threshold=1.3 ...", file=sys.stderr, flush=True)
        result["sweep_total"], result["sweep_stages"] = timed_stages(DVC + ["exp", "run", "-S", "threshold=1.3"], repo)
    return result


def out_hashes(lock: dict) -> dict[str, str]:
    hashes = {}
    for stage in lock.get("stages", {}).values():
        for out in stage.get("outs", []):
            hashes[out["path"]] = out.get("md5", "")
    return hashes


def same_arrays(a: Path, b: Path) -> list[str]:
    """Datasets of two HDF5 files whose arrays differ (attributes, such as versions, aside)."""
    import h5py
    import numpy as np

    differ = []
    with h5py.File(a) as fa, h5py.File(b) as fb:
        names = set()
        fa.visititems(lambda n, o: names.add(n) if isinstance(o, h5py.Dataset) else None)
        fb.visititems(lambda n, o: names.add(n) if isinstance(o, h5py.Dataset) else None)
        for name in sorted(names):
            if name not in fa or name not in fb or not np.array_equal(fa[name][()], fb[name][()]):
                differ.append(name)
    return differ


def compare_arrays(results: list[dict]) -> None:
    a, b = Path(results[0]["repo"]), Path(results[1]["repo"])
    print(f"\nHDF5 artifacts, arrays compared ({results[0]['rev']} vs {results[1]['rev']}):")
    for path in sorted((a / "artifacts").glob("*.h5")):
        if (b / "artifacts" / path.name).exists():
            differ = same_arrays(path, b / "artifacts" / path.name)
            print(f"  {path.name:<24} {'same arrays' if not differ else 'differ: ' + ', '.join(differ)}")


def report(results: list[dict]) -> None:
    revs = [r["rev"] for r in results]
    names = list(dict.fromkeys(n for r in results for n in r["stages"]))
    width = max(12, *(len(rev) + 2 for rev in revs))
    print(f"\n{'stage':<22}" + "".join(f"{rev:>{width}}" for rev in revs) + "   (seconds)")
    for name in names:
        print(f"{name:<22}" + "".join(f"{r['stages'].get(name, float('nan')):>{width}.1f}" for r in results))
    print(f"{'full dvc repro':<22}" + "".join(f"{r['total']:>{width}.1f}" for r in results))
    base = results[0]
    for r in results[1:]:
        print(f"{r['rev']} / {base['rev']}: {100 * r['total'] / base['total']:.0f} % of the time")
    for r in results:
        if "sweep_total" in r:
            print(f"\n[{r['rev']}] dvc exp run -S threshold=1.3: {r['sweep_total']:.1f} s "
                  f"({100 * r['sweep_total'] / r['total']:.0f} % of its full repro); stages rerun: "
                  + ", ".join(f"{n} {s:.1f} s" for n, s in r["sweep_stages"].items()))
    print("\nmetrics/results.json (val top-1 % per condition, and what else `dvc exp show` compares):")
    keys = list(dict.fromkeys(k for r in results for k, v in r["metrics"].items() if not isinstance(v, dict)))
    for key in keys:
        cells = [r["metrics"].get(key) for r in results]
        print(f"  {key:<26}" + "".join(f"{'-' if c is None else c:>18}" for c in cells))
    if len(results) > 1:
        hashes = [out_hashes(r["lock"]) for r in results]
        paths = sorted(set(hashes[0]) | set(hashes[1]))
        same = [p for p in paths if hashes[0].get(p) == hashes[1].get(p)]
        print(f"\nartifacts with the same bytes in {revs[0]} and {revs[1]}: {', '.join(same) or 'none'}")
        print(f"artifacts whose bytes differ: {', '.join(p for p in paths if p not in same) or 'none'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rev", action="append", help="git revision to time (repeatable; default HEAD)")
    parser.add_argument("-S", "--set-param", action="append", default=[], help="params override, as for dvc exp run")
    parser.add_argument("--no-sweep", action="store_true", help="skip the threshold sweep")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--keep", type=Path, help="clone into this folder and keep the clones (default: a temporary one)")
    parser.add_argument("--quick", action="store_true", help="a toy DVC project in this pipeline's shape, two "
                                                             "revisions: checks the script in seconds")
    args = parser.parse_args()
    results, source = [], ROOT
    with tempfile.TemporaryDirectory() as tmp:
        base = args.keep or Path(tmp)
        if args.quick:
            from _quick import commit_params, quick_file, toy_dvc_project

            source = toy_dvc_project(Path(tmp) / "toy", QUICK_STAGES)
            commit_params(source, {"dataset.val_fraction": 0.25}, "another split")   # a second revision
            args.rev = args.rev or ["HEAD~1", "HEAD"]
            args.set_param = args.set_param or ["demo.clips_per_class=2"]
            args.json = args.json or quick_file("pipeline.json")
        for i, rev in enumerate(args.rev or ["HEAD"]):
            folder = base / str(i)
            folder.mkdir(parents=True)
            results.append(bench_revision(rev, folder, args.set_param, sweep=not args.no_sweep, source=source))
            if args.json:
                args.json.write_text(json.dumps(results, indent=1))
        report(results)
        if len(results) > 1:
            compare_arrays(results)
    if args.json:
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
