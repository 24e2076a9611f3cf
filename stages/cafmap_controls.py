"""Stage `cafmap_controls`: CAFMap's condition with label codes instead of the bank's features, and with the bank permuted -> cafmap_controls.h5."""

from vida_core.semantic.cafmap_controls import run_cafmap_controls
from vida_core.shared.stage import Stage


def main() -> None:
    stage = Stage("cafmap_controls")
    summary = run_cafmap_controls(stage.input("label_map"), stage.input("label_bank"), stage.output("cafmap_controls"),
                                  stage.params.seed, params={"seed": stage.params.seed})
    stage.done(summary)


if __name__ == "__main__":
    main()
