"""Stage `feature_tagger`: a small head that tags 18 x 128 features like the real tagger tags
waveforms -> feature_tagger.pt, feature_tagger.h5, metrics/feature_tagger.json.

Teacher: the real audio tagger (`models.audio_tagger`) on the waveforms of train and val clips
with real audio. The head learns the teacher's 527 scores from the train clips' log-mels (soft
BCE targets), early-stopped on val loss. Reported on val beside the naive alternative (pool the
waveform's features to 18 steps, stretch back, run the real tagger) and the label prior (every
clip gets the mean train teacher scores). Teacher labels for mAP: scores >= label_threshold,
plus the teacher's top-1. Val also picks the stopping epoch, so the head's val numbers are
slightly optimistic; test clips are never touched.
"""

import json
import math

import h5py
import numpy as np

from vida_core import NUM_FRAMES
from vida_core.artifacts import atomic_path, read_strings, require, write_h5, write_strings
from vida_core.dataset import read_manifest
from vida_core.feature_tagger import agreement_metrics, read_rows, tag_rows, train_feature_tagger
from vida_core.models import load_audio_tagger
from vida_core.params import load_params, section
from vida_core.semantics import model_identity, split_rows

from _common import ARTIFACTS, report


def json_safe(value):
    """NaN -> null, so the metrics file stays valid JSON."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    return None if isinstance(value, float) and math.isnan(value) else value


def main() -> None:
    params = load_params()
    cfg = section(params, "feature_tagger")
    seed, device = int(params.get("seed", 0)), params.get("device", "auto")
    threshold = float(cfg.get("label_threshold", 0.2))
    manifest = read_manifest(require(ARTIFACTS / "manifest.csv", "manifest"))
    split_of = {r["clip_id"]: r["split"] for r in manifest}
    tagger = load_audio_tagger(params["models"]["audio_tagger"], device=device)

    with h5py.File(require(ARTIFACTS / "audio.h5", "audio"), "r") as f:
        clip_ids, has_audio = read_strings(f["clip_id"]), f["has_audio"][()]
        train_rows, val_rows = (split_rows(clip_ids, split_of, has_audio, s) for s in ("train", "val"))
        if not len(train_rows):
            raise RuntimeError("feature_tagger: no training clip has real audio, so there is nothing to "
                               "learn from; check audio.h5 (`vida inspect`)")
        train_teacher = tag_rows(tagger.tag, f["waveform"], train_rows, desc="teacher: train audio")
        val_teacher = tag_rows(tagger.tag, f["waveform"], val_rows, desc="teacher: val audio")
        val_stretched = tag_rows(lambda w: tagger.tag_pooled_stretched(w, NUM_FRAMES), f["waveform"],
                                 val_rows, desc="stretched-back: val audio")
        train_logmel, val_logmel = read_rows(f["logmel"], train_rows), read_rows(f["logmel"], val_rows)

    teacher_id = model_identity(tagger)
    head, history = train_feature_tagger(
        train_logmel, train_teacher, val_logmel, val_teacher,
        hidden=int(cfg.get("hidden", 128)), epochs=int(cfg.get("epochs", 60)), lr=float(cfg.get("lr", 1e-3)),
        batch_size=int(cfg.get("batch_size", 64)), patience=int(cfg.get("patience", 8)), seed=seed,
        device=device, info={"teacher": teacher_id, "label_threshold": threshold, "seed": seed,
                             "train_clips": len(train_rows)})
    val_head = head.predict(val_logmel)
    prior = np.tile(train_teacher.mean(0), (len(val_rows), 1))
    metrics = {"val_head": agreement_metrics(val_teacher, val_head, threshold),
               "val_stretched": agreement_metrics(val_teacher, val_stretched, threshold),
               "val_prior": agreement_metrics(val_teacher, prior, threshold),
               "train_clips": len(train_rows), "val_clips": len(val_rows), "label_threshold": threshold,
               "best_epoch": history["best_epoch"], "epochs_run": len(history["train_loss"])}

    head.save(ARTIFACTS / "feature_tagger.pt")
    stage_params = {"feature_tagger": cfg, "seed": seed, "models.audio_tagger": params["models"]["audio_tagger"]}
    with write_h5(ARTIFACTS / "feature_tagger.h5", "feature_tagger", params=stage_params,
                  models={"audio_tagger": teacher_id["id"]}) as f:
        write_strings(f, "clip_id", [clip_ids[i] for i in train_rows])
        f["teacher"] = train_teacher  # [N,527] the real tagger on the train waveforms
        write_strings(f, "val/clip_id", [clip_ids[i] for i in val_rows])
        f["val/teacher"], f["val/head"], f["val/stretched"] = val_teacher, val_head, val_stretched
        f["history/train_loss"], f["history/val_loss"] = history["train_loss"], history["val_loss"]
        f.attrs["metrics"] = json.dumps(json_safe(metrics))
    with atomic_path("metrics/feature_tagger.json") as tmp:
        tmp.write_text(json.dumps(json_safe(metrics), indent=2))
    report("feature_tagger", {k: metrics[k] for k in ("val_head", "val_stretched", "best_epoch")})


if __name__ == "__main__":
    main()
