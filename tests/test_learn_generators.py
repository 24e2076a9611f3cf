"""SVDMap and CAFMap: per-clip noise, condition insertion and mask channel, audio-only targets,
cross-fitting (no train clip's audio from a model that saw it), per-seed reproducible outputs."""

import h5py
import numpy as np
import pytest
import torch

from vida_core.shared.artifacts import clip_ids
from vida_core.shared.config import CAFMapConfig, GeneratorConfig
from vida_core.learn import generators
from vida_core.learn.data import ClipBatches, build_table
from vida_core.learn.generators import (FULL_MODEL, Generator, assign_folds, cafmap_noise, generator_columns,
                                        load_generator, run_generator)
from synthetic import make_synthetic

DEVICE = torch.device("cpu")
TINY = dict(hidden=16, layers=2, epochs=3, patience=2, batch_size=16, input_proj=8)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    folder = tmp_path_factory.mktemp("synthetic")
    paths = make_synthetic(folder, clips=60, classes=3, dim=6, rejected_every=13)
    # Clips without audio hold NaN here (the contract says zeros): if any of them were used as
    # a target or in the target statistics, training and every generated value would be NaN.
    with h5py.File(paths["audio"], "r+") as f:
        f["logmel"][np.flatnonzero(~f["has_audio"][()])] = np.nan
    return paths


def _table(paths, source="visual"):
    ids = clip_ids(paths[source])
    return ids, build_table(ids, paths["manifest"], paths["audio"])


def test_cafmap_noise_is_seeded_per_clip():
    a = cafmap_noise("clip_a", seed=0)
    assert a.shape == (18, 128) and a.dtype == np.float32
    assert np.array_equal(a, cafmap_noise("clip_a", seed=0))
    assert not np.allclose(a, cafmap_noise("clip_b", seed=0))
    assert not np.allclose(a, cafmap_noise("clip_a", seed=1))
    assert not np.allclose(a, cafmap_noise("clip_a", seed=0, epoch=0))   # training draws per epoch


def _first_batch(columns, table, ids, n=8):
    return next(iter(ClipBatches(columns, table.positions(), n, extras={"clip_id": np.asarray(ids, dtype=object)})))


@pytest.mark.parametrize("mask_input", [True, False])
def test_condition_replaces_noise_exactly_at_mask_steps(synthetic, mask_input):
    ids, table = _table(synthetic, "label_map")
    columns = generator_columns("cafmap", ids, synthetic["audio"], label_map_h5=synthetic["label_map"])
    model = Generator("cafmap", CAFMapConfig(**TINY, mask_input=mask_input), visual_dim=0, seed=5).eval()
    batch = _first_batch(columns, table, ids)
    x = model.inputs(batch).numpy()
    mask = batch["condition_mask"].numpy().astype(bool)
    assert mask.any() and (~mask).any()
    assert x.shape[-1] == 128 + mask_input
    condition = batch["condition"].numpy()   # target_norm is the identity placeholder here
    for i, clip in enumerate(batch["clip_id"]):
        noise = cafmap_noise(clip, seed=5)
        assert np.array_equal(x[i, :, :128][mask[i]], condition[i][mask[i]])
        assert np.array_equal(x[i, :, :128][~mask[i]], noise[~mask[i]])
    if mask_input:   # the LSTM is told which steps carry a condition
        assert np.array_equal(x[..., 128], mask.astype(np.float32))


def test_folds_are_stratified_per_seed_and_cover_train_clips_only(synthetic):
    _, table = _table(synthetic)
    fold = assign_folds(table, 3, seed=0)
    train = table.split == "train"
    assert (fold[~train] == FULL_MODEL).all() and set(fold[train]) == {0, 1, 2}
    for c in range(len(table.class_names)):
        sizes = np.bincount(fold[train & (table.label == c)], minlength=3)
        assert sizes.max() - sizes.min() <= 1          # each class spread evenly over the folds
    assert not np.array_equal(fold, assign_folds(table, 3, seed=1))
    assert np.array_equal(fold, assign_folds(table, 3, seed=0))
    assert (assign_folds(table, 0, seed=0) == FULL_MODEL).all()   # no cross-fitting


