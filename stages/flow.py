"""Stage `flow`: optical flow between the sampled frames -> flow.h5 (vida_core/extract/flow.py)."""

from vida_core.extract.flow import flow_stage
from vida_core.shared.stage import Stage


def main() -> None:
    stage = Stage("flow")
    stage.done(flow_stage(stage))


if __name__ == "__main__":
    main()
