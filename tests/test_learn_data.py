"""Streaming HDF5 batches: alignment by clip_id, shuffling, statistics, clear errors."""

import h5py
import numpy as np
import pytest

from vida_core.shared.artifacts import MissingArtifactError, write_h5, write_strings
from vida_core.shared.artifacts import read_rows
from vida_core.learn import data
from vida_core.shared.config import ConfigError, GeneratorConfig, build
from vida_core.learn.data import ClipBatches, H5Column, build_table, check_class_counts, feature_stats


def _write(path, ids, values, name="x"):
    with write_h5(path, "test") as f:
        write_strings(f, "clip_id", ids)
        f.create_dataset(name, data=values, chunks=(4, *values.shape[1:]))


@pytest.fixture
def two_files(tmp_path):
    """a.h5 holds clips 0..49 in order; b.h5 holds a reversed subset; value = clip number."""
    ids = [f"c{i:03d}" for i in range(50)]
    _write(tmp_path / "a.h5", ids, np.arange(50, dtype=np.float32)[:, None, None] * np.ones((1, 3, 2)))
    b_ids = ids[::-1] + ["extra"]
    _write(tmp_path / "b.h5", b_ids, np.array([float(c[1:]) if c != "extra" else -1 for c in b_ids],
                                              dtype=np.float32)[:, None] * np.ones((1, 5)))
    return ids, tmp_path


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("block_rows, buffer_rows", [(4, 12), (2, 2)])   # batches span 1-3 buffers
def test_batches_align_columns_by_clip_id(two_files, monkeypatch, shuffle, block_rows, buffer_rows):
    monkeypatch.setattr(data, "BLOCK_ROWS", block_rows)
    monkeypatch.setattr(data, "BUFFER_ROWS", buffer_rows)
    ids, folder = two_files
    columns = {"a": H5Column(folder / "a.h5", "x", ids, "a"), "b": H5Column(folder / "b.h5", "x", ids, "b")}
    positions = np.arange(0, 50, 2)[::-1]     # any order in; sorted inside
    seen = []
    for batch in ClipBatches(columns, positions, batch_size=5, shuffle=shuffle, seed=3):
        pos = batch["position"].numpy()
        assert np.all(batch["a"].numpy() == pos[:, None, None])
        assert np.all(batch["b"].numpy() == pos[:, None])
        assert batch["a"].dtype == np.float32 or str(batch["a"].dtype) == "torch.float32"
        assert len(pos) == 5   # 25 positions: batches stay full across buffer boundaries
        seen.extend(pos.tolist())
    assert sorted(seen) == list(range(0, 50, 2))
    assert (seen == sorted(seen)) != shuffle


def test_shuffle_depends_only_on_seed_and_epoch(two_files):
    ids, folder = two_files
    columns = {"a": H5Column(folder / "a.h5", "x", ids, "a")}

    def order(seed, epoch):
        batches = ClipBatches(columns, np.arange(50), 8, shuffle=True, seed=seed)
        batches.set_epoch(epoch)
        return np.concatenate([b["position"].numpy() for b in batches])

    assert np.array_equal(order(0, 1), order(0, 1))
    assert not np.array_equal(order(0, 1), order(0, 2))
    assert not np.array_equal(order(0, 1), order(1, 1))


def test_feature_stats_match_numpy_over_subset(tmp_path):
    rng = np.random.default_rng(0)
    values = rng.normal(3, 2, (40, 18, 7)).astype(np.float32)
    ids = [f"c{i}" for i in range(40)]
    _write(tmp_path / "v.h5", ids, values)
    subset = np.array([1, 5, 7, 20, 33])
    mean, std = feature_stats(H5Column(tmp_path / "v.h5", "x", ids, "v"), subset, batch_size=2)
    flat = values[subset].reshape(-1, 7).astype(np.float64)
    np.testing.assert_allclose(mean, flat.mean(0), rtol=1e-5)
    np.testing.assert_allclose(std, flat.std(0), rtol=1e-4)


def test_missing_artifact_and_missing_clips_name_the_stage(two_files):
    ids, folder = two_files
    with pytest.raises(MissingArtifactError, match="visual_features"):
        H5Column(folder / "nope.h5", "rgb", ids, "visual_features")
    with pytest.raises(ValueError, match="dvc repro audio"):
        H5Column(folder / "a.h5", "x", ids + ["not_there"], "audio")


def test_table_joins_manifest_and_audio(tmp_path):
    ids = ["a", "b", "c", "d"]
    manifest = [{"clip_id": c, "label": lab, "split": s} for c, lab, s in
                zip(ids, ["x", "y", "x", "y"], ["train", "train", "val", "test"])]
    with write_h5(tmp_path / "audio.h5", "audio") as f:
        write_strings(f, "clip_id", ids[::-1])
        f.create_dataset("has_audio", data=np.array([True, False, True, True]))   # d, c, b, a
    table = build_table(["c", "a"], manifest, tmp_path / "audio.h5")
    assert table.class_names == ["x", "y"]
    assert table.has_audio.tolist() == [False, True]
    assert table.counts()["val_no_audio"] == 1
    with pytest.raises(ValueError, match="'y' has 0 train clips"):
        check_class_counts(table, {"train": 1}, "classify")


def test_unknown_param_keys_are_rejected():
    assert build(GeneratorConfig, {"hidden": 64}, "generate_svdmap").hidden == 64
    with pytest.raises(ConfigError, match="hiden"):
        build(GeneratorConfig, {"hiden": 64}, "generate_svdmap")


def test_read_rows_any_order(tmp_path):
    with h5py.File(tmp_path / "r.h5", "w") as f:
        ds = f.create_dataset("x", data=np.arange(100))
        for rows in (np.array([5, 3, 4]), np.array([99, 0, 50])):
            assert read_rows(ds, rows).tolist() == rows.tolist()


def test_shuffled_batches_mix_classes_at_mit_scale(tmp_path):
    """339 classes stored grouped by class (manifest order), 128 clips each, as in a large MiT
    subset: a shuffled batch of 64 must hold about as many classes as a uniform draw (~58),
    not the ~8 that shuffling blocks of neighbouring rows gives."""
    classes, per_class, batch = 339, 128, 64
    label = np.repeat(np.arange(classes), per_class).astype(np.float32)
    ids = [f"c{i:06d}" for i in range(len(label))]
    with write_h5(tmp_path / "grouped.h5", "test") as f:
        write_strings(f, "clip_id", ids)
        f.create_dataset("label", data=label[:, None], chunks=(4096, 1))
    column = {"label": H5Column(tmp_path / "grouped.h5", "label", ids, "test")}
    batches = ClipBatches(column, np.arange(len(ids)), batch, shuffle=True, seed=0)
    distinct = [len(np.unique(b["label"].numpy())) for b in batches]
    expected = classes * (1 - (1 - 1 / classes) ** batch)          # 58.4 for a uniform draw
    assert np.mean(distinct[:-1]) > expected - 2 and min(distinct[:-1]) > 45
    seen = np.concatenate([b["position"].numpy() for b in batches])
    assert np.array_equal(np.sort(seen), np.arange(len(ids)))      # still every clip once per epoch
