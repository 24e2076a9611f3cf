"""Stages `classify_<condition>`: the LSTM action classifier of one condition, in every run of the protocol -> artifacts/classify/<condition>.h5.

Usage (from dvc.yaml): python stages/classify.py <condition>
"""

import sys
from dataclasses import asdict

from vida_core.shared.artifacts import clip_ids
from vida_core.io.dataset import read_manifest
from vida_core.learn.budget import classifier_view, read_roles
from vida_core.learn.classify import run_condition, write_condition
from vida_core.learn.conditions import condition
from vida_core.learn.data import build_table
from vida_core.shared.stage import Stage


def main(name: str) -> None:
    stage = Stage(f"classify_{name}")
    config, protocol = stage.params.classify, stage.params.protocol
    paths = {artifact: stage.input(artifact) for artifact in {"visual", "audio", *condition(name).needs}}
    table = classifier_view(build_table(clip_ids(paths["visual"]), read_manifest(stage.input("manifest")), paths["audio"]),
                            read_roles(stage.input("roles")))
    result = run_condition(name, table, paths, config, stage.device, protocol=protocol)
    summary = write_condition(result, table, config, stage.output(f"classify_{name}"),
                              model_path=stage.output(f"classify_{name}_model"),
                              confusion_json=stage.output(f"confusion_{name}"),
                              params={"classify": asdict(config), "protocol": asdict(protocol)})
    stage.done(summary)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python stages/classify.py <condition>")
    main(sys.argv[1])
