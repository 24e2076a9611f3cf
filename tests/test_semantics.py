"""Captions -> labels -> CAFMap condition, the label bank, and the semantic dictionary,
with small deterministic fakes in place of the real models."""

import json
import re
import wave
import zlib
from types import SimpleNamespace

import h5py
import numpy as np
import pytest

from vida_core.semantic.captions import caption_representative_frames
from vida_core.semantic.dictionary import dictionary_for_classes
from vida_core.semantic.label_bank import (accumulate_label_bank, audioset_bank_examples, index_audioset_files,
                                           read_audioset_csv, segment_window, split_rows, tagged_label_sets)
from vida_core.semantic.label_map import cafmap_condition, map_captions_to_labels, pad_selections, select_labels
from vida_core.semantic.text import class_name_to_text, normalize_rows

LABEL_NAMES = ["Speech", "Dog", "Bark", "Female singing", "Male singing", "Applause",
               "Bouncing", "Basketball bounce", "Water", "Engine"]


class FakeTextEncoder:
    """Bag of words: each word is a fixed random vector (seeded by the word), a text their sum."""
    dim = 64
    spec = SimpleNamespace(role="text_encoder", name="fake", hf_id="fake/bag-of-words")

    def encode(self, texts):
        out = np.zeros((len(texts), self.dim))
        for i, text in enumerate(texts):
            for word in re.findall(r"[a-z]+", text.lower()):
                out[i] += np.random.default_rng(zlib.crc32(word.encode())).standard_normal(self.dim)
        return normalize_rows(out)


class FakeCaptioner:
    def __init__(self):
        self.batch_sizes = []

    def caption(self, images):
        self.batch_sizes.append(len(images))
        return [f"value {int(image[0, 0, 0])}" for image in images]


def test_class_names_read_as_words():
    assert class_name_to_text("adult+female+singing") == "adult female singing"
    assert class_name_to_text("bouncing_ball") == "bouncing ball"
    assert class_name_to_text("hand-shaking") == "hand shaking"


def test_select_labels_keeps_labels_at_or_above_the_top_k_mean():
    sims = np.full((3, 10), -0.5)
    sims[0, :6] = [0.9, 0.8, 0.1, 0.5, 0.3, 0.2]   # top-5 mean 0.54 -> labels 0 and 1
    sims[1, 4] = 0.99                               # one clear winner: only it
    sims[2, :] = 0.1                                # all tied: all of the top-5, no more
    (idx0, sim0), (idx1, _), (idx2, _) = select_labels(sims, top_k=5)
    assert idx0.tolist() == [0, 1] and np.allclose(sim0, [0.9, 0.8])
    assert idx1.tolist() == [4]
    assert len(idx2) == 5


def test_select_labels_always_keeps_the_best_label():
    sims = np.random.default_rng(0).standard_normal((50, 527))
    for row, (indices, _) in zip(sims, select_labels(sims, 5)):
        assert 1 <= len(indices) <= 5 and indices[0] == row.argmax()
    assert select_labels(np.array([[0.3, 0.1]]), top_k=1)[0][0].tolist() == [0]


def test_pad_selections_marks_padding():
    indices, sims = pad_selections([(np.array([3, 1]), np.array([0.5, 0.4]))], width=3)
    assert indices.tolist() == [[3, 1, -1]] and np.isnan(sims[0, 2])


def test_condition_is_mean_of_bank_rows_and_zero_without_representative_frames():
    bank = np.random.default_rng(1).standard_normal((10, 128)).astype(np.float32)
    label_index = np.full((2, 18, 3), -1, np.int16)
    label_index[0, 4] = [2, 5, -1]
    label_index[0, 9] = [7, -1, -1]
    condition, mask = cafmap_condition(label_index, bank)
    assert condition.shape == (2, 18, 128) and condition.dtype == np.float32
    assert np.allclose(condition[0, 4], (bank[2] + bank[5]) / 2, atol=1e-6)
    assert np.allclose(condition[0, 9], bank[7])
    assert mask[0].tolist() == [i in (4, 9) for i in range(18)]
    assert not mask[1].any() and not condition[1].any()
    assert not np.delete(condition[0], [4, 9], axis=0).any()


