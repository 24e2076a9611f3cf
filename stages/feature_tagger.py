"""Stage `feature_tagger`: a small head that tags 18 x 128 features like the real tagger tags
waveforms -> feature_tagger.pt, feature_tagger.h5, metrics/feature_tagger.json."""

from dataclasses import asdict

from vida_core.io.dataset import read_manifest
from vida_core.learn.budget import learning_splits, read_roles
from vida_core.learn.feature_tagger import run_feature_tagger
from vida_core.models import load_audio_tagger
from vida_core.shared.stage import Stage


def main() -> None:
    stage = Stage("feature_tagger")
    p = stage.params
    # With the label-budget pool, the head fits on U's audio alone (learning_splits).
    split_of = learning_splits({r["clip_id"]: r["split"] for r in read_manifest(stage.input("manifest"))},
                               read_roles(stage.input("roles")))
    tagger = stage.model(load_audio_tagger, p.models.audio_tagger)
    summary = run_feature_tagger(
        stage.input("audio"), split_of, tagger, p.feature_tagger, p.seed, p.device,
        stage.output("feature_tagger_model"), stage.output("feature_tagger"), stage.output("feature_tagger_metrics"),
        params={"feature_tagger": asdict(p.feature_tagger), "seed": p.seed, "models.audio_tagger": p.models.audio_tagger})
    stage.done(summary)


if __name__ == "__main__":
    main()
