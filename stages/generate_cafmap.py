"""Stage `generate_cafmap`: LSTM from noise + caption-derived conditions to audio features -> generated_cafmap.h5."""

from dataclasses import asdict

import h5py

from vida_core.artifacts import clip_ids, provenance, require
from vida_core.dataset import read_manifest
from vida_core.device import resolve_device
from vida_core.learn.config import CAFMapConfig, from_params
from vida_core.learn.data import build_table, write_json
from vida_core.learn.generators import generator_columns, run_generator
from vida_core.params import load_params

from _common import ARTIFACTS, report


def main() -> None:
    params = load_params()
    config = from_params(CAFMapConfig, params.get("generate_cafmap"), "generate_cafmap")
    manifest = read_manifest(require(ARTIFACTS / "manifest.csv", "manifest"))
    label_map = require(ARTIFACTS / "label_map.h5", "label_map")
    audio = require(ARTIFACTS / "audio.h5", "audio")
    visual = require(ARTIFACTS / "visual.h5", "visual_features") if config.use_visual else None
    ids = clip_ids(label_map)
    table = build_table(ids, manifest, audio)
    columns = generator_columns("cafmap", ids, audio, visual_h5=visual, label_map_h5=label_map,
                                use_visual=config.use_visual)
    models = {}
    for path in filter(None, (label_map, visual)):
        with h5py.File(path, "r") as f:
            models.update(provenance(f)["models"] or {})
    device = resolve_device(params.get("device", "auto"))
    summary = run_generator("cafmap", table, columns, config, params["seed"], device, ARTIFACTS / "cafmap.pt",
                            ARTIFACTS / "generated_cafmap.h5", "dvclive/generate_cafmap",
                            params={"seed": params["seed"], "generate_cafmap": asdict(config)}, models=models)
    write_json("metrics/generate_cafmap.json", summary)
    report("generate_cafmap", summary)


if __name__ == "__main__":
    main()
