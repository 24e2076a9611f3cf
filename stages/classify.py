"""Stage `classify`: the LSTM action classifier under every condition and seed -> metrics/classify.json."""

from dataclasses import asdict

from vida_core.artifacts import clip_ids, require
from vida_core.dataset import read_manifest
from vida_core.device import resolve_device
from vida_core.learn.classify import run_classify
from vida_core.learn.config import ClassifyConfig, from_params
from vida_core.learn.data import build_table, write_json
from vida_core.learn.training import open_live
from vida_core.params import load_params

from _common import ARTIFACTS, report


def main() -> None:
    params = load_params()
    config = from_params(ClassifyConfig, params.get("classify"), "classify")
    manifest = read_manifest(require(ARTIFACTS / "manifest.csv", "manifest"))
    visual = require(ARTIFACTS / "visual.h5", "visual_features")
    table = build_table(clip_ids(visual), manifest, require(ARTIFACTS / "audio.h5", "audio"))
    paths = {"visual": visual, "audio": ARTIFACTS / "audio.h5", "svdmap": ARTIFACTS / "generated_svdmap.h5",
             "cafmap": ARTIFACTS / "generated_cafmap.h5", "filter": require(ARTIFACTS / "filter.h5", "filter")
             if "svdmap_filtered" in config.conditions else None}
    live = open_live("dvclive/classify")
    metrics = run_classify(table, paths, config, resolve_device(params.get("device", "auto")), live=live,
                           plots_dir="plots/classify", details_h5=ARTIFACTS / "classify.h5",
                           params={"classify": asdict(config)})
    live.end()
    write_json("metrics/classify.json", metrics)
    report("classify", {c: round(metrics[c]["top1_mean"], 3) for c in config.conditions})


if __name__ == "__main__":
    main()
