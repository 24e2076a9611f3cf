"""Stage `demo_audioset`: the label bank's external source on the demo, a sound-only stand-in
for AudioSet (vida_core.io.demo_audioset) -> data/demo_audioset (media files and segments.csv).

When `dataset.name` is not `demo` it only leaves a note in the folder (DVC needs the output to
exist): point `label_bank.audioset_root` at real AudioSet, or use `label_bank.source:
tagged_train_audio`.
"""

import dataclasses
import shutil

from vida_core.io.demo import DemoConfig
from vida_core.io.demo_audioset import generate_demo_audioset
from vida_core.models import audioset_labels
from vida_core.shared.stage import Stage


def main() -> None:
    stage = Stage("demo_audioset")
    demo = stage.params.demo
    out_dir = stage.output("demo_audioset")
    shutil.rmtree(out_dir, ignore_errors=True)
    if stage.params.dataset.name != "demo":
        out_dir.mkdir(parents=True)
        (out_dir / "NOT_GENERATED.txt").write_text(
            f"dataset.name is '{stage.params.dataset.name}': the demo's AudioSet stand-in is generated only "
            "for the demo. Point label_bank.audioset_root at AudioSet, or set label_bank.source: "
            "tagged_train_audio.\n")
        stage.done({"clips": 0, "folder": str(out_dir), "skipped": f"dataset.name is {stage.params.dataset.name}"})
        return
    config = DemoConfig(**dataclasses.asdict(demo))
    mid_of = {label["name"]: label["mid"] for label in audioset_labels()}
    rows = generate_demo_audioset(out_dir, config, demo.bank_clips_per_sound, mid_of, executor=stage.executor())
    stage.done({"clips": len(rows), "sounds": len({r["sound"] for r in rows}), "folder": str(out_dir)})


if __name__ == "__main__":
    main()
