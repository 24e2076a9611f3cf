"""Filter IoU and keep mask; the classifier's conditions, metrics and plots."""

import json

import h5py
import numpy as np
import pytest
import torch

from vida_core.shared.artifacts import clip_ids
from vida_core.learn.budget import assign_roles, classifier_view, label_draws, learning_splits
from vida_core.learn.classify import missing_audio_information, run_condition, top_k_accuracy, write_condition
from vida_core.learn.conditions import CONDITIONS
from vida_core.shared.config import ClassifyConfig, FilterConfig, ProtocolConfig
from vida_core.learn.data import build_table
from vida_core.learn.filtering import iou, read_semantic_dictionary, run_filter, top_k_labels
from vida_core.learn.results import compare, read_condition
from synthetic import make_synthetic

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


def test_filtered_conditions_drop_rejected_train_clips_and_give_every_clip_its_audio(audio_task):
    paths, table = audio_task
    train = table.split == "train"
    for seed in (0, 1):
        column, used = CONDITIONS["svdmap_filtered"].audio(table, paths, seed)
        assert column.name == f"seed{seed}/audio" and used.all()      # no "no audio" anywhere
        with h5py.File(paths["filter"], "r") as f:
            keep = f[f"seed{seed}/keep"][()]
        assert np.array_equal(CONDITIONS["svdmap_filtered"].train_keep(table, paths, seed), keep)
        # The random control keeps each class at the filter's rate, but other clips.
        random_keep = CONDITIONS["filter_random"].train_keep(table, paths, seed)
        assert np.array_equal(random_keep, CONDITIONS["filter_random"].train_keep(table, paths, seed))
        for c in range(3):
            rows = train & (table.label == c)
            assert abs(random_keep[rows].mean() - keep[rows].mean()) < 0.3
    with pytest.raises(KeyError, match=r"seed7/audio.*made for seeds \[0, 1\]"):
        CONDITIONS["svdmap_filtered"].audio(table, paths, 7)
    _, used = CONDITIONS["real_audio"].audio(table, paths, 0)
    assert np.array_equal(used, table.has_audio)


def test_missing_audio_cannot_carry_the_label_in_the_filtered_condition():
    """The old rule (a rejected train clip kept with "no audio") let the pattern of missing audio
    predict the class when the filter's keep rates differ by class; dropping rejected clips leaves
    no missing audio in training, so the pattern predicts nothing."""
    labels = np.repeat([0, 1, 2], 40)
    keep = np.r_[np.zeros(40, bool), np.arange(40) < 20, np.ones(40, bool)]   # keep rates 0 %, 50 %, 100 %
    assert missing_audio_information(labels, keep) > 0.25                    # the old rule: a leak
    kept = np.flatnonzero(keep)
    assert missing_audio_information(labels[kept], np.ones(len(kept), bool)) == 0.0   # the rule now
    assert missing_audio_information(labels, np.ones(len(labels), bool)) == 0.0


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
        assert set(summary) == {"val_top1_all"}
        rows = json.loads((tmp_path / f"confusion_{name}.json").read_text())
        n_test = int((table.split == "test").sum())
        assert len(rows) == 2 * n_test and set(rows[0]) == {"actual", "predicted"}
    runs = {name: read_condition(name, path) for name, path in outputs.items()}
    details = compare(runs, samples=500)
    json.dumps(details)   # serialisable as artifacts/results.json
    chance = details["chance_top1"]
    entry = details["by_k"]["all"]
    assert entry["runs"] == 2 and not details["budget"]
    top1 = {name: c["groups"]["all"]["top1"]["mean"] for name, c in entry["conditions"].items()}
    assert chance == pytest.approx(1 / 3) and details["test_clips"] == int((table.split == "test").sum())
    assert top1["real_audio"] > chance + 0.3 and top1["real_audio"] > top1["baseline"] + 0.2
    gain = entry["conditions"]["real_audio"]["groups"]["all"]["gain"]
    # Two runs say little about run-to-run spread, so the interval is wide (t with 1 degree of
    # freedom); the verdict rule itself is tested in test_learn_results and test_power.
    assert gain["mean"] > 0.2 and gain["lo"] <= gain["mean"] <= gain["hi"] and gain["mdg"] > 0
    train = table.split == "train"
    assert runs["baseline"].runs["train_clips_with_audio"] == [0, 0]
    assert runs["real_audio"].runs["train_clips_with_audio"] == [int(table.has_audio[train].sum())] * 2
    with h5py.File(paths["filter"], "r") as f:
        kept = [int((f[f"seed{s}/keep"][()] & train).sum()) for s in (0, 1)]
    assert runs["svdmap_filtered"].runs["trained_on"] == kept            # rejected clips dropped
    assert runs["svdmap_filtered"].runs["missing_audio_information"] == [0.0, 0.0]
    with h5py.File(outputs["real_audio"], "r") as f:
        assert f["logits"].shape == (2, details["test_clips"], 3) and f["history/run1"].shape[1] == 4
        assert f["runs/k"][()].tolist() == [0, 0] and f["runs/labelled_mask"][()].all()


