"""Stage `semantic_dictionary`: each action class -> its top-N AudioSet labels -> semantic_dictionary.csv."""

from vida_core.io.dataset import class_names, read_manifest
from vida_core.models import audioset_labels, load_text_encoder
from vida_core.semantic.dictionary import dictionary_for_classes, write_dictionary
from vida_core.shared.stage import Stage


def main() -> None:
    stage = Stage("semantic_dictionary")
    top_n = stage.params.semantic_dictionary.top_n
    classes = class_names(read_manifest(stage.input("manifest")))
    encoder = stage.model(load_text_encoder, stage.params.models.text_encoder)
    rows = dictionary_for_classes(classes, encoder, [label["name"] for label in audioset_labels()], top_n)
    write_dictionary(rows, stage.output("semantic_dictionary"))
    stage.done({"classes": len(classes), "top_n": top_n})


if __name__ == "__main__":
    main()
