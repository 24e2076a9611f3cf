"""The classifier's conditions, as a table: name -> its audio input, which clips use it, its report row.

Every condition sees the same clips, classes, splits, labelled draws and seeds; only the audio part
of the per-step input (and, for the filtered ones, which labelled clips it trains on) differs:

| condition            | audio features per step                                              |
| -------------------- | -------------------------------------------------------------------- |
| baseline             | none (RGB + flow only)                                               |
| svdmap               | SVDMap generated, every clip                                         |
| svdmap_filtered      | SVDMap generated; labelled clips the filter rejects are DROPPED      |
| cafmap               | CAFMap generated, every clip                                         |
| real_audio           | real log-mel where the clip has audio, else "no audio" (upper bound) |
| svdmap_shuffled      | control: SVDMap trained on audio targets permuted across clips       |
| visual_pool          | control: a 128-wide PCA stream of U's visual features (no audio)     |
| cafmap_labels_only   | control: CAFMap whose condition codes the mapped labels, not sounds  |
| cafmap_bank_permuted | control: CAFMap with the label bank's rows shuffled across labels    |
| filter_random        | control: svdmap_filtered with random keeps at the filter's class rates |

"No audio" is a zero vector in standardised feature space (the train mean: no evidence either
way).

No label through missingness. The filter rejects more clips of some classes than of others, so
if a rejected clip stayed with "no audio" (as the first release did), "no audio" would only ever
occur in training and would mean "one of the classes the filter dislikes": the classifier could
read the label from the missingness. So the filtered conditions drop the rejected clips from
their training set, as the paper's "only samples that passed" says: every clip they train and
are tested on has its generated audio, and the cost is fewer labelled clips for the classes the
filter dislikes (reported per k: clips kept and classes left without one). `filter_random`
draws the same number of rejections per class at random, so the filter's choice of *which*
clips can be told from its class balance.

The generated audio and the filter's choice exist once per seed (classify.seeds): the classifier
of seed s learns from, and is tested on, the audio of the generators of seed s.

Each condition is a DVC stage of its own, `classify_<name>` (stages/classify.py <name>), whose
deps are the artifacts in `needs`, so a change reruns only the conditions that read what
changed. Adding a condition is one `Condition` entry: `audio(table, paths, seed)` returns the
audio column (or None) and, per clip, whether that audio is used; `train_keep(table, paths, seed)`
(optional) which labelled clips it may train on; `stats_clips(table)` picks the clips whose audio
sets the standardisation; `tables` places it in `vida report`. Then add its stage to dvc.yaml (a
copy of another condition's, with its `needs` as deps) and its name to
`vida_core.shared.registry.CLASSIFY_CONDITIONS`; tests/test_layout.py checks the three agree.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from vida_core.shared.artifacts import aligned_rows, read_strings
from vida_core.learn.data import ClipTable, H5Column, clip_rng, per_seed


@dataclass(frozen=True)
class Condition:
    name: str
    label: str                  # its row label in `vida report`
    # (table, {artifact name: path}, seed) -> (audio column or None, bool [N]: the clip's audio is used)
    audio: Callable[[ClipTable, dict[str, Path], int], tuple[H5Column | None, np.ndarray]]
    needs: tuple[str, ...] = ()     # registry artifacts it reads (beyond visual features)
    tables: tuple[str, ...] = ()    # report tables it appears in (see REPORT_TABLES)
    # Clips whose audio sets the standardisation statistics (among train and pool clips; labels
    # unused): generated audio exists for every clip, real audio only where has_audio.
    stats_clips: Callable[[ClipTable], np.ndarray] = field(default=lambda table: np.ones(len(table), bool))
    # (table, paths, seed) -> bool [N]: labelled clips it may train on (None: all of them)
    train_keep: Callable[[ClipTable, dict[str, Path], int], np.ndarray] | None = None
    control: bool = False           # a control of the label-budget study, not a condition of the paper


def _no_audio(table: ClipTable, paths: dict, seed: int) -> tuple[None, np.ndarray]:
    return None, np.zeros(len(table), bool)


def _real_audio(table: ClipTable, paths: dict, seed: int):
    return H5Column(paths["audio"], "logmel", table.clip_ids, "audio"), table.has_audio.copy()


def _generated(name: str, stage: str):
    def audio(table: ClipTable, paths: dict, seed: int):
        return H5Column(paths[name], per_seed("audio", seed), table.clip_ids, stage), np.ones(len(table), bool)
    return audio


def _filter_keep(table: ClipTable, paths: dict, seed: int) -> np.ndarray:
    with h5py.File(paths["filter"], "r") as f:
        if per_seed("keep", seed) not in f:
            raise KeyError(f"{paths['filter']} has no decisions for seed {seed}; rerun `dvc repro filter`.")
        rows = aligned_rows(table.clip_ids, read_strings(f["clip_id"]), paths["filter"], "filter")
        return f[per_seed("keep", seed)][()][rows].astype(bool)


def _random_keep(table: ClipTable, paths: dict, seed: int) -> np.ndarray:
    """The filter's keep rate of each class (over the clips it acts on, the train/reservoir
    clips), applied at random: each clip kept with its class's rate, drawn from (seed, clip_id)."""
    keep = _filter_keep(table, paths, seed)
    train = table.split == "train"
    rates = np.array([keep[train & (table.label == c)].mean() if (train & (table.label == c)).any() else 1.0
                      for c in range(len(table.class_names))])
    draws = np.array([clip_rng(seed, c, 0xF17E).random() for c in table.clip_ids])
    return draws < rates[table.label]


