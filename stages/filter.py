"""Stage `filter`: tag SVDMap's generated audio (per seed), keep train clips whose tags match their class -> filter.h5.

`filter.tagger` picks what tags: the feature head (feature_tagger.pt) or the audio tagger itself (AST)."""

from dataclasses import asdict

from vida_core.shared.artifacts import clip_ids, write_json
from vida_core.io.dataset import read_manifest
from vida_core.learn.budget import classifier_view, read_roles
from vida_core.learn.data import build_table
from vida_core.learn.feature_tagger import FeatureTagger
from vida_core.learn.filtering import AudioTaggerOnLogmel, read_semantic_dictionary, run_filter
from vida_core.models import load_audio_tagger
from vida_core.models.specs import model_identity
from vida_core.shared.stage import Stage


def main() -> None:
    stage = Stage("filter")
    p = stage.params
    config = p.filter
    generated, audio = stage.input("generated_svdmap"), stage.input("audio")
    if config.tagger == "audio_tagger":   # the paper's: the audio tagger itself (AST) tags the log-mel
        tagger = AudioTaggerOnLogmel(stage.model(load_audio_tagger, p.models.audio_tagger), p.models.audio_tagger)
        models = {"audio_tagger": model_identity(tagger.tagger)["id"]}
    else:                                 # feature_head: the head distilled on the run's audio
        tagger = FeatureTagger.load(stage.input("feature_tagger_model"))
        models = {"feature_tagger": "artifacts/feature_tagger.pt"}
    dictionary = read_semantic_dictionary(stage.input("semantic_dictionary"))
    # The filter acts on the clips a classifier may be given labels for (the reservoir, as "train").
    table = classifier_view(build_table(clip_ids(generated), read_manifest(stage.input("manifest")), audio),
                            read_roles(stage.input("roles")))
    summary, per_class = run_filter(generated, tagger, dictionary, table, config, stage.output("filter"),
                                    params={"filter": asdict(config), "models.audio_tagger": p.models.audio_tagger},
                                    models=models, audio_h5=audio)
    write_json(stage.output("filter_summary"), summary)
    write_json(stage.output("filter_plot"), [{"class": row["class"], "kept_percent": round(100 * row["kept_fraction"], 2)}
                                             for row in per_class])
    stage.done(summary["train"])


if __name__ == "__main__":
    main()
