"""Stage `flow`: optical flow between the 18 sampled frames -> artifacts/flow.h5."""

from vida_core.artifacts import require
from vida_core.extract import compute_flow
from vida_core.params import load_params, section

from _common import ARTIFACTS, report


def main() -> None:
    params = load_params()
    knobs = section(params, "flow")
    summary = compute_flow(require(ARTIFACTS / "frames.h5", "frames"), ARTIFACTS / "flow.h5",
                           method=knobs["method"], size=knobs["size"], preset=knobs.get("preset", "fast"), workers=params.get("workers", 1),
                           params={"flow": knobs})
    report("flow", summary)


if __name__ == "__main__":
    main()
