"""Stage `results`: every condition against `baseline`, per label budget k, with uncertainty a user can trust.

Each `classify_<condition>` stage keeps its test logits per run and test clip; a run is (k, draw,
seed) and runs are aligned across conditions (same labelled clips, same seed). Per k:
  - top-1 and the paired gain over `baseline`, with 95 % intervals from a hierarchical bootstrap
    (vida_core.learn.power): runs are resampled, then test clips, the same draws for every
    condition. Resampling runs too matters: a classifier that picks one of two look-alike
    classes for all their clips makes the clips of a run move together, and an interval over
    clips alone was too narrow (a verdict under a null came out "better" or "worse" in 7-8 % of
    cases against a nominal 5 %);
  - a verdict from that interval alone, never from the mean: above 0 "better than baseline",
    below 0 "worse than baseline", otherwise "not distinguishable from baseline";
  - beside every verdict the minimum detectable gain at 80 % power, so that "not
    distinguishable" can be read as "no gain of at least this size" and not as "no gain";
  - the share of the real-audio gain recovered, (condition - baseline) / (real_audio - baseline);
  - all of it for every test clip, for the look-alike classes (protocol.lookalike_classes) and
    for the classes vision can tell apart, separately.

Val top-1 (mean over runs) is what `metrics/results.json`, `dvc exp show` and the threshold
curve show, so that a sweep is chosen on val; test numbers are in artifacts/results.json and
`vida report` only. Nothing here chooses anything.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from vida_core.shared.artifacts import read_strings
from vida_core.learn import power

BASELINE = "baseline"
REFERENCE = "real_audio"
ALL_LABELS = 0   # k of the runs of `labels_per_class: all` (vida_core.learn.budget.ALL_LABELS)


@dataclass
class ConditionRun:
    """One condition's classifier outputs (artifacts/classify/<condition>.h5)."""
    name: str
    clip_ids: list[str]
    labels: np.ndarray          # [n] test labels
    class_names: list[str]
    runs: dict                  # key -> [runs]: k, draw, seed, val_top1, train_loss, trained_on, ...
    logits: np.ndarray          # [runs, n, classes]
    history: dict = field(default_factory=dict)    # run -> [epochs, 4] (epoch, train_loss, val_loss, val_acc)
    counts: dict = field(default_factory=dict)

    def correct(self, k: int = 1) -> np.ndarray:
        """bool [runs, n]: the label is in the top k of the logits."""
        top = np.argsort(-self.logits, axis=2, kind="stable")[:, :, :k]
        return (top == self.labels[None, :, None]).any(axis=2)

    def run_keys(self) -> list[tuple[int, int, int]]:
        return list(zip(self.runs["k"], self.runs["draw"], self.runs["seed"]))


def read_condition(name: str, path: str | Path) -> ConditionRun:
    with h5py.File(path, "r") as f:
        if "runs" not in f:
            raise ValueError(f"{path} was written by an older classify stage (no runs table); rerun "
                             f"`dvc repro classify_{name}`.")
        return ConditionRun(
            name=name, clip_ids=read_strings(f["clip_id"]), labels=f["label"][()],
            class_names=read_strings(f["class_names"]),
            runs={key: f["runs"][key][()].tolist() for key in f["runs"] if key != "labelled_mask"},
            logits=f["logits"][()],
            history={int(key[3:]): f["history"][key][()] for key in f.get("history", {})},
            counts=json.loads(f.attrs.get("counts", "{}")))


def check_comparable(runs: dict[str, ConditionRun]) -> None:
    """Every condition must have been tested on the same clips, in the same runs."""
    first = next(iter(runs.values()))
    for run in runs.values():
        if run.clip_ids != first.clip_ids or run.run_keys() != first.run_keys() or run.class_names != first.class_names:
            raise ValueError(f"classify_{run.name} and classify_{first.name} were run on different test clips, "
                             "classes, label draws or seeds; rerun `dvc repro` so that every condition is up to date.")


def k_name(k: int) -> str:
    return "all" if k == ALL_LABELS else str(k)


