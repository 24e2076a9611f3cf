"""Stage `demo_data`: generate the embedded demo dataset (real mp4 clips with audio) into data/demo."""

import dataclasses

from vida_core.io.demo import DemoConfig, generate_demo_dataset
from vida_core.stage import Stage


def main() -> None:
    stage = Stage("demo_data")
    demo = dataclasses.asdict(stage.params.demo)
    out_dir = demo.pop("root")
    rows = generate_demo_dataset(out_dir, DemoConfig(**demo), executor=stage.executor())
    stage.done({"clips": len(rows), "folder": out_dir})


if __name__ == "__main__":
    main()
