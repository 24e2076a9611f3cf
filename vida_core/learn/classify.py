"""Stage `classify`: the LSTM action classifier under every condition and seed.

Every condition sees the same clips, classes, splits and seeds; only the audio part of the
per-step input differs. The conditions, and how each builds its audio input, are the table in
`vida_core.learn.conditions`.

Model selection (early stopping, best epoch) uses VAL accuracy only; the test split is
evaluated once per seed, with the selected weights.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

from vida_core.io.artifacts import atomic_path, write_h5, write_strings
from vida_core.config import ClassifyConfig
from vida_core.learn.conditions import CONDITIONS
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


def spread(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single seed)."""
    values = np.asarray(values, dtype=np.float64)
    return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0


def train_condition(condition: str, seed: int, table: ClipTable, columns: dict, audio_used: np.ndarray,
                    norms: dict[str, Standardize], config: ClassifyConfig, device: torch.device,
                    live=None) -> tuple[nn.Module, dict]:
    """Train one classifier (one condition, one seed), selected by val accuracy."""
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

    result = fit(model, train, loss_fn, evaluate, config, live=live, prefix=f"{condition}/seed{seed}/",
                 desc=f"{condition} seed {seed}")
    return model, {"best_epoch": result.best_epoch, "val_top1": result.best_metrics["val_acc"]}


@learning_threads()
def run_classify(table: ClipTable, paths: dict, config: ClassifyConfig, device: torch.device, live=None,
                 plots_dir: str | Path | None = None, details_h5: str | Path | None = None,
                 params: dict | None = None) -> dict:
    """Train and test every condition x seed; return the metrics dict (metrics/classify.json)."""
    for name in config.conditions:
        if name not in CONDITIONS:   # an unknown name fails before any training
            raise ValueError(f"classify.conditions has unknown {name!r}; choose from {list(CONDITIONS)}")
    check_class_counts(table, {"train": 1, "val": 1, "test": 1}, "classify")
    visual = {"rgb": H5Column(paths["visual"], "rgb", table.clip_ids, "visual_features"),
              "flow": H5Column(paths["visual"], "flow", table.clip_ids, "visual_features")}
    train_pos, test_pos = table.positions("train"), table.positions("test")
    visual_norms = {name: Standardize(*feature_stats(column, train_pos)) for name, column in visual.items()}
    num_classes = len(table.class_names)
    k = min(TOP_K, num_classes)
    test_labels = table.label[test_pos]

    metrics = {"num_classes": num_classes, "chance_top1": 1.0 / num_classes, "top5_k": k,
               "chance_top5": k / num_classes, "seeds": len(config.seeds),
               **{key: value for key, value in table.counts().items()}}
    predictions = {}
    for condition in config.conditions:
        spec = CONDITIONS[condition]
        audio_column, audio_used = spec.audio(table, paths)
        columns, norms = dict(visual), dict(visual_norms)
        if audio_column is not None:
            columns["audio"] = audio_column
            # Statistics over the train clips that have this audio at all, independent of the
            # filter's choice.
            norms["audio"] = Standardize(*feature_stats(audio_column, table.positions("train", spec.stats_clips(table))))
        tests = ClipBatches(columns, test_pos, EVAL_BATCH, extras={"label": table.label, "audio_used": audio_used})
        runs = []
        for seed in config.seeds:
            model, run = train_condition(condition, seed, table, columns, audio_used, norms, config, device, live)
            logits, positions = predict(model, tests, device)   # the one look at test, per seed
            assert np.array_equal(positions, test_pos)
            run.update(seed=seed, top1=top_k_accuracy(logits, test_labels, 1),
                       top5=top_k_accuracy(logits, test_labels, k), pred=logits.argmax(1),
                       topk=np.argsort(-logits, axis=1, kind="stable")[:, :k])
            runs.append(run)
        entry = {}
        for key in ("top1", "top5", "val_top1"):
            entry[f"{key}_mean"], entry[f"{key}_std"] = spread([r[key] for r in runs])
        entry["train_clips"] = len(train_pos)
        entry["train_clips_with_audio"] = int(audio_used[train_pos].sum())
        entry["test_clips_with_audio"] = int(audio_used[test_pos].sum())
        for seed, run in zip(config.seeds, runs):
            entry[f"top1_seed{seed}"] = run["top1"]
            entry[f"best_epoch_seed{seed}"] = run["best_epoch"]
        metrics[condition] = entry
        predictions[condition] = runs

    if plots_dir is not None:
        write_confusion_plots(plots_dir, table, test_pos, predictions)
    if details_h5 is not None:
        with write_h5(details_h5, "classify", params=params) as f:
            write_strings(f, "clip_id", [table.clip_ids[i] for i in test_pos])
            write_strings(f, "class_names", table.class_names)
            f.create_dataset("label", data=test_labels)
            f.create_dataset("seeds", data=np.asarray(config.seeds))
            for condition, runs in predictions.items():
                f.create_dataset(f"{condition}/pred", data=np.stack([r["pred"] for r in runs]))
                f.create_dataset(f"{condition}/topk", data=np.stack([r["topk"] for r in runs]))
            f.attrs["metrics"] = json.dumps(metrics)
    return metrics


def write_confusion_plots(plots_dir: str | Path, table: ClipTable, test_pos: np.ndarray,
                          predictions: dict[str, list[dict]]) -> None:
    """plots_dir/confusion_<condition>.json: {actual, predicted} rows of all seeds (DVC's confusion template)."""
    plots_dir = Path(plots_dir)
    plots_dir.mkdir(parents=True, exist_ok=True)
    names = table.class_names
    actual = [names[i] for i in table.label[test_pos]]
    for condition, runs in predictions.items():
        rows = [{"actual": a, "predicted": names[p], "seed": run["seed"]}
                for run in runs for a, p in zip(actual, run["pred"])]
        with atomic_path(plots_dir / f"confusion_{condition}.json") as tmp:
            tmp.write_text(json.dumps(rows))
