"""Stage `generate_cafmap`: LSTM from noise + caption-derived conditions to audio features, per seed and cross-fitted -> generated_cafmap.h5, cafmap.pt."""

from dataclasses import asdict

from vida_core.io.artifacts import write_json
from vida_core.learn.generators import generator_inputs, run_generator
from vida_core.stage import Stage


def main() -> None:
    stage = Stage("generate_cafmap")
    config, seeds = stage.params.generate_cafmap, stage.params.classify.seeds
    table, columns, models = generator_inputs("cafmap", stage.input("manifest"), stage.input("audio"),
                                             visual_h5=stage.input("visual") if config.use_visual else None,
                                             label_map_h5=stage.input("label_map"), use_visual=config.use_visual)
    summary, losses = run_generator("cafmap", table, columns, config, seeds, stage.device,
                                    stage.output("cafmap_model"), stage.output("generated_cafmap"),
                                    params={"seeds": seeds, "generate_cafmap": asdict(config)}, models=models)
    write_json(stage.output("generate_cafmap_summary"), summary)
    write_json(stage.output("cafmap_loss_plot"), losses)
    stage.done({"val_mse": round(summary["val_mse"], 4), "mse": summary["mse"]})


if __name__ == "__main__":
    main()
