"""Stage `captions`: caption every representative frame -> captions.json.

Frames go through a per-frame caption cache, so no frame is captioned twice
(vida_core/semantic/captions.py).
"""

from vida_core.semantic.captions import captions_stage
from vida_core.shared.stage import Stage


def main() -> None:
    stage = Stage("captions")
    stage.done(captions_stage(stage))


if __name__ == "__main__":
    main()
