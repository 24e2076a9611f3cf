"""Stage `feature_tagger`: the feature-space audio tagger.

Pooling audio to 18 steps of 1/6 s removes the transients an audio tagger listens for, so the
real tagger cannot label 18 x 128 features (generated ones included) by stretching them back.
Instead a small head learns, on training clips, to reproduce the real tagger's outputs on
their waveforms (the teacher) from their 18 x 128 log-mel features; SVDMap's filter then tags
generated features with it. Use: `FeatureTagger.load(path).predict(logmel_raw [B,18,128])`.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vida_core.shared import NUM_AUDIOSET_LABELS, NUM_FRAMES, NUM_MEL_BINS
from vida_core.shared.device import resolve_device
from vida_core.shared.artifacts import atomic_path, read_rows, read_strings, save_torch, write_h5, write_strings
from vida_core.models.specs import model_identity
from vida_core.models.tagger import tag_rows
from vida_core.semantic.label_bank import split_rows

CHECKPOINT_FORMAT = "vida-feature-tagger/1"


class TaggerHead(nn.Module):
    """Two 1-D convolutions over time (mel bins as channels), mean+max pooled, then a
    linear layer to one logit per AudioSet label. Small enough to train in seconds on CPU."""

    def __init__(self, hidden: int, num_labels: int = NUM_AUDIOSET_LABELS,
                 num_mels: int = NUM_MEL_BINS):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv1d(num_mels, hidden, kernel_size=3, padding=1), nn.ReLU(),
            nn.Conv1d(hidden, hidden, kernel_size=3, padding=1), nn.ReLU())
        self.out = nn.Linear(2 * hidden, num_labels)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """x: normalised log-mel [B,T,mels] -> the pooled conv features [B,2*hidden] (the
        penultimate layer: what the final linear layer reads)."""
        h = self.conv(x.transpose(1, 2))
        return torch.cat([h.mean(-1), h.amax(-1)], dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: normalised log-mel [B,T,mels] -> logits [B,labels]."""
        return self.out(self.embed(x))


class FeatureTagger:
    """A trained head plus the input normalisation it was trained with."""

    def __init__(self, head: TaggerHead, mel_mean: np.ndarray, mel_std: np.ndarray,
                 info: dict | None = None):
        self.head = head.eval()
        self.mel_mean = np.asarray(mel_mean, np.float32)
        self.mel_std = np.asarray(mel_std, np.float32)
        self.info = dict(info or {})

    @property
    def device(self) -> torch.device:
        return next(self.head.parameters()).device

    def normalize(self, logmel_raw: np.ndarray) -> torch.Tensor:
        x = (np.asarray(logmel_raw, np.float32) - self.mel_mean) / self.mel_std
        return torch.from_numpy(x).to(self.device)

    @torch.no_grad()
    def predict(self, logmel_raw: np.ndarray, batch_size: int = 512) -> np.ndarray:
        """Raw (un-normalised) log-mel [B,18,128] -> label probabilities [B,527]."""
        logmel_raw = np.asarray(logmel_raw, np.float32)
        out = [torch.sigmoid(self.head(self.normalize(logmel_raw[i:i + batch_size]))).cpu().numpy()
               for i in range(0, len(logmel_raw), batch_size)]
        return np.concatenate(out) if out else np.zeros((0, self.head.out.out_features), np.float32)

    @torch.no_grad()
    def embed(self, logmel_raw: np.ndarray, batch_size: int = 512) -> np.ndarray:
        """Raw (un-normalised) log-mel [B,18,128] -> the head's penultimate layer [B,2*hidden]
        (mean- and max-pooled conv features): an audio embedding, e.g. for a Frechet distance."""
        logmel_raw = np.asarray(logmel_raw, np.float32)
        out = [self.head.embed(self.normalize(logmel_raw[i:i + batch_size])).cpu().numpy()
               for i in range(0, len(logmel_raw), batch_size)]
        return np.concatenate(out) if out else np.zeros((0, self.head.out.in_features), np.float32)

    def save(self, path: str | Path) -> None:
        save_torch({"format": CHECKPOINT_FORMAT,
                    "hidden": self.head.out.in_features // 2,
                    "num_labels": self.head.out.out_features,
                    "num_mels": self.head.conv[0].in_channels,
                    "state_dict": {k: v.cpu() for k, v in self.head.state_dict().items()},
                    "mel_mean": torch.from_numpy(self.mel_mean),
                    "mel_std": torch.from_numpy(self.mel_std),
                    "info": json.dumps(self.info, sort_keys=True)}, path)

    @classmethod
    def load(cls, path: str | Path, device: str = "cpu") -> FeatureTagger:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
        if ckpt.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"{path} is not a feature tagger checkpoint ({CHECKPOINT_FORMAT}); "
                             "rebuild it with `dvc repro feature_tagger`")
        head = TaggerHead(ckpt["hidden"], ckpt["num_labels"], ckpt["num_mels"])
        head.load_state_dict(ckpt["state_dict"])
        return cls(head.to(resolve_device(device)), ckpt["mel_mean"].numpy(),
                   ckpt["mel_std"].numpy(), json.loads(ckpt["info"]))


