"""Filter IoU and keep mask; the classifier's conditions, metrics and plots."""

import json

import h5py
import numpy as np
import pytest
import torch

from vida_core.io.artifacts import clip_ids
from vida_core.learn.classify import run_condition, top_k_accuracy, write_condition
from vida_core.learn.conditions import CONDITIONS
from vida_core.config import ClassifyConfig, FilterConfig
from vida_core.learn.data import build_table
from vida_core.learn.filtering import iou, read_semantic_dictionary, run_filter, top_k_labels
from vida_core.learn.results import compare, headline, read_condition
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


def test_filter_keeps_clips_whose_tags_match_their_class_and_reports_train_clips_only(tmp_path):
    paths = make_synthetic(tmp_path, clips=30, classes=3, dim=4, seeds=(0, 1))
    ids = clip_ids(paths["generated_svdmap"])
    table = build_table(ids, paths["manifest"], paths["audio"])
    # Seed 0's audio "sounds like" the right class for even clips, class 0 for odd ones; seed 1's
    # always like the right class.
    wanted = np.where(np.arange(len(ids)) % 2 == 0, table.label, 0).astype(np.float32)
    with h5py.File(paths["generated_svdmap"], "r+") as f:
        f["seed0/audio"][...] = wanted[:, None, None] * np.ones((1, 18, 128), np.float32)
        f["seed1/audio"][...] = table.label[:, None, None] * np.ones((1, 18, 128), np.float32)
    summary, per_class = run_filter(paths["generated_svdmap"], FakeTagger(),
                                    read_semantic_dictionary(paths["semantic_dictionary"]), table,
                                    FilterConfig(top_k=5, iou_threshold=0.5), tmp_path / "filter.h5", params={})
    with h5py.File(tmp_path / "filter.h5", "r") as f:
        keep, ious = f["seed0/keep"][()], f["seed0/iou"][()]
        assert f["seed0/topk"].shape == (len(ids), 5) and f["seed1/keep"][()].all()
        assert np.array_equal(f["keep"][()], keep)   # the plain name is the first seed's
        assert f["class_iou_histogram"].shape == (3, 10)
        assert f["class_iou_histogram"][()].sum() == 2 * (table.split == "train").sum()   # train clips, both seeds
    expected = wanted == table.label
    assert keep.tolist() == expected.tolist()
    assert set(np.round(ious, 6)) <= {0.0, 1.0}
    train = table.split == "train"
    assert summary["seeds"] == [0, 1]
    assert summary["per_seed_kept_fraction"] == pytest.approx([expected[train].mean(), 1.0])
    assert summary["train"]["kept_fraction"] == pytest.approx((expected[train].mean() + 1) / 2)
    assert [row["class"] for row in per_class] == table.class_names
    assert "train_no_audio" in summary


def test_filter_diagnostics_never_look_at_val_or_test_clips(tmp_path):
    """Tuning filter.* on its diagnostics must not peek at evaluation clips: make the val and
    test clips' audio match perfectly and the train clips' never; every figure stays at 0."""
    paths = make_synthetic(tmp_path, clips=42, classes=3, dim=4, seeds=(0,))
    ids = clip_ids(paths["generated_svdmap"])
    table = build_table(ids, paths["manifest"], paths["audio"])
    sounds_like = np.where(table.split == "train", (table.label + 1) % 3, table.label).astype(np.float32)
    with h5py.File(paths["generated_svdmap"], "r+") as f:
        f["seed0/audio"][...] = sounds_like[:, None, None] * np.ones((1, 18, 128), np.float32)
    summary, per_class = run_filter(paths["generated_svdmap"], FakeTagger(),
                                    read_semantic_dictionary(paths["semantic_dictionary"]), table,
                                    FilterConfig(top_k=5, iou_threshold=0.5), tmp_path / "filter.h5", params={})
    assert summary["train"]["iou_mean"] == 0 and summary["train"]["kept_fraction"] == 0
    assert all(row["mean_iou"] == 0 and row["kept_fraction"] == 0 for row in per_class)
    assert "test" not in json.dumps(summary["train"]) and not any("test" in key for row in per_class for key in row)


@pytest.fixture(scope="module")
def audio_task(tmp_path_factory):
    """Vision carries nothing about the class; audio (real and generated) carries a lot."""
    folder = tmp_path_factory.mktemp("classify")
    paths = make_synthetic(folder, clips=210, classes=3, dim=6, visual_signal=0.0, audio_signal=0.4,
                           rejected_every=50, seeds=(0, 1))
    ids = clip_ids(paths["visual"])
    return paths, build_table(ids, paths["manifest"], paths["audio"])


