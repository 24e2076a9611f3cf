"""Stages `classify_<condition>`: the LSTM action classifier of one condition, in every run.

Every condition sees the same clips, classes, splits, labelled draws and seeds; only the audio part
of the per-step input differs. The conditions, and how each builds its audio input, are the table
in `vida_core.learn.conditions`; each is a DVC stage of its own, and the `results` stage
(`vida_core.learn.results`) compares them.

A run is (k, draw, seed). In the label-budget study (`protocol.labels_per_class: [1, 2, ...]`) a
run's classifier learns from k labelled clips per class (a seeded draw from the reservoir) for a
fixed `protocol.train_epochs`: with one or two labels per class there are none to spare for a
val split that could choose an epoch, so nothing is chosen. With `labels_per_class: all` (the
paper's protocol) there is one run per seed on every train clip, early-stopped on VAL accuracy.
Either way the val split is scored once per run (val top-1, what a sweep chooses on) and the test
split once per run, its logits kept per test clip for intervals and paired differences.
"""

from __future__ import annotations

import copy
import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from torch import nn

from vida_core.shared.config import ClassifyConfig, ProtocolConfig
from vida_core.shared.artifacts import save_torch, write_h5, write_json, write_strings
from vida_core.learn.budget import ALL_LABELS, label_draws
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


def load_classifier(checkpoint: str | Path | dict, seed: int | None = None,
                    device: str | torch.device = "cpu") -> ConditionClassifier:
    """A seed's classifier of one condition (default: the first seed's) from its checkpoint
    (`artifacts/classify/<condition>.pt`, or that file already loaded), ready to predict; the
    checkpoint holds the train statistics it standardises with. The twin of `load_generator`."""
    ckpt = checkpoint if isinstance(checkpoint, dict) else torch.load(checkpoint, map_location="cpu", weights_only=False)
    seed = ckpt["seeds"][0] if seed is None else seed
    if seed not in ckpt["state_dicts"]:
        raise KeyError(f"the classifier checkpoint has no model for seed {seed}; it holds seeds {ckpt['seeds']}")
    # Statistics of the right sizes; load_state_dict fills in the trained ones.
    norms = {key: Standardize(np.zeros(dim), np.ones(dim)) for key, dim in ckpt["dims"].items()}
    model = ConditionClassifier(norms, len(ckpt["class_names"]), ClassifyConfig(**ckpt["config"]))
    model.load_state_dict(ckpt["state_dicts"][seed])
    return model.to(device).eval()


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
                    norms: dict[str, Standardize], config: ClassifyConfig, device: torch.device,
                    train_pos: np.ndarray | None = None):
    """Train one classifier (one condition, one seed) on `train_pos` (default: every train clip),
    selected by val accuracy -> (model, FitResult). The paper's protocol (`labels_per_class: all`)."""
    seed_everything(seed)
    model = ConditionClassifier(norms, len(table.class_names), config).to(device)
    extras = {"label": table.label, "audio_used": audio_used}
    train_pos = table.positions("train") if train_pos is None else train_pos
    train = ClipBatches(columns, train_pos, config.batch_size, shuffle=True, seed=seed, extras=extras)
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


class MemoryBatches:
    """The few labelled clips of a budget run, read once and held in memory; shuffled batches per
    epoch from (seed, epoch), like ClipBatches (a batch of every clip when they fit in one)."""

    def __init__(self, columns: dict, positions: np.ndarray, batch_size: int, seed: int, extras: dict):
        parts = list(ClipBatches(columns, positions, EVAL_BATCH, extras=extras))
        self.data = {key: (torch.cat([p[key] for p in parts]) if isinstance(parts[0][key], torch.Tensor)
                           else np.concatenate([p[key] for p in parts])) for key in parts[0] if key != "epoch"}
        self.batch_size, self.seed, self.epoch = batch_size, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        n = len(self.data["position"])
        order = np.random.default_rng([self.seed, self.epoch, 2]).permutation(n)
        for start in range(0, n, self.batch_size):
            rows = order[start:start + self.batch_size]
            index = torch.from_numpy(rows)
            yield {**{k: v[index] if isinstance(v, torch.Tensor) else v[rows] for k, v in self.data.items()},
                   "epoch": self.epoch}


def train_budget(condition: str, seed: int, table: ClipTable, columns: dict, audio_used: np.ndarray,
                 norms: dict[str, Standardize], config: ClassifyConfig, epochs: int, device: torch.device,
                 train_pos: np.ndarray, init_seed: int):
    """Train one classifier of the label-budget study on its few labelled clips for a fixed number
    of epochs (no early stopping: no labels are left to choose an epoch with) -> (model, FitResult)."""
    seed_everything(init_seed)
    model = ConditionClassifier(norms, len(table.class_names), config).to(device)
    train = MemoryBatches(columns, train_pos, config.batch_size, init_seed,
                          extras={"label": table.label, "audio_used": audio_used})
    fixed = copy.copy(config)
    fixed.epochs, fixed.patience = epochs, epochs
    count = iter(range(epochs))

    def loss_fn(m, batch):
        batch = _to(batch, device)
        return nn.functional.cross_entropy(m(batch), torch.as_tensor(batch["label"], device=device))

    # The score only has to rise, so the last epoch's weights are kept.
    return model, fit(model, train, loss_fn, lambda m: (next(count), {}), fixed, desc=f"{condition} seed {seed}")


