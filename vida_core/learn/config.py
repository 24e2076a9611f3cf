"""Every knob of the learning stages, with its default, in one place.

`params.yaml` sections of the same names override these; an unknown key is an error, so a
typo in `dvc exp run -S generate_svdmap.hiden=256` fails loudly instead of being ignored.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

CONDITIONS = ("baseline", "svdmap", "svdmap_filtered", "cafmap", "real_audio")


@dataclass
class VisualFeaturesConfig:
    batch_clips: int = 8            # clips encoded together (36 images each: 18 RGB + 18 flow)
    flow_clip_pixels: float = 16.0  # displacement (flow.h5 units: pixels at flow.size) at the ends of uint8
    dtype: str = "float16"          # storage type of visual.h5 features; halves the file


@dataclass
class TrainConfig:
    epochs: int = 60          # upper bound; early stopping on val usually ends sooner
    patience: int = 8         # epochs without a val improvement before stopping
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.0


@dataclass
class GeneratorConfig(TrainConfig):
    hidden: int = 512
    layers: int = 2
    dropout: float = 0.3
    epochs: int = 40
    patience: int = 6
    # RGB+flow features are linearly projected to this many dims before the LSTM (0: fed
    # directly, as in the paper). A low-rank factorisation of the LSTM's input weights that
    # makes CPU training several times faster with 2 x 1280-d features.
    input_proj: int = 256


@dataclass
class CAFMapConfig(GeneratorConfig):
    use_visual: bool = False  # also feed RGB+flow features (an ablation beyond the paper)


@dataclass
class FilterConfig:
    top_k: int = 5               # labels the feature tagger assigns to each generated clip
    iou_threshold: float = 0.1   # keep a train clip's generated audio when IoU >= this


@dataclass
class ClassifyConfig(TrainConfig):
    conditions: list[str] = field(default_factory=lambda: list(CONDITIONS))
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    hidden: int = 256
    dropout: float = 0.3
    epochs: int = 30
    patience: int = 6
    batch_size: int = 64
    weight_decay: float = 1e-4
    # Each modality (RGB, flow, audio) is linearly projected to this many dims before the
    # LSTM (0: raw concatenation, as in the paper). Besides speed, it gives the 128-d audio
    # the same width as each 1280-d visual stream.
    input_proj: int = 128


def from_params(cls, section: dict | None, stage: str):
    """Build config `cls` from a params.yaml section, rejecting keys it does not know."""
    section = dict(section or {})
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(section) - known)
    if unknown:
        raise ValueError(f"params.yaml section '{stage}' has unknown keys {unknown}; "
                         f"known keys: {sorted(known)}")
    config = cls(**section)
    if isinstance(config, ClassifyConfig):
        bad = [c for c in config.conditions if c not in CONDITIONS]
        if bad:
            raise ValueError(f"classify.conditions has unknown {bad}; choose from {list(CONDITIONS)}")
    return config


def as_dict(config) -> dict:
    return dataclasses.asdict(config)