def _fixed(name: str, dataset: str, stage: str):
    """A column that is the same for every seed (visual_pool)."""
    def audio(table: ClipTable, paths: dict, seed: int):
        return H5Column(paths[name], dataset, table.clip_ids, stage), np.ones(len(table), bool)
    return audio


REPORT_TABLES = {
    "table1": "Table 1: SVDMap (visual features -> audio features)",
    "table2": "Table 2: CAFMap (caption-derived condition + noise -> audio features)",
}

CONDITIONS: dict[str, Condition] = {c.name: c for c in [
    Condition("baseline", "vision only", _no_audio, tables=("table1", "table2")),
    Condition("svdmap", "+ SVDMap (all)", _generated("generated_svdmap", "generate_svdmap"),
              needs=("generated_svdmap",), tables=("table1",)),
    Condition("svdmap_filtered", "+ SVDMap (filtered)", _generated("generated_svdmap", "generate_svdmap"),
              needs=("generated_svdmap", "filter"), tables=("table1",), train_keep=_filter_keep),
    Condition("cafmap", "+ CAFMap", _generated("generated_cafmap", "generate_cafmap"),
              needs=("generated_cafmap",), tables=("table2",)),
    Condition("real_audio", "+ real audio", _real_audio, needs=("audio",), tables=("table1", "table2"),
              stats_clips=lambda table: table.has_audio),
    Condition("svdmap_shuffled", "+ SVDMap, shuffled audio (control)",
              _generated("generated_svdmap_shuffled", "generate_svdmap_shuffled"),
              needs=("generated_svdmap_shuffled",), tables=("table1",), control=True),
    Condition("filter_random", "+ SVDMap, random filter (control)", _generated("generated_svdmap", "generate_svdmap"),
              needs=("generated_svdmap", "filter"), tables=("table1",), train_keep=_random_keep, control=True),
    Condition("visual_pool", "+ PCA of unlabelled video (control)", _fixed("visual_pool", "features", "visual_pool"),
              needs=("visual_pool",), tables=("table1", "table2"), control=True),
    Condition("cafmap_labels_only", "+ CAFMap, label codes (control)",
              _generated("generated_cafmap_labels_only", "generate_cafmap_labels_only"),
              needs=("generated_cafmap_labels_only",), tables=("table2",), control=True),
    Condition("cafmap_bank_permuted", "+ CAFMap, permuted bank (control)",
              _generated("generated_cafmap_bank_permuted", "generate_cafmap_bank_permuted"),
              needs=("generated_cafmap_bank_permuted",), tables=("table2",), control=True),
]}


def condition(name: str) -> Condition:
    if name not in CONDITIONS:
        raise ValueError(f"unknown classifier condition {name!r}; choose from {list(CONDITIONS)}")
    return CONDITIONS[name]
