"""Stages `generate_<variant>`: an LSTM generator of audio features, per seed (SVDMap, CAFMap and
their controls, vida_core.learn.generators.GENERATORS) -> generated_<variant>.h5, <variant>.pt.

Usage (from dvc.yaml): python stages/generate.py <variant>
"""

import sys
from dataclasses import asdict

from vida_core.shared.artifacts import write_json
from vida_core.learn.budget import has_pool, read_roles
from vida_core.learn.generators import generator_inputs, generator_variant, run_variant
from vida_core.shared.stage import Stage


def main(name: str) -> None:
    variant = generator_variant(name)
    stage = Stage(f"generate_{name}")
    config, seeds = getattr(stage.params, variant.section), stage.params.classify.seeds
    use_visual = variant.kind == "cafmap" and config.use_visual
    cafmap = variant.kind == "cafmap"
    condition = (stage.input("cafmap_controls"), variant.condition, "cafmap_controls") if variant.condition else None
    table, columns, models = generator_inputs(
        variant.kind, stage.input("manifest"), stage.input("audio"),
        visual_h5=stage.input("visual") if not cafmap or use_visual else None,
        label_map_h5=stage.input("label_map") if cafmap else None, use_visual=use_visual,
        roles_csv=stage.input("roles"), condition=condition)
    summary, losses = run_variant(variant, table, columns, config, seeds, stage.device,
                                  stage.output(f"{name}_model"), stage.output(f"generated_{name}"),
                                  params={"seeds": seeds, variant.section: asdict(config)}, models=models,
                                  pool=has_pool(read_roles(stage.input("roles"))))
    write_json(stage.output(f"generate_{name}_summary"), summary)
    write_json(stage.output(f"{name}_loss_plot"), losses)
    stage.done({"val_mse": round(summary["val_mse"], 4), "mse": summary["mse"]})


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python stages/generate.py <variant>")
    main(sys.argv[1])
