"""Stage `visual_features`: the image encoder on each clip's 18 RGB frames and 18 flow images -> visual.h5."""

from dataclasses import asdict

from vida_core.learn.visual_features import extract_visual_features
from vida_core.models import load_image_encoder
from vida_core.stage import Stage

ENCODER_BATCH = 64  # images per forward pass inside the encoder


def main() -> None:
    stage = Stage("visual_features")
    config, encoder_name = stage.params.visual_features, stage.params.models.image_encoder
    knobs = asdict(config)
    encoder = stage.model(load_image_encoder, encoder_name, batch_size=ENCODER_BATCH, runtime=knobs.pop("runtime"))
    knobs["batch_clips"] = stage.call_batch(config.batch_clips)   # more clips per call keeps every Ray actor busy
    summary = extract_visual_features(stage.input("frames"), stage.input("flow"), stage.output("visual"), encoder,
                                      **knobs, params={"visual_features": asdict(config),
                                                       "models": {"image_encoder": encoder_name}})
    stage.done(summary)


if __name__ == "__main__":
    main()
