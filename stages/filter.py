"""Stage `filter`: tag SVDMap's generated audio, keep train clips whose tags match their class -> filter.h5."""

from dataclasses import asdict

from vida_core.artifacts import clip_ids, require
from vida_core.dataset import read_manifest
from vida_core.feature_tagger import FeatureTagger
from vida_core.learn.config import FilterConfig, from_params
from vida_core.learn.data import build_table, write_json
from vida_core.learn.filtering import read_semantic_dictionary, run_filter
from vida_core.params import load_params

from _common import ARTIFACTS, report


def main() -> None:
    params = load_params()
    config = from_params(FilterConfig, params.get("filter"), "filter")
    manifest = read_manifest(require(ARTIFACTS / "manifest.csv", "manifest"))
    generated = require(ARTIFACTS / "generated_svdmap.h5", "generate_svdmap")
    tagger = FeatureTagger.load(require(ARTIFACTS / "feature_tagger.pt", "feature_tagger"))
    dictionary = read_semantic_dictionary(require(ARTIFACTS / "semantic_dictionary.csv", "semantic_dictionary"))
    audio = require(ARTIFACTS / "audio.h5", "audio")
    table = build_table(clip_ids(generated), manifest, audio)
    summary, per_class = run_filter(generated, tagger, dictionary, table, config, ARTIFACTS / "filter.h5",
                                    params={"filter": asdict(config)},
                                    models={"feature_tagger": "artifacts/feature_tagger.pt"}, audio_h5=audio)
    write_json("metrics/filter.json", summary)
    write_json("plots/filter/iou_per_class.json", per_class)
    report("filter", summary)


if __name__ == "__main__":
    main()
