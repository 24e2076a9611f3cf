"""Stage `label_map`: each caption -> the AudioSet labels it evokes, and CAFMap's condition -> label_map.h5."""

from vida_core.models import audioset_labels, load_text_encoder
from vida_core.semantic.label_map import run_label_map
from vida_core.stage import Stage


def main() -> None:
    stage = Stage("label_map")
    top_k, text_encoder = stage.params.label_map.top_k, stage.params.models.text_encoder
    encoder = stage.model(load_text_encoder, text_encoder)
    summary = run_label_map(stage.input("representative"), stage.input("captions"), stage.input("label_bank"),
                            stage.output("label_map"), encoder, [label["name"] for label in audioset_labels()],
                            top_k, params={"label_map.top_k": top_k, "models.text_encoder": text_encoder})
    stage.done(summary)


if __name__ == "__main__":
    main()
