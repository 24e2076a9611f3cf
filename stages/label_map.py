"""Stage `label_map`: captions -> AudioSet labels -> CAFMap's condition -> label_map.h5."""

from vida_core.semantic.label_map import label_map_stage
from vida_core.shared.stage import Stage


def main() -> None:
    stage = Stage("label_map")
    stage.done(label_map_stage(stage))


if __name__ == "__main__":
    main()
