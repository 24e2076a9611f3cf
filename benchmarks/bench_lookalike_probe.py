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
    args = parser.parse_args()
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


if __name__ == "__main__":
    main()