def test_captions_map_to_related_labels():
    encoder = FakeTextEncoder()
    captions = {"a": [{"frame": 3, "caption": "a dog and its bark"},
                      {"frame": 8, "caption": "people singing"}],
                "b": [], "c": [{"frame": 1, "caption": "a dog and its bark"}]}
    index, sims = map_captions_to_labels(["a", "b", "c"], captions, encoder,
                                         encoder.encode(LABEL_NAMES), top_k=5)
    assert index.shape == (3, 18, 5)
    assert set(index[0, 3][index[0, 3] >= 0]) <= {1, 2} and index[0, 3, 0] in (1, 2)
    assert index[0, 8, 0] in (3, 4)
    np.testing.assert_array_equal(index[2, 1], index[0, 3])
    assert (index[0, :3] == -1).all() and (index[1] == -1).all() and np.isnan(sims[1]).all()


def test_captions_are_batched_across_clips():
    masks = np.zeros((3, 18), bool)
    masks[0, [2, 5, 9]] = True
    masks[2, [1, 2, 3, 17]] = True
    frames = np.zeros((3, 18, 4, 4, 3), np.uint8)
    for row in range(3):
        for frame in range(18):
            frames[row, frame] = row * 18 + frame
    captioner = FakeCaptioner()
    out = caption_representative_frames(["a", "b", "c"], masks, lambda r, idx: frames[r, idx],
                                        captioner, batch_size=3)
    assert captioner.batch_sizes == [3, 3, 1]
    assert out["b"] == []
    assert out["a"] == [{"frame": f, "caption": f"value {f}"} for f in (2, 5, 9)]
    assert [c["caption"] for c in out["c"]] == [f"value {36 + f}" for f in (1, 2, 3, 17)]


def test_label_bank_uses_train_audio_only_and_reports_uncovered_labels():
    clip_ids = ["tr1", "tr2", "tr3", "va1", "te1", "tr_silent"]
    split_of = {"tr1": "train", "tr2": "train", "tr3": "train", "va1": "val", "te1": "test",
                "tr_silent": "train"}
    has_audio = np.array([True, True, True, True, True, False])
    rows = split_rows(clip_ids, split_of, has_audio, "train")
    assert rows.tolist() == [0, 1, 2]

    features = np.array([[1.0] * 128, [3.0] * 128, [5.0] * 128, [1e3] * 128, [1e3] * 128, [1e3] * 128])
    scores = np.zeros((6, 10))
    scores[0, [1, 2]] = 0.6        # tr1: labels 1 and 2
    scores[1, 1] = 0.9             # tr2: label 1
    scores[2, 4] = 0.05            # tr3: nothing above min_prob, so its top-1 (4)
    scores[3:, :] = 0.9            # val / test / silent clips would feed every label
    label_sets = tagged_label_sets(scores[rows], min_prob=0.2)
    assert [s.tolist() for s in label_sets] == [[1, 2], [1], [4]]

    mean, count, covered, kind = accumulate_label_bank(features[rows], label_sets, num_labels=10)
    assert count.tolist() == [0, 2, 1, 0, 1, 0, 0, 0, 0, 0]
    assert np.allclose(mean[1], 2.0) and np.allclose(mean[2], 1.0) and np.allclose(mean[4], 5.0)
    assert covered.sum() == 3
    assert np.allclose(mean[~covered], 3.0)      # fallback: global mean of bank clips
    assert mean.max() < 1e3                      # nothing from val/test/silent clips


