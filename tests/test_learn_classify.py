"""Filter IoU and keep mask; the classifier's conditions, metrics and plots."""

import json

import h5py
import numpy as np
import pytest
import torch

from vida_core.io.artifacts import clip_ids
from vida_core.learn.classify import run_classify, top_k_accuracy
from vida_core.learn.conditions import CONDITIONS
from vida_core.config import ClassifyConfig, FilterConfig
from vida_core.learn.data import build_table
from vida_core.learn.filtering import iou, read_semantic_dictionary, run_filter, top_k_labels
from vida_core.learn.synthetic import make_synthetic

DEVICE = torch.device("cpu")


def test_iou():
    assert iou({1, 2, 3}, {2, 3, 4}) == pytest.approx(2 / 4)
    assert iou([1, 2], [1, 2]) == 1.0
    assert iou([1], [2]) == 0.0
    assert iou([], []) == 0.0


def test_top_k_labels_best_first_ties_by_index():
    scores = np.array([[0.1, 0.9, 0.5, 0.9], [1.0, 0.0, 0.0, 0.0]])
    assert top_k_labels(scores, 3).tolist() == [[1, 3, 2], [0, 1, 2]]


class FakeTagger:
    """Tags each clip with labels 5c..5c+4 of class c = round(mean feature) (see below)."""

    def predict(self, logmel):
        scores = np.zeros((len(logmel), 527), np.float32)
        for i, x in enumerate(logmel):
            c = int(round(float(x.mean())))
            scores[i, 5 * c:5 * c + 5] = 1.0 + np.arange(5)[::-1]
        return scores


def test_filter_keeps_clips_whose_tags_match_their_class(tmp_path):
    paths = make_synthetic(tmp_path, clips=30, classes=3, dim=4)
    ids = clip_ids(paths["generated_svdmap"])
    table = build_table(ids, paths["manifest"], paths["audio"])
    # Generated audio that "sounds like" the right class for even clips, class 0 for odd ones.
    wanted = np.where(np.arange(len(ids)) % 2 == 0, table.label, 0).astype(np.float32)
    with h5py.File(paths["generated_svdmap"], "r+") as f:
        f["audio"][...] = wanted[:, None, None] * np.ones((1, 18, 128), np.float32)
    summary, per_class = run_filter(paths["generated_svdmap"], FakeTagger(),
                                    read_semantic_dictionary(paths["semantic_dictionary"]), table,
                                    FilterConfig(top_k=5, iou_threshold=0.5), tmp_path / "filter.h5", params={})
    with h5py.File(tmp_path / "filter.h5", "r") as f:
        keep, ious = f["keep"][()], f["iou"][()]
        assert f["topk"].shape == (len(ids), 5)
        assert f["class_iou_histogram"].shape == (3, 10)
    expected = wanted == table.label
    assert keep.tolist() == expected.tolist()
    assert set(np.round(ious, 6)) <= {0.0, 1.0}
    assert summary["train_kept"] == int((expected & (table.split == "train")).sum())
    assert [row["class"] for row in per_class] == table.class_names
    assert "train_no_audio" in summary


@pytest.fixture(scope="module")
def audio_task(tmp_path_factory):
    """Vision carries nothing about the class; audio (real and generated) carries a lot."""
    folder = tmp_path_factory.mktemp("classify")
    paths = make_synthetic(folder, clips=210, classes=3, dim=6, visual_signal=0.0, audio_signal=0.4,
                           rejected_every=50)
    ids = clip_ids(paths["visual"])
    return paths, build_table(ids, paths["manifest"], paths["audio"])


def test_filtered_condition_uses_audio_of_kept_train_clips_only(audio_task):
    paths, table = audio_task
    _, used = CONDITIONS["svdmap_filtered"].audio(table, paths)
    with h5py.File(paths["filter"], "r") as f:
        keep = f["keep"][()]
    train = table.split == "train"
    assert np.array_equal(used[train], keep[train]) and used[~train].all()
    _, used = CONDITIONS["real_audio"].audio(table, paths)
    assert np.array_equal(used, table.has_audio)


def test_classifier_beats_chance_and_informative_audio_beats_vision_only(audio_task, tmp_path):
    paths, table = audio_task
    config = ClassifyConfig(conditions=["baseline", "real_audio", "svdmap_filtered"], seeds=[0, 1], hidden=32,
                            input_proj=16, epochs=12, patience=4, batch_size=32, lr=3e-3)
    files = {"visual": paths["visual"], "audio": paths["audio"], "generated_svdmap": paths["generated_svdmap"],
             "filter": paths["filter"]}
    metrics = run_classify(table, files, config, DEVICE, plots_dir=tmp_path / "plots",
                           details_h5=tmp_path / "classify.h5", params={})
    json.dumps(metrics)   # serialisable as metrics/classify.json
    chance = metrics["chance_top1"]
    assert chance == pytest.approx(1 / 3) and metrics["test_clips"] == int((table.split == "test").sum())
    assert metrics["real_audio"]["top1_mean"] > chance + 0.3
    assert metrics["real_audio"]["top1_mean"] > metrics["baseline"]["top1_mean"] + 0.2
    for condition in config.conditions:
        entry = metrics[condition]
        assert {"top1_mean", "top1_std", "top5_mean", "top5_std", "train_clips", "train_clips_with_audio",
                "top1_seed0", "top1_seed1"} <= set(entry)
        assert all(isinstance(v, (int, float)) for v in entry.values())   # flat numbers: dvc exp show columns
        assert entry["train_clips"] == metrics["train_clips"]              # same clips in every condition
        assert entry["top5_mean"] == 1.0                                   # top-3 of 3 classes
        rows = json.loads((tmp_path / "plots" / f"confusion_{condition}.json").read_text())
        assert len(rows) == 2 * metrics["test_clips"] and set(rows[0]) == {"actual", "predicted", "seed"}
    assert metrics["baseline"]["train_clips_with_audio"] == 0
    assert metrics["real_audio"]["train_clips_with_audio"] == int(table.has_audio[table.split == "train"].sum())
    with h5py.File(tmp_path / "classify.h5", "r") as f:
        assert f["real_audio/pred"].shape == (2, metrics["test_clips"])


def test_class_without_val_clips_is_a_clear_error(audio_task):
    paths, table = audio_task
    table = build_table(table.clip_ids, paths["manifest"], paths["audio"])
    table.split[(table.label == 1) & (table.split == "val")] = "train"
    with pytest.raises(ValueError, match="'class01' has 0 val clips"):
        run_classify(table, {"visual": paths["visual"]}, ClassifyConfig(conditions=["baseline"]), DEVICE)


def test_top_k_accuracy():
    logits = np.array([[3.0, 2.0, 1.0], [1.0, 2.0, 3.0]])
    assert top_k_accuracy(logits, np.array([0, 0]), 1) == 0.5
    assert top_k_accuracy(logits, np.array([0, 0]), 3) == 1.0
