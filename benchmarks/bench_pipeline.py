"""Time every stage of `dvc repro` on the demo dataset, from a clean clone, and a threshold sweep.

    python benchmarks/bench_pipeline.py [-S key=value ...]

Clones the committed repository into a temporary folder, runs each stage with
`dvc repro --single-item STAGE` in DAG order (timing each), then `dvc exp run -S threshold=1.3`
twice: once up to `representative` only (the decode part of the pipeline) and once in full.
Prints seconds per stage, per group (decode, semantic, learning) and in all.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
DVC = [sys.executable, "-m", "dvc"]
GROUPS = {
    "decode": ["demo_data", "manifest", "frames", "audio", "flow", "representative"],
    "semantic": ["captions", "label_bank", "label_map", "semantic_dictionary", "feature_tagger"],
}


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


def timed(cmd: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if proc.returncode:
        sys.exit(f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-S", "--set-param", action="append", default=[], help="params override, as for dvc exp run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "vida"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(repo)], check=True)
        if args.set_param:
            params = yaml.safe_load((repo / "params.yaml").read_text())
            for item in args.set_param:
                key, value = item.split("=", 1)
                *parents, leaf = key.split(".")
                node = params
                for part in parents:
                    node = node.setdefault(part, {})
                node[leaf] = yaml.safe_load(value)
            (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        stages = yaml.safe_load((repo / "dvc.yaml").read_text())["stages"]
        seconds = {name: timed(DVC + ["repro", "--single-item", name], repo) for name in dag_order(stages)}
        subprocess.run(["git", "add", "-A"], cwd=repo, check=True, capture_output=True)
        subprocess.run(["git", "-c", "user.name=bench", "-c", "user.email=bench@example.com", "commit", "-qm", "repro"],
                       cwd=repo, check=True)
        sweep_decode = timed(DVC + ["exp", "run", "-S", "threshold=1.3", "representative"], repo)
        sweep_full = timed(DVC + ["exp", "run", "-S", "threshold=1.3"], repo)

    print(f"{'stage':<22}{'seconds':>9}")
    for name, s in seconds.items():
        print(f"{name:<22}{s:9.1f}")
    groups = {g: sum(seconds.get(s, 0.0) for s in members) for g, members in GROUPS.items()}
    groups["learning"] = sum(seconds.values()) - sum(groups.values())
    for g, s in groups.items():
        print(f"[{g}] {s:.1f} s")
    print(f"full dvc repro: {sum(seconds.values()):.1f} s")
    decode_stages = groups["decode"]
    print(f"dvc exp run -S threshold=1.3 representative: {sweep_decode:.1f} s "
          f"({100 * sweep_decode / decode_stages:.0f} % of the decode stages' {decode_stages:.1f} s)")
    print(f"dvc exp run -S threshold=1.3 (whole pipeline): {sweep_full:.1f} s "
          f"({100 * sweep_full / sum(seconds.values()):.0f} % of a full repro)")
    print(f"semantic stages / (frames + flow): {groups['semantic'] / (seconds['frames'] + seconds['flow']):.2f}")


if __name__ == "__main__":
    main()