def test_audioset_source_counts_unknown_missing_and_unreadable(tmp_path):
    (tmp_path / "segments.csv").write_text(
        "# Segments csv created Sun Mar  5 10:54:31 2017\n"
        "# num_ytids=4, num_segs=4, num_unique_labels=2, num_positive_labels=5\n"
        "# YTID, start_seconds, end_seconds, positive_labels\n"
        '--aE2O5G5WE, 30.000, 40.000, "/m/dog,/m/unknown"\n'
        'a_b-cdefghi, 0.000, 10.000, "/m/dog,/m/bark"\n'
        'missingfile, 0.000, 10.000, "/m/bark"\n'
        'brokenfile1, 0.000, 10.000, "/m/bark"\n'
        'nolabelclip, 0.000, 10.000, "/m/other"\n')
    rows = read_audioset_csv(tmp_path / "segments.csv")
    assert rows[0] == {"ytid": "--aE2O5G5WE", "start": 30.0, "end": 40.0, "mids": ["/m/dog", "/m/unknown"]}

    media = tmp_path / "media"
    media.mkdir()
    for name, value in (("--aE2O5G5WE_30.000.wav", 0.25), ("a_b-cdefghi.wav", 0.5)):
        with wave.open(str(media / name), "wb") as w:
            w.setnchannels(1), w.setsampwidth(2), w.setframerate(16000)
            w.writeframes((np.full(16000 * 4, value) * 32767).astype(np.int16).tobytes())
    (media / "brokenfile1.mp4").write_bytes(b"not a video")
    files = index_audioset_files(media)
    assert set(files) == {"--aE2O5G5WE", "a_b-cdefghi", "brokenfile1"}

    def fake_logmel(waveform):  # the feature records the waveform's level
        assert waveform.shape == (48000,)
        return np.full((18, 128), waveform.mean(), np.float32)

    ids, features, label_sets, report = audioset_bank_examples(
        rows, files, {"/m/dog": 1, "/m/bark": 2}, fake_logmel)
    assert ids == ["--aE2O5G5WE", "a_b-cdefghi"]
    assert np.allclose(features[:, 0], [0.25, 0.5], atol=1e-3)
    assert [s.tolist() for s in label_sets] == [[1], [1, 2]]
    assert report == {"segments": 5, "used": 2, "missing_file": 1, "unreadable": 1,
                      "unknown_mids": 2, "no_known_label": 1}


def test_segment_window_centres_on_the_segment():
    whole_video = np.arange(16000 * 60, dtype=np.float32)
    window = segment_window(whole_video, start=30, end=40)
    assert window.shape == (48000,) and window[0] == 16000 * 35 - 24000
    cut_segment = np.arange(16000 * 10, dtype=np.float32)
    assert segment_window(cut_segment, start=30, end=40)[0] == 16000 * 5 - 24000
    assert segment_window(np.ones(16000, np.float32), 0, 1)[16000:].sum() == 0  # zero-padded


def test_dictionary_ranks_labels_by_similarity():
    rows = dictionary_for_classes(["adult+female+singing", "barking"], FakeTextEncoder(),
                                  LABEL_NAMES, top_n=3)
    assert [r["rank"] for r in rows] == [1, 2, 3, 1, 2, 3]
    first = [r for r in rows if r["class"] == "adult+female+singing"]
    assert first[0]["label"] == "Female singing"
    assert first[0]["similarity"] >= first[1]["similarity"] >= first[2]["similarity"]


def test_real_text_encoder_maps_singing_to_singing():
    models = pytest.importorskip("vida_core.models")
    try:
        encoder = models.load_text_encoder("minilm", device="cpu")
        names = [label["name"] for label in models.audioset_labels()]
    except Exception as error:  # no embedded weights in this environment
        pytest.skip(f"embedded text encoder unavailable: {error}")
    rows = dictionary_for_classes(["adult+female+singing"], encoder, names, top_n=5)
    assert any("singing" in r["label"].lower() for r in rows)


def test_inspect_views(tmp_path):
    from vida_core.views.inspect_semantic import (plot_captions, summarize_captions, summarize_dictionary,
                                            summarize_label_bank)
    ids = np.array(["c/1", "c/2"], dtype=object)
    mask = np.zeros((2, 18), bool)
    mask[0, [3, 7]] = True
    captions = {"model": {"role": "captioner", "name": "fake", "id": "fake"},
                "clips": {"c/1": [{"frame": 3, "caption": "a dog barks"},
                                  {"frame": 7, "caption": "a dog runs"}], "c/2": []}}
    (tmp_path / "captions.json").write_text(json.dumps(captions))
    label_index = np.full((2, 18, 5), -1, np.int16)
    label_index[0, [3, 7], :2] = [1, 2]
    with h5py.File(tmp_path / "frames.h5", "w") as f:
        f["clip_id"], f["frames"] = ids, np.zeros((2, 18, 8, 8, 3), np.uint8)
    with h5py.File(tmp_path / "rep.h5", "w") as f:
        f["clip_id"], f["mask"] = ids, mask
    with h5py.File(tmp_path / "lm.h5", "w") as f:
        f["clip_id"], f["label_index"] = ids, label_index
        f["label_similarity"] = np.where(label_index >= 0, 0.5, np.nan)
        f["label_name"] = np.array(LABEL_NAMES, dtype=object)
    with h5py.File(tmp_path / "bank.h5", "w") as f:
        f["count"], f["covered"] = np.arange(10), np.arange(10) > 0
        f["label_name"] = np.array(LABEL_NAMES, dtype=object)
        f.attrs["source"] = "tagged_train_audio"
    (tmp_path / "dict.csv").write_text("class,rank,label_index,label,similarity\nbarking,1,2,Bark,0.8\n")

    assert "a dog barks" in summarize_captions(tmp_path / "captions.json", clip="c/1")
    assert "no representative frame" in summarize_captions(tmp_path / "captions.json", clip="c/2")
    assert "9 of 10" in summarize_label_bank(tmp_path / "bank.h5")
    assert "barking: Bark (0.80)" in summarize_dictionary(tmp_path / "dict.csv")
    for clip in ("c/1", "c/2"):
        out = plot_captions(clip, tmp_path / "frames.h5", tmp_path / "rep.h5", tmp_path / "captions.json",
                            tmp_path / "lm.h5", tmp_path / f"{clip.replace('/', '_')}.png")
        assert out.stat().st_size > 0


