"""Stage `frames`: 18 RGB frames per clip at 6 fps -> artifacts/frames.h5 (rejects listed inside)."""

from vida_core.dataset import read_manifest
from vida_core.extract import extract_frames
from vida_core.params import load_params, section

from _common import ARTIFACTS, report


def main() -> None:
    params = load_params()
    knobs = section(params, "frames")
    rows = read_manifest(ARTIFACTS / "manifest.csv")
    summary = extract_frames(rows, ARTIFACTS / "frames.h5", size=knobs["size"],
                             min_duration=knobs["min_duration"], workers=params.get("workers", 1),
                             params={"frames": knobs})
    for clip_id, reason in summary.pop("rejects"):
        print(f"[frames] rejected {clip_id}: {reason}")
    report("frames", summary)


if __name__ == "__main__":
    main()
