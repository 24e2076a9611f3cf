"""Stage `representative`: frames whose motion reaches `threshold` x the clip's mean -> representative.h5."""

from vida_core.artifacts import require
from vida_core.extract import select_representative
from vida_core.params import load_params

from _common import ARTIFACTS, report


def main() -> None:
    threshold = float(load_params()["threshold"])
    summary = select_representative(require(ARTIFACTS / "flow.h5", "flow"), ARTIFACTS / "representative.h5",
                                    threshold, params={"threshold": threshold})
    report("representative", summary)


if __name__ == "__main__":
    main()
