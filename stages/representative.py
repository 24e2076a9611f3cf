"""Stage `representative`: frames whose motion exceeds threshold x the clip's mean -> representative.h5."""

from vida_core.extract.representative import representative_stage
from vida_core.shared.stage import Stage


def main() -> None:
    stage = Stage("representative")
    stage.done(representative_stage(stage))


if __name__ == "__main__":
    main()
