"""Stage `representative`: frames whose motion reaches `threshold` x the clip's mean -> representative.h5."""

from vida_core.extract.representative import select_representative
from vida_core.stage import Stage


def main() -> None:
    stage = Stage("representative")
    threshold = stage.params.threshold
    summary = select_representative(stage.input("flow"), stage.output("representative"), threshold,
                                    params={"threshold": threshold})
    stage.done(summary)


if __name__ == "__main__":
    main()