def test_label_map_streams_blocks_with_the_same_result(tmp_path, monkeypatch):
    """Blocks of clips and a bounded caption cache change memory, not what is written."""
    import vida_core.semantic.label_map as label_map

    rng = np.random.default_rng(0)
    ids = [f"c/{i}" for i in range(11)]
    masks = rng.random((11, 18)) < 0.3
    masks[4] = False  # a clip with no representative frame
    words = ["dog bark", "people singing", "water engine", "bouncing ball", "applause"]
    clips = {cid: [{"frame": int(k), "caption": f"a photo of a {words[rng.integers(5)]}"} for k in np.flatnonzero(m)]
             for cid, m in zip(ids, masks)}
    (tmp_path / "captions.json").write_text(json.dumps({"model": {}, "clips": clips}))
    with h5py.File(tmp_path / "rep.h5", "w") as f:
        f["clip_id"], f["mask"] = np.array(ids, dtype=object), masks
    with h5py.File(tmp_path / "bank.h5", "w") as f:
        f["mean"] = rng.standard_normal((len(LABEL_NAMES), 128)).astype(np.float32)

    def run(out):
        label_map.run_label_map(tmp_path / "rep.h5", tmp_path / "captions.json", tmp_path / "bank.h5", out,
                                FakeTextEncoder(), LABEL_NAMES, 3, params={})
        with h5py.File(out, "r") as f:
            return {key: f[key][()] for key in ("clip_id", "label_index", "label_similarity", "condition",
                                                "condition_mask")}

    whole = run(tmp_path / "whole.h5")
    monkeypatch.setattr(label_map, "BLOCK_CLIPS", 3)
    monkeypatch.setattr(label_map, "CACHE_CAPTIONS", 2)
    blocks = run(tmp_path / "blocks.h5")
    for key in ("clip_id", "label_index", "condition_mask"):
        np.testing.assert_array_equal(whole[key], blocks[key], err_msg=key)
    for key in ("label_similarity", "condition"):  # BLAS may round a row differently in another batch
        np.testing.assert_allclose(whole[key], blocks[key], rtol=1e-5, atol=1e-6, err_msg=key)
    assert whole["condition_mask"].sum() == masks.sum() and not whole["condition_mask"][4].any()


def test_uncovered_labels_borrow_from_their_nearest_covered_ontology_relative():
    from vida_core.models.specs import audioset_names
    from vida_core.semantic.ontology import audioset_ontology

    names = audioset_names()
    index = {name: i for i, name in enumerate(names)}
    features = np.array([[1.0] * 128, [2.0] * 128, [6.0] * 128])
    label_sets = [np.array([index["Bell"]]), np.array([index["Tick-tock"]]), np.array([index["Guitar"]])]
    mean, count, covered, kind = accumulate_label_bank(features, label_sets, len(names), "ontology",
                                                       audioset_ontology().relatives)
    expected = {"Bell": (1, "own"), "Church bell": (1, "parent"), "Clock": (2, "child"), "Tick": (2, "sibling"),
                "Banjo": (6, "sibling"), "Dog": (3, "global_mean")}
    for name, (value, source) in expected.items():
        assert np.allclose(mean[index[name]], value) and kind[index[name]] == source, name
    assert covered.sum() == 3
    # The first release's rule: every uncovered label gets the global mean.
    mean, _, _, kind = accumulate_label_bank(features, label_sets, len(names), "global_mean")
    assert np.allclose(mean[index["Church bell"]], 3) and set(kind) == {"own", "global_mean"}


