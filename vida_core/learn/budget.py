"""The label-budget protocol: who may be labelled, who is the unlabelled pool, which clips each run labels.

Every train clip gets a role (stage `label_budget` -> artifacts/roles.csv):

| role      | what it is for                                                                    |
| --------- | --------------------------------------------------------------------------------- |
| pool      | U: its audio (never its label) fits the generators, feature tagger and label bank |
| pool_val  | a slice of U that early-stops those models on audio loss (no labels either)        |
| reservoir | the clips a classifier may be given labels for: k per class per draw               |

val and test clips keep their split as their role. With `protocol.labels_per_class: all` there is
no pool: every train clip is `reservoir` and all of it is labelled (the paper's protocol).

On Moments in Time the recipe is the same: the reservoir is `reservoir_per_class` clips of each
class of the training set, U is the rest of the training set (about 2,300 clips a class).

The roles depend only on the manifest and (reservoir_per_class, pool_val_fraction, seed, whether
the study is on), so changing `labels_per_class` or `label_draws` rewrites roles.csv byte for
byte the same and DVC reruns only the classifiers.
"""

from __future__ import annotations

import csv
import zlib
from collections import defaultdict
from pathlib import Path

import numpy as np

from vida_core.shared.config import ProtocolConfig
from vida_core.learn.data import ClipTable

ROLES = ("pool", "pool_val", "reservoir", "val", "test")
ALL_LABELS = 0   # the `k` of runs under `labels_per_class: all`


def _rng(seed: int, *words: str) -> np.random.Generator:
    return np.random.default_rng([seed, *(zlib.crc32(w.encode()) for w in words)])


def assign_roles(manifest_rows: list[dict], config: ProtocolConfig) -> dict[str, str]:
    """clip_id -> role. Per class, a seeded shuffle of its train clips (sorted by id first, so the
    manifest's row order does not matter): the first reservoir_per_class are the reservoir, then
    round(pool_val_fraction x the rest) are pool_val, the others pool."""
    roles = {row["clip_id"]: row["split"] for row in manifest_rows if row["split"] != "train"}
    train = defaultdict(list)
    for row in manifest_rows:
        if row["split"] == "train":
            train[row["label"]].append(row["clip_id"])
    for label, members in sorted(train.items()):
        members = sorted(members)
        if not config.budget:
            roles.update(dict.fromkeys(members, "reservoir"))
            continue
        order = _rng(config.seed, "roles", label).permutation(len(members))
        members = [members[i] for i in order]
        if len(members) < config.reservoir_per_class + 2:
            raise ValueError(f"label_budget: class '{label}' has {len(members)} train clips; the study needs "
                             f"protocol.reservoir_per_class ({config.reservoir_per_class}) for labels and at least "
                             "2 more for the unlabelled pool. Add clips, lower reservoir_per_class, or set "
                             "protocol.labels_per_class: all.")
        reservoir, rest = members[:config.reservoir_per_class], members[config.reservoir_per_class:]
        n_val = min(max(1, round(config.pool_val_fraction * len(rest))), len(rest) - 1)
        roles.update(dict.fromkeys(reservoir, "reservoir"))
        roles.update(dict.fromkeys(rest[:n_val], "pool_val"))
        roles.update(dict.fromkeys(rest[n_val:], "pool"))
    return roles


def write_roles(path: str | Path, manifest_rows: list[dict], roles: dict[str, str]) -> dict:
    """roles.csv (clip_id, label, role) in manifest order; returns clips per role and class."""
    from vida_core.shared.artifacts import atomic_path

    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    with atomic_path(path) as partial, open(partial, "w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["clip_id", "label", "role"])
        for row in manifest_rows:
            writer.writerow([row["clip_id"], row["label"], roles[row["clip_id"]]])
            counts[roles[row["clip_id"]]][row["label"]] += 1
    return {role: dict(per_class) for role, per_class in counts.items()}


def read_roles(path: str | Path) -> dict[str, str]:
    with open(path, newline="") as f:
        return {row["clip_id"]: row["role"] for row in csv.DictReader(f)}


def has_pool(roles: dict[str, str]) -> bool:
    return any(role == "pool" for role in roles.values())


def learning_splits(split_of: dict[str, str], roles: dict[str, str]) -> dict[str, str]:
    """The split each clip plays for the models that fit on U (feature tagger, label bank,
    generators): pool -> train, pool_val -> val, every other clip -> "held_out" (never train or
    val, so no labelled, val or test clip is fitted to or early-stops anything). Without a pool:
    the manifest's splits."""
    if not has_pool(roles):
        return dict(split_of)
    mapped = {"pool": "train", "pool_val": "val"}
    return {clip: mapped.get(roles.get(clip, ""), "held_out") for clip in split_of}


def pool_view(table: ClipTable, roles: dict[str, str]) -> ClipTable:
    """The table as the generators see it: U's clips as train and val, every other clip as test
    (generated, never fitted to). Unchanged without a pool."""
    if not has_pool(roles):
        return table
    mapped = {"pool": "train", "pool_val": "val"}
    split = np.array([mapped.get(roles.get(c), "test") for c in table.clip_ids], dtype=object)
    return ClipTable(table.clip_ids, split, table.label, table.class_names, table.has_audio)


def classifier_view(table: ClipTable, roles: dict[str, str]) -> ClipTable:
    """The table as the classifiers see it: the reservoir is train; U's clips are `pool` (their
    features may set standardisation statistics, their labels are never read)."""
    split = np.array([{"reservoir": "train", "pool_val": "pool"}.get(roles.get(c, "missing"), roles.get(c, "missing"))
                      for c in table.clip_ids], dtype=object)
    return ClipTable(table.clip_ids, split, table.label, table.class_names, table.has_audio)


def label_draws(table: ClipTable, config: ProtocolConfig) -> list[tuple[int, int, np.ndarray]]:
    """(k, draw, labelled table positions) for every k and draw: k reservoir clips per class, a
    seeded draw that depends on (seed, k, draw) only. With `all`: one run labelling every
    reservoir (= train) clip. `table` is a classifier_view."""
    reservoir = table.split == "train"
    if not config.budget:
        return [(ALL_LABELS, 0, np.flatnonzero(reservoir))]
    runs = []
    for k in config.labels_per_class:
        for d in range(config.label_draws):
            rng = _rng(config.seed, "draw", str(k), str(d))
            chosen = []
            for c in range(len(table.class_names)):
                members = np.flatnonzero(reservoir & (table.label == c))
                chosen.extend(rng.permutation(members)[:k].tolist())
            runs.append((k, d, np.sort(np.asarray(chosen, dtype=np.int64))))
    return runs
