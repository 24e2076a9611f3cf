"""Stage `label_map`: each caption -> the AudioSet labels it evokes, and CAFMap's condition -> label_map.h5."""

from dataclasses import asdict

from vida_core.models import audioset_labels, load_text_encoder
from vida_core.semantic.label_map import Reading, run_label_map
from vida_core.stage import Stage


def main() -> None:
    stage = Stage("label_map")
    cfg, text_encoder = stage.params.label_map, stage.params.models.text_encoder
    encoder = stage.model(load_text_encoder, text_encoder)
    reading = Reading(strip_template=cfg.strip_template, synonyms=cfg.synonyms, label_text=cfg.label_text)
    summary = run_label_map(stage.input("representative"), stage.input("captions"), stage.input("label_bank"),
                            stage.output("label_map"), encoder, [label["name"] for label in audioset_labels()],
                            cfg.top_k, params={"label_map": asdict(cfg), "models.text_encoder": text_encoder},
                            reading=reading)
    stage.done(summary)


if __name__ == "__main__":
    main()
