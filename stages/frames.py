"""Stage `frames`: 18 RGB frames per clip at 6 fps -> frames.h5 (rejects listed inside)."""

from dataclasses import asdict

from vida_core.extract.frames import extract_frames
from vida_core.io.dataset import read_manifest
from vida_core.stage import Stage


def main() -> None:
    stage = Stage("frames")
    knobs = stage.params.frames
    rows = read_manifest(stage.input("manifest"))
    summary = extract_frames(rows, stage.output("frames"), size=knobs.resolution, min_duration=knobs.min_duration,
                             executor=stage.executor(("vida_core.extract.frames",)),
                             params={"frames": asdict(knobs)})
    rejects = summary.pop("rejects")
    for clip_id, reason in rejects:
        print(f"[frames] rejected {clip_id}: {reason}")
    stage.done(summary)
    stage.check_rejects(len(rows), rejects)


if __name__ == "__main__":
    main()
