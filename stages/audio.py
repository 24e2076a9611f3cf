"""Stage `audio`: each clip's 16 kHz audio window and its 18 x 128 log-mel -> audio.h5 (vida_core/extract/audio.py)."""

from vida_core.extract.audio import audio_stage
from vida_core.shared.stage import Stage


def main() -> None:
    stage = Stage("audio")
    summary = audio_stage(stage)
    failures, clips = summary.pop("failures"), summary.pop("clips")
    for clip_id, note in failures:
        print(f"[audio] unreadable audio in {clip_id}: {note}")
    stage.done(summary)
    stage.check_rejects(clips, failures, what="had audio that could not be read")


if __name__ == "__main__":
    main()