def test_label_budget_runs_train_on_k_labelled_clips_per_class_each(audio_task, tmp_path):
    paths, table = audio_task
    rows = [{"clip_id": c, "label": table.class_names[y], "split": s}
            for c, y, s in zip(table.clip_ids, table.label, table.split)]
    protocol = ProtocolConfig(labels_per_class=[1, 3], label_draws=2, reservoir_per_class=6, train_epochs=30)
    roles = assign_roles(rows, protocol)
    assert assign_roles(rows[::-1], protocol) == roles                  # row order does not matter
    view = classifier_view(table, roles)
    assert ((view.split == "train") == np.array([roles[c] == "reservoir" for c in table.clip_ids])).all()
    for c in range(3):
        assert ((view.split == "train") & (view.label == c)).sum() == 6
    draws = label_draws(view, protocol)
    assert [(k, d) for k, d, _ in draws] == [(1, 0), (1, 1), (3, 0), (3, 1)]
    assert all(len(pos) == 3 * k and (view.split[pos] == "train").all() for k, _, pos in draws)
    assert [pos.tolist() for _, _, pos in draws] == [pos.tolist() for _, _, pos in label_draws(view, protocol)]
    config = ClassifyConfig(seeds=[0, 1], hidden=16, input_proj=8, batch_size=64, lr=3e-3)
    result = run_condition("real_audio", view, {"visual": paths["visual"], "audio": paths["audio"]}, config, DEVICE,
                           protocol=protocol)
    assert [(r["seed"], r["k"], r["draw"]) for r in result["runs"]] == [
        (s, k, d) for s in (0, 1) for k in (1, 3) for d in (0, 1)]
    assert all(r["epochs_run"] == 30 and r["labelled"] == 3 * r["k"] for r in result["runs"])
    summary = write_condition(result, view, config, tmp_path / "budget.h5", model_path=tmp_path / "budget.pt", params={})
    assert set(summary) == {"val_top1_k1", "val_top1_k3"}
    with h5py.File(tmp_path / "budget.h5", "r") as f:
        assert f["logits"].shape[0] == 8 and f["runs/labelled_mask"][()].sum(1).tolist() == [3, 3, 9, 9] * 2
    assert torch.load(tmp_path / "budget.pt", weights_only=False)["run"] == {"k": 3, "draw": 0}


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


def test_models_fitted_on_the_pool_never_see_labelled_val_or_test_clips():
    rows = [{"clip_id": f"{c}_{i:02d}", "label": c, "split": "test" if i < 4 else "val" if i < 6 else "train"}
            for c in ("a", "b") for i in range(30)]
    protocol = ProtocolConfig(labels_per_class=[1, 2], reservoir_per_class=5, pool_val_fraction=0.2)
    roles = assign_roles(rows, protocol)
    assert sum(r == "reservoir" for r in roles.values()) == 10
    assert sum(r == "pool_val" for r in roles.values()) == 2 * round(0.2 * 19)
    splits = learning_splits({row["clip_id"]: row["split"] for row in rows}, roles)
    for clip, split in splits.items():
        assert split == {"pool": "train", "pool_val": "val"}.get(roles[clip], "held_out")
    # The paper's protocol: no pool, every train clip labelled, the manifest's splits unchanged.
    everything = assign_roles(rows, ProtocolConfig(labels_per_class="all"))
    assert {r for c, r in everything.items() if c.endswith(("_10", "_29"))} == {"reservoir"}
    assert learning_splits({row["clip_id"]: row["split"] for row in rows}, everything) == \
        {row["clip_id"]: row["split"] for row in rows}
    with pytest.raises(ValueError, match="needs protocol.reservoir_per_class"):
        assign_roles(rows, ProtocolConfig(reservoir_per_class=24, labels_per_class=[1]))
