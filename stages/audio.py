"""Stage `audio`: 16 kHz waveform, 18x128 log-mel and has_audio per clip -> artifacts/audio.h5."""

from vida_core.dataset import read_manifest
from vida_core.extract import extract_audio
from vida_core.params import load_params, section

from _common import ARTIFACTS, report


def main() -> None:
    params = load_params()
    knobs = {"min_duration": section(params, "frames")["min_duration"], **section(params, "audio")}
    rows = read_manifest(ARTIFACTS / "manifest.csv")
    summary = extract_audio(rows, ARTIFACTS / "audio.h5", min_duration=knobs["min_duration"],
                            silence_dbfs=knobs["silence_dbfs"], workers=params.get("workers", 1),
                            params={"audio": knobs})
    report("audio", summary)


if __name__ == "__main__":
    main()
