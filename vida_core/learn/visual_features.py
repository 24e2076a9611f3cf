"""Stage `visual_features`: the image encoder on the 18 RGB frames and 18 flow images per clip.

Flow as an image. Each flow field [h, w, 2] becomes a 3-channel uint8 image:
  R = x displacement, G = y displacement, both mapped linearly from
      [-flow_clip_pixels, +flow_clip_pixels] to [0, 255] (zero motion = 127.5),
  B = magnitude, mapped from [0, flow_clip_pixels] to [0, 255],
clipped at the ends. The scale is one fixed number (params: visual_features.flow_clip_pixels,
in the units of flow.h5's `flow` values), not per clip, so a slow and a fast clip look
different to the encoder and magnitudes stay comparable across clips.

17 fields -> 18 steps. Field i is the motion from frame i to frame i+1, so it is placed at
step i+1 (the same convention as representative.h5, where magnitude[i] marks frame i+1).
Step 0 has no previous frame and gets the zero-motion image (no motion observed yet)
rather than a copy of field 0, which would count the first motion twice. Its features are
the same for every clip and are computed once.

Captioner labels from the same pass. An encoder that also gives ImageNet logits (the embedded
EfficientNet-Lite0, which is also the embedded captioner's network) stores the top
`TOP_LABELS` classes of every RGB frame (`rgb_label_index`, `rgb_label_prob`), so the
captions stage words captions from them instead of running the network again on frames it
has already seen.
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
from tqdm import tqdm

from vida_core.shared import NUM_FRAMES
from vida_core.shared.artifacts import RowWriter, aligned_rows, read_rows, read_strings, write_h5, write_strings
from vida_core.models.specs import model_identity
from vida_core.shared.config import asdict

TOP_LABELS = 5   # ImageNet classes kept per RGB frame for the embedded captioner


def top_labels(logits: np.ndarray, k: int = TOP_LABELS) -> tuple[np.ndarray, np.ndarray]:
    """Logits [..., C] -> the k most probable classes [..., k] (int16) and their softmax probabilities."""
    shifted = np.exp(logits - logits.max(-1, keepdims=True))
    probs = shifted / shifted.sum(-1, keepdims=True)
    index = np.argsort(-probs, axis=-1, kind="stable")[..., :k]
    return index.astype(np.int16), np.take_along_axis(probs, index, -1).astype(np.float32)


def flow_to_image(flow: np.ndarray, clip_pixels: float) -> np.ndarray:
    """Flow fields [..., h, w, 2] -> uint8 images [..., h, w, 3] (x, y, magnitude) on a fixed scale."""
    flow = np.asarray(flow, dtype=np.float32)
    magnitude = np.sqrt((flow ** 2).sum(-1, keepdims=True))
    signed = (flow / clip_pixels + 1.0) * 127.5
    unsigned = magnitude / clip_pixels * 255.0
    return np.clip(np.rint(np.concatenate([signed, unsigned], axis=-1)), 0, 255).astype(np.uint8)


def zero_motion_image(height: int, width: int, clip_pixels: float) -> np.ndarray:
    return flow_to_image(np.zeros((height, width, 2), np.float32), clip_pixels)


def extract_visual_features(frames_h5: str | Path, flow_h5: str | Path, out_h5: str | Path, encoder,
                            batch_clips: int = 8, flow_clip_pixels: float = 16.0, dtype: str = "float16",
                            params: dict | None = None) -> dict:
    """Encode RGB and flow images of every clip of frames.h5 -> visual.h5 (`rgb`, `flow` [N, 18, D])."""
    with h5py.File(frames_h5, "r") as frames_file, h5py.File(flow_h5, "r") as flow_file:
        clip_ids = read_strings(frames_file["clip_id"])
        flow_rows = aligned_rows(clip_ids, read_strings(flow_file["clip_id"]), flow_h5, "flow")
        frames, flows = frames_file["frames"], flow_file["flow"]
        fields = flows.shape[1]
        if fields != NUM_FRAMES - 1:
            raise ValueError(f"flow.h5 has {fields} fields per clip, expected {NUM_FRAMES - 1}; "
                             "rerun `dvc repro flow`.")
        dim = int(encoder.dim)
        zero_feature = encoder.encode(zero_motion_image(*flows.shape[2:4], flow_clip_pixels)[None])[0]
        row = ((NUM_FRAMES, dim), np.dtype(dtype), {})
        models = {"image_encoder": model_identity(encoder)["id"]}
        with_labels = hasattr(encoder, "features_and_logits")
        specs = {"rgb": row, "flow": row}
        if with_labels:
            specs["rgb_label_index"] = ((NUM_FRAMES, TOP_LABELS), np.int16, {})
            specs["rgb_label_prob"] = ((NUM_FRAMES, TOP_LABELS), np.float32, {})
        with write_h5(out_h5, "visual_features", params=params, models=models) as out:
            write_strings(out, "clip_id", clip_ids)
            out.attrs["flow_image"] = ("R,G = x,y displacement mapped from [-s, s] to [0, 255]; B = magnitude from "
                                       f"[0, s] to [0, 255]; s = {flow_clip_pixels}; step 0 = zero motion, "
                                       "step i+1 = field i (frame i -> i+1)")
            if with_labels:
                out.attrs["labels_model"] = json.dumps(model_identity(encoder), sort_keys=True)
            writer = RowWriter(out, specs, flush_every=max(16, batch_clips))
            for start in tqdm(range(0, len(clip_ids), batch_clips), desc="visual_features", unit="batch"):
                stop = min(start + batch_clips, len(clip_ids))
                rgb = frames[start:stop]                                       # [b, 18, S, S, 3]
                flow_images = flow_to_image(read_rows(flows, flow_rows[start:stop]), flow_clip_pixels)  # [b,17,h,w,3]
                b = stop - start
                # Batched across clips; RGB and flow images differ in size, so one call for each.
                rgb_images = rgb.reshape(-1, *rgb.shape[2:])
                if with_labels:
                    rgb_features, logits = encoder.features_and_logits(rgb_images)
                    label_index, label_prob = (a.reshape(b, NUM_FRAMES, TOP_LABELS) for a in top_labels(logits))
                else:
                    rgb_features = encoder.encode(rgb_images)
                rgb_features = rgb_features.reshape(b, NUM_FRAMES, dim)
                flow_features = encoder.encode(flow_images.reshape(-1, *flow_images.shape[2:])).reshape(b, fields, dim)
                flow_features = np.concatenate([np.broadcast_to(zero_feature, (b, 1, dim)), flow_features], axis=1)
                for i, (r, fl) in enumerate(zip(rgb_features, flow_features)):
                    labels = {"rgb_label_index": label_index[i], "rgb_label_prob": label_prob[i]} if with_labels else {}
                    writer.append(rgb=r.astype(dtype), flow=fl.astype(dtype), **labels)
            writer.flush()
    return {"clips": len(clip_ids), "dim": dim, "image_encoder": models["image_encoder"]}


ENCODER_BATCH = 64  # images per forward pass inside the encoder


def visual_features_stage(stage) -> dict:
    """The `visual_features` stage (stages/visual_features.py, and `vida predict`): the image
    encoder on each clip's 18 RGB frames and 18 flow images -> visual.h5."""
    from vida_core.models import load_image_encoder

    config, encoder_name = stage.params.visual_features, stage.params.models.image_encoder
    knobs = asdict(config)
    encoder = stage.model(load_image_encoder, encoder_name, batch_size=ENCODER_BATCH, runtime=knobs.pop("runtime"))
    knobs["batch_clips"] = stage.call_batch(config.batch_clips)   # more clips per call keeps every copy busy
    return extract_visual_features(stage.input("frames"), stage.input("flow"), stage.output("visual"), encoder,
                                   **knobs, params={"visual_features": asdict(config),
                                                    "models": {"image_encoder": encoder_name}})
