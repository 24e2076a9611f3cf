"""Stage `visual_features`: the image encoder on each clip's 18 RGB frames and 18 flow images -> visual.h5."""

from vida_core.learn.visual_features import visual_features_stage
from vida_core.shared.stage import Stage


def main() -> None:
    stage = Stage("visual_features")
    stage.done(visual_features_stage(stage))


if __name__ == "__main__":
    main()
