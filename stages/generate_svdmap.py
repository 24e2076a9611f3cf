"""Stage `generate_svdmap`: LSTM from per-frame RGB+flow features to audio features -> generated_svdmap.h5, svdmap.pt."""

from dataclasses import asdict

from vida_core.io.artifacts import write_json
from vida_core.learn.generators import generator_inputs, run_generator
from vida_core.stage import Stage


def main() -> None:
    stage = Stage("generate_svdmap")
    config, seed = stage.params.generate_svdmap, stage.params.seed
    table, columns, models = generator_inputs("svdmap", stage.input("manifest"), stage.input("audio"),
                                             visual_h5=stage.input("visual"))
    summary = run_generator("svdmap", table, columns, config, seed, stage.device, stage.output("svdmap_model"),
                            stage.output("generated_svdmap"), "dvclive/generate_svdmap",
                            params={"seed": seed, "generate_svdmap": asdict(config)}, models=models)
    write_json(stage.output("generate_svdmap_metrics"), summary)
    stage.done(summary)


if __name__ == "__main__":
    main()
