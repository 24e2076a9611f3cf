"""Stage `captions`: caption every representative frame -> captions.json.

With `captions.source: frames` and the embedded captioner the words come from visual.h5 (the
image encoder's pass already ran its network on those frames); otherwise frames go through a
per-frame caption cache, so no frame is captioned twice (vida_core/semantic/captions.py).
"""

from vida_core.io.dataset import read_manifest
from vida_core.models import load_captioner
from vida_core.semantic.captions import run_captions
from vida_core.stage import Stage


def main() -> None:
    stage = Stage("captions")
    batch_size = stage.params.captions.batch_size
    captioner = stage.model(load_captioner, stage.params.models.captioner, batch_size=batch_size)
    video_paths = None
    if stage.params.captions.source == "video":  # the whole frame, decoded again at the captioner's size
        video_paths = {row["clip_id"]: row["path"] for row in read_manifest(stage.input("manifest"))}
    summary = run_captions(stage.input("representative"), stage.input("frames"), stage.output("captions"),
                           captioner, stage.call_batch(batch_size), video_paths, visual_h5=stage.input("visual"))
    stage.done(summary)


if __name__ == "__main__":
    main()