def test_ontology_relations_stop_below_the_top_level_categories():
    from vida_core.models.specs import audioset_names
    from vida_core.semantic.ontology import audioset_ontology

    ontology, index = audioset_ontology(), {name: i for i, name in enumerate(audioset_names())}
    assert ontology.related(index["Bell"], index["Church bell"])
    assert ontology.related(index["Ambulance (siren)"], index["Siren"])
    assert not ontology.related(index["Dog"], index["Cat"])          # only "Animal" above both
    assert not ontology.related(index["Church bell"], index["Jingle bell"])  # siblings are not ancestors
    assert index["Animal"] not in ontology.ancestors(index["Dog"])


def test_filter_match_ontology_counts_ancestors_as_shared():
    from vida_core.learn.filtering import iou, label_matcher
    from vida_core.models.specs import audioset_names

    index = {name: i for i, name in enumerate(audioset_names())}
    tagged = {index["Church bell"], index["Dog"]}
    dictionary = {index["Bell"], index["Chime"]}
    assert iou(tagged, dictionary, label_matcher("exact")) == 0.0
    assert iou(tagged, dictionary, label_matcher("ontology")) == pytest.approx(1 / 3)  # 1 shared, 3 in union
    assert iou({index["Cat"]}, {index["Dog"]}, label_matcher("ontology")) == 0.0  # only "Animal" above both
    with pytest.raises(ValueError, match="filter.match"):
        label_matcher("fuzzy")


def test_a_bank_clips_condition_comes_from_the_bank_without_it(tmp_path):
    """With a bank built from the run's own audio, CAFMap's condition for a clip that fed the bank
    must not carry its own real audio: label_map rebuilds the bank without it, by the same rule."""
    from vida_core.semantic.label_bank import write_label_bank
    from vida_core.semantic.label_map import run_label_map

    labels = [{"index": i, "mid": f"/m/{i}", "name": name} for i, name in enumerate(LABEL_NAMES)]
    bank_ids = ["c/0", "c/1", "c/2", "other/9"]
    features = np.array([[1.0] * 128, [2.0] * 128, [4.0] * 128, [8.0] * 128])
    label_sets = [np.array([1]), np.array([1, 2]), np.array([2]), np.array([5])]   # Dog: c/0, c/1; Bark: c/1, c/2
    write_label_bank(tmp_path / "bank.h5", bank_ids, features, label_sets, {}, labels, "tagged_train_audio",
                     0.2, {}, params={}, backoff="global_mean")
    ids = ["c/0", "c/1", "c/3"]   # c/3 is not a bank clip
    masks = np.zeros((3, 18), bool)
    masks[:, 4] = True
    (tmp_path / "captions.json").write_text(json.dumps({"model": {}, "clips": {
        cid: [{"frame": 4, "caption": "a photo of a dog bark"}] for cid in ids}}))
    with h5py.File(tmp_path / "rep.h5", "w") as f:
        f["clip_id"], f["mask"] = np.array(ids, dtype=object), masks
    summary = run_label_map(tmp_path / "rep.h5", tmp_path / "captions.json", tmp_path / "bank.h5",
                            tmp_path / "lm.h5", FakeTextEncoder(), LABEL_NAMES, 3, params={})
    assert summary["leave_one_out_clips"] == 2
    with h5py.File(tmp_path / "lm.h5", "r") as f:
        index, condition = f["label_index"][()], f["condition"][()]
    with h5py.File(tmp_path / "bank.h5", "r") as f:
        full = f["mean"][()]
    kept = index[:, 4][index[:, 4] >= 0].reshape(3, -1)[0]
    assert set(kept) == {1, 2}   # Dog and Bark for every clip (the same caption)
    # c/3 uses the full bank; c/0's Dog mean is c/1's alone; c/1's Dog is c/0's and its Bark c/2's.
    np.testing.assert_allclose(condition[2, 4], full[kept].mean(0), rtol=1e-6)
    np.testing.assert_allclose(condition[0, 4], np.mean([2.0, 3.0]), rtol=1e-6)    # Dog 2, Bark (2+4)/2
    np.testing.assert_allclose(condition[1, 4], np.mean([1.0, 4.0]), rtol=1e-6)
    assert not np.allclose(condition[0, 4], condition[2, 4])
