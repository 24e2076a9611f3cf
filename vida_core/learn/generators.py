"""SVDMap and CAFMap: LSTMs that generate an 18 x 128 log-mel sequence for every clip.

Both are trained with MSE on TRAIN clips that have real audio, early-stopped on VAL clips
that have real audio, and then generate for every clip, including clips with no audio (that
is what they are for). Targets are standardised per mel bin with train statistics; the
outputs are written back in raw log-mel space, comparable with audio.h5.

- SVDMap input: per-step RGB and flow features, concatenated and standardised.
- CAFMap input: per-clip Gaussian noise [18, 128] in which the caption-derived condition
  (label_map.h5, standardised like the targets) replaces the noise at representative steps.
  Generation uses the noise drawn from (seed, clip_id), so reruns give identical files;
  training draws fresh noise each epoch from (seed, clip_id, 1, epoch), so the LSTM cannot
  memorise a clip's noise and has to learn from the condition.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import h5py
import numpy as np
import torch
from torch import nn

from vida_core import NUM_FRAMES, NUM_MEL_BINS
from vida_core.io.artifacts import RowWriter, save_torch, write_h5, write_strings
from vida_core.config import CAFMapConfig, GeneratorConfig
from vida_core.learn.data import ClipBatches, ClipTable, H5Column, clip_rng, feature_stats
from vida_core.learn.networks import SequenceRegressor, Standardize
from vida_core.learn.training import fit, learning_threads, open_live, seed_everything

EVAL_BATCH = 256  # evaluation and generation batch (no gradients, so larger is fine)


def cafmap_noise(clip_id: str, seed: int, epoch: int | None = None) -> np.ndarray:
    """The clip's noise sequence [18, 128]: fixed per (seed, clip_id), or per epoch in training."""
    # A separate stream for training draws: numpy seeds [a, b] and [a, b, 0] are the same.
    rng = clip_rng(seed, clip_id) if epoch is None else clip_rng(seed, clip_id, 1, epoch)
    return rng.standard_normal((NUM_FRAMES, NUM_MEL_BINS), dtype=np.float32)


