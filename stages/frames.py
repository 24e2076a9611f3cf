"""Stage `frames`: 18 RGB frames per clip at 6 fps, by timestamp -> frames.h5 (vida_core/extract/frames.py)."""

from vida_core.extract.frames import frames_stage
from vida_core.shared.stage import Stage


def main() -> None:
    stage = Stage("frames")
    summary = frames_stage(stage)
    rejects, clips = summary.pop("rejects"), summary.pop("clips")
    for clip_id, reason in rejects:
        print(f"[frames] rejected {clip_id}: {reason}")
    stage.done(summary)
    stage.check_rejects(clips, rejects)


if __name__ == "__main__":
    main()