def mel_normalization(logmel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-mel-bin mean and std over clips and steps; std floored so a constant bin is safe."""
    flat = np.asarray(logmel, np.float64).reshape(-1, logmel.shape[-1])
    return flat.mean(0).astype(np.float32), np.maximum(flat.std(0), 1e-3).astype(np.float32)


def train_feature_tagger(train_logmel: np.ndarray, train_teacher: np.ndarray,
                         val_logmel: np.ndarray, val_teacher: np.ndarray, *,
                         hidden: int = 128, epochs: int = 60, lr: float = 1e-3,
                         batch_size: int = 64, patience: int = 8, seed: int = 0,
                         device: str = "cpu", info: dict | None = None):
    """Fit a head to the teacher's scores (soft targets, BCE), early-stopped on val loss.

    Returns (FeatureTagger with the best-val-loss weights, history dict). With no val clips
    it trains for all epochs and keeps the last weights.
    """
    torch.manual_seed(seed)
    device = resolve_device(device)
    mel_mean, mel_std = mel_normalization(train_logmel)
    head = TaggerHead(hidden, train_teacher.shape[1], train_logmel.shape[-1]).to(device)
    tagger = FeatureTagger(head, mel_mean, mel_std, info)
    x, y = tagger.normalize(train_logmel), torch.as_tensor(train_teacher, dtype=torch.float32,
                                                           device=device)
    has_val = len(val_logmel) > 0
    if has_val:
        xv = tagger.normalize(val_logmel)
        yv = torch.as_tensor(val_teacher, dtype=torch.float32, device=device)
    # Start every logit at the label's training prior: most of the 527 labels are near zero,
    # and this spares the first epochs from learning just that.
    with torch.no_grad():
        head.out.bias.copy_(torch.logit(y.mean(0).clamp(1e-4, 1 - 1e-4)))

    optimizer = torch.optim.Adam(head.parameters(), lr=lr)
    shuffle = torch.Generator().manual_seed(seed)
    history = {"train_loss": [], "val_loss": [], "best_epoch": 0}
    best_loss, best_state, waited = float("inf"), copy.deepcopy(head.state_dict()), 0
    for epoch in range(1, epochs + 1):
        head.train()
        total = 0.0
        for idx in torch.randperm(len(x), generator=shuffle).split(batch_size):
            idx = idx.to(device)
            loss = F.binary_cross_entropy_with_logits(head(x[idx]), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(idx)
        history["train_loss"].append(total / len(x))
        head.eval()
        if has_val:
            with torch.no_grad():
                val_loss = F.binary_cross_entropy_with_logits(head(xv), yv).item()
        else:
            val_loss = history["train_loss"][-1]
        history["val_loss"].append(val_loss)
        if not has_val or val_loss < best_loss - 1e-6:
            best_loss, best_state, waited = val_loss, copy.deepcopy(head.state_dict()), 0
            history["best_epoch"] = epoch
        else:
            waited += 1
            if waited >= patience:
                break
    head.load_state_dict(best_state)
    tagger.head.eval()
    return tagger, history


# ---------------------------------------------------------------- teacher and metrics

def average_precision(relevant: np.ndarray, scores: np.ndarray) -> float:
    """AP = sum over score thresholds of (recall gain) x precision, ties grouped (the same
    definition as scikit-learn's average_precision_score). NaN when nothing is relevant."""
    relevant, scores = np.asarray(relevant, bool), np.asarray(scores, np.float64)
    if not relevant.any():
        return float("nan")
    order = np.argsort(-scores, kind="stable")
    hits = np.cumsum(relevant[order])
    last_of_tie = np.r_[np.flatnonzero(np.diff(scores[order])), len(scores) - 1]
    precision = hits[last_of_tie] / (last_of_tie + 1)
    recall_gain = np.diff(np.r_[0, hits[last_of_tie]]) / hits[-1]
    return float(np.sum(recall_gain * precision))


def teacher_labels(teacher: np.ndarray, threshold: float) -> np.ndarray:
    """The teacher's labels per clip: scores >= threshold, plus always its top-1 label, so
    every clip has at least one (quiet or unusual audio often has no score above it)."""
    labels = np.asarray(teacher) >= threshold
    labels[np.arange(len(teacher)), np.argmax(teacher, axis=1)] = True
    return labels


def agreement_metrics(teacher: np.ndarray, predicted: np.ndarray, threshold: float) -> dict:
    """How well `predicted` [N,527] reproduces the teacher [N,527].

    top1_agreement: fraction of clips whose predicted top-1 label is the teacher's top-1.
    mAP: mean over labels (with at least one teacher-positive clip) of the average precision
    of the predicted scores against `teacher_labels(teacher, threshold)`.
    """
    labels = teacher_labels(teacher, threshold)
    aps = [average_precision(labels[:, j], predicted[:, j])
           for j in range(labels.shape[1]) if labels[:, j].any()]
    return {"top1_agreement": float(np.mean(np.argmax(teacher, 1) == np.argmax(predicted, 1)))
            if len(teacher) else float("nan"),
            "mAP": float(np.mean(aps)) if aps else float("nan"),
            "labels_evaluated": len(aps), "clips": int(len(teacher))}


def class_tag_profiles(teacher_scores: np.ndarray, labels: Sequence[str]) -> dict[str, np.ndarray]:
    """Mean teacher scores [527] per action class, e.g. to check that on real audio the
    teacher's outputs differ between classes whose sounds differ (compare the profiles'
    top labels or their cosine distance)."""
    labels = np.asarray(labels)
    return {c: np.asarray(teacher_scores)[labels == c].mean(0) for c in sorted(set(labels.tolist()))}


def json_safe(value):
    """NaN -> null, so the metrics file stays valid JSON."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    return None if isinstance(value, float) and math.isnan(value) else value


def run_feature_tagger(audio_h5: Path, split_of: dict[str, str], tagger, config, seed: int, device,
                       out_pt: Path, out_h5: Path, metrics_json: Path, params: dict) -> dict:
    """Teach the head with the real tagger on train audio; report it on val beside the
    alternatives; write the checkpoint, feature_tagger.h5 and the metrics.

    Teacher: the real audio tagger on the waveforms of train and val clips with real audio. The
    head learns the teacher's 527 scores from the train clips' log-mels (soft BCE targets),
    early-stopped on val loss. Reported on val beside the naive alternative (pool the
    waveform's features to 18 steps, stretch back, run the real tagger) and the label prior
    (every clip gets the mean train teacher scores). Teacher labels for mAP: scores >=
    label_threshold, plus the teacher's top-1. Val also picks the stopping epoch, so the head's
    val numbers are slightly optimistic; test clips are never touched.
    """
    threshold = float(config.label_threshold)
    with h5py.File(audio_h5, "r") as f:
        clip_ids, has_audio = read_strings(f["clip_id"]), f["has_audio"][()]
        train_rows, val_rows = (split_rows(clip_ids, split_of, has_audio, s) for s in ("train", "val"))
        if not len(train_rows):
            raise RuntimeError("feature_tagger: no training clip has real audio, so there is nothing to "
                               "learn from; check audio.h5 (`vida inspect`)")
        train_teacher = tag_rows(tagger.tag, f["waveform"], train_rows, desc="teacher: train audio")
        val_teacher = tag_rows(tagger.tag, f["waveform"], val_rows, desc="teacher: val audio")
        val_stretched = tag_rows(lambda w: tagger.tag_pooled_stretched(w, NUM_FRAMES), f["waveform"],
                                 val_rows, desc="stretched-back: val audio")
        train_logmel = read_rows(f["logmel"], train_rows, block=1024)
        val_logmel = read_rows(f["logmel"], val_rows, block=1024)

    teacher_id = model_identity(tagger)
    head, history = train_feature_tagger(
        train_logmel, train_teacher, val_logmel, val_teacher,
        hidden=config.hidden, epochs=config.epochs, lr=config.lr, batch_size=config.batch_size,
        patience=config.patience, seed=seed, device=device,
        info={"teacher": teacher_id, "label_threshold": threshold, "seed": seed, "train_clips": len(train_rows)})
    val_head = head.predict(val_logmel)
    prior = np.tile(train_teacher.mean(0), (len(val_rows), 1))
    metrics = {"val_head": agreement_metrics(val_teacher, val_head, threshold),
               "val_stretched": agreement_metrics(val_teacher, val_stretched, threshold),
               "val_prior": agreement_metrics(val_teacher, prior, threshold),
               "train_clips": len(train_rows), "val_clips": len(val_rows), "label_threshold": threshold,
               "best_epoch": history["best_epoch"], "epochs_run": len(history["train_loss"])}

    head.save(out_pt)
    with write_h5(out_h5, "feature_tagger", params=params, models={"audio_tagger": teacher_id["id"]}) as f:
        write_strings(f, "clip_id", [clip_ids[i] for i in train_rows])
        f["teacher"] = train_teacher  # [N,527] the real tagger on the train waveforms
        write_strings(f, "val/clip_id", [clip_ids[i] for i in val_rows])
        f["val/teacher"], f["val/head"], f["val/stretched"] = val_teacher, val_head, val_stretched
        f["history/train_loss"], f["history/val_loss"] = history["train_loss"], history["val_loss"]
        f.attrs["metrics"] = json.dumps(json_safe(metrics))
    with atomic_path(metrics_json) as tmp:
        tmp.write_text(json.dumps(json_safe(metrics), indent=2))
    return {k: metrics[k] for k in ("val_head", "val_stretched", "best_epoch")}
