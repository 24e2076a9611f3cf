"""One training loop for every model here: seeded, early-stopped on validation, its curves returned."""

from __future__ import annotations

import contextlib
import copy
import os
import random
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm import tqdm

from vida_core.shared.config import TrainConfig

GRAD_CLIP = 1.0  # LSTMs occasionally take an exploding step early on; clipping makes runs steadier


def seed_everything(seed: int) -> None:
    """Same seed, code and data -> same weights and same artifacts (on the same device type)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # deterministic cuBLAS on GPU
    torch.use_deterministic_algorithms(True, warn_only=True)


@contextlib.contextmanager
def learning_threads():
    """Half the cores for torch while small LSTMs train on CPU, restored afterwards (also a decorator).

    Their per-step matrix products are small, so extra threads add little (about 1.3x from 1
    to 2), while an OpenMP thread that has to share its core with another busy process stalls
    every step: with 2 threads on 2 cores and one other busy process, training was ~10x slower
    than with 1 thread. Leaving headroom avoids that cliff.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(max(1, (os.cpu_count() or 2) // 2))
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@dataclass
class FitResult:
    best_epoch: int
    best_metrics: dict
    epochs_run: int
    history: list[dict] = field(default_factory=list)


def fit(model: torch.nn.Module, train_batches, loss_fn: Callable, evaluate: Callable,
        config: TrainConfig, desc: str = "train") -> FitResult:
    """Train `model` in place and leave it holding the weights of its best validation epoch.

    loss_fn(model, batch) -> mean loss over the batch (a tensor to backpropagate).
    evaluate(model) -> (score, metrics): higher score is better (a tuple is compared in order,
        e.g. (accuracy, -loss) breaks accuracy ties by loss); metrics are logged.
    """
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    best_score, best_state, best_epoch, best_metrics = None, None, -1, {}
    history = []
    progress = tqdm(range(config.epochs), desc=desc, leave=False)
    for epoch in progress:
        model.train()
        train_batches.set_epoch(epoch)
        total, count = 0.0, 0
        for batch in train_batches:
            loss = loss_fn(model, batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), GRAD_CLIP)
            optimizer.step()
            n = len(batch["position"])
            total, count = total + loss.item() * n, count + n
        model.eval()
        with torch.no_grad():
            score, metrics = evaluate(model)
        metrics = {"train_loss": total / max(count, 1), **metrics}
        history.append({"epoch": epoch, **metrics})
        progress.set_postfix({k: round(float(v), 4) for k, v in metrics.items()})
        if best_score is None or score > best_score:
            best_score, best_epoch, best_metrics = score, epoch, metrics
            best_state = copy.deepcopy(model.state_dict())
        elif epoch - best_epoch >= config.patience:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    return FitResult(best_epoch, best_metrics, len(history), history)
