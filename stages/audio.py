"""Stage `audio`: 16 kHz waveform, 18x128 log-mel and has_audio per clip -> audio.h5."""

from dataclasses import asdict

from vida_core.extract.audio import extract_audio
from vida_core.io.dataset import read_manifest
from vida_core.stage import Stage


def main() -> None:
    stage = Stage("audio")
    knobs = stage.params.audio
    summary = extract_audio(read_manifest(stage.input("manifest")), stage.output("audio"),
                            min_duration=stage.params.frames.min_duration, silence_dbfs=knobs.silence_dbfs,
                            executor=stage.executor(("vida_core.extract.audio",)),
                            params={"audio": {"min_duration": stage.params.frames.min_duration, **asdict(knobs)}})
    stage.done(summary)


if __name__ == "__main__":
    main()
