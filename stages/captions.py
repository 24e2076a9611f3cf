"""Stage `captions`: caption every representative frame -> captions.json.

With the embedded captioner the words come from visual.h5 (the image encoder's pass already
ran its network on every frame); other captioners go through a per-frame cache, so no frame is
captioned twice (vida_core/semantic/captions.py says how).
"""

from vida_core.models import load_captioner
from vida_core.semantic.captions import run_captions
from vida_core.stage import Stage


def main() -> None:
    stage = Stage("captions")
    batch_size = stage.params.captions.batch_size
    captioner = load_captioner(stage.params.models.captioner, device=stage.params.device, batch_size=batch_size)
    summary = run_captions(stage.input("representative"), stage.input("frames"), stage.output("captions"),
                           captioner, batch_size, visual_h5=stage.input("visual"))
    stage.done(summary)


if __name__ == "__main__":
    main()
