"""Dataset adapters: Moments in Time as it ships, folder-per-class trees, CSV manifests."""

import pytest

from vida_core.io.dataset import build_manifest, read_manifest, write_manifest


def touch(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


def test_mit_layout_validation_is_test_and_val_comes_from_training(tmp_path):
    for cls in ("applauding", "barking", "adult+female+singing"):
        for i in range(10):
            touch(tmp_path / "training" / cls / f"clip_{i:02d}.mp4")
        for i in range(3):
            touch(tmp_path / "validation" / cls / f"val_{i}.mp4")
    rows = build_manifest("mit", root=tmp_path, val_fraction=0.2, seed=1)
    splits = {r["clip_id"]: r["split"] for r in rows}
    assert all(s == "test" for cid, s in splits.items() if cid.startswith("validation/"))
    train_side = [r for r in rows if r["clip_id"].startswith("training/")]
    assert sum(r["split"] == "val" for r in train_side) == 3 * 2          # 20 % of 10 per class
    assert not any(r["split"] == "test" for r in train_side)
    assert {r["label"] for r in rows} == {"applauding", "barking", "adult+female+singing"}
    # Seeded: the same seed gives the same split, another seed another.
    assert build_manifest("mit", root=tmp_path, val_fraction=0.2, seed=1) == rows
    assert build_manifest("mit", root=tmp_path, val_fraction=0.2, seed=2) != rows


def test_mit_csv_lists_and_category_order_pick_the_first_k_classes(tmp_path):
    for cls in ("zebra", "apple", "mango"):
        for i in range(4):
            touch(tmp_path / "training" / cls / f"{i}.mp4")
    (tmp_path / "moments_categories.txt").write_text("zebra,0\napple,1\nmango,2\n")
    (tmp_path / "trainingSet.csv").write_text(
        "".join(f"{c}/{i}.mp4,{c},3,1\n" for c in ("zebra", "apple", "mango") for i in range(4)))
    rows = build_manifest("mit", root=tmp_path, classes=2, val_fraction=0.25)
    assert {r["label"] for r in rows} == {"zebra", "apple"}       # file order, not alphabetical


def test_folder_tree_gets_a_stratified_split_and_caps(tmp_path):
    for cls in ("a", "b"):
        for i in range(20):
            touch(tmp_path / cls / f"{i}.mp4")
    touch(tmp_path / "a" / "notes.txt")
    rows = build_manifest("folder", root=tmp_path, max_clips_per_class=10, val_fraction=0.2,
                          test_fraction=0.2)
    assert len(rows) == 20
    for cls in ("a", "b"):
        counts = [sum(r["label"] == cls and r["split"] == s for r in rows) for s in ("train", "val", "test")]
        assert counts == [6, 2, 2]
    write_manifest(rows, tmp_path / "manifest.csv")
    assert read_manifest(tmp_path / "manifest.csv") == [
        {k: str(v) for k, v in r.items()} for r in rows]


def test_csv_manifest_keeps_missing_files_and_given_splits(tmp_path):
    touch(tmp_path / "clips" / "one.mp4")
    (tmp_path / "list.csv").write_text("path,label,split\nclips/one.mp4,run,test\nclips/gone.mp4,run,train\n")
    rows = build_manifest("csv", csv_path=tmp_path / "list.csv")
    assert [(r["clip_id"], r["split"]) for r in rows] == [("clips/gone", "train"), ("clips/one", "test")]
    assert rows[1]["path"] == str(tmp_path / "clips" / "one.mp4")


def test_too_small_class_gets_a_clear_message(tmp_path):
    for i in range(2):
        touch(tmp_path / "tiny" / f"{i}.mp4")
    with pytest.warns(UserWarning, match="class 'tiny' has 2 clip"):
        rows = build_manifest("folder", root=tmp_path)
    assert {r["split"] for r in rows} == {"train"}


def test_unknown_class_and_dataset_name_fail_clearly(tmp_path):
    touch(tmp_path / "a" / "0.mp4")
    with pytest.raises(ValueError, match="not in the dataset"):
        build_manifest("folder", root=tmp_path, classes=["b"])
    with pytest.raises(ValueError, match="not one of"):
        build_manifest("kinetics", root=tmp_path)
