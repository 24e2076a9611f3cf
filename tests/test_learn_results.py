"""The results stage: intervals over test clips, paired gains over baseline, verdicts from the
interval alone, the dozen numbers `dvc exp show` compares, and `vida report`."""

import json

import numpy as np
import pytest

from vida_core.learn.results import (ConditionRun, accuracy_by_epoch, bootstrap_interval, compare, headline,
                                     threshold_point, verdict)
from vida_core.views.report import PAPER_MIT_TOP1, build_report

CLASSES = 4


def run(name: str, correct: np.ndarray, seeds=(0, 1, 2)) -> ConditionRun:
    """A condition whose top-1 is right exactly where `correct` [seeds, clips] says."""
    seeds_n, n = correct.shape
    labels = np.arange(n) % CLASSES
    logits = np.zeros((seeds_n, n, CLASSES), np.float32)
    for s in range(seeds_n):
        predicted = np.where(correct[s], labels, (labels + 1) % CLASSES)
        logits[s, np.arange(n), predicted] = 1.0
    history = {seed: np.array([[e, 1.0 - 0.1 * e, 1.0, 0.5 + 0.01 * e + 0.01 * seed] for e in range(3 + i)])
               for i, seed in enumerate(seeds)}
    return ConditionRun(name, [f"c{i}" for i in range(n)], labels, [f"k{c}" for c in range(CLASSES)], list(seeds),
                        logits, per_seed={"val_top1": [0.5, 0.6, 0.7], "best_epoch": [1, 2, 3],
                                          "train_clips_with_audio": [10, 10, 10]},
                        history=history, counts={"train_clips": 10, "val_clips": 5, "test_clips": n})


def correct_at(n: int, right: np.ndarray) -> np.ndarray:
    out = np.zeros((3, n), bool)
    out[:, right] = True
    return out


def test_bootstrap_interval_is_seeded_and_covers_the_mean():
    values = np.r_[np.ones(30), np.zeros(18)]
    lo, hi = bootstrap_interval(values)
    assert (lo, hi) == bootstrap_interval(values)                   # same seed, same interval
    assert lo < values.mean() < hi and hi - lo > 0.2                # 48 clips: about ±14 points
    assert bootstrap_interval(np.ones(48)) == (1.0, 1.0)


def test_verdict_comes_from_the_interval_not_the_mean():
    assert verdict(0.01, 0.09) == "better than baseline"
    assert verdict(-0.09, -0.01) == "worse than baseline"
    assert verdict(-0.01, 0.09) == "not distinguishable from baseline"   # mean +4: still not distinguishable


def test_paired_gain_is_tighter_than_the_two_intervals_and_decides_the_verdict():
    n = 48
    base = correct_at(n, np.arange(30))                              # 30 of 48 right
    plus_two = correct_at(n, np.arange(32))                          # the same 30, and two more
    mixed = correct_at(n, np.r_[np.arange(2, 30), np.arange(30, 34)])   # loses 2, wins 4
    many = correct_at(n, np.arange(40))                              # wins 10, loses none
    details = compare({"baseline": run("baseline", base), "svdmap": run("svdmap", plus_two),
                       "cafmap": run("cafmap", mixed), "real_audio": run("real_audio", many)})
    conditions = details["conditions"]
    gain = conditions["svdmap"]["gain"]
    assert gain["mean"] == pytest.approx(2 / 48)
    assert gain["hi"] - gain["lo"] < conditions["svdmap"]["top1"]["hi"] - conditions["svdmap"]["top1"]["lo"]
    assert gain["lo"] >= 0    # it never loses a clip; intervals of the two conditions overlap widely
    assert conditions["cafmap"]["gain"]["verdict"] == "not distinguishable from baseline"
    assert conditions["real_audio"]["gain"]["verdict"] == "better than baseline"
    assert "gain" not in conditions["baseline"]
    assert conditions["svdmap"]["top1"]["per_seed"] == {"0": 32 / 48, "1": 32 / 48, "2": 32 / 48}
    assert conditions["svdmap"]["val_top1"]["mean"] == pytest.approx(0.6)


