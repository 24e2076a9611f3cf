"""Stages `classify_<condition>`: the LSTM action classifier of one condition, once per seed.

Every condition sees the same clips, classes, splits and seeds; only the audio part of the
per-step input differs. The conditions, and how each builds its audio input, are the table in
`vida_core.learn.conditions`; each is a DVC stage of its own, and the `results` stage
(`vida_core.learn.results`) compares them.

Model selection (early stopping, best epoch) uses VAL accuracy only; the test split is
evaluated once per seed, with the selected weights, and its logits are kept per test clip so
that intervals and paired differences can be computed over test clips.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from torch import nn

from vida_core.config import ClassifyConfig
from vida_core.io.artifacts import save_torch, write_h5, write_json, write_strings
from vida_core.learn.conditions import condition as condition_spec
from vida_core.learn.data import ClipBatches, ClipTable, H5Column, check_class_counts, feature_stats
from vida_core.learn.networks import SequenceClassifier, Standardize
from vida_core.learn.training import fit, learning_threads, seed_everything

EVAL_BATCH = 256
TOP_K = 5


class ConditionClassifier(nn.Module):
    """Standardise RGB, flow and (optionally) audio per step, project each, concatenate, classify."""

    def __init__(self, norms: dict[str, Standardize], num_classes: int, config: ClassifyConfig):
        super().__init__()
        self.norms = nn.ModuleDict(norms)   # modality -> train statistics: rgb, flow[, audio]
        dims = {name: norm.mean.numel() for name, norm in norms.items()}
        self.proj = nn.ModuleDict({name: nn.Linear(d, config.input_proj) if config.input_proj else nn.Identity()
                                   for name, d in dims.items()})
        in_dim = sum(config.input_proj or d for d in dims.values())
        self.net = SequenceClassifier(in_dim, num_classes, config.hidden, config.dropout)

    def forward(self, batch: dict) -> torch.Tensor:
        parts = []
        for name, norm in self.norms.items():
            x = norm(batch[name])
            if name == "audio":   # "no audio" = 0 in standardised space, before the projection
                x = x * torch.as_tensor(batch["audio_used"], dtype=x.dtype, device=x.device)[:, None, None]
            parts.append(self.proj[name](x))
        return self.net(torch.cat(parts, dim=-1))


def _to(batch: dict, device: torch.device) -> dict:
    return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


@torch.no_grad()
def predict(model: nn.Module, batches: ClipBatches, device: torch.device) -> tuple[np.ndarray, np.ndarray]:
    """Logits [n, C] and table positions [n] of every clip in `batches`."""
    model.eval()
    logits, positions = [], []
    for batch in batches:
        logits.append(model(_to(batch, device)).float().cpu())
        positions.append(batch["position"])
    return torch.cat(logits).numpy(), torch.cat(positions).numpy()


def top_k_accuracy(logits: np.ndarray, labels: np.ndarray, k: int) -> float:
    top = np.argsort(-logits, axis=1, kind="stable")[:, :k]
    return float((top == labels[:, None]).any(axis=1).mean())


def train_condition(condition: str, seed: int, table: ClipTable, columns: dict, audio_used: np.ndarray,
                    norms: dict[str, Standardize], config: ClassifyConfig, device: torch.device):
    """Train one classifier (one condition, one seed), selected by val accuracy -> (model, FitResult)."""
    seed_everything(seed)
    model = ConditionClassifier(norms, len(table.class_names), config).to(device)
    extras = {"label": table.label, "audio_used": audio_used}
    train = ClipBatches(columns, table.positions("train"), config.batch_size, shuffle=True, seed=seed,
                        extras=extras)
    val = ClipBatches(columns, table.positions("val"), EVAL_BATCH, extras=extras)

    def loss_fn(m, batch):
        batch = _to(batch, device)
        return nn.functional.cross_entropy(m(batch), torch.as_tensor(batch["label"], device=device))

    def evaluate(m):
        logits, positions = predict(m, val, device)
        labels = table.label[positions]
        loss = nn.functional.cross_entropy(torch.from_numpy(logits), torch.from_numpy(labels)).item()
        acc = top_k_accuracy(logits, labels, 1)
        return (acc, -loss), {"val_loss": loss, "val_acc": acc}

    return model, fit(model, train, loss_fn, evaluate, config, desc=f"{condition} seed {seed}")


@learning_threads()
def run_condition(name: str, table: ClipTable, paths: dict, config: ClassifyConfig, device: torch.device) -> dict:
    """Train and test one condition once per seed: test logits, val accuracy and curves per seed."""
    spec = condition_spec(name)   # an unknown name fails before any training
    check_class_counts(table, {"train": 1, "val": 1, "test": 1}, f"classify_{name}")
    visual = {"rgb": H5Column(paths["visual"], "rgb", table.clip_ids, "visual_features"),
              "flow": H5Column(paths["visual"], "flow", table.clip_ids, "visual_features")}
    train_pos, test_pos = table.positions("train"), table.positions("test")
    visual_norms = {key: Standardize(*feature_stats(column, train_pos)) for key, column in visual.items()}
    result = {"condition": name, "seeds": list(config.seeds), "test_positions": test_pos,
              "logits": [], "val_top1": [], "best_epoch": [], "epochs_run": [], "history": [],
              "train_clips_with_audio": [], "test_clips_with_audio": [], "state_dicts": [],
              "dims": {key: column.row_shape[-1] for key, column in visual.items()}}
    for seed in config.seeds:
        audio_column, audio_used = spec.audio(table, paths, seed)
        columns, norms = dict(visual), dict(visual_norms)
        if audio_column is not None:
            columns["audio"] = audio_column
            # Statistics over the train clips that have this audio at all, independent of the
            # filter's choice.
            norms["audio"] = Standardize(*feature_stats(audio_column, table.positions("train", spec.stats_clips(table))))
            result["dims"]["audio"] = audio_column.row_shape[-1]
        model, fitted = train_condition(name, seed, table, columns, audio_used, norms, config, device)
        tests = ClipBatches(columns, test_pos, EVAL_BATCH, extras={"label": table.label, "audio_used": audio_used})
        logits, positions = predict(model, tests, device)   # the one look at test, per seed
        assert np.array_equal(positions, test_pos)
        result["logits"].append(logits)
        result["val_top1"].append(fitted.best_metrics["val_acc"])
        result["best_epoch"].append(fitted.best_epoch)
        result["epochs_run"].append(fitted.epochs_run)
        result["history"].append([[h["epoch"], h["train_loss"], h["val_loss"], h["val_acc"]] for h in fitted.history])
        result["train_clips_with_audio"].append(int(audio_used[train_pos].sum()))
        result["test_clips_with_audio"].append(int(audio_used[test_pos].sum()))
        result["state_dicts"].append({k: v.cpu() for k, v in model.state_dict().items()})
    return result


HISTORY_COLUMNS = ("epoch", "train_loss", "val_loss", "val_acc")


def write_condition(result: dict, table: ClipTable, config: ClassifyConfig, out_h5: str | Path,
                    model_path: str | Path | None = None, confusion_json: str | Path | None = None,
                    params: dict | None = None) -> dict:
    """One condition's outputs: per-seed test logits and curves (h5), weights (pt), confusion rows (json).

    Returns the stage's closing summary (top-1 per seed).
    """
    test_pos = result["test_positions"]
    labels = table.label[test_pos]
    logits = np.stack(result["logits"]).astype(np.float32)          # [seeds, test clips, classes]
    with write_h5(out_h5, f"classify_{result['condition']}", params=params) as f:
        write_strings(f, "clip_id", [table.clip_ids[i] for i in test_pos])
        write_strings(f, "class_names", table.class_names)
        f.create_dataset("label", data=labels)
        f.create_dataset("seeds", data=np.asarray(result["seeds"], dtype=np.int64))
        f.create_dataset("logits", data=logits)
        for key in ("val_top1", "best_epoch", "epochs_run", "train_clips_with_audio", "test_clips_with_audio"):
            f.create_dataset(key, data=np.asarray(result[key]))
        for seed, history in zip(result["seeds"], result["history"]):
            ds = f.create_dataset(f"history/seed{seed}", data=np.asarray(history, dtype=np.float64).reshape(-1, 4))
            ds.attrs["columns"] = json.dumps(HISTORY_COLUMNS)
        f.attrs["condition"] = result["condition"]
        f.attrs["counts"] = json.dumps(table.counts())
    if model_path is not None:
        save_torch({"condition": result["condition"], "config": asdict(config), "seeds": result["seeds"],
                    "class_names": table.class_names, "dims": result["dims"],
                    "state_dicts": dict(zip(result["seeds"], result["state_dicts"]))}, model_path)
    if confusion_json is not None:
        # {actual, predicted} rows of every seed, for DVC's confusion template.
        names = table.class_names
        write_json(confusion_json, [{"actual": names[a], "predicted": names[p]}
                                    for seed_logits in logits for a, p in zip(labels, seed_logits.argmax(1))])
    return {f"top1_seed{s}": round(top_k_accuracy(lg, labels, 1), 4) for s, lg in zip(result["seeds"], logits)}
