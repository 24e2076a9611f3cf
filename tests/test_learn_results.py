"""The results stage: per k, paired gains over baseline from a hierarchical bootstrap, verdicts with
their minimum detectable gain, class groups, val-only headline metrics, and `vida report`."""

import json

import numpy as np
import pytest

from vida_core.learn.results import (ConditionRun, compare, curves_by_epoch, headline, learning_curve,
                                     threshold_point)
from vida_core.views.report import build_report

CLASSES = 4
NAMES = ["clock_ticking", "clock_ringing", "siren", "banjo"]


def run(name: str, correct: np.ndarray, ks=(1, 2), draws=2, seeds=(0, 1), val=0.5) -> ConditionRun:
    """A condition whose top-1 is right exactly where `correct` [runs, clips] says; runs are
    (k, draw, seed) in the order the classify stage writes them (seed, then k, then draw)."""
    keys = [(k, d, s) for s in seeds for k in ks for d in range(draws)]
    assert correct.shape[0] == len(keys)
    n = correct.shape[1]
    labels = np.arange(n) % CLASSES
    logits = np.zeros((len(keys), n, CLASSES), np.float32)
    for r in range(len(keys)):
        predicted = np.where(correct[r], labels, (labels + 1) % CLASSES)
        logits[r, np.arange(n), predicted] = 1.0
    runs = {"k": [k for k, _, _ in keys], "draw": [d for _, d, _ in keys], "seed": [s for _, _, s in keys],
            "val_top1": [val] * len(keys), "train_loss": [0.1] * len(keys), "trained_on": [8] * len(keys),
            "labelled": [8] * len(keys), "classes_without_clip": [0] * len(keys),
            "missing_audio_information": [0.0] * len(keys), "train_clips_with_audio": [8] * len(keys)}
    history = {r: np.array([[e, 1.0 - 0.1 * e, np.nan, np.nan] for e in range(3)]) for r in range(len(keys))}
    return ConditionRun(name, [f"c{i}" for i in range(n)], labels, NAMES, runs, logits, history=history,
                        counts={"test_clips": n})


def correct_at(n: int, right, runs: int = 8) -> np.ndarray:
    out = np.zeros((runs, n), bool)
    out[:, right] = True
    return out


def test_gain_verdict_and_minimum_detectable_gain_per_k_and_group():
    n = 80
    base = correct_at(n, np.arange(40))
    runs = {"baseline": run("baseline", base),
            "svdmap": run("svdmap", correct_at(n, np.arange(40))),             # identical: no gain
            "cafmap": run("cafmap", correct_at(n, np.arange(60))),             # +25 points everywhere
            "real_audio": run("real_audio", correct_at(n, np.arange(80)))}     # +50 points
    details = compare(runs, lookalike=["clock_ticking", "clock_ringing"], samples=500)
    json.dumps(details)
    assert set(details["by_k"]) == {"1", "2"} and details["budget"]
    assert set(details["groups"]) == {"all", "lookalike", "others"}
    assert details["groups"]["lookalike"]["classes"] == ["clock_ticking", "clock_ringing"]
    entry = details["by_k"]["2"]
    assert entry["runs"] == 4 and entry["draws"] == 2
    same = entry["conditions"]["svdmap"]["groups"]["all"]["gain"]
    assert same["mean"] == 0 and same["verdict"] == "not distinguishable from baseline"
    better = entry["conditions"]["cafmap"]["groups"]["all"]
    assert better["gain"]["mean"] == pytest.approx(0.25) and better["gain"]["verdict"] == "better than baseline"
    assert 0 < better["gain"]["mdg"] < 0.25
    assert better["recovered"]["mean"] == pytest.approx(0.5)
    assert entry["conditions"]["baseline"]["val_top1"]["mean"] == 0.5
    rows = learning_curve(details)
    assert {row["group"] for row in rows} == {"all", "lookalike", "others"}
    assert {(row["k"], row["condition"]) for row in rows} >= {("1", "cafmap"), ("2", "svdmap")}


def test_runs_that_differ_between_conditions_are_refused():
    base = run("baseline", correct_at(8, np.arange(4)))
    other = run("svdmap", correct_at(8, np.arange(4)))
    other.runs["seed"] = [0, 1, 5, 0, 1, 5, 0, 1]
    with pytest.raises(ValueError, match="different test clips, classes, label draws or seeds"):
        compare({"baseline": base, "svdmap": other})


