"""The feature-space audio tagger (design.md section 4).

Pooling audio to 18 steps of 1/6 s removes the transients an audio tagger listens for, so the
real tagger cannot label 18 x 128 features (generated ones included) by stretching them back.
Instead a small head learns, on training clips, to reproduce the real tagger's outputs on
their waveforms (the teacher) from their 18 x 128 log-mel features; SVDMap's filter then tags
generated features with it. Use: `FeatureTagger.load(path).predict(logmel_raw [B,18,128])`.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from vida_core import NUM_AUDIOSET_LABELS, NUM_MEL_BINS
from vida_core.artifacts import save_torch
from vida_core.device import resolve_device

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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: normalised log-mel [B,T,mels] -> logits [B,labels]."""
        h = self.conv(x.transpose(1, 2))
        return self.out(torch.cat([h.mean(-1), h.amax(-1)], dim=-1))


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

def read_rows(dataset, rows: np.ndarray, batch_size: int = 1024,
              transform: Callable[[np.ndarray], np.ndarray] = lambda x: x) -> np.ndarray:
    """`transform(dataset[rows])` read a batch at a time (`rows` increasing), so a big h5py
    dataset is never loaded whole just to pick some of its rows."""
    starts = range(0, len(rows), batch_size)
    return np.concatenate([transform(np.asarray(dataset[rows[i:i + batch_size]])) for i in starts]
                          or [transform(np.asarray(dataset[:0]))])


def tag_rows(tag_fn: Callable[[np.ndarray], np.ndarray], waveforms, rows: np.ndarray,
             batch_size: int = 64, desc: str = "tagging") -> np.ndarray:
    """Tag the int16 waveforms at `rows` (increasing) of an array or h5py dataset
    [M,48000], a batch at a time, with `tag_fn(float32 waveforms in [-1,1]) -> [B,527]`."""
    out = []
    for i in tqdm(range(0, len(rows), batch_size), desc=desc, unit="batch"):
        batch = np.asarray(waveforms[rows[i:i + batch_size]], np.float32) / 32768.0
        out.append(np.asarray(tag_fn(batch), np.float32))
    return np.concatenate(out) if out else np.zeros((0, NUM_AUDIOSET_LABELS), np.float32)


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