def test_conditions_on_other_clips_or_seeds_are_refused():
    base = run("baseline", correct_at(8, np.arange(4)))
    other = run("svdmap", correct_at(8, np.arange(4)))
    other.seeds = [0, 1, 5]
    with pytest.raises(ValueError, match="different test clips, classes or seeds"):
        compare({"baseline": base, "svdmap": other})


def details_for_report():
    n = 48
    details = compare({"baseline": run("baseline", correct_at(n, np.arange(30))),
                       "svdmap": run("svdmap", correct_at(n, np.arange(33))),
                       "svdmap_filtered": run("svdmap_filtered", correct_at(n, np.arange(31))),
                       "cafmap": run("cafmap", correct_at(n, np.arange(29))),
                       "real_audio": run("real_audio", correct_at(n, np.arange(44)))})
    mse = {split: {"mean_predictor": 1.0, "before_cross_fit": 0.5, "cross_fitted": 0.7} for split in ("train", "val", "test")}
    details["generators"] = {kind: {"val_mse": 0.7, "mse": mse, "cross_fit_folds": 5} for kind in ("svdmap", "cafmap")}
    details["filter"] = {"top_k": 5, "iou_threshold": 0.1,
                         "train": {"kept_fraction": 0.08, "iou_mean": 0.01, "classes_without_kept_clip": 7.0}}
    return details


def test_headline_metrics_are_about_a_dozen_flat_numbers_top1_first():
    details = details_for_report()
    metrics = headline(details, threshold=1.2)
    assert list(metrics)[:6] == ["run", "baseline", "svdmap", "svdmap_filtered", "cafmap", "real_audio"]
    assert metrics.pop("run") == {"threshold": 1.2}
    assert metrics["baseline"] == 62.5 and metrics["svdmap_gain"] == 6.2 and metrics["chance"] == 25.0
    assert "real_audio_gain" not in metrics                       # gains of generated conditions only
    assert {"svdmap_mse", "cafmap_mse", "mean_mse", "keep_rate", "baseline_ci"} <= set(metrics)
    assert all(isinstance(v, (int, float)) for v in metrics.values()) and len(metrics) <= 20
    assert not any("seed" in key or "epoch" in key or "clips" in key for key in metrics)
    json.dumps(metrics)


def test_accuracy_by_epoch_averages_seeds_up_to_the_shortest_run():
    rows = accuracy_by_epoch({"baseline": run("baseline", correct_at(8, np.arange(4)))})
    assert len(rows) == 3 and rows[0] == {"epoch": 0, "baseline": 51.0}
    assert threshold_point(1.3, details_for_report())[0]["threshold"] == 1.3


def test_report_prints_the_headline_table_with_a_verdict_per_generated_condition(tmp_path):
    params = {"dataset": {"name": "demo"}, "models": {"image_encoder": "effnet-lite0"}}
    text = build_report(details_for_report(), params, tmp_path / "report.md")
    assert (tmp_path / "report.md").read_text() == text
    assert "## Table 1" in text and "## Table 2" in text and "## Per seed" in text
    verdict_lines = [line for line in text.splitlines() if line.startswith("- `")]
    assert [line.split("`")[1] for line in verdict_lines] == ["svdmap", "svdmap_filtered", "cafmap"]
    assert "`real_audio` | 91.7 ± 0.0 |" in text and "| `baseline` | 62.5 ± 0.0 |" in text
    assert "`demo`, 4 classes, 48 test clips (chance top-1 25.0%)" in text
    assert "| svdmap | train | 1.000 | 0.500 | 0.700 |" in text
    assert "keeps 8.0 % of train clips" in text
    assert all(v is None or isinstance(v, float) for t in PAPER_MIT_TOP1.values() for v in t.values())
