"""Stage `captions`: caption every representative frame -> captions.json."""

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
                           captioner, stage.call_batch(batch_size), video_paths)
    stage.done(summary)


if __name__ == "__main__":
    main()
