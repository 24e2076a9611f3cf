"""Stage `generate_svdmap`: LSTM from RGB+flow features to audio features -> generated_svdmap.h5, svdmap.pt."""

from dataclasses import asdict

import h5py

from vida_core.artifacts import clip_ids, provenance, require
from vida_core.dataset import read_manifest
from vida_core.device import resolve_device
from vida_core.learn.config import GeneratorConfig, from_params
from vida_core.learn.data import build_table, write_json
from vida_core.learn.generators import generator_columns, run_generator
from vida_core.params import load_params

from _common import ARTIFACTS, report


def main() -> None:
    params = load_params()
    config = from_params(GeneratorConfig, params.get("generate_svdmap"), "generate_svdmap")
    manifest = read_manifest(require(ARTIFACTS / "manifest.csv", "manifest"))
    visual = require(ARTIFACTS / "visual.h5", "visual_features")
    audio = require(ARTIFACTS / "audio.h5", "audio")
    ids = clip_ids(visual)
    table = build_table(ids, manifest, audio)
    columns = generator_columns("svdmap", ids, audio, visual_h5=visual)
    with h5py.File(visual, "r") as f:
        models = provenance(f)["models"]
    device = resolve_device(params.get("device", "auto"))
    summary = run_generator("svdmap", table, columns, config, params["seed"], device, ARTIFACTS / "svdmap.pt",
                            ARTIFACTS / "generated_svdmap.h5", "dvclive/generate_svdmap",
                            params={"seed": params["seed"], "generate_svdmap": asdict(config)}, models=models)
    write_json("metrics/generate_svdmap.json", summary)
    report("generate_svdmap", summary)


if __name__ == "__main__":
    main()