def run_init_seed(seed: int, k: int, draw: int) -> int:
    """Weight-initialisation and data-order seed of one budget run (seed, k, draw)."""
    return int(np.random.SeedSequence([seed, k, draw, 0xC1A5]).generate_state(1)[0])


@torch.no_grad()
def evaluate_runs(models: list[nn.Module], columns: dict, positions: np.ndarray, audio_used: np.ndarray,
                  table: ClipTable, device: torch.device) -> np.ndarray:
    """Logits [models, clips, classes] of every model on `positions`, streamed once (memory flat in
    the number of clips whatever the number of runs)."""
    for model in models:
        model.eval()
    out = np.zeros((len(models), len(positions), len(table.class_names)), np.float32)
    where = {p: i for i, p in enumerate(positions)}
    for batch in ClipBatches(columns, positions, EVAL_BATCH, extras={"label": table.label, "audio_used": audio_used}):
        rows = [where[p] for p in batch["position"].tolist()]
        batch = _to(batch, device)
        for m, model in enumerate(models):
            out[m, rows] = model(batch).float().cpu().numpy()
    return out


def missing_audio_information(labels: np.ndarray, audio_used: np.ndarray) -> float:
    """How much better than the majority class the pattern of missing audio predicts the label
    (accuracy of "the commonest class of clips with this pattern" minus that of "the commonest
    class"); 0 when missingness says nothing about the class. Training clips only."""
    labels, audio_used = np.asarray(labels), np.asarray(audio_used, bool)
    if len(labels) == 0:
        return 0.0
    majority = np.bincount(labels).max() / len(labels)
    by_pattern = sum(np.bincount(labels[audio_used == used]).max() for used in (True, False)
                     if (audio_used == used).any())
    return float(by_pattern / len(labels) - majority)


@learning_threads()
def run_condition(name: str, table: ClipTable, paths: dict, config: ClassifyConfig, device: torch.device,
                  protocol: ProtocolConfig | None = None) -> dict:
    """Train and test one condition in every run: per seed, per labelled draw (label-budget study)
    or once with every train clip labelled (`labels_per_class: all`, the default here).

    `table` is the classifiers' view (vida_core.learn.budget.classifier_view): train = the labelled
    reservoir, `pool` = U, whose features (never labels) join train's in the standardisation.
    Returns per run: k, draw, seed, test logits, val top-1 and the training curve.
    """
    spec = condition_spec(name)   # an unknown name fails before any training
    protocol = protocol or ProtocolConfig(labels_per_class="all")
    check_class_counts(table, {"train": 1, "val": 1, "test": 1}, f"classify_{name}")
    visual = {"rgb": H5Column(paths["visual"], "rgb", table.clip_ids, "visual_features"),
              "flow": H5Column(paths["visual"], "flow", table.clip_ids, "visual_features")}
    stats_pos = np.flatnonzero(np.isin(table.split, ["train", "pool"]))
    val_pos, test_pos = table.positions("val"), table.positions("test")
    visual_norms = {key: Standardize(*feature_stats(column, stats_pos)) for key, column in visual.items()}
    draws = label_draws(table, protocol)
    result = {"condition": name, "seeds": list(config.seeds), "test_positions": test_pos, "budget": protocol.budget,
              "runs": [], "logits": [], "val_top1": [], "history": [], "state_dicts": {},
              "dims": {key: column.row_shape[-1] for key, column in visual.items()}}
    for seed in config.seeds:
        audio_column, audio_used = spec.audio(table, paths, seed)
        keep = spec.train_keep(table, paths, seed) if spec.train_keep else np.ones(len(table), bool)
        columns, norms = dict(visual), dict(visual_norms)
        if audio_column is not None:
            columns["audio"] = audio_column
            # Statistics over the train and pool clips that have this audio at all, independent of the filter.
            norms["audio"] = Standardize(*feature_stats(audio_column, stats_pos[spec.stats_clips(table)[stats_pos]]))
            result["dims"]["audio"] = audio_column.row_shape[-1]
        models, runs = [], []
        for k, draw, labelled in draws:
            train_pos = labelled[keep[labelled]]
            if protocol.budget:
                model, fitted = train_budget(name, seed, table, columns, audio_used, norms, config,
                                             protocol.train_epochs, device, train_pos, run_init_seed(seed, k, draw))
            else:
                model, fitted = train_condition(name, seed, table, columns, audio_used, norms, config, device,
                                                train_pos=train_pos)
            models.append(model)
            labels = table.label[train_pos]
            runs.append({"k": k, "draw": draw, "seed": seed, "labelled": len(labelled), "trained_on": len(train_pos),
                         "classes_without_clip": int(len(table.class_names) - len(np.unique(labels))),
                         "missing_audio_information": missing_audio_information(labels, audio_used[train_pos]),
                         "train_clips_with_audio": int(audio_used[train_pos].sum()),
                         "test_clips_with_audio": int(audio_used[test_pos].sum()),
                         "best_epoch": fitted.best_epoch, "epochs_run": fitted.epochs_run,
                         "train_loss": float(fitted.history[-1]["train_loss"]) if fitted.history else float("nan"),
                         "labelled_clips": labelled})
            result["history"].append([[h["epoch"], h["train_loss"], h.get("val_loss", np.nan), h.get("val_acc", np.nan)]
                                      for h in fitted.history])
        val_logits = evaluate_runs(models, columns, val_pos, audio_used, table, device)
        test_logits = evaluate_runs(models, columns, test_pos, audio_used, table, device)   # the one look at test
        for run, v, t in zip(runs, val_logits, test_logits):
            run["val_top1"] = top_k_accuracy(v, table.label[val_pos], 1)
            result["runs"].append(run)
            result["logits"].append(t)
        # The checkpoint `vida predict` uses: per seed, the run with the most labels (draw 0).
        best = max(range(len(runs)), key=lambda i: (runs[i]["k"] == ALL_LABELS, runs[i]["k"], -runs[i]["draw"]))
        result["state_dicts"][seed] = {key: v.cpu() for key, v in models[best].state_dict().items()}
        result.setdefault("checkpoint_run", {"k": runs[best]["k"], "draw": runs[best]["draw"]})
    result["val_top1"] = [run["val_top1"] for run in result["runs"]]
    return result


