"""The classifier's conditions, as a table: name -> its audio input, which clips use it, its report row.

Every condition sees the same clips, classes, splits and seeds; only the audio part of the
per-step input differs:

| condition       | audio features per step                                              |
| --------------- | -------------------------------------------------------------------- |
| baseline        | none (RGB + flow only)                                               |
| svdmap          | SVDMap generated, every clip                                         |
| svdmap_filtered | SVDMap generated; a TRAIN clip the filter rejects gets "no audio"    |
|                 | (every val/test clip gets its generated audio)                       |
| cafmap          | CAFMap generated, every clip                                         |
| real_audio      | real log-mel where the clip has audio, else "no audio" (upper bound) |

"No audio" is a zero vector in standardised feature space (the train mean: no evidence either
way). For svdmap_filtered the non-kept train clips stay, with no audio, rather than being
dropped: the paper's filter rejects unreliable *generated audio*, not the videos, and dropping
them would also take their visual evidence away, so a filtered-vs-unfiltered difference could
come from training-set size instead of audio quality.

The generated audio and the filter's choice exist once per seed (classify.seeds): the classifier
of seed s learns from, and is tested on, the audio of the generators of seed s.

Each condition is a DVC stage of its own, `classify_<name>` (stages/classify.py <name>), whose
deps are the artifacts in `needs`, so a change reruns only the conditions that read what
changed. Adding a condition is one `Condition` entry: `audio(table, paths, seed)` returns the
audio column (or None) and, per clip, whether that audio is used; `stats_clips(table)` picks the
train clips whose audio sets the standardisation; `tables` places it in `vida report`. Then add
its stage to dvc.yaml (a copy of another condition's, with its `needs` as deps) and its name to
`vida_core.io.registry.CLASSIFY_CONDITIONS`; tests/test_layout.py checks the three agree.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from vida_core.io.artifacts import aligned_rows, read_strings
from vida_core.learn.data import ClipTable, H5Column, per_seed


@dataclass(frozen=True)
class Condition:
    name: str
    label: str                  # its row label in `vida report`
    # (table, {artifact name: path}, seed) -> (audio column or None, bool [N]: the clip's audio is used)
    audio: Callable[[ClipTable, dict[str, Path], int], tuple[H5Column | None, np.ndarray]]
    needs: tuple[str, ...] = ()     # registry artifacts it reads (beyond visual features)
    tables: tuple[str, ...] = ()    # report tables it appears in (see REPORT_TABLES)
    # Train clips whose audio sets the standardisation statistics: generated audio exists for
    # every clip, real audio only where has_audio.
    stats_clips: Callable[[ClipTable], np.ndarray] = field(default=lambda table: np.ones(len(table), bool))


def _no_audio(table: ClipTable, paths: dict, seed: int) -> tuple[None, np.ndarray]:
    return None, np.zeros(len(table), bool)


def _real_audio(table: ClipTable, paths: dict, seed: int):
    return H5Column(paths["audio"], "logmel", table.clip_ids, "audio"), table.has_audio.copy()


def _generated(name: str, stage: str):
    def audio(table: ClipTable, paths: dict, seed: int):
        return H5Column(paths[name], per_seed("audio", seed), table.clip_ids, stage), np.ones(len(table), bool)
    return audio


def _svdmap_filtered(table: ClipTable, paths: dict, seed: int):
    column, _ = _generated("generated_svdmap", "generate_svdmap")(table, paths, seed)
    with h5py.File(paths["filter"], "r") as f:
        if per_seed("keep", seed) not in f:
            raise KeyError(f"{paths['filter']} has no decisions for seed {seed}; rerun `dvc repro filter`.")
        rows = aligned_rows(table.clip_ids, read_strings(f["clip_id"]), paths["filter"], "filter")
        keep = f[per_seed("keep", seed)][()][rows].astype(bool)
    return column, np.where(table.split == "train", keep, True)


REPORT_TABLES = {
    "table1": "Table 1: SVDMap (visual features -> audio features)",
    "table2": "Table 2: CAFMap (caption-derived condition + noise -> audio features)",
}

CONDITIONS: dict[str, Condition] = {c.name: c for c in [
    Condition("baseline", "vision only", _no_audio, tables=("table1", "table2")),
    Condition("svdmap", "+ SVDMap (all)", _generated("generated_svdmap", "generate_svdmap"),
              needs=("generated_svdmap",), tables=("table1",)),
    Condition("svdmap_filtered", "+ SVDMap (filtered)", _svdmap_filtered,
              needs=("generated_svdmap", "filter"), tables=("table1",)),
    Condition("cafmap", "+ CAFMap", _generated("generated_cafmap", "generate_cafmap"),
              needs=("generated_cafmap",), tables=("table2",)),
    Condition("real_audio", "+ real audio", _real_audio, needs=("audio",), tables=("table1", "table2"),
              stats_clips=lambda table: table.has_audio),
]}


def condition(name: str) -> Condition:
    if name not in CONDITIONS:
        raise ValueError(f"unknown classifier condition {name!r}; choose from {list(CONDITIONS)}")
    return CONDITIONS[name]
