"""The fast paths give what the plain ones give: the vectorised log-mel (same bits), rows
compressed by workers (same arrays, same file for any worker count), OpenVINO features (cosine
to PyTorch), captions worded from the image encoder's pass, and the per-frame caption cache."""

from __future__ import annotations

import hashlib

import h5py
import numpy as np
import pytest

from media import make_clip
from vida_core.extract.frames import extract_frames
from vida_core.extract.logmel import _filterbank, _transformers_filterbank, fbank, fbank_reference, pool_to_steps
from vida_core.shared.artifacts import RowWriter, decode_row, encode_row, read_encoded_row
from vida_core.semantic.captions import caption_representative_frames, run_captions


def test_fbank_matches_transformers_bit_for_bit():
    rng = np.random.default_rng(0)
    t = np.arange(48000) / 16000
    waves = [0.5 * np.sin(2 * np.pi * 440 * t), rng.uniform(-1, 1, 48000), np.zeros(48000),
             np.round(rng.normal(0, 0.1, 48000) * 32767) / 32768]
    assert all(np.array_equal(a, b) for a, b in zip(_filterbank(), _transformers_filterbank()))
    for wave in waves:
        assert np.array_equal(fbank(wave), fbank_reference(wave))


def test_pooling_adds_in_the_same_order_as_before():
    frames = np.random.default_rng(1).normal(-8, 5, (298, 128)).astype(np.float32)
    step = (((np.arange(298) * 160 + 200) / 16000) * 6).astype(int).clip(max=17)
    sums = np.zeros((18, 128))
    np.add.at(sums, step, frames)
    expected = (sums / np.bincount(step, minlength=18)[:, None]).astype(np.float32)
    assert np.array_equal(pool_to_steps(frames), expected)


@pytest.mark.parametrize("storage", [{"compression": "lzf"}, {"compression": "gzip", "compression_opts": 1}])
def test_rows_compressed_elsewhere_read_back_with_plain_h5py(tmp_path, storage):
    rng = np.random.default_rng(0)
    rows = [rng.integers(0, 256, (4, 6, 3), dtype=np.uint8),      # noise: lzf gives up, stored raw
            np.zeros((4, 6, 3), np.uint8), np.arange(72, dtype=np.uint8).reshape(4, 6, 3)]
    with h5py.File(tmp_path / "a.h5", "w") as f:
        writer = RowWriter(f, {"x": ((4, 6, 3), np.uint8, {"chunks": (1, 4, 6, 3), **storage})}, flush_every=2)
        for row in rows:
            writer.append(x=encode_row(row, **storage))
        writer.append(x=rows[0])                                  # a plain row among encoded ones
        writer.flush()
    with h5py.File(tmp_path / "a.h5") as f:
        assert f["x"].compression == storage["compression"]
        np.testing.assert_array_equal(f["x"][()], np.stack(rows + rows[:1]))
        for i, row in enumerate(rows):
            np.testing.assert_array_equal(decode_row(read_encoded_row(f["x"], i)), row)
    with h5py.File(tmp_path / "b.h5", "w") as f:
        writer = RowWriter(f, {"x": ((4, 6, 3), np.uint8, {"chunks": (1, 4, 6, 3)})})
        writer.append(x=encode_row(rows[1], compression="lzf"))
        with pytest.raises(ValueError, match="encoded row"):
            writer.flush()


def test_frames_file_is_the_same_for_any_worker_count(tmp_path):
    rows = [{"clip_id": f"c{i}", "path": str(make_clip(tmp_path / f"c{i}.mp4", fps=25 + 5 * i, seconds=3.0))}
            for i in range(3)]
    digests = []
    for workers in (1, 2):
        out = tmp_path / f"frames{workers}.h5"
        extract_frames(rows, out, size=32, workers=workers)
        digests.append(hashlib.sha256(out.read_bytes()).hexdigest())
        with h5py.File(out) as f:
            assert f["frames"].compression == "lzf" and f["frames"].shape == (3, 18, 32, 32, 3)
            assert f["frames"][()].any()
    assert digests[0] == digests[1]


@pytest.fixture(scope="module")
def photos():
    """Smooth, photo-like 224 x 224 frames (gradients and blobs)."""
    yy, xx = np.mgrid[:224, :224] / 224
    images = []
    for i in range(6):
        r = np.sin(6 * xx + i) * 0.5 + 0.5
        g = np.exp(-((xx - 0.3 - 0.08 * i) ** 2 + (yy - 0.5) ** 2) * 20)
        b = yy * (i % 3) / 2
        images.append((np.stack([r, g, b], -1) * 255).astype(np.uint8))
    return np.stack(images)