def class_groups(class_names: list[str], labels: np.ndarray, lookalike: list[str]) -> dict[str, np.ndarray]:
    """Test-clip masks: every clip, the look-alike classes', and the others' (when both exist)."""
    groups = {"all": np.ones(len(labels), bool)}
    alike = [class_names.index(c) for c in lookalike if c in class_names]
    if len(alike) >= 2 and len(alike) < len(class_names):
        groups["lookalike"] = np.isin(labels, alike)
        groups["others"] = ~groups["lookalike"]
    return groups


def _mean_std(values) -> dict:
    values = np.asarray(values, dtype=np.float64)
    return {"mean": float(values.mean()), "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0}


def compare(runs: dict[str, ConditionRun], lookalike: list[str] = (), samples: int = power.BOOTSTRAP_SAMPLES,
            seed: int = power.BOOTSTRAP_SEED) -> dict:
    """Per k: every condition's val top-1 and, per class group, test top-1 and paired gain (module doc)."""
    check_comparable(runs)
    first = next(iter(runs.values()))
    num_classes = len(first.class_names)
    groups = class_groups(first.class_names, first.labels, list(lookalike))
    ks = np.asarray(first.runs["k"])
    out = {"num_classes": num_classes, "chance_top1": 1 / num_classes, "test_clips": len(first.clip_ids),
           "class_names": first.class_names, **first.counts,
           "groups": {g: {"test_clips": int(m.sum()),
                          "classes": [c for i, c in enumerate(first.class_names) if (first.labels[m] == i).any()]}
                      for g, m in groups.items()},
           "budget": bool((ks != ALL_LABELS).any()),
           "seeds": sorted(set(first.runs["seed"])),
           "bootstrap": {"samples": samples, "seed": seed, "level": power.LEVEL, "power": power.POWER,
                         "resampled": "runs (label draws x seeds), then test clips"},
           "by_k": {}}
    for k in sorted(set(ks.tolist()), key=lambda v: (v == ALL_LABELS, v)):
        chosen = np.flatnonzero(ks == k)
        correct = {name: run.correct(1)[chosen].astype(np.float64) for name, run in runs.items()}
        entry = {"runs": len(chosen), "draws": len(set(np.asarray(first.runs["draw"])[chosen].tolist())),
                 "conditions": {}}
        for name, run in runs.items():
            per_run = {key: np.asarray(values)[chosen] for key, values in run.runs.items()}
            entry["conditions"][name] = {
                "val_top1": _mean_std(per_run["val_top1"]),
                "train_loss": float(np.mean(per_run["train_loss"])),
                "trained_on": float(np.mean(per_run["trained_on"])),
                "labelled": float(np.mean(per_run["labelled"])),
                "classes_without_clip": float(np.mean(per_run["classes_without_clip"])),
                "missing_audio_information": float(np.max(per_run["missing_audio_information"])),
                "train_clips_with_audio": float(np.mean(per_run["train_clips_with_audio"])),
                "groups": {}}
        for group, mask in groups.items():
            compared = power.compare(correct, baseline=BASELINE if BASELINE in runs else None,
                                     reference=REFERENCE if REFERENCE in runs else None,
                                     clip_mask=mask, samples=samples, seed=seed)
            for name in runs:
                entry["conditions"][name]["groups"][group] = compared["conditions"][name]
        out["by_k"][k_name(k)] = entry
    return out


def is_generated(name: str) -> bool:
    """Conditions whose audio comes from a generator (the ones VIDA is about)."""
    from vida_core.learn.conditions import CONDITIONS
    return name in CONDITIONS and any(need.startswith("generated_") for need in CONDITIONS[name].needs)


def headline(details: dict, headline_k: int, threshold: float | None = None) -> dict:
    """The numbers `dvc exp show` compares across experiments (metrics/results.json): VAL only.

    Val top-1 (%, mean over the runs at `protocol.headline_k`, or of the `all` runs) of every
    condition, so that a sweep is chosen on val; test top-1 and gains are in the final report
    (`vida report`, artifacts/results.json) only. `dvc exp show` puts every metric before any
    param, so the run's motion threshold comes first (as `run.threshold`, a copy of the param).
    """
    pct = lambda x: round(100 * x, 1)   # noqa: E731
    k = headline_key(details, headline_k)
    out = {"run": {"threshold": threshold, "k": k} if threshold is not None else {"k": k}}
    entry = details["by_k"][k]
    out.update({f"val_{name}": pct(c["val_top1"]["mean"]) for name, c in entry["conditions"].items()})
    out["chance"] = pct(details["chance_top1"])
    for kind, summary in details.get("generators", {}).items():
        out[f"{kind}_mse"] = round(summary["val_mse"], 3)      # generator early-stopping split, standardised
    if details.get("filter"):
        out["keep_rate"] = pct(details["filter"]["train"]["kept_fraction"])   # labelled (reservoir) clips, %
    return out


def headline_key(details: dict, headline_k: int) -> str:
    """The by_k key shown in the headline: `headline_k` when it was run, else the first k."""
    return k_name(headline_k) if k_name(headline_k) in details["by_k"] else next(iter(details["by_k"]))


def curves_by_epoch(runs: dict[str, ConditionRun], k: str) -> list[dict]:
    """Per epoch, every condition's training curve, mean over the runs at k: val accuracy (%)
    under `all` (early-stopped runs), train loss in the label-budget study (fixed epochs)."""
    curves = {}
    for name, run in runs.items():
        chosen = [r for r, key in enumerate(run.runs["k"]) if k_name(key) == k and r in run.history]
        histories = [run.history[r] for r in chosen]
        if histories:
            epochs = min(len(h) for h in histories)
            column = 3 if k == "all" else 1
            scale = 100 if k == "all" else 1
            curves[name] = scale * np.mean([h[:epochs, column] for h in histories], axis=0)
    length = max((len(c) for c in curves.values()), default=0)
    return [{"epoch": e, **{name: round(float(c[e]), 4) for name, c in curves.items() if e < len(c)}}
            for e in range(length)]


def threshold_point(threshold: float, details: dict, headline_k: int) -> list[dict]:
    """This run's point of the threshold curve (drawn across `dvc exp` runs by `dvc plots diff`):
    cafmap's VAL top-1 at the headline k, mean and spread over runs."""
    k = headline_key(details, headline_k)
    cafmap = details["by_k"][k]["conditions"].get("cafmap")
    if cafmap is None:
        return []
    mean, std = 100 * cafmap["val_top1"]["mean"], 100 * cafmap["val_top1"]["std"]
    return [{"threshold": threshold, "k": k, "cafmap_val_top1": round(mean, 2),
             "cafmap_lo": round(mean - std, 2), "cafmap_hi": round(mean + std, 2)}]


def learning_curve(details: dict) -> list[dict]:
    """Test gain over baseline (points) against k, per condition and class group, with its 95 %
    interval and minimum detectable gain: the study's figure (dvc plots; `vida report --figure`)."""
    rows = []
    for k, entry in details["by_k"].items():
        for name, c in entry["conditions"].items():
            for group, g in c["groups"].items():
                gain = g.get("gain")
                if gain:
                    rows.append({"k": k, "condition": name, "group": group, "gain": round(100 * gain["mean"], 2),
                                 "lo": round(100 * gain["lo"], 2), "hi": round(100 * gain["hi"], 2),
                                 "mdg": round(100 * gain["mdg"], 2)})
    return rows


def gather_results(condition_files: dict[str, Path], generator_summaries: dict[str, Path] | None = None,
                   filter_summary: Path | None = None, lookalike: list[str] = (),
                   headline_k: int = 2, audio_quality: Path | None = None) -> tuple[dict, list[dict]]:
    """(details, curves-by-epoch rows at the headline k) from the stages' outputs; the audio
    quality table (stage `audio_quality`) is carried as is into details["audio_quality"]."""
    runs = {name: read_condition(name, path) for name, path in condition_files.items()}
    details = compare(runs, lookalike)
    details["generators"] = {kind: json.loads(Path(path).read_text())
                             for kind, path in (generator_summaries or {}).items()}
    if filter_summary is not None:
        details["filter"] = json.loads(Path(filter_summary).read_text())
    if audio_quality is not None:
        details["audio_quality"] = json.loads(Path(audio_quality).read_text())
    return details, curves_by_epoch(runs, headline_key(details, headline_k))
