"""What the benchmarks' `--quick` modes share: where their outputs go, tiny demo clips, and a toy
DVC project in the shape of this pipeline's DAG.

`--quick` runs a benchmark's whole code path on tiny inputs it makes itself, in seconds, so that
tests/test_benchmarks.py can run every benchmark and none rots unnoticed. Its numbers mean
nothing. A quick run never writes into benchmarks/results/, metrics/ or docs/: its outputs go to
the path given on the command line, else to $VIDA_BENCH_OUT, else to a new temporary folder.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
DVC = [sys.executable, "-m", "dvc"]
_DIR: list[Path] = []


def quick_dir() -> Path:
    """The folder a quick run writes to when not told: $VIDA_BENCH_OUT, else a new temporary one
    (kept, so that what was written can be read; its path is printed)."""
    if not _DIR:
        given = os.environ.get("VIDA_BENCH_OUT")
        folder = Path(given) if given else Path(tempfile.mkdtemp(prefix="vida-bench-quick-"))
        folder.mkdir(parents=True, exist_ok=True)
        print(f"[quick] outputs go to {folder}", file=sys.stderr, flush=True)
        _DIR.append(folder)
    return _DIR[0]


def quick_file(name: str) -> Path:
    return quick_dir() / name


def tiny_clips(folder: Path, classes: int = 2, per_class: int = 2, width: int = 128, height: int = 96,
               workers: int = 1) -> list[dict]:
    """A few small demo clips (the pipeline's own generator); rows of demo_info.csv with `path`
    made absolute."""
    from vida_core.executors import make_executor
    from vida_core.io.demo import DemoConfig, generate_demo_dataset

    config = DemoConfig(num_classes=classes, clips_per_class=per_class, width=width, height=height)
    rows = generate_demo_dataset(folder, config, executor=make_executor("local", workers), progress=False)
    return [{**r, "path": str(Path(folder) / r["path"])} for r in rows]


# ------------------------------------------------------------------------- the toy DVC project

# Each stage of the toy project runs this instead of its stage script: it checks params.yaml with
# the pipeline's own config (an unknown or mistyped key fails, as it would in the real stage) and
# writes every output of the stage: a copy from .stash/ where one is there, else a small file
# whose contents follow the params the stage lists (so a params change changes its bytes).
TOY_STAGE = r'''
import hashlib, json, shutil, sys
from pathlib import Path

import h5py
import numpy as np
import yaml

from vida_core.shared.config import load_params

name = sys.argv[1]
load_params("params.yaml")
stage = yaml.safe_load(open("dvc.yaml"))["stages"][name]
params = yaml.safe_load(open("params.yaml"))


def lookup(key):
    node = params
    for part in key.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


listed = {key: lookup(key) for entry in stage.get("params", []) for key in ([entry] if isinstance(entry, str) else entry)}
digest = hashlib.sha256(json.dumps([name, listed], sort_keys=True, default=str).encode()).digest()
value = np.frombuffer(digest, np.uint8).astype(np.float32)
for entry in stage.get("outs", []) + stage.get("metrics", []) + stage.get("plots", []):
    path = Path(next(iter(entry)) if isinstance(entry, dict) else entry)
    stash = Path(".stash") / path
    if path.is_dir():
        shutil.rmtree(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if stash.is_dir():
        shutil.copytree(stash, path)
    elif stash.exists():
        shutil.copyfile(stash, path)
    elif path.suffix == ".h5":
        with h5py.File(path, "w") as f:
            f["clip_id"] = np.array([b"toy/0", b"toy/1"])
            f["value"] = np.stack([value, value + 1])
    elif path.suffix == ".json":
        if path.as_posix() == "metrics/results.json":
            data = {"run": {"threshold": params.get("threshold")}, "val_baseline": float(value[0] % 100),
                    "val_cafmap": float(value[1] % 100)}
        else:
            data = {"stage": name, "params": listed}
        path.write_text(json.dumps(data, default=str))
    elif path.suffix:
        path.write_bytes(digest)
    else:   # a folder output (data/demo)
        path.mkdir()
        (path / "toy.bin").write_bytes(digest)
print(f"toy stage {name}: done")
'''


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


def toy_dvc_project(repo: Path, stages: list[str], overrides: dict | None = None,
                    stash: dict[str, Path] | None = None) -> Path:
    """A git + DVC repo holding this pipeline's DAG cut down to `stages` (dvc.yaml's own entries:
    names, params, outs; deps kept where a kept stage makes them or the file is in the toy),
    with this checkout's params.yaml (and `overrides`, dotted keys) and, in place of each stage's
    script, TOY_STAGE. `stash`: {output path: file or folder} copied in as that output's
    contents whenever its stage runs. Committed; returns `repo`."""
    real = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    missing = [s for s in stages if s not in real]
    if missing:
        raise SystemExit(f"stages not in dvc.yaml: {', '.join(missing)}")
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    for key, value in (overrides or {}).items():
        *parents, leaf = key.split(".")
        node = params
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value

    def resolve(path: str) -> str:
        def value(match):
            node = params
            for part in match.group(1).split("."):
                node = node[part]
            return str(node)
        return re.sub(r"\$\{([^}]+)\}", value, path)

    def out_paths(stage: dict) -> list[str]:
        return [next(iter(o)) if isinstance(o, dict) else o
                for o in stage.get("outs", []) + stage.get("metrics", []) + stage.get("plots", [])]

    made = {resolve(p).rstrip("/") for s in stages for p in out_paths(real[s])}
    repo.mkdir(parents=True, exist_ok=True)
    (repo / "vida_core").mkdir(parents=True, exist_ok=True)   # what TOY_STAGE imports: the shared package
    shutil.copy(ROOT / "vida_core" / "__init__.py", repo / "vida_core" / "__init__.py")
    shutil.copytree(ROOT / "vida_core" / "shared", repo / "vida_core" / "shared",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (repo / "toy_stage.py").write_text(TOY_STAGE)
    toy = {}
    for name in stages:
        stage = dict(real[name])
        deps = [d for d in stage.get("deps", []) if resolve(d).rstrip("/") in made or (repo / resolve(d)).exists()]
        stage = {"cmd": f"python toy_stage.py {name}", "deps": ["toy_stage.py", *deps],
                 **{k: stage[k] for k in ("params", "outs", "metrics", "plots") if k in stage}}
        toy[name] = stage
    (repo / "dvc.yaml").write_text(yaml.safe_dump({"stages": toy}, sort_keys=False))
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    for path, source in (stash or {}).items():
        target = repo / ".stash" / path
        target.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree(source, target) if Path(source).is_dir() else shutil.copyfile(source, target))
    (repo / ".gitignore").write_text(".stash/\n")
    _git(repo, "init", "-q")
    _git(repo, "config", "user.email", "bench@example.com")
    _git(repo, "config", "user.name", "bench")
    env = {**os.environ, "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
    for cmd in (DVC + ["init", "-q"], DVC + ["config", "core.analytics", "false"]):
        subprocess.run(cmd, cwd=repo, check=True, capture_output=True, env=env)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "toy VIDA project")
    return repo


def commit_params(repo: Path, overrides: dict, message: str) -> None:
    """Change params.yaml of the toy project (dotted keys) and commit it: a second revision."""
    params = yaml.safe_load((repo / "params.yaml").read_text())
    for key, value in overrides.items():
        *parents, leaf = key.split(".")
        node = params
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    _git(repo, "commit", "-qam", message)
