"""Stage `label_bank`: the mean 128-bin audio feature of each AudioSet label -> label_bank.h5."""

from dataclasses import asdict

from vida_core.io.dataset import read_manifest
from vida_core.learn.budget import learning_splits, read_roles
from vida_core.models import audioset_labels, load_audio_tagger, model_identity
from vida_core.semantic.label_bank import audioset_examples, tagged_train_audio, write_label_bank
from vida_core.shared.stage import Stage


def main() -> None:
    stage = Stage("label_bank")
    cfg, labels, tagger_id = stage.params.label_bank, audioset_labels(), {}
    if cfg.source == "tagged_train_audio":
        # With the label-budget pool, the bank is built from U's audio alone (learning_splits).
        split_of = learning_splits({r["clip_id"]: r["split"] for r in read_manifest(stage.input("manifest"))},
                                   read_roles(stage.input("roles")))
        tagger = stage.model(load_audio_tagger, stage.params.models.audio_tagger)
        ids, features, label_sets, counts = tagged_train_audio(stage.input("audio"), split_of, tagger, cfg.min_prob)
        tagger_id = model_identity(tagger)
    elif cfg.source == "audioset":
        ids, features, label_sets, counts = audioset_examples(cfg.audioset_root, cfg.audioset_csv, labels)
    else:
        raise ValueError(f"label_bank.source must be tagged_train_audio or audioset, not {cfg.source!r}")
    counts = write_label_bank(stage.output("label_bank"), ids, features, label_sets, counts, labels, cfg.source,
                              cfg.min_prob, tagger_id, params={"label_bank": asdict(cfg),
                                                               "models.audio_tagger": stage.params.models.audio_tagger},
                              backoff=cfg.backoff)
    stage.done({"source": cfg.source, **counts})


if __name__ == "__main__":
    main()
