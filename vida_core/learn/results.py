"""Stage `results`: every condition against `baseline`, with uncertainty a user can trust.

Each `classify_<condition>` stage keeps its test logits per seed and test clip; here they become
  - top-1 (and top-5) per seed, and mean ± std over seeds. A seed trains the whole learning
    chain (both generators, the filter's decisions, the classifier), so the spread covers it;
  - a 95 % bootstrap interval over test clips: the test clips are resampled with replacement
    (`BOOTSTRAP_SAMPLES` times, with a fixed seed), each time taking the accuracy averaged over
    seeds; the interval is the 2.5th to 97.5th percentile. It covers which clips happened to be
    in the test split, which dominates with a few dozen test clips (one clip of 48 is 2.1 points);
  - the paired difference to `baseline`: per test clip, correct-under-the-condition minus
    correct-under-baseline, averaged over the same seeds. Its mean is the gain; the same
    resampled clip sets give its interval (paired: both conditions are scored on each draw);
  - a verdict from that interval alone, never from the mean: above 0 "better than baseline",
    below 0 "worse than baseline", otherwise "not distinguishable from baseline".

Nothing here chooses anything: test numbers are only reported.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from vida_core.io.artifacts import read_strings

BOOTSTRAP_SAMPLES = 2000
BOOTSTRAP_SEED = 0
LEVEL = 0.95
BASELINE = "baseline"
TOP_K = 5


@dataclass
class ConditionRun:
    """One condition's classifier outputs (artifacts/classify/<condition>.h5)."""
    name: str
    clip_ids: list[str]
    labels: np.ndarray          # [n] test labels
    class_names: list[str]
    seeds: list[int]
    logits: np.ndarray          # [seeds, n, classes]
    per_seed: dict = field(default_factory=dict)   # key -> [seeds] (val_top1, best_epoch, ...)
    history: dict = field(default_factory=dict)    # seed -> [epochs, 4] (epoch, train_loss, val_loss, val_acc)
    counts: dict = field(default_factory=dict)

    def correct(self, k: int = 1) -> np.ndarray:
        """bool [seeds, n]: the label is in the top k of the logits."""
        top = np.argsort(-self.logits, axis=2, kind="stable")[:, :, :k]
        return (top == self.labels[None, :, None]).any(axis=2)


PER_SEED_KEYS = ("val_top1", "best_epoch", "epochs_run", "train_clips_with_audio", "test_clips_with_audio")


def read_condition(name: str, path: str | Path) -> ConditionRun:
    with h5py.File(path, "r") as f:
        return ConditionRun(
            name=name, clip_ids=read_strings(f["clip_id"]), labels=f["label"][()],
            class_names=read_strings(f["class_names"]), seeds=[int(s) for s in f["seeds"][()]],
            logits=f["logits"][()],
            per_seed={key: f[key][()].tolist() for key in PER_SEED_KEYS if key in f},
            history={int(key[4:]): f["history"][key][()] for key in f.get("history", {})},
            counts=json.loads(f.attrs.get("counts", "{}")))


def bootstrap_draws(n: int, samples: int = BOOTSTRAP_SAMPLES, seed: int = BOOTSTRAP_SEED, chunk: int = 200):
    """Index arrays [<= chunk, n] of resampled test clips; the same draws on every call (so paired)."""
    rng = np.random.default_rng(seed)
    for start in range(0, samples, chunk):
        yield rng.integers(0, n, size=(min(chunk, samples - start), n))


def bootstrap_interval(per_clip: np.ndarray, samples: int = BOOTSTRAP_SAMPLES, seed: int = BOOTSTRAP_SEED,
                       level: float = LEVEL) -> tuple[float, float]:
    """Percentile interval of the mean of `per_clip` over resampled clip sets."""
    means = np.concatenate([per_clip[idx].mean(axis=1) for idx in bootstrap_draws(len(per_clip), samples, seed)])
    tail = 100 * (1 - level) / 2
    lo, hi = np.percentile(means, [tail, 100 - tail])
    return float(lo), float(hi)


def verdict(lo: float, hi: float) -> str:
    """From the paired interval only."""
    if lo > 0:
        return "better than baseline"
    if hi < 0:
        return "worse than baseline"
    return "not distinguishable from baseline"