def details_for_report():
    n = 48
    details = compare({"baseline": run("baseline", correct_at(n, np.arange(30))),
                       "svdmap": run("svdmap", correct_at(n, np.arange(33))),
                       "svdmap_filtered": run("svdmap_filtered", correct_at(n, np.arange(31))),
                       "cafmap": run("cafmap", correct_at(n, np.arange(29)), val=0.7),
                       "real_audio": run("real_audio", correct_at(n, np.arange(44)))},
                      lookalike=["clock_ticking", "clock_ringing"], samples=300)
    mse = {split: {"mean_predictor": 1.0, "before_cross_fit": 0.5, "cross_fitted": 0.5} for split in ("train", "val", "test")}
    details["generators"] = {kind: {"val_mse": 0.7, "mse": mse, "cross_fit_folds": 0, "fitted_on": "the unlabelled pool U"}
                             for kind in ("svdmap", "cafmap")}
    details["filter"] = {"top_k": 5, "iou_threshold": 0.1,
                         "train": {"kept_fraction": 0.08, "iou_mean": 0.01, "classes_without_kept_clip": 3.0}}
    return details


def test_headline_metrics_are_val_only():
    details = details_for_report()
    metrics = headline(details, headline_k=2, threshold=1.2)
    assert metrics.pop("run") == {"threshold": 1.2, "k": "2"}
    assert metrics["val_cafmap"] == 70.0 and metrics["val_baseline"] == 50.0
    assert {"svdmap_mse", "cafmap_mse", "keep_rate", "chance"} <= set(metrics)
    # Test accuracy and test gains are for the final report only: nothing a sweep could choose on.
    assert not any(key in metrics for key in ("baseline", "svdmap", "cafmap_gain"))
    assert headline(details, headline_k=8)["run"]["k"] == "1"   # a k that was not run: the first one
    json.dumps(metrics)
    point = threshold_point(1.3, details, 2)[0]
    assert point["threshold"] == 1.3 and point["cafmap_val_top1"] == 70.0


def test_curves_by_epoch_average_the_runs_of_one_k():
    rows = curves_by_epoch({"baseline": run("baseline", correct_at(8, np.arange(4)))}, "2")
    assert len(rows) == 3 and rows[1] == {"epoch": 1, "baseline": 0.9}


def test_report_has_a_table_per_k_with_groups_mdg_and_verdicts(tmp_path):
    params = {"dataset": {"name": "demo"}, "models": {"image_encoder": "effnet-lite0"},
              "protocol": {"labels_per_class": [1, 2], "label_draws": 2, "train_epochs": 150}}
    text = build_report(details_for_report(), params, tmp_path / "report.md")
    assert (tmp_path / "report.md").read_text() == text
    assert "## k = 1 labelled clips per class (4 runs: 2 draws x 2 seeds)" in text
    assert "## k = 2 labelled clips per class" in text
    assert "gain, lookalike (points)" in text and "verdict, others" in text and "(MDG " in text
    assert "| `real_audio` | 50.0 | 91.7 [" in text
    assert "`demo`, 4 classes, 48 test clips (chance top-1 25.0%)" in text
    assert "| svdmap | train | 1.000 | 0.500 | 0.500 |" in text and "*train* is U" in text
    with pytest.raises(ValueError, match="older results stage"):
        build_report({"conditions": {}}, params)


def test_learning_curve_figure_draws_a_panel_per_group(tmp_path):
    from vida_core.views.report import learning_curve_figure

    out = learning_curve_figure(details_for_report(), tmp_path / "curve.png", title="demo")
    assert out.stat().st_size > 10_000


def test_report_puts_the_papers_numbers_beside_ours():
    from vida_core.views.report import PAPER_MIT_TOP1

    assert PAPER_MIT_TOP1 == {"table1": {"baseline": 17.7, "svdmap": None, "svdmap_filtered": 35.6, "real_audio": 34.3},
                              "table2": {"baseline": 22.5, "cafmap": 30.7, "real_audio": 33.9}}
    text = build_report(details_for_report(), {})
    assert "## The paper's numbers beside ours (top-1 %)" in text
    assert "| Table 1 | vision only (`baseline`) | 17.7 | 62.5 [" in text
    assert "| Table 1 | + SVDMap (all) (`svdmap`) | n/a | " in text   # the paper reports SVDMap filtered only
    assert "| Table 1 | + SVDMap (filtered) (`svdmap_filtered`) | 35.6 |" in text
    assert "| Table 2 | vision only (`baseline`) | 22.5 |" in text
    assert "| Table 2 | + CAFMap (`cafmap`) | 30.7 |" in text
    assert "| Table 2 | + real audio (`real_audio`) | 33.9 |" in text
    # Why the two are not like for like: two baselines, generated above real, selection on test, no intervals.
    assert "17.7 (Table 1) and 22.5 (Table 2)" in text and "(35.6) is above its ground-truth audio (34.3)" in text
    assert "chose on test" in text and "no unfiltered SVDMap number" in text and "no interval" in text
