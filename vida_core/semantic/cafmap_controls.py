"""The CAFMap controls of the label-budget study (stage `cafmap_controls` -> cafmap_controls.h5).

CAFMap's condition rebuilt from the same mapped labels (label_map.h5's label_index) two ways that
remove the label bank's knowledge of how a label sounds:
- labels only: each AudioSet label gets a fixed random code in the 128 bins, drawn with the bank's
  per-bin mean and spread (a seeded random projection of the multi-hot label vector), so the
  generator is told which labels the captions evoked and nothing of their sound;
- bank permuted: the bank's 527 rows shuffled across labels (real log-mel means, wrong labels).
The generator stages `generate_cafmap_labels_only` / `generate_cafmap_bank_permuted` train CAFMap
on them exactly as on the real condition.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from vida_core.shared import NUM_FRAMES
from vida_core.shared.artifacts import RowWriter, read_strings, write_h5, write_strings
from vida_core.semantic.label_map import cafmap_condition

BLOCK = 256


def label_codes(bank_mean: np.ndarray, seed: int) -> np.ndarray:
    """A fixed random 128-bin code per label, with the bank's per-bin mean and spread."""
    rng = np.random.default_rng([seed, 0xC0DE])
    z = rng.standard_normal(bank_mean.shape)
    return (bank_mean.mean(0) + bank_mean.std(0) * z).astype(np.float32)


def bank_permutation(n_labels: int, seed: int) -> np.ndarray:
    """Row i of the permuted bank is row perm[i] of the real one (no label keeps its own row)."""
    rng = np.random.default_rng([seed, 0xBA4C])
    perm = rng.permutation(n_labels)
    fixed = np.flatnonzero(perm == np.arange(n_labels))
    if len(fixed):   # rotate the fixed points among themselves (or swap the only one with row 0)
        perm[fixed] = perm[np.roll(fixed, 1)] if len(fixed) > 1 else perm[(fixed + 1) % n_labels]
    return perm


def run_cafmap_controls(label_map_h5: Path, label_bank_h5: Path, out_h5: Path, seed: int, params: dict) -> dict:
    with h5py.File(label_bank_h5, "r") as f:
        bank = f["mean"][()].astype(np.float32)
    codes, perm = label_codes(bank, seed), bank_permutation(len(bank), seed)
    with h5py.File(label_map_h5, "r") as src, write_h5(out_h5, "cafmap_controls", params=params) as f:
        ids = read_strings(src["clip_id"])
        write_strings(f, "clip_id", ids)
        f["label_codes"], f["bank_permutation"] = codes, perm
        shape = ((NUM_FRAMES, bank.shape[1]), np.float32, {})
        writer = RowWriter(f, {"labels_only/condition": shape, "bank_permuted/condition": shape,
                               "condition_mask": ((NUM_FRAMES,), bool, {})}, flush_every=BLOCK)
        for start in range(0, len(ids), BLOCK):
            index = src["label_index"][start:start + BLOCK]
            labels_only, mask = cafmap_condition(index, codes)
            permuted, _ = cafmap_condition(index, bank[perm])
            for row in range(len(index)):
                writer.append(**{"labels_only/condition": labels_only[row], "bank_permuted/condition": permuted[row],
                                 "condition_mask": mask[row]})
        writer.flush()
    return {"clips": len(ids), "labels": len(bank), "labels_moved": int((perm != np.arange(len(perm))).sum())}