def _spread(values) -> dict:
    values = np.asarray(values, dtype=np.float64)
    return {"mean": float(values.mean()), "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0}


def _accuracy(correct: np.ndarray, seeds: list[int]) -> dict:
    """Mean ± std over seeds, the bootstrap interval over clips, and each seed's value."""
    lo, hi = bootstrap_interval(correct.mean(axis=0))
    return {**_spread(correct.mean(axis=1)), "lo": lo, "hi": hi,
            "per_seed": {str(s): float(v) for s, v in zip(seeds, correct.mean(axis=1))}}


def check_comparable(runs: dict[str, ConditionRun]) -> None:
    """Every condition must have been tested on the same clips with the same seeds."""
    first = next(iter(runs.values()))
    for run in runs.values():
        if run.clip_ids != first.clip_ids or run.seeds != first.seeds or run.class_names != first.class_names:
            raise ValueError(f"classify_{run.name} and classify_{first.name} were run on different test clips, "
                             "classes or seeds; rerun `dvc repro` so that every condition is up to date.")


def compare(runs: dict[str, ConditionRun]) -> dict:
    """Accuracy of every condition and its paired difference to baseline (see the module doc)."""
    check_comparable(runs)
    first = next(iter(runs.values()))
    num_classes = len(first.class_names)
    k = min(TOP_K, num_classes)
    out = {"num_classes": num_classes, "chance_top1": 1 / num_classes, "top5_k": k, "chance_top5": k / num_classes,
           "seeds": first.seeds, "test_clips": len(first.clip_ids), **first.counts,
           "bootstrap": {"samples": BOOTSTRAP_SAMPLES, "level": LEVEL, "seed": BOOTSTRAP_SEED},
           "conditions": {}}
    base = runs[BASELINE].correct(1).astype(np.float64) if BASELINE in runs else None
    for name, run in runs.items():
        top1 = run.correct(1).astype(np.float64)
        entry = {"top1": _accuracy(top1, run.seeds), "top5": _accuracy(run.correct(k).astype(np.float64), run.seeds),
                 **{key: dict(zip(map(str, run.seeds), values)) for key, values in run.per_seed.items()}}
        if "val_top1" in run.per_seed:
            entry["val_top1"] = {**_spread(run.per_seed["val_top1"]), "per_seed": entry["val_top1"]}
        if base is not None and name != BASELINE:
            difference = (top1 - base).mean(axis=0)    # per test clip, averaged over seeds
            lo, hi = bootstrap_interval(difference)
            entry["gain"] = {"mean": float(difference.mean()), "lo": lo, "hi": hi, "verdict": verdict(lo, hi),
                             "per_seed": {str(s): float(v) for s, v in zip(run.seeds, (top1 - base).mean(axis=1))}}
        out["conditions"][name] = entry
    return out


def is_generated(name: str) -> bool:
    """Conditions whose audio comes from a generator (the ones VIDA is about)."""
    from vida_core.learn.conditions import CONDITIONS
    return name in CONDITIONS and any(need.startswith("generated_") for need in CONDITIONS[name].needs)


def headline(details: dict, threshold: float | None = None) -> dict:
    """The dozen numbers `dvc exp show` compares across experiments (metrics/results.json).

    Percent and points, rounded. `dvc exp show` puts every metric before any param, so the
    run's motion threshold comes first (as `run.threshold`, a copy of the param) and then the
    five top-1s: in a 120-column terminal they are what the first screen shows.
    """
    conditions = details["conditions"]
    pct = lambda x: round(100 * x, 1)   # noqa: E731
    out = {"run": {"threshold": threshold}} if threshold is not None else {}
    out.update({name: pct(entry["top1"]["mean"]) for name, entry in conditions.items()})   # test top-1, %
    out.update({f"{name}_gain": pct(entry["gain"]["mean"]) for name, entry in conditions.items()
                if "gain" in entry and is_generated(name)})                                  # points over baseline
    out["chance"] = pct(details["chance_top1"])
    out.update({f"{name}_ci": pct((entry["top1"]["hi"] - entry["top1"]["lo"]) / 2)          # half-width of the 95 % interval
                for name, entry in conditions.items()})
    for kind, summary in details.get("generators", {}).items():
        out[f"{kind}_mse"] = round(summary["val_mse"], 3)                                    # val, standardised
    if details.get("generators"):
        out["mean_mse"] = round(next(iter(details["generators"].values()))["mse"]["val"]["mean_predictor"], 3)
    if details.get("filter"):
        out["keep_rate"] = pct(details["filter"]["train"]["kept_fraction"])                 # train clips, %
    return out


def accuracy_by_epoch(runs: dict[str, ConditionRun]) -> list[dict]:
    """Val accuracy (%) per epoch of every condition, mean over seeds, up to the last epoch all its seeds ran."""
    curves = {}
    for name, run in runs.items():
        histories = [run.history[s] for s in run.seeds if s in run.history]
        if histories:
            epochs = min(len(h) for h in histories)
            curves[name] = np.mean([h[:epochs, 3] for h in histories], axis=0)
    length = max((len(c) for c in curves.values()), default=0)
    return [{"epoch": e, **{name: round(100 * float(c[e]), 2) for name, c in curves.items() if e < len(c)}}
            for e in range(length)]


def threshold_point(threshold: float, details: dict) -> list[dict]:
    """This run's point of the threshold curve (drawn across `dvc exp` runs by `dvc plots diff`)."""
    cafmap = details["conditions"].get("cafmap")
    if cafmap is None:
        return []
    return [{"threshold": threshold, "cafmap_top1": round(100 * cafmap["top1"]["mean"], 2),
             "cafmap_lo": round(100 * cafmap["top1"]["lo"], 2), "cafmap_hi": round(100 * cafmap["top1"]["hi"], 2)}]


def gather_results(condition_files: dict[str, Path], generator_summaries: dict[str, Path] | None = None,
                   filter_summary: Path | None = None) -> tuple[dict, list[dict]]:
    """(details, accuracy-by-epoch rows) from the stages' outputs."""
    runs = {name: read_condition(name, path) for name, path in condition_files.items()}
    details = compare(runs)
    details["generators"] = {kind: json.loads(Path(path).read_text())
                             for kind, path in (generator_summaries or {}).items()}
    if filter_summary is not None:
        details["filter"] = json.loads(Path(filter_summary).read_text())
    return details, accuracy_by_epoch(runs)
