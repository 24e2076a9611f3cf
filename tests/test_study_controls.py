"""The label-budget study's controls: CAFMap's label codes and permuted bank, the PCA stream of
the unlabelled pool's video, and SVDMap's shuffled targets."""

import h5py
import numpy as np

from vida_core.shared.artifacts import clip_ids, write_h5, write_strings
from vida_core.learn.budget import pool_view
from vida_core.learn.data import H5Column, build_table
from vida_core.learn.generators import shuffle_targets
from synthetic import make_synthetic
from vida_core.learn.visual_pool import run_visual_pool
from vida_core.semantic.cafmap_controls import bank_permutation, label_codes, run_cafmap_controls
from vida_core.semantic.label_map import cafmap_condition


def test_bank_permutation_moves_every_label_and_is_seeded():
    for n in (2, 3, 527):
        perm = bank_permutation(n, seed=0)
        assert sorted(perm.tolist()) == list(range(n)) and (perm != np.arange(n)).all()
    assert np.array_equal(bank_permutation(527, 1), bank_permutation(527, 1))
    assert not np.array_equal(bank_permutation(527, 1), bank_permutation(527, 2))


def test_cafmap_controls_keep_the_labels_and_mask_but_not_the_sound(tmp_path):
    rng = np.random.default_rng(0)
    bank = rng.normal(-5, 2, (527, 128)).astype(np.float32)
    index = np.full((6, 18, 3), -1, np.int16)
    index[:, 4, :2] = rng.integers(0, 527, (6, 2))
    index[:, 9, 0] = rng.integers(0, 527, 6)
    with write_h5(tmp_path / "label_map.h5", "label_map") as f:
        write_strings(f, "clip_id", [f"c{i}" for i in range(6)])
        f["label_index"] = index
    with write_h5(tmp_path / "label_bank.h5", "label_bank") as f:
        f["mean"] = bank
    summary = run_cafmap_controls(tmp_path / "label_map.h5", tmp_path / "label_bank.h5", tmp_path / "controls.h5",
                                  seed=0, params={})
    assert summary == {"clips": 6, "labels": 527, "labels_moved": 527}
    real, mask = cafmap_condition(index, bank)
    with h5py.File(tmp_path / "controls.h5") as f:
        assert np.array_equal(f["condition_mask"][()], mask)
        codes, perm = f["label_codes"][()], f["bank_permutation"][()]
        assert np.allclose(f["labels_only/condition"][()], cafmap_condition(index, codes)[0])
        assert np.allclose(f["bank_permuted/condition"][()], cafmap_condition(index, bank[perm])[0])
        assert not np.allclose(f["bank_permuted/condition"][()][mask], real[mask])
    # Codes look like bank rows (same per-bin mean and spread) but carry none of their sound.
    codes = label_codes(bank, 0)
    assert abs(codes.mean() - bank.mean()) < 0.1 and abs(codes.std() - bank.std()) < 0.2
    assert abs(np.corrcoef(codes.ravel(), bank.ravel())[0, 1]) < 0.05


def test_visual_pool_is_fitted_on_the_pool_and_projects_every_clip(tmp_path):
    paths = make_synthetic(tmp_path, clips=60, classes=3, dim=8, seeds=(0,))
    ids = clip_ids(paths["visual"])
    table = build_table(ids, paths["manifest"], paths["audio"])
    roles = {c: ("pool" if s == "train" and i % 3 else "reservoir" if s == "train" else s)
             for i, (c, s) in enumerate(zip(table.clip_ids, table.split))}
    roles[next(c for c, r in roles.items() if r == "pool")] = "pool_val"
    view = pool_view(table, roles)
    fit_on = np.flatnonzero(np.isin(view.split, ["train", "val"]))
    summary = run_visual_pool(paths["visual"], view, fit_on, tmp_path / "pool.h5", width=6, params={})
    assert summary["fitted_on"] == len(fit_on) and 0 < summary["explained"] <= 1
    with h5py.File(tmp_path / "pool.h5") as f:
        features, components = f["features"][()], f["components"][()]
        assert features.shape == (60, 18, 6) and f["fitted_on"][()].sum() == len(fit_on)
        assert np.allclose(components.T @ components, np.eye(6), atol=1e-4)   # orthonormal
        # Over the clips it was fitted on, the components are centred and ordered by variance.
        fitted = features[fit_on].reshape(-1, 6)
        assert np.abs(fitted.mean(0)).max() < 1e-3
        assert (np.diff(fitted.var(0)) <= 1e-6).all()


def test_shuffled_targets_permute_within_the_fitted_clips_only(tmp_path):
    paths = make_synthetic(tmp_path, clips=60, classes=3, dim=4, seeds=(0,))
    table = build_table(clip_ids(paths["visual"]), paths["manifest"], paths["audio"])
    column = H5Column(paths["audio"], "logmel", table.clip_ids, "audio")
    shuffled = shuffle_targets(column, table, seed=0)
    for split in ("train", "val"):
        pos = table.positions(split, table.has_audio)
        assert sorted(shuffled.rows[pos]) == sorted(column.rows[pos])
        assert not np.array_equal(shuffled.rows[pos], column.rows[pos])
    untouched = np.flatnonzero(~(np.isin(table.split, ["train", "val"]) & table.has_audio))
    assert np.array_equal(shuffled.rows[untouched], column.rows[untouched])
    assert np.array_equal(shuffle_targets(column, table, seed=0).rows, shuffled.rows)


def test_visual_pool_keeps_its_width_when_the_features_are_narrower(tmp_path):
    # dim 4: RGB+flow give 8 features, fewer than the 12-wide stream; the rest are zero columns.
    paths = make_synthetic(tmp_path, clips=40, classes=2, dim=4, seeds=(0,))
    table = build_table(clip_ids(paths["visual"]), paths["manifest"], paths["audio"])
    fit_on = table.positions("train")
    run_visual_pool(paths["visual"], table, fit_on, tmp_path / "pool.h5", width=12, params={})
    with h5py.File(tmp_path / "pool.h5") as f:
        features, explained = f["features"][()], f["explained"][()]
    assert features.shape == (40, 18, 12)
    assert np.abs(features[..., 8:]).max() == 0 and np.abs(features[..., :8]).max() > 0
    assert explained[8:].sum() == 0 and 0.999 < explained.sum() <= 1.0 + 1e-9
