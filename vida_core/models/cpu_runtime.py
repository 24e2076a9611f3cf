"""Running the embedded EfficientNet-Lite0 fast on a CPU: the `visual_features.runtime` knob.

* `torch`: plain fp32 PyTorch (the reference; channels-last, BatchNorm folded).
* `openvino` (default): the same network converted to OpenVINO, fp32, one inference stream per
  core. About 4x PyTorch's speed for the visual_features stage on 2 cores; features agree with
  PyTorch to a cosine of 0.9999999 on real frames (a test checks >= 0.999), not bit for bit.

Measured and left out: OpenVINO in bf16 (2x more on CPUs with AMX, but cosine only 0.96-0.99
to PyTorch on real frames and flow images), ONNX Runtime fp32 (1.3-1.7x PyTorch here, and the
export needs the `onnx` package), its int8 dynamic quantisation (slower here, cosine 0.89),
`torch.jit.freeze` (1.1x), and `torch.compile` (a C++ compiler and minutes in every run). The converted model is kept
in `$VIDA_CACHE` (default ~/.cache/vida), keyed by the weights and the OpenVINO version, so a
stage converts it once (a few seconds) and then loads it in a fraction of a second.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import torch

RUNTIMES = ("torch", "openvino")
INPUT_SIDE = 224  # Lite0's; a Lite variant brings its own (LITE_SCALING)


def check_runtime(runtime: str) -> str:
    if runtime not in RUNTIMES:
        raise ValueError(f"visual_features.runtime '{runtime}' is not one of {', '.join(RUNTIMES)}")
    return runtime


class FeaturesAndLogits(torch.nn.Module):
    """EfficientNet-Lite0 -> (pooled features [B, 1280], ImageNet logits [B, 1000]) in one pass."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor):
        features = self.model.features(x)
        return features, self.model._fc(features)


def _cache_dir() -> Path:
    return Path(os.environ.get("VIDA_CACHE") or Path.home() / ".cache" / "vida")


def _weights_digest(model) -> str:
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().float().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


class OpenVinoNetwork:
    """(normalised images [B, 3, side, side] float32) -> (features, logits) as numpy, by OpenVINO."""

    def __init__(self, model, threads: int | None = None):
        try:
            import openvino as ov
        except ImportError as err:
            raise ImportError("visual_features.runtime 'openvino' needs the openvino package "
                              "(pip install openvino), or set visual_features.runtime: torch") from err
        from vida_core.models.efficientnet_lite import LITE_SCALING

        model = model.float().to(memory_format=torch.contiguous_format).eval()
        variant = getattr(model, "variant", "lite0")
        side = LITE_SCALING[variant][2]
        ir = _cache_dir() / f"effnet-{variant}-openvino-{_weights_digest(model)}-{ov.__version__.split('-')[0]}.xml"
        core = ov.Core()
        if not ir.exists():
            ir.parent.mkdir(parents=True, exist_ok=True)
            converted = ov.convert_model(FeaturesAndLogits(model), example_input=torch.zeros(1, 3, side, side),
                                         input=[(-1, 3, side, side)])
            # Written under a temporary name and renamed: parallel stages may convert at once.
            tmp = ir.with_name(f".{ir.stem}.{os.getpid()}.xml")
            ov.save_model(converted, tmp, compress_to_fp16=False)
            tmp.with_suffix(".bin").replace(ir.with_suffix(".bin"))
            tmp.replace(ir)
        # One stream per core, each with its own part of the batch: depthwise convolutions
        # parallelise poorly inside one image batch, so cores working side by side go faster.
        self.streams = max(1, threads or torch.get_num_threads())
        config = {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "THROUGHPUT",
                  "NUM_STREAMS": self.streams, "INFERENCE_NUM_THREADS": self.streams}
        self.compiled = core.compile_model(core.read_model(ir), "CPU", config)
        self.queue = ov.AsyncInferQueue(self.compiled, self.streams)
        self.results: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self.queue.set_callback(self._keep)

    def _keep(self, request, part: int) -> None:
        self.results[part] = (request.get_output_tensor(0).data.copy(), request.get_output_tensor(1).data.copy())

    def __call__(self, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        x = np.ascontiguousarray(x.float().numpy())
        parts = np.array_split(np.arange(len(x)), min(self.streams, len(x)))
        self.results.clear()
        for i, rows in enumerate(parts):
            self.queue.start_async({0: x[rows[0]:rows[-1] + 1]}, i)
        self.queue.wait_all()
        return tuple(np.concatenate([self.results[i][k] for i in range(len(parts))]) for k in (0, 1))


class TorchNetwork:
    def __init__(self, model):
        self.model = model

    def __call__(self, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        with torch.inference_mode():
            features = self.model.features(x)
            return features.float().cpu().numpy(), self.model._fc(features).float().cpu().numpy()


def effnet_network(model, runtime: str, device: torch.device):
    """The network behind the runtime name; GPUs always run PyTorch (fp16)."""
    check_runtime(runtime)
    if device.type != "cpu" or runtime == "torch":
        return TorchNetwork(model)
    return OpenVinoNetwork(model)
