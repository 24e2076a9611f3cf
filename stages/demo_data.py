"""Stage `demo_data`: generate the embedded demo dataset (real mp4 clips with audio) into data/demo.

When `dataset.name` is not `demo` it only leaves a note in the folder (DVC needs the output to
exist), in milliseconds: the demo is not regenerated for a run that does not read it.
"""

import dataclasses
import shutil
from pathlib import Path

from vida_core.io.demo import DemoConfig, generate_demo_dataset
from vida_core.shared.stage import Stage


def main() -> None:
    stage = Stage("demo_data")
    demo = dataclasses.asdict(stage.params.demo)
    out_dir = Path(demo.pop("root"))
    if stage.params.dataset.name != "demo":
        shutil.rmtree(out_dir, ignore_errors=True)
        out_dir.mkdir(parents=True)
        (out_dir / "NOT_GENERATED.txt").write_text(
            f"dataset.name is '{stage.params.dataset.name}': the demo is generated only when it is 'demo'.\n")
        stage.done({"clips": 0, "folder": str(out_dir), "skipped": f"dataset.name is {stage.params.dataset.name}"})
        return
    rows = generate_demo_dataset(out_dir, DemoConfig(**demo), executor=stage.executor())
    stage.done({"clips": len(rows), "folder": str(out_dir)})


if __name__ == "__main__":
    main()
