"""Stage `captions`: caption every representative frame -> captions.json."""

from vida_core.models import load_captioner
from vida_core.semantic.captions import run_captions
from vida_core.stage import Stage


def main() -> None:
    stage = Stage("captions")
    batch_size = stage.params.captions.batch_size
    captioner = stage.model(load_captioner, stage.params.models.captioner, batch_size=batch_size)
    summary = run_captions(stage.input("representative"), stage.input("frames"), stage.output("captions"),
                           captioner, stage.call_batch(batch_size))
    stage.done(summary)


if __name__ == "__main__":
    main()
