"""Dataset adapters: Moments in Time as it ships, folder-per-class trees, CSV manifests."""

import csv
import hashlib
import os
import warnings

import pytest

from vida_core.io.dataset import build_manifest, read_manifest, write_manifest


def touch(path, content=b"x"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


@pytest.fixture(autouse=True)
def own_working_dir(tmp_path_factory, monkeypatch):
    # build_manifest keeps its fingerprint cache under the working directory: not the checkout's.
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))


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


def test_folder_and_mit_clip_ids_are_the_relative_paths_they_always_were(tmp_path):
    names = ("a.b.mp4", "x y.MP4", "c..mkv", ".hidden.mp4", "d.tar.avi")
    for n in names:
        touch(tmp_path / "tree" / "cls one" / n)
        touch(tmp_path / "mit" / "training" / "c.l.s" / n)
    folder = {r["clip_id"]: r["path"] for r in build_manifest("folder", root=tmp_path / "tree")}
    assert folder == {f"cls one/{n.rsplit('.', 1)[0]}": str(tmp_path / "tree" / "cls one" / n) for n in names}
    mit = {r["clip_id"] for r in build_manifest("mit", root=tmp_path / "mit")}
    assert mit == {f"training/c.l.s/{n.rsplit('.', 1)[0]}" for n in names}


def test_csv_clip_ids_are_relative_to_the_csv_folder_also_for_absolute_paths(tmp_path):
    touch(tmp_path / "data" / "x" / "diver.mp4")
    touch(tmp_path / "data" / "y" / "swim.mp4")
    listing = tmp_path / "data" / "list.csv"
    listing.write_text(f"path,label\n{tmp_path / 'data' / 'x' / 'diver.mp4'},dive\ny/swim.mp4,swim\n")
    rows = {r["clip_id"]: r["path"] for r in build_manifest("csv", csv_path=listing, val_fraction=0,
                                                            test_fraction=0)}
    assert rows == {"x/diver": str(tmp_path / "data" / "x" / "diver.mp4"),
                    "y/swim": str(tmp_path / "data" / "y" / "swim.mp4")}


def test_csv_paths_that_only_differ_in_dots_or_lie_outside_keep_distinct_readable_ids(tmp_path):
    for rel in ("list/.a/x.mp4", "list/a/x.mp4", "x.mp4", "elsewhere/z.mp4"):
        touch(tmp_path / rel)
    listing = tmp_path / "list" / "clips.csv"
    listing.write_text("path,label\n./.a/x.mp4,k\na/x.mp4,k\n../x.mp4,k\n"
                       f"{tmp_path / 'elsewhere' / 'z.mp4'},k\n")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 4 clips, too few for a split
        ids = sorted(r["clip_id"] for r in build_manifest("csv", csv_path=listing))
    assert ids == ["../elsewhere/z", "../x", ".a/x", "a/x"]


@pytest.mark.parametrize("layout", ["folder", "csv"])
def test_two_files_with_one_clip_id_fail_naming_both_paths(tmp_path, layout):
    first, second = touch(tmp_path / "a" / "x.mp4"), touch(tmp_path / "a" / "x.avi")
    if layout == "csv":
        # The same file twice, written two ways.
        (tmp_path / "list.csv").write_text("path,label\na/x.mp4,a\n./a/../a/x.mp4,a\n")
        first, second = tmp_path / "a" / "x.mp4", tmp_path / "a" / ".." / "a" / "x.mp4"
    with pytest.raises(ValueError, match="clip id") as failure:
        build_manifest(layout, root=tmp_path, csv_path=tmp_path / "list.csv")
    assert "'a/x'" in str(failure.value) and str(first) in str(failure.value) and str(second) in str(failure.value)


def test_a_folder_without_class_folders_fails_naming_the_layout(tmp_path):
    touch(tmp_path / "flat" / "0.mp4")
    touch(tmp_path / "flat" / "1.mp4")
    with pytest.raises(ValueError, match=r"no class folders, and 2 video/audio file.*<root>/<class>/<clip>\.mp4"):
        build_manifest("folder", root=tmp_path / "flat")
    touch(tmp_path / "mit" / "training" / "a" / "0.mp4")  # a MiT tree given as a folder tree
    with pytest.raises(ValueError, match=r"folder\(s\) \(training\).*dataset.name: mit"):
        build_manifest("folder", root=tmp_path / "mit")
    (tmp_path / "empty.csv").write_text("path,label\n")
    with pytest.raises(ValueError, match=r"lists no clips: expected a CSV with columns path,label\[,split\]"):
        build_manifest("csv", csv_path=tmp_path / "empty.csv")


def test_audio_only_files_are_clips_and_other_files_are_named_in_one_warning(tmp_path):
    for name in ("v.mp4", "song.m4a", "tone.WAV", "notes.txt", ".DS_Store", "sub/deeper.mp4"):
        touch(tmp_path / "a" / name)
    for i in range(3):
        touch(tmp_path / "b" / f"{i}.mp4")
    with pytest.warns(UserWarning, match="left out 2 ") as caught:
        rows = build_manifest("folder", root=tmp_path)
    assert {r["clip_id"] for r in rows if r["label"] == "a"} == {"a/v", "a/song", "a/tone"}
    message = " ".join(str(w.message) for w in caught)
    assert "a/notes.txt" in message and "a/sub/" in message and ".DS_Store" not in message


def test_manifest_fingerprints_follow_the_bytes_and_old_manifests_still_read(tmp_path):
    for cls in ("a", "b"):
        for i in range(3):
            touch(tmp_path / cls / f"{i}.mp4", f"{cls}{i}".encode())
    before = build_manifest("folder", root=tmp_path)
    assert {r["clip_id"]: r["fingerprint"] for r in before}["a/0"] == hashlib.blake2b(b"a0", digest_size=16).hexdigest()
    clip = tmp_path / "a" / "0.mp4"
    clip.write_bytes(b"A0")  # same size, other bytes
    os.utime(clip, ns=(clip.stat().st_atime_ns, clip.stat().st_mtime_ns + 10**9))
    after = build_manifest("folder", root=tmp_path)
    changed = [a["clip_id"] for a, b in zip(after, before) if a != b]
    assert changed == ["a/0"]  # the manifest, which the later stages depend on, changes for that clip only

    write_manifest(after, tmp_path / "manifest.csv")
    assert next(csv.reader(open(tmp_path / "manifest.csv")))[-1] == "fingerprint"
    assert read_manifest(tmp_path / "manifest.csv") == after
    (tmp_path / "old.csv").write_text("clip_id,path,label,split\na/0,a/0.mp4,a,train\n")
    assert read_manifest(tmp_path / "old.csv") == [
        {"clip_id": "a/0", "path": "a/0.mp4", "label": "a", "split": "train", "fingerprint": ""}]


def test_an_audio_only_file_is_rejected_by_the_frames_stage_with_its_reason(tmp_path):
    from media import make_clip
    from vida_core.extract.frames import extract_frames

    (tmp_path / "data" / "a").mkdir(parents=True)
    make_clip(tmp_path / "data" / "a" / "video.mp4", width=64, height=48)
    make_clip(tmp_path / "data" / "a" / "sound.m4a", audio_only=True)
    rows = build_manifest("folder", root=tmp_path / "data", val_fraction=0, test_fraction=0)
    summary = extract_frames(rows, tmp_path / "frames.h5", size=32)
    assert summary["kept"] == 1 and summary["rejects"] == [("a/sound", "no video stream")]
