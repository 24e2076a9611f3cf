"""What each stream knows about the look-alike pair, from a pipeline run: a linear probe.

For the two look-alike clock classes, a logistic regression (standardised inputs, C = 0.1) on
each stream's per-clip time mean and standard deviation, scored by 5-fold cross-validation over
the clips outside the unlabelled pool U (labelled reservoir, val and test: the clips whose
generated audio is out of sample). The probe learns from about 120 labelled clips, far more than
any classifier of the study sees, so it tells what a stream *carries*, not what a classifier with
k labels can use. Streams: the visual features (RGB, flow), the real log-mel (clips with audio)
and every generator's audio (seed 0).

A diagnostic for the README's reading of the study; nothing in the pipeline is chosen from it.

    dvc repro && python benchmarks/bench_lookalike_probe.py [--project .] [--json FILE]
    python benchmarks/bench_lookalike_probe.py --quick [--json FILE]   # checks the script, in seconds

`--quick` runs on a tiny synthetic project it writes first (this checkout's params.yaml, roles
from the pipeline's own `assign_roles`, random features in the artifacts' shapes), not on a run.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import h5py
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from vida_core.shared.config import load_params
from vida_core.shared.artifacts import read_strings
from vida_core.shared.registry import GENERATOR_VARIANTS
from vida_core.learn.budget import read_roles
from vida_core.learn.data import per_seed

POOL_ROLES = ("pool", "pool_val")
ROOT = Path(__file__).resolve().parent.parent


def quick_project(folder: Path, clips_per_class: int = 32, dim: int = 8) -> Path:
    """A tiny project in the shape of a run, for --quick: params.yaml, artifacts/roles.csv and the
    streams the probe reads (visual.h5, audio.h5, every generator's generated_<name>.h5), random."""
    import shutil

    from vida_core.shared import NUM_FRAMES, NUM_MEL_BINS
    from vida_core.shared.artifacts import write_strings
    from vida_core.learn.budget import assign_roles, write_roles

    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "params.yaml", folder / "params.yaml")
    params = load_params(folder / "params.yaml")
    classes = [*params.protocol.lookalike_classes, "other"]
    splits = ["train", "train", "val", "test"]
    rows = [{"clip_id": f"{label}/{label}_{i:03d}", "label": label, "split": splits[i % len(splits)]}
            for label in classes for i in range(clips_per_class)]
    (folder / "artifacts").mkdir(exist_ok=True)
    write_roles(folder / "artifacts/roles.csv", rows, assign_roles(rows, params.protocol))
    ids, n, rng = [r["clip_id"] for r in rows], len(rows), np.random.default_rng(0)
    label = np.array([classes.index(r["label"]) for r in rows])

    def stream(width: int) -> np.ndarray:   # a little class signal in noise
        return (rng.standard_normal((n, NUM_FRAMES, width)) + 0.15 * label[:, None, None]).astype(np.float32)

    with h5py.File(folder / "artifacts/visual.h5", "w") as f:
        write_strings(f, "clip_id", ids)
        f["rgb"], f["flow"] = stream(dim).astype(np.float16), stream(dim).astype(np.float16)
    with h5py.File(folder / "artifacts/audio.h5", "w") as f:
        write_strings(f, "clip_id", ids)
        f["logmel"], f["has_audio"] = stream(NUM_MEL_BINS), np.arange(n) % 7 != 1
    for name in GENERATOR_VARIANTS:
        with h5py.File(folder / f"artifacts/generated_{name}.h5", "w") as f:
            write_strings(f, "clip_id", ids)
            for seed in params.classify.seeds:
                f[per_seed("audio", seed)] = stream(NUM_MEL_BINS)
    return folder


def probe_accuracy(features: np.ndarray, labels: np.ndarray, folds: int = 5, seed: int = 0) -> float:
    """Mean 5-fold accuracy of a linear probe on [clips, steps, dims] features (time mean and std)."""
    summary = np.concatenate([features.mean(1), features.std(1)], axis=1)
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=3000))
    cv = StratifiedKFold(folds, shuffle=True, random_state=seed)
    return float(cross_val_score(model, summary, labels, cv=cv).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, default=Path("."))
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--quick", action="store_true", help="a tiny synthetic project instead of a run's "
                                                             "(default --json: a temporary folder or $VIDA_BENCH_OUT)")
    args = parser.parse_args()
    if args.quick:
        import tempfile

        from _quick import quick_file
        args.project = quick_project(Path(tempfile.mkdtemp(prefix="vida-lookalike-")) / "project")
        args.json = args.json or quick_file("lookalike_probe.json")
    project, params = args.project, load_params(args.project / "params.yaml")
    first, second = params.protocol.lookalike_classes
    roles = read_roles(project / "artifacts/roles.csv")

    def rows(clip_ids: list[str], keep=None) -> tuple[list[int], np.ndarray]:
        chosen = [i for i, c in enumerate(clip_ids) if c.split("/")[0] in (first, second)
                  and roles.get(c) not in POOL_ROLES and (keep is None or keep[i])]
        return chosen, np.array([clip_ids[i].split("/")[0] == second for i in chosen], dtype=int)

    results = {}

    def measure(name: str, path: Path, dataset: str, keep_dataset: str | None = None) -> None:
        with h5py.File(path, "r") as f:
            clip_ids = read_strings(f["clip_id"])
            keep = f[keep_dataset][:] if keep_dataset else None
            chosen, labels = rows(clip_ids, keep)
            features = f[dataset][:][chosen].astype(np.float32)
        results[name] = {"clips": len(chosen), "probe_accuracy": round(probe_accuracy(features, labels), 3)}
        print(f"{name:34s} {len(chosen):4d} clips  probe accuracy {results[name]['probe_accuracy']:.3f}")

    artifacts = project / "artifacts"
    measure("visual rgb", artifacts / "visual.h5", "rgb")
    measure("visual flow", artifacts / "visual.h5", "flow")
    measure("real log-mel (clips with audio)", artifacts / "audio.h5", "logmel", "has_audio")
    seed = params.classify.seeds[0]
    for name in GENERATOR_VARIANTS:
        measure(f"generated {name}", artifacts / f"generated_{name}.h5", per_seed("audio", seed))
    out = {"pair": [first, second], "demo.clock_cue": params.demo.clock_cue, "streams": results}
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n")
        print(f"wrote {args.json}")
    if args.quick:
        import shutil
        shutil.rmtree(args.project.parent)


if __name__ == "__main__":
    main()