def test_filtered_condition_uses_audio_of_kept_train_clips_only_per_seed(audio_task):
    paths, table = audio_task
    train = table.split == "train"
    for seed in (0, 1):
        column, used = CONDITIONS["svdmap_filtered"].audio(table, paths, seed)
        assert column.name == f"seed{seed}/audio"
        with h5py.File(paths["filter"], "r") as f:
            keep = f[f"seed{seed}/keep"][()]
        assert np.array_equal(used[train], keep[train]) and used[~train].all()
    with pytest.raises(KeyError, match=r"seed7/audio.*made for seeds \[0, 1\]"):
        CONDITIONS["svdmap_filtered"].audio(table, paths, 7)
    _, used = CONDITIONS["real_audio"].audio(table, paths, 0)
    assert np.array_equal(used, table.has_audio)


def test_classifier_beats_chance_and_informative_audio_beats_vision_only(audio_task, tmp_path):
    paths, table = audio_task
    config = ClassifyConfig(seeds=[0, 1], hidden=32, input_proj=16, epochs=12, patience=4, batch_size=32, lr=3e-3)
    files = {"visual": paths["visual"], "audio": paths["audio"], "generated_svdmap": paths["generated_svdmap"],
             "filter": paths["filter"]}
    outputs = {}
    for name in ("baseline", "real_audio", "svdmap_filtered"):
        result = run_condition(name, table, files, config, DEVICE)
        outputs[name] = tmp_path / f"{name}.h5"
        summary = write_condition(result, table, config, outputs[name], model_path=tmp_path / f"{name}.pt",
                                  confusion_json=tmp_path / f"confusion_{name}.json", params={})
        assert set(summary) == {"top1_seed0", "top1_seed1"}
        rows = json.loads((tmp_path / f"confusion_{name}.json").read_text())
        n_test = int((table.split == "test").sum())
        assert len(rows) == 2 * n_test and set(rows[0]) == {"actual", "predicted"}
    runs = {name: read_condition(name, path) for name, path in outputs.items()}
    details = compare(runs)
    json.dumps(details)   # serialisable as artifacts/results.json
    chance = details["chance_top1"]
    top1 = {name: entry["top1"]["mean"] for name, entry in details["conditions"].items()}
    assert chance == pytest.approx(1 / 3) and details["test_clips"] == int((table.split == "test").sum())
    assert top1["real_audio"] > chance + 0.3 and top1["real_audio"] > top1["baseline"] + 0.2
    gain = details["conditions"]["real_audio"]["gain"]
    assert gain["lo"] > 0 and gain["verdict"] == "better than baseline"
    for name, entry in details["conditions"].items():
        assert entry["top1"]["lo"] <= entry["top1"]["mean"] <= entry["top1"]["hi"]
        assert set(entry["top1"]["per_seed"]) == {"0", "1"} and entry["top5"]["mean"] == 1.0   # top-3 of 3 classes
    assert runs["baseline"].per_seed["train_clips_with_audio"] == [0, 0]
    assert runs["real_audio"].per_seed["train_clips_with_audio"] == [int(table.has_audio[table.split == "train"].sum())] * 2
    with h5py.File(outputs["real_audio"], "r") as f:
        assert f["logits"].shape == (2, details["test_clips"], 3) and f["history/seed1"].shape[1] == 4
    metrics = headline(details)
    assert list(metrics)[:3] == ["baseline", "real_audio", "svdmap_filtered"]
    assert all(isinstance(v, (int, float)) for v in metrics.values())   # flat numbers: dvc exp show columns


def test_class_without_val_clips_is_a_clear_error(audio_task):
    paths, table = audio_task
    table = build_table(table.clip_ids, paths["manifest"], paths["audio"])
    table.split[(table.label == 1) & (table.split == "val")] = "train"
    with pytest.raises(ValueError, match="'class01' has 0 val clips"):
        run_condition("baseline", table, {"visual": paths["visual"]}, ClassifyConfig(), DEVICE)


def test_top_k_accuracy():
    logits = np.array([[3.0, 2.0, 1.0], [1.0, 2.0, 3.0]])
    assert top_k_accuracy(logits, np.array([0, 0]), 1) == 0.5
    assert top_k_accuracy(logits, np.array([0, 0]), 3) == 1.0