@pytest.mark.parametrize("kind, use_visual", [("svdmap", False), ("cafmap", False), ("cafmap", True)])
def test_generator_trains_on_audio_clips_only_and_generates_for_all(synthetic, tmp_path, kind, use_visual):
    ids, table = _table(synthetic, "visual" if kind == "svdmap" else "label_map")
    columns = generator_columns(kind, ids, synthetic["audio"], synthetic["visual"], synthetic["label_map"],
                                use_visual=use_visual)
    knobs = dict(TINY, cross_fit_folds=2)
    config = GeneratorConfig(**knobs) if kind == "svdmap" else CAFMapConfig(**knobs, use_visual=use_visual)
    outs = []
    for run in range(2):
        out = tmp_path / f"gen{run}.h5"
        summary, losses = run_generator(kind, table, columns, config, [0, 1], DEVICE, tmp_path / f"{kind}{run}.pt",
                                        out, params={})
        outs.append(out)
    assert summary["train_targets"] == int(((table.split == "train") & table.has_audio).sum())
    assert summary["train_no_audio"] > 0 and summary["generated_clips"] == len(ids)
    assert np.isfinite(summary["val_mse"]) and set(summary["per_seed"]) == {"0", "1"}
    assert set(summary["mse"]) == {"train", "val", "test"}
    for split in ("val", "test"):   # outside train, the written audio is the full model's
        assert summary["mse"][split]["before_cross_fit"] == pytest.approx(summary["mse"][split]["cross_fitted"])
    assert losses and {"epoch", "train_loss", "val_loss", "val_mean_predictor"} == set(losses[0])
    with h5py.File(outs[0], "r") as a, h5py.File(outs[1], "r") as b:
        assert clip_ids(outs[0]) == ids and a["seeds"][()].tolist() == [0, 1]
        audio = a["seed0/audio"][()]
        assert audio.shape == (len(ids), 18, 128) and np.isfinite(audio).all()
        assert np.array_equal(a["audio"][()], audio)              # the plain name is the first seed's
        assert not np.allclose(a["seed1/audio"][()], audio)       # seeds differ
        for name in ("seed0/audio", "seed1/audio", "seed0/fold"):
            assert np.array_equal(a[name][()], b[name][()])       # same seed, data, code -> same file
        assert not a["used_as_target"][()][~table.has_audio].any()
        fold = a["seed0/fold"][()]
        assert (fold[table.split == "train"] >= 0).all() and (fold[table.split != "train"] == FULL_MODEL).all()
        # Outputs are in raw log-mel space (synthetic audio sits around -8), not standardised.
        assert -12 < audio.mean() < -4
    # The checkpoint alone reproduces the audio of every clip the full model generated (val, test).
    model = load_generator(tmp_path / f"{kind}0.pt")
    outside = table.positions()[table.split != "train"][:4]
    batch = next(iter(ClipBatches(columns, outside, 4, extras={"clip_id": np.asarray(ids, dtype=object)})))
    np.testing.assert_allclose(model.generate(batch).numpy(), audio[outside], rtol=1e-5, atol=1e-5)


def test_no_train_clip_gets_audio_from_a_model_that_saw_it(synthetic, tmp_path, monkeypatch):
    """Every model the stage trains is recorded with the clips it was fitted to; each clip's
    written audio is then matched to the one model that produces it."""
    ids, table = _table(synthetic)
    columns = generator_columns("svdmap", ids, synthetic["audio"], synthetic["visual"])
    trained = []
    real_train = generators.train_generator

    def recording_train(*args, **kwargs):
        model, result = real_train(*args, **kwargs)
        fitted_on = kwargs.get("train_pos")
        fitted_on = table.positions("train", table.has_audio) if fitted_on is None else fitted_on
        trained.append((model, set(np.asarray(fitted_on).tolist())))
        return model, result

    monkeypatch.setattr(generators, "train_generator", recording_train)
    config = GeneratorConfig(**dict(TINY, cross_fit_folds=3))
    run_generator("svdmap", table, columns, config, [0], DEVICE, tmp_path / "m.pt", tmp_path / "g.h5", params={})
    assert len(trained) == 4   # the full model and 3 fold models
    with h5py.File(tmp_path / "g.h5", "r") as f:
        written = f["seed0/audio"][()]
    batches = ClipBatches(columns, table.positions(), 256, extras={"clip_id": np.asarray(ids, dtype=object)})
    outputs = []
    for model, _ in trained:
        model.eval()
        outputs.append(np.concatenate([model.generate(b).numpy() for b in batches]))
    for position in table.positions():
        makers = [m for m, out in enumerate(outputs) if np.allclose(out[position], written[position], atol=1e-5)]
        assert len(makers) == 1, f"clip {ids[position]}: written audio matches models {makers}"
        assert position not in trained[makers[0]][1], f"train clip {ids[position]} got audio from a model fitted to it"
        if table.split[position] != "train":
            assert makers == [0]   # val and test: the full model
    # Together the fold models saw every train clip with audio, so cross-fitting wasted none.
    assert set().union(*(fitted for _, fitted in trained[1:])) == set(table.positions("train", table.has_audio).tolist())


def test_generator_without_val_audio_says_so(synthetic):
    ids, table = _table(synthetic)
    table.has_audio[table.split == "val"] = False
    columns = generator_columns("svdmap", ids, synthetic["audio"], synthetic["visual"])
    with pytest.raises(ValueError, match="no val clips with real audio"):
        run_generator("svdmap", table, columns, GeneratorConfig(**TINY), [0], DEVICE, "x.pt", "x.h5", {})
