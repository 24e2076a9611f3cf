"""Stage `classify`: the LSTM action classifier under every condition and seed -> metrics/classify.json."""

from dataclasses import asdict

from vida_core.io.artifacts import clip_ids, write_json
from vida_core.io.dataset import read_manifest
from vida_core.learn.classify import run_classify
from vida_core.learn.conditions import condition
from vida_core.learn.data import build_table
from vida_core.learn.training import open_live
from vida_core.stage import Stage


def main() -> None:
    stage = Stage("classify")
    config = stage.params.classify
    paths = {name: stage.input(name) for name in
             {"visual", "audio"}.union(*(condition(c).needs for c in config.conditions))}
    table = build_table(clip_ids(paths["visual"]), read_manifest(stage.input("manifest")), paths["audio"])
    live = open_live("dvclive/classify")
    metrics = run_classify(table, paths, config, stage.device, live=live, plots_dir=stage.output("classify_plots"),
                           details_h5=stage.output("classify"), params={"classify": asdict(config)})
    live.end()
    write_json(stage.output("classify_metrics"), metrics)
    stage.done({c: round(metrics[c]["top1_mean"], 3) for c in config.conditions})


if __name__ == "__main__":
    main()
