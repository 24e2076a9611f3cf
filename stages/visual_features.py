"""Stage `visual_features`: the image encoder on each clip's 18 RGB frames and 18 flow images -> visual.h5."""

from dataclasses import asdict

from vida_core.artifacts import require
from vida_core.learn.config import VisualFeaturesConfig, from_params
from vida_core.models import load_image_encoder
from vida_core.params import load_params
from vida_core.visual_features import extract_visual_features

from _common import ARTIFACTS, report

ENCODER_BATCH = 64  # images per forward pass inside the encoder


def main() -> None:
    params = load_params()
    config = from_params(VisualFeaturesConfig, params.get("visual_features"), "visual_features")
    encoder_name = params["models"]["image_encoder"]
    frames = require(ARTIFACTS / "frames.h5", "frames")
    flow = require(ARTIFACTS / "flow.h5", "flow")
    encoder = load_image_encoder(encoder_name, device=params.get("device", "auto"), batch_size=ENCODER_BATCH)
    summary = extract_visual_features(frames, flow, ARTIFACTS / "visual.h5", encoder, **asdict(config),
                                      params={"visual_features": asdict(config),
                                              "models": {"image_encoder": encoder_name}})
    report("visual_features", summary)


if __name__ == "__main__":
    main()
