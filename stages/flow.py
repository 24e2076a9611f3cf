"""Stage `flow`: optical flow between the 18 sampled frames -> flow.h5."""

from vida_core.extract.flow import compute_flow
from vida_core.stage import Stage


def main() -> None:
    stage = Stage("flow")
    knobs = stage.params.flow
    summary = compute_flow(stage.input("frames"), stage.output("flow"), method=knobs.method, size=knobs.resolution,
                           options=knobs.options, executor=stage.executor(("vida_core.extract.flow",)),
                           params={"flow": knobs.as_params()})
    stage.done(summary)


if __name__ == "__main__":
    main()
