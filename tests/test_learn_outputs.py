"""Visual features (with a fake encoder) and the inspection plots."""

import h5py
import numpy as np

from vida_core.shared.artifacts import read_strings, write_h5, write_strings
from vida_core.views.inspect_learning import cosine_per_step, plot_generated
from synthetic import make_synthetic
from vida_core.learn.visual_features import extract_visual_features, flow_to_image


class FakeEncoder:
    """Features = per-channel mean of each image (D = 3), and a record of the batches seen."""
    dim = 3

    def __init__(self):
        self.calls = []

    def encode(self, images):
        self.calls.append(len(images))
        return images.reshape(len(images), -1, 3).mean(1).astype(np.float32)


def test_flow_image_uses_a_fixed_scale():
    flow = np.array([[[[0.0, 0.0]], [[8.0, -8.0]], [[40.0, 0.0]]]], np.float32)   # [1, 3, 1, 2]
    image = flow_to_image(flow, clip_pixels=16.0)[0, :, 0]
    assert image[0].tolist() == [128, 128, 0]            # zero motion
    assert image[1].tolist() == [191, 64, 180]           # half scale each way, |v| = 11.3 px
    assert image[2].tolist() == [255, 128, 255]          # beyond the scale: clipped


def test_visual_features_encode_rgb_and_padded_flow(tmp_path):
    rng = np.random.default_rng(0)
    ids = ["c0", "c1", "c2"]
    frames = rng.integers(0, 256, (3, 18, 8, 8, 3), dtype=np.uint8)
    flow = rng.normal(0, 4, (3, 17, 4, 4, 2)).astype(np.float16)
    with write_h5(tmp_path / "frames.h5", "frames") as f:
        write_strings(f, "clip_id", ids)
        f.create_dataset("frames", data=frames)
    with write_h5(tmp_path / "flow.h5", "flow") as f:
        write_strings(f, "clip_id", ids[::-1])   # a different order: joined by clip_id
        f.create_dataset("flow", data=flow[::-1])
    encoder = FakeEncoder()
    summary = extract_visual_features(tmp_path / "frames.h5", tmp_path / "flow.h5", tmp_path / "visual.h5",
                                      encoder, batch_clips=2, flow_clip_pixels=16.0)
    assert summary["clips"] == 3 and encoder.calls[1:] == [36, 34, 18, 17]   # 18 RGB, 17 flow per clip, batched
    with h5py.File(tmp_path / "visual.h5", "r") as f:
        assert read_strings(f["clip_id"]) == ids
        rgb, flow_features = f["rgb"][()], f["flow"][()]
    assert rgb.shape == flow_features.shape == (3, 18, 3) and rgb.dtype == np.float16
    np.testing.assert_allclose(rgb[1, 4], frames[1, 4].reshape(-1, 3).mean(0), rtol=1e-3)
    assert np.allclose(flow_features[:, 0], [128, 128, 0])   # step 0: zero-motion image
    expected = flow_to_image(flow[2, 0], 16.0).reshape(-1, 3).mean(0)   # clip c2, field 0 -> step 1
    np.testing.assert_allclose(flow_features[2, 1], expected, rtol=1e-3)


def test_inspect_plots(tmp_path):
    paths = make_synthetic(tmp_path, clips=12, classes=2, dim=4)
    sims = plot_generated("clip000000", paths["audio"], paths["generated_svdmap"], None, tmp_path / "g.png")
    assert (tmp_path / "g.png").stat().st_size > 0
    assert sims["CAFMap"] is None and -1 <= sims["SVDMap"] <= 1
    # A clip without audio (every 7th from 1) still plots.
    plot_generated("clip000001", paths["audio"], paths["generated_svdmap"], paths["generated_cafmap"],
                   tmp_path / "g1.png")
    x = np.random.default_rng(0).normal(size=(18, 128))
    assert np.allclose(cosine_per_step(x - 8, 2 * x + 1), 1.0)     # offsets and scale do not matter
    assert np.allclose(cosine_per_step(x, -x), -1.0)
