"""Stage `audio_quality`: every generator's audio against real audio as audio-generation papers measure it (standardised MSE, Frechet distance on the feature tagger's embedding, tag KL), beside the mean predictor, the class template and a second real sample -> audio_quality.json."""

from vida_core.shared.artifacts import write_json
from vida_core.io.dataset import read_manifest
from vida_core.shared.registry import GENERATOR_VARIANTS
from vida_core.learn.audio_quality import audio_quality
from vida_core.learn.budget import read_roles
from vida_core.learn.feature_tagger import FeatureTagger
from vida_core.shared.stage import Stage


def main() -> None:
    stage = Stage("audio_quality")
    summary = audio_quality(read_manifest(stage.input("manifest")), read_roles(stage.input("roles")),
                            stage.input("audio"),
                            {name: stage.input(f"generated_{name}") for name in GENERATOR_VARIANTS},
                            FeatureTagger.load(stage.input("feature_tagger_model")),
                            lookalike=stage.params.protocol.lookalike_classes)
    write_json(stage.output("audio_quality"), summary)
    test = summary["splits"].get("test", {}).get("rows", {})
    stage.done({name: {m: None if v is None else round(v, 3) for m, v in row.items() if m in summary["metrics"]}
                for name, row in test.items()})


if __name__ == "__main__":
    main()
