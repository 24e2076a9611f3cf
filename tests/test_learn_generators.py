"""SVDMap and CAFMap: per-clip noise, condition insertion, audio-only targets, reproducible outputs."""

import h5py
import numpy as np
import pytest
import torch

from vida_core.io.artifacts import clip_ids
from vida_core.config import CAFMapConfig, GeneratorConfig
from vida_core.learn.data import ClipBatches, build_table
from vida_core.learn.generators import (Generator, cafmap_noise, generator_columns, load_generator,
                                        run_generator)
from vida_core.learn.synthetic import make_synthetic

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


def test_condition_replaces_noise_exactly_at_mask_steps(synthetic):
    ids, table = _table(synthetic, "label_map")
    columns = generator_columns("cafmap", ids, synthetic["audio"], label_map_h5=synthetic["label_map"])
    model = Generator("cafmap", CAFMapConfig(**TINY), visual_dim=0, seed=5).eval()
    batch = next(iter(ClipBatches(columns, table.positions(), 8,
                                  extras={"clip_id": np.asarray(ids, dtype=object)})))
    x = model.inputs(batch).numpy()
    mask = batch["condition_mask"].numpy().astype(bool)
    assert mask.any() and (~mask).any()
    condition = batch["condition"].numpy()   # target_norm is the identity placeholder here
    for i, clip in enumerate(batch["clip_id"]):
        noise = cafmap_noise(clip, seed=5)
        assert np.array_equal(x[i][mask[i]], condition[i][mask[i]])
        assert np.array_equal(x[i][~mask[i]], noise[~mask[i]])


@pytest.mark.parametrize("kind, use_visual", [("svdmap", False), ("cafmap", False), ("cafmap", True)])
def test_generator_trains_on_audio_clips_only_and_generates_for_all(synthetic, tmp_path, kind, use_visual):
    ids, table = _table(synthetic, "visual" if kind == "svdmap" else "label_map")
    columns = generator_columns(kind, ids, synthetic["audio"], synthetic["visual"], synthetic["label_map"],
                                use_visual=use_visual)
    config = GeneratorConfig(**TINY) if kind == "svdmap" else CAFMapConfig(**TINY, use_visual=use_visual)
    outs = []
    for run in range(2):
        out = tmp_path / f"gen{run}.h5"
        summary = run_generator(kind, table, columns, config, 0, DEVICE, tmp_path / f"{kind}{run}.pt", out,
                                None, params={})
        outs.append(out)
    assert summary["train_targets"] == int(((table.split == "train") & table.has_audio).sum())
    assert summary["train_no_audio"] > 0 and summary["generated_clips"] == len(ids)
    assert np.isfinite(summary["val_loss"])
    with h5py.File(outs[0], "r") as a, h5py.File(outs[1], "r") as b:
        assert clip_ids(outs[0]) == ids
        audio = a["audio"][()]
        assert audio.shape == (len(ids), 18, 128) and np.isfinite(audio).all()
        assert np.array_equal(audio, b["audio"][()])        # same seed, data, code -> same file
        assert not a["used_as_target"][()][~table.has_audio].any()
        # Outputs are in raw log-mel space (synthetic audio sits around -8), not standardised.
        assert -12 < audio.mean() < -4
    # The checkpoint alone reproduces the generated audio.
    model = load_generator(tmp_path / f"{kind}0.pt")
    batch = next(iter(ClipBatches(columns, table.positions(), 4,
                                  extras={"clip_id": np.asarray(ids, dtype=object)})))
    np.testing.assert_allclose(model.generate(batch).numpy(), audio[:4], rtol=1e-5, atol=1e-5)


def test_generator_without_val_audio_says_so(synthetic):
    ids, table = _table(synthetic)
    table.has_audio[table.split == "val"] = False
    columns = generator_columns("svdmap", ids, synthetic["audio"], synthetic["visual"])
    with pytest.raises(ValueError, match="no val clips with real audio"):
        run_generator("svdmap", table, columns, GeneratorConfig(**TINY), 0, DEVICE, "x.pt", "x.h5", None, {})
