"""Stage `visual_pool`: a 128-wide stream learned from the unlabelled pool's visual features alone (PCA) -> visual_pool.h5."""

import numpy as np

from vida_core.shared import NUM_MEL_BINS
from vida_core.shared.artifacts import clip_ids
from vida_core.io.dataset import read_manifest
from vida_core.learn.budget import has_pool, pool_view, read_roles
from vida_core.learn.visual_pool import run_visual_pool
from vida_core.learn.data import build_table
from vida_core.shared.stage import Stage


def main() -> None:
    stage = Stage("visual_pool")
    visual = stage.input("visual")
    # As the generators see the clips: U (or, without a pool, the train split) is what it learns from.
    roles = read_roles(stage.input("roles"))
    table = pool_view(build_table(clip_ids(visual), read_manifest(stage.input("manifest"))), roles)
    fit_on = np.flatnonzero(np.isin(table.split, ["train", "val"] if has_pool(roles) else ["train"]))
    summary = run_visual_pool(visual, table, fit_on, stage.output("visual_pool"), NUM_MEL_BINS, params={})
    stage.done(summary)


if __name__ == "__main__":
    main()