def test_openvino_features_agree_with_pytorch(photos):
    pytest.importorskip("openvino")
    from vida_core.models import load_image_encoder

    reference = load_image_encoder("effnet-lite0", device="cpu", runtime="torch").features_and_logits(photos)
    fast = load_image_encoder("effnet-lite0", device="cpu", runtime="openvino").features_and_logits(photos)
    for ref, got in zip(reference, fast):
        cosine = (ref * got).sum(1) / np.linalg.norm(ref, axis=1) / np.linalg.norm(got, axis=1)
        assert cosine.min() >= 0.999
    assert (reference[1].argmax(1) == fast[1].argmax(1)).all()


def _tiny_h5s(tmp_path, photos):
    ids = ["a/1", "b/2"]
    frames = np.stack([np.concatenate([photos, photos, photos]), np.concatenate([photos[::-1]] * 3)])
    frames[:, :, 0, 0, 0] = np.arange(36).reshape(2, 18)       # every frame distinct
    mask = np.zeros((2, 18), bool)
    mask[0, [1, 4, 7]] = True
    mask[1, [2, 3]] = True
    for name, data in (("frames", {"frames": frames}), ("representative", {"mask": mask})):
        with h5py.File(tmp_path / f"{name}.h5", "w") as f:
            f.create_dataset("clip_id", data=np.array(ids, dtype=object), dtype=h5py.string_dtype())
            for key, value in data.items():
                f.create_dataset(key, data=value)
    return ids, frames, mask


def test_captions_from_the_encoders_pass_match_the_captioner(tmp_path, photos):
    from vida_core.learn.visual_features import top_labels
    from vida_core.models import load_captioner, load_image_encoder
    from vida_core.models.specs import model_identity

    ids, frames, mask = _tiny_h5s(tmp_path, photos)
    captioner = load_captioner("effnet-lite0-labels", batch_size=16, device="cpu")
    encoder = load_image_encoder("effnet-lite0", device="cpu", runtime="torch")
    index, prob = top_labels(encoder.features_and_logits(frames.reshape(-1, 224, 224, 3))[1])
    with h5py.File(tmp_path / "visual.h5", "w") as f:
        f.create_dataset("clip_id", data=np.array(ids, dtype=object), dtype=h5py.string_dtype())
        f.create_dataset("rgb_label_index", data=index.reshape(2, 18, -1))
        f.create_dataset("rgb_label_prob", data=prob.reshape(2, 18, -1))
        f.attrs["labels_model"] = __import__("json").dumps(model_identity(encoder))
    summary = run_captions(tmp_path / "representative.h5", tmp_path / "frames.h5", tmp_path / "c.json", captioner, 4,
                           visual_h5=tmp_path / "visual.h5", cache_path=None)
    assert summary["source"].startswith("visual.h5") and summary["frames"] == 5
    from_visual = __import__("json").loads((tmp_path / "c.json").read_text())["clips"]
    direct = caption_representative_frames(ids, mask, lambda row, idx: frames[row, idx], captioner, 4)
    assert from_visual == direct


class CountingCaptioner:
    """Captions a frame by its mean brightness and counts the frames it was asked to caption."""

    def __init__(self):
        self.spec, self.seen = None, 0

    def caption(self, images):
        self.seen += len(images)
        return [f"brightness {int(image.mean())}" for image in images]


def test_caption_cache_never_captions_a_frame_twice(tmp_path, photos):
    ids, frames, mask = _tiny_h5s(tmp_path, photos)
    captioner, cache = CountingCaptioner(), tmp_path / "cache.sqlite"
    args = (tmp_path / "representative.h5", tmp_path / "frames.h5", tmp_path / "c.json", captioner, 2)
    first = run_captions(*args, cache_path=cache)
    assert first["captioned"] == captioner.seen == 5
    with h5py.File(tmp_path / "representative.h5", "a") as f:       # a lower threshold: more frames
        f["mask"][0, 10] = True
    second = run_captions(*args, cache_path=cache)
    assert second["captioned"] == 1 and second["from_cache"] == 5 and captioner.seen == 6
    clips = __import__("json").loads((tmp_path / "c.json").read_text())["clips"]
    assert [c["frame"] for c in clips["a/1"]] == [1, 4, 7, 10]


def test_gpu_fbank_frontend_agrees_with_the_cpu_one():
    import torch

    from vida_core.extract.logmel import fbank_torch

    waves = np.random.default_rng(2).uniform(-0.5, 0.5, (2, 48000)).astype(np.float32)
    on_device = fbank_torch(torch.from_numpy(waves)).numpy()
    np.testing.assert_allclose(on_device, np.stack([fbank(w) for w in waves]), atol=2e-3)
