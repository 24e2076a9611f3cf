"""Stage `audio`: 16 kHz waveform, 18x128 log-mel and has_audio per clip -> audio.h5."""

from dataclasses import asdict

from vida_core.extract.audio import extract_audio
from vida_core.io.dataset import read_manifest
from vida_core.stage import Stage


def main() -> None:
    stage = Stage("audio")
    rows = read_manifest(stage.input("manifest"))
    summary = extract_audio(rows, stage.output("audio"), silence_dbfs=stage.params.audio.silence_dbfs,
                            executor=stage.executor(("vida_core.extract.audio",)),
                            params={"audio": asdict(stage.params.audio)})
    failures = summary.pop("failures")
    for clip_id, note in failures:
        print(f"[audio] unreadable audio in {clip_id}: {note}")
    stage.done(summary)
    stage.check_rejects(len(rows), failures, what="had audio that could not be read")


if __name__ == "__main__":
    main()