HISTORY_COLUMNS = ("epoch", "train_loss", "val_loss", "val_acc")


RUN_KEYS = ("k", "draw", "seed", "labelled", "trained_on", "classes_without_clip", "missing_audio_information",
            "train_clips_with_audio", "test_clips_with_audio", "best_epoch", "epochs_run", "train_loss", "val_top1")


def write_condition(result: dict, table: ClipTable, config: ClassifyConfig, out_h5: str | Path,
                    model_path: str | Path | None = None, confusion_json: str | Path | None = None,
                    params: dict | None = None) -> dict:
    """One condition's outputs: per-run test logits, the runs table and curves (h5), weights (pt),
    confusion rows (json). Returns the stage's closing summary (val top-1 per k, mean over runs).

    A run is (k, draw, seed); k = 0 stands for `labels_per_class: all`. `runs/labelled` marks, per
    run, which of `labelled/clip_id` (the reservoir) it was given labels for.
    """
    test_pos = result["test_positions"]
    labels = table.label[test_pos]
    logits = np.stack(result["logits"]).astype(np.float32)          # [runs, test clips, classes]
    runs = result["runs"]
    reservoir = table.positions("train")
    with write_h5(out_h5, f"classify_{result['condition']}", params=params) as f:
        write_strings(f, "clip_id", [table.clip_ids[i] for i in test_pos])
        write_strings(f, "class_names", table.class_names)
        f.create_dataset("label", data=labels)
        f.create_dataset("seeds", data=np.asarray(result["seeds"], dtype=np.int64))
        f.create_dataset("logits", data=logits)
        for key in RUN_KEYS:
            f.create_dataset(f"runs/{key}", data=np.asarray([run[key] for run in runs]))
        write_strings(f, "labelled/clip_id", [table.clip_ids[i] for i in reservoir])
        f.create_dataset("runs/labelled_mask", data=np.stack([np.isin(reservoir, run["labelled_clips"]) for run in runs]))
        for r, history in enumerate(result["history"]):
            ds = f.create_dataset(f"history/run{r}", data=np.asarray(history, dtype=np.float64).reshape(-1, 4))
            ds.attrs["columns"] = json.dumps(HISTORY_COLUMNS)
        f.attrs["condition"] = result["condition"]
        f.attrs["budget"] = bool(result["budget"])
        f.attrs["counts"] = json.dumps(table.counts())
    if model_path is not None:
        save_torch({"condition": result["condition"], "config": asdict(config), "seeds": result["seeds"],
                    "class_names": table.class_names, "dims": result["dims"], "run": result["checkpoint_run"],
                    "state_dicts": result["state_dicts"]}, model_path)
    if confusion_json is not None:
        # {actual, predicted} rows of the runs with the most labels, for DVC's confusion template.
        top_k = max(run["k"] if run["k"] != ALL_LABELS else np.inf for run in runs)
        chosen = [r for r, run in enumerate(runs) if (run["k"] if run["k"] != ALL_LABELS else np.inf) == top_k]
        names = table.class_names
        write_json(confusion_json, [{"actual": names[a], "predicted": names[p]}
                                    for r in chosen for a, p in zip(labels, logits[r].argmax(1))])
    by_k = {}
    for run in runs:
        by_k.setdefault("all" if run["k"] == ALL_LABELS else f"k{run['k']}", []).append(run["val_top1"])
    return {f"val_top1_{k}": round(float(np.mean(v)), 4) for k, v in by_k.items()}
