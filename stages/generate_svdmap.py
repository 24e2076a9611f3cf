"""Stage `generate_svdmap`: LSTM from per-frame RGB+flow features to audio features, per seed and cross-fitted -> generated_svdmap.h5, svdmap.pt."""

from dataclasses import asdict

from vida_core.io.artifacts import write_json
from vida_core.learn.generators import generator_inputs, run_generator
from vida_core.stage import Stage


def main() -> None:
    stage = Stage("generate_svdmap")
    config, seeds = stage.params.generate_svdmap, stage.params.classify.seeds
    table, columns, models = generator_inputs("svdmap", stage.input("manifest"), stage.input("audio"),
                                             visual_h5=stage.input("visual"))
    summary, losses = run_generator("svdmap", table, columns, config, seeds, stage.device,
                                    stage.output("svdmap_model"), stage.output("generated_svdmap"),
                                    params={"seeds": seeds, "generate_svdmap": asdict(config)}, models=models)
    write_json(stage.output("generate_svdmap_summary"), summary)
    write_json(stage.output("svdmap_loss_plot"), losses)
    stage.done({"val_mse": round(summary["val_mse"], 4), "mse": summary["mse"]})


if __name__ == "__main__":
    main()