def insert_condition(noise: torch.Tensor, condition: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Noise everywhere except the masked (representative) steps, which carry the condition."""
    return torch.where(mask.bool().unsqueeze(-1), condition, noise)


def visual_input(batch: dict) -> torch.Tensor:
    return torch.cat([batch["rgb"], batch["flow"]], dim=-1)


class Generator(nn.Module):
    """Input construction + LSTM + target standardiser: everything needed to generate, in one checkpoint."""

    def __init__(self, kind: str, config: GeneratorConfig, visual_dim: int, seed: int):
        super().__init__()
        self.kind, self.config, self.seed = kind, config, seed
        self.uses_visual = kind == "svdmap" or getattr(config, "use_visual", False)
        visual_width = (config.input_proj or 2 * visual_dim) if self.uses_visual else 0
        self.visual_proj = (nn.Linear(2 * visual_dim, config.input_proj) if self.uses_visual and config.input_proj
                            else nn.Identity())
        in_dim = visual_width + (NUM_MEL_BINS if kind == "cafmap" else 0)
        self.net = SequenceRegressor(in_dim, NUM_MEL_BINS, config.hidden, config.layers, config.dropout)
        # Placeholders, replaced by train statistics (or a checkpoint's) before use.
        self.target_norm = Standardize(np.zeros(NUM_MEL_BINS), np.ones(NUM_MEL_BINS))
        self.visual_norm = Standardize(np.zeros(2 * visual_dim), np.ones(2 * visual_dim)) if self.uses_visual else None

    def inputs(self, batch: dict) -> torch.Tensor:
        parts = []
        if self.kind == "cafmap":
            # Fresh noise per epoch while training; the fixed per-clip noise otherwise.
            epoch = batch["epoch"] if self.training else None
            noise = torch.from_numpy(np.stack([cafmap_noise(c, self.seed, epoch) for c in batch["clip_id"]]))
            device = batch["condition"].device
            parts.append(insert_condition(noise.to(device), self.target_norm(batch["condition"]),
                                          batch["condition_mask"]))
        if self.uses_visual:
            parts.append(self.visual_proj(self.visual_norm(visual_input(batch))))
        return torch.cat(parts, dim=-1)

    def forward(self, batch: dict) -> torch.Tensor:
        """Standardised log-mel prediction [B, 18, 128]."""
        return self.net(self.inputs(batch))

    @torch.no_grad()
    def generate(self, batch: dict) -> torch.Tensor:
        """Raw log-mel [B, 18, 128], comparable with audio.h5."""
        return self.target_norm.inverse(self(batch))


def generator_columns(kind: str, clip_ids: list[str], audio_h5, visual_h5=None, label_map_h5=None,
                      use_visual: bool = False) -> dict[str, H5Column]:
    columns = {"target": H5Column(audio_h5, "logmel", clip_ids, "audio")}
    if kind == "svdmap" or use_visual:
        columns["rgb"] = H5Column(visual_h5, "rgb", clip_ids, "visual_features")
        columns["flow"] = H5Column(visual_h5, "flow", clip_ids, "visual_features")
    if kind == "cafmap":
        columns["condition"] = H5Column(label_map_h5, "condition", clip_ids, "label_map")
        columns["condition_mask"] = H5Column(label_map_h5, "condition_mask", clip_ids, "label_map")
    return columns


def _to(batch: dict, device: torch.device) -> dict:
    return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


def train_generator(kind: str, table: ClipTable, columns: dict[str, H5Column], config: GeneratorConfig,
                    seed: int, device: torch.device, live=None) -> tuple[Generator, dict]:
    """Fit a generator on train clips with real audio; early-stop on val clips with real audio."""
    train_pos = table.positions("train", table.has_audio)
    val_pos = table.positions("val", table.has_audio)
    for split, pos in (("train", train_pos), ("val", val_pos)):
        if len(pos) == 0:
            raise ValueError(f"{kind}: no {split} clips with real audio to learn from "
                             f"({table.counts()}); the generator needs audio targets in both train and val.")
    seed_everything(seed)
    visual_dim = columns["rgb"].row_shape[-1] if "rgb" in columns else 0
    model = Generator(kind, config, visual_dim, seed)
    model.target_norm = Standardize(*feature_stats(columns["target"], train_pos))
    if model.uses_visual:
        rgb_mean, rgb_std = feature_stats(columns["rgb"], train_pos)
        flow_mean, flow_std = feature_stats(columns["flow"], train_pos)
        model.visual_norm = Standardize(np.concatenate([rgb_mean, flow_mean]), np.concatenate([rgb_std, flow_std]))
    model.to(device)

    extras = {"clip_id": np.asarray(table.clip_ids, dtype=object)}
    train_batches = ClipBatches(columns, train_pos, config.batch_size, shuffle=True, seed=seed, extras=extras)
    val_batches = ClipBatches(columns, val_pos, EVAL_BATCH, extras=extras)

    def loss_fn(m, batch):
        batch = _to(batch, device)
        return nn.functional.mse_loss(m(batch), m.target_norm(batch["target"]))

    def evaluate(m):
        sq = sq_mean_predictor = 0.0
        for batch in val_batches:
            batch = _to(batch, device)
            target = m.target_norm(batch["target"])
            sq += ((m(batch) - target) ** 2).sum().item()
            sq_mean_predictor += (target ** 2).sum().item()
        n = len(val_pos) * NUM_FRAMES * NUM_MEL_BINS
        return -sq / n, {"val_loss": sq / n, "val_loss_mean_predictor": sq_mean_predictor / n}

    result = fit(model, train_batches, loss_fn, evaluate, config, live=live, desc=kind)
    summary = {
        "best_epoch": result.best_epoch,
        "epochs_run": result.epochs_run,
        # Standardised MSE; predicting the train mean of each mel bin scores about 1.
        "val_loss": result.best_metrics["val_loss"],
        "val_loss_mean_predictor": result.best_metrics["val_loss_mean_predictor"],
        "train_targets": len(train_pos),
        "val_targets": len(val_pos),
        **table.counts(),
    }
    return model, summary


def generate_all(model: Generator, table: ClipTable, columns: dict[str, H5Column], out_h5: str | Path,
                 device: torch.device, stage: str, params: dict, models: dict | None = None) -> int:
    """Generate raw log-mel for every clip of the table (with or without audio) -> out_h5."""
    model.eval()
    used_as_target = np.isin(table.split, ["train", "val"]) & table.has_audio
    with write_h5(out_h5, stage, params=params, models=models) as f:
        write_strings(f, "clip_id", table.clip_ids)
        f.create_dataset("has_audio", data=table.has_audio)
        f.create_dataset("used_as_target", data=used_as_target)  # train targets and val early stopping
        writer = RowWriter(f, {"audio": ((NUM_FRAMES, NUM_MEL_BINS), np.float32, {})}, flush_every=EVAL_BATCH)
        inputs = {k: col for k, col in columns.items() if k != "target"}   # targets are not needed here
        batches = ClipBatches(inputs, table.positions(), EVAL_BATCH,
                              extras={"clip_id": np.asarray(table.clip_ids, dtype=object)})
        for batch in batches:
            for row in model.generate(_to(batch, device)).cpu().numpy():
                writer.append(audio=row)
        writer.flush()
    return len(table)


def save_generator(model: Generator, path: str | Path, summary: dict) -> None:
    save_torch({"kind": model.kind, "config": asdict(model.config), "seed": model.seed,
                "visual_dim": model.visual_norm.mean.numel() // 2 if model.visual_norm is not None else 0,
                "state_dict": {k: v.cpu() for k, v in model.state_dict().items()},
                "summary": summary}, path)


def load_generator(path: str | Path, device: str | torch.device = "cpu") -> Generator:
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    config_cls = CAFMapConfig if ckpt["kind"] == "cafmap" else GeneratorConfig
    model = Generator(ckpt["kind"], config_cls(**ckpt["config"]), ckpt["visual_dim"], ckpt["seed"])
    model.load_state_dict(ckpt["state_dict"])
    return model.to(device).eval()


@learning_threads()
def run_generator(kind: str, table: ClipTable, columns: dict[str, H5Column], config: GeneratorConfig,
                  seed: int, device: torch.device, checkpoint: str | Path, out_h5: str | Path,
                  live_dir: str | None, params: dict, models: dict | None = None) -> dict:
    """Train, checkpoint, and generate for every clip; returns the summary for the metrics json."""
    live = open_live(live_dir)
    model, summary = train_generator(kind, table, columns, config, seed, device, live)
    save_generator(model, checkpoint, summary)
    summary["generated_clips"] = generate_all(model, table, columns, out_h5, device, f"generate_{kind}",
                                              params, models)
    if live is not None:
        live.end()
    return summary


def generator_inputs(kind: str, manifest_csv: Path, audio_h5: Path, visual_h5: Path | None = None,
                     label_map_h5: Path | None = None, use_visual: bool = False):
    """(table, columns, models) of a generator: its clips joined with the manifest, its input and
    target columns, and the upstream models recorded in the artifacts it reads."""
    from vida_core.io.artifacts import clip_ids, provenance
    from vida_core.io.dataset import read_manifest
    from vida_core.learn.data import build_table

    sources = [visual_h5] if kind == "svdmap" else [label_map_h5] + ([visual_h5] if use_visual else [])
    ids = clip_ids(sources[0])
    table = build_table(ids, read_manifest(manifest_csv), audio_h5)
    columns = generator_columns(kind, ids, audio_h5, visual_h5=visual_h5, label_map_h5=label_map_h5,
                                use_visual=use_visual)
    models = {}
    for path in sources:
        with h5py.File(path, "r") as f:
            models.update(provenance(f)["models"] or {})
    return table, columns, models
