"""Stage `label_budget`: each train clip's role in the label-budget study (labelled reservoir or unlabelled pool U) -> roles.csv."""

from vida_core.shared.config import asdict
from vida_core.io.dataset import read_manifest
from vida_core.learn.budget import assign_roles, write_roles
from vida_core.shared.stage import Stage


def main() -> None:
    stage = Stage("label_budget")
    rows = read_manifest(stage.input("manifest"))
    counts = write_roles(stage.output("roles"), rows, assign_roles(rows, stage.params.protocol))
    stage.done({"protocol": asdict(stage.params.protocol)["labels_per_class"],
                **{role: sum(per_class.values()) for role, per_class in counts.items()}})


if __name__ == "__main__":
    main()
