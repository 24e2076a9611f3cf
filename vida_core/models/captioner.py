"""Captioners: uint8 RGB frames [B,H,W,3] -> one short English caption per frame.

* `effnet-lite2-labels` (embedded default, no download) and `effnet-lite0-labels`:
  EfficientNet-Lite2's (Lite0's) ImageNet prediction written as a caption. Lite2 is not the
  image encoder's network, so its captions can bring the classifier knowledge it lacks. Rule: "a photo of a {top1}", and when the second class has
  probability >= 0.10 it is added as an alternative: "a photo of a {top1} or a {top2}".
  A weak second guess is left out so it does not pull the text embedding away from the
  main object; a strong one is kept because the classifier is genuinely torn between them.
* `blip` = Salesforce/blip-image-captioning-base (or any BLIP folder/Hub id): unconditional
  captioning with greedy decoding, up to `max_new_tokens` (20) tokens, fp16 on GPU.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from .image import (
    EFFNET_PREP,
    ImagePrep,
    check_images,
    image_processor_class,
    images_to_tensor,
    load_embedded_effnet,
    model_dtype,
)
from .cpu_runtime import effnet_network
from .loading import batch_slices, fetch, resolve_device
from .specs import ModelSpec, complete_spec, resolve_spec

SECOND_LABEL_MIN_PROB = 0.10


def _with_article(noun: str) -> str:
    # "an" before a vowel sound; "uni-"/"use"/"eu-"/"one" start with a consonant sound
    vowel = noun[:1].lower() in "aeiou" and not noun.lower().startswith(("uni", "use", "eu", "one"))
    return f"{'an' if vowel else 'a'} {noun}"


def caption_from_labels(top1: str, top2: str, p2: float) -> str:
    caption = f"a photo of {_with_article(top1)}"
    if p2 >= SECOND_LABEL_MIN_PROB:
        caption += f" or {_with_article(top2)}"
    return caption


class LabelCaptioner:
    pool_attributes = ("spec", "batch_size", "labels", "prep")   # what a pool of it shows (executors.ray)

    """Captions from the top ImageNet classes of an EfficientNet-Lite (Lite2 by default: a network
    of its own, not the image encoder's Lite0). On a CPU it runs on OpenVINO, as the image encoder
    does (`cpu_runtime`)."""

    def __init__(self, spec: ModelSpec, model, device: torch.device, batch_size: int,
                 prep: ImagePrep = EFFNET_PREP):
        self.spec, self.model, self.device, self.batch_size = spec, model, device, batch_size
        self.labels = spec.label_names()
        self.prep = prep  # the geometry it wants: centre square at the network's side
        self.network = effnet_network(model, "openvino", device)

    def caption(self, images: np.ndarray) -> list[str]:
        images = check_images(images)
        captions: list[str] = []
        dtype = next(self.model.parameters()).dtype
        for sl in batch_slices(len(images), self.batch_size):
            x = images_to_tensor(images[sl], self.prep, self.device, dtype)
            top = torch.from_numpy(self.network(x)[1]).float().softmax(dim=-1).topk(2, dim=-1)
            captions += self.captions_from_top(top.indices.numpy(), top.values.numpy())
        return captions

    def captions_from_top(self, index: np.ndarray, prob: np.ndarray) -> list[str]:
        """Captions from the top classes [n, k >= 2] and their probabilities, computed here or by
        the image encoder's pass over the same frames (visual.h5), which is the same network."""
        return [caption_from_labels(self.labels[int(i[0])], self.labels[int(i[1])], float(p[1]))
                for i, p in zip(index, prob)]


class BlipCaptioner:
    pool_attributes = ("spec", "batch_size", "max_new_tokens", "prep")

    def __init__(self, spec: ModelSpec, model, tokenizer, prep: ImagePrep, device: torch.device,
                 batch_size: int = 32, max_new_tokens: int = 20):
        self.spec, self.model, self.tokenizer, self.prep = spec, model, tokenizer, prep
        self.device, self.batch_size, self.max_new_tokens = device, batch_size, max_new_tokens

    def caption(self, images: np.ndarray) -> list[str]:
        images = check_images(images)
        captions: list[str] = []
        with torch.inference_mode():
            for sl in batch_slices(len(images), self.batch_size):
                x = images_to_tensor(images[sl], self.prep, self.device, self.model.dtype)
                ids = self.model.generate(pixel_values=x, max_new_tokens=self.max_new_tokens, do_sample=False, num_beams=1)
                captions += [t.strip() for t in self.tokenizer.batch_decode(ids, skip_special_tokens=True)]
        return captions


def load_captioner(name: str, batch_size: int, device: str | torch.device = "auto"):
    spec = resolve_spec("captioner", name)
    dev = resolve_device(device)
    if spec.loader in ("efficientnet_lite0", "efficientnet_lite2"):
        prep = dataclasses.replace(EFFNET_PREP, height=spec.input_size, width=spec.input_size)
        return LabelCaptioner(spec, load_embedded_effnet(dev, spec.loader.rsplit("_", 1)[1]), dev, batch_size, prep)
    spec = complete_spec(spec)  # loader "blip" is the only other captioner backend
    from transformers import AutoTokenizer, BlipForConditionalGeneration

    def load(cls, **kw):
        return fetch(spec, lambda local_only: cls.from_pretrained(
            spec.source, revision=spec.revision, local_files_only=local_only, **kw))

    model = load(BlipForConditionalGeneration, dtype=model_dtype(dev))
    tokenizer = load(AutoTokenizer)
    prep = ImagePrep.from_processor(load(image_processor_class("Blip")))
    spec = dataclasses.replace(spec, input_size=prep.height, mean=prep.mean, std=prep.std)
    return BlipCaptioner(spec, model.to(dev).eval(), tokenizer, prep, dev, batch_size)
