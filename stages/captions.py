"""Stage `captions`: caption every representative frame -> captions.json.

Frames of many clips are gathered into batches of `captions.batch_size`, and the captioner is
loaded once. A clip with no representative frame gets an empty list (CAFMap then sees noise only).
"""

import json

import h5py

from vida_core.artifacts import align, atomic_path, read_strings, require
from vida_core.models import load_captioner
from vida_core.params import load_params, section
from vida_core.semantics import caption_representative_frames, model_identity

from _common import ARTIFACTS, report


def main() -> None:
    params = load_params()
    batch_size = int(section(params, "captions").get("batch_size", 16))
    captioner = load_captioner(params["models"]["captioner"], device=params.get("device", "auto"),
                               batch_size=batch_size)
    with h5py.File(require(ARTIFACTS / "representative.h5", "representative"), "r") as rep, \
            h5py.File(require(ARTIFACTS / "frames.h5", "frames"), "r") as fr:
        clip_ids, masks = read_strings(rep["clip_id"]), rep["mask"][()]
        frame_rows = align(clip_ids, read_strings(fr["clip_id"]))
        if (frame_rows < 0).any():
            missing = clip_ids[int((frame_rows < 0).argmax())]
            raise RuntimeError(f"captions: clip {missing} is in representative.h5 but not in frames.h5; "
                               "the artifacts are stale, run `dvc repro representative`")
        frames = fr["frames"]
        captions = caption_representative_frames(
            clip_ids, masks, lambda row, idx: frames[int(frame_rows[row]), idx],
            captioner, batch_size)
    with atomic_path(ARTIFACTS / "captions.json") as tmp:
        tmp.write_text(json.dumps({"model": model_identity(captioner), "clips": captions}, indent=1))
    report("captions", {"clips": len(captions), "frames": sum(map(len, captions.values())),
                        "clips_without_caption": sum(not c for c in captions.values())})


if __name__ == "__main__":
    main()
