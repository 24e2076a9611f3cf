"""The paper profile: `vida profile paper` sets every choice the paper states, and the pipeline
runs end to end with it (tiny random BLIP, ViT and AST, on a tiny demo) through DVC."""

import json
import subprocess
import sys

from pathlib import Path

import pytest
import yaml

from vida_core import profiles
from vida_core.shared.config import load_params

ROOT = Path(__file__).resolve().parents[1]


def test_every_setting_is_a_real_key_and_the_profile_validates():
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    applied = profiles.apply(profiles.PAPER, params)
    checked = profiles.check(applied)
    assert checked.models.captioner == "blip" and checked.filter.tagger == "audio_tagger"
    assert checked.protocol.labels_per_class == "all"
    for s in profiles.PAPER:
        assert s.source in ("stated", "reading"), s
    keys = [s.key for s in profiles.PAPER]
    assert len(keys) == len(set(keys))


def test_the_cli_prints_flags_dvc_takes_and_replaces_values():
    out = subprocess.run([sys.executable, "-m", "vida_core.views.cli", "profile", "paper",
                          "--replace", "models.captioner=/models/blip"], capture_output=True, text=True, check=True)
    flags = out.stdout.split()
    assert flags[0::2] == ["-S"] * len(profiles.PAPER)
    assert "models.captioner=/models/blip" in flags and "label_map.strip_template=false" in flags
    bad = subprocess.run([sys.executable, "-m", "vida_core.views.cli", "profile", "paper", "--replace", "nope=1"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "not in the profile" in bad.stderr


def test_the_docs_table_lists_every_setting_and_the_readme_gives_the_command():
    table = profiles.markdown_table(profiles.PAPER)
    docs = (ROOT / "docs" / "paper.md").read_text()
    for s in profiles.PAPER:
        assert f"`{s.key}`" in table and f"`{s.key}`" in docs, s.key
    assert "$(vida profile paper)" in (ROOT / "README.md").read_text()


@pytest.mark.slow
def test_the_paper_profile_runs_end_to_end_with_tiny_paper_models(tmp_path):
    from test_pipeline_e2e import DVC, TINY, make_project, ran_stages, run
    from tiny_models import save_tiny_ast, save_tiny_blip, save_tiny_vit

    models = tmp_path / "models"
    folders = {"models.captioner": save_tiny_blip(models / "blip"), "models.image_encoder": save_tiny_vit(models / "vit"),
               "models.audio_tagger": save_tiny_ast(models / "ast")}
    repo = make_project(tmp_path / "project", TINY)
    flags = run([sys.executable, "-m", "vida_core.views.cli", "profile", "paper"]
                + [f"--replace={key}={folder}" for key, folder in folders.items()], repo).split()
    log = run(DVC + ["exp", "run", "-n", "paper", *flags], repo)
    stages = set(yaml.safe_load((repo / "dvc.yaml").read_text())["stages"])
    assert ran_stages(log) == stages
    params = load_params(repo / "params.yaml")
    assert params.models.captioner == str(folders["models.captioner"]) and params.filter.tagger == "audio_tagger"
    assert params.protocol.labels_per_class == "all" and params.label_map.synonyms == "none"
    results = json.loads((repo / "metrics" / "results.json").read_text())
    assert "val_svdmap_filtered" in results and "val_cafmap" in results
    captions = json.loads((repo / "artifacts" / "captions.json").read_text())
    assert str(folders["models.captioner"]) in json.dumps(captions["model"])  # made by the tiny BLIP
    filter_summary = json.loads((repo / "artifacts" / "filter.json").read_text())
    assert filter_summary["tagger"] == "audio_tagger"  # AST itself tagged the generated audio
