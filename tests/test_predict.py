"""`vida predict` without a trained chain: clip naming and the errors a user meets first.

The trained-chain path (clips without audio, other containers, agreement with the pipeline's
own test predictions) runs in tests/test_pipeline_e2e.py, on the tiny project it trains.
"""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from vida_core.predict import PredictError, check_trained_chain, clip_rows
from vida_core.shared.config import load_params

ROOT = Path(__file__).resolve().parents[1]


def vida(*args, cwd):
    return subprocess.run([sys.executable, "-m", "vida_core.views.cli", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True)


def test_clips_are_named_by_file_name_with_folders_only_where_names_clash(tmp_path):
    rows = clip_rows([Path("a/x.mp4"), Path("b/x.mkv"), Path("c/y.avi")])
    assert [r["clip_id"] for r in rows] == ["a/x", "b/x", "y"]
    rows = clip_rows([Path("data/demo/siren/siren_001.mp4")], ids_relative_to=Path("data/demo"))
    assert rows[0]["clip_id"] == "siren/siren_001"          # as the pipeline names it
    with pytest.raises(PredictError, match="name two files"):
        clip_rows([Path("a/x.mp4"), Path("a/x.mp4")])


def test_missing_models_name_the_stages_to_run(tmp_path):
    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    result = vida("predict", "clip.mp4", "--project", tmp_path, cwd=tmp_path)
    assert result.returncode == 2
    message = " ".join(result.stderr.split())
    assert "artifacts/cafmap.pt (stage generate_cafmap)" in message
    assert "artifacts/classify/real_audio.pt (stage classify_real_audio)" in message
    assert "dvc repro" in message and "Traceback" not in result.stderr


def test_no_project_folder_is_a_clear_error(tmp_path):
    result = vida("predict", "clip.mp4", cwd=tmp_path)
    assert result.returncode == 2 and "no params.yaml" in result.stderr


def test_params_changed_since_the_chain_was_trained_are_named(tmp_path):
    import h5py

    from vida_core.shared.artifacts import write_h5
    from vida_core.shared.registry import artifact
    from vida_core.predict import TRAINED_CHAIN

    for name in TRAINED_CHAIN:                     # the models exist (their contents are not read here)
        path = artifact(name).path(tmp_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
    with write_h5(artifact("frames").path(tmp_path), "frames", params={"frames": {"resolution": 224, "min_duration": 2.5}}):
        pass
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    check_trained_chain(tmp_path, load_params(tmp_path / "params.yaml"))   # same params: fine
    params["frames"]["resolution"] = 112
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    with pytest.raises(PredictError, match=r"frames.resolution is 112 in params.yaml but .*frames.h5 was made with 224"):
        check_trained_chain(tmp_path, load_params(tmp_path / "params.yaml"))
    assert h5py.is_hdf5(artifact("frames").path(tmp_path))
