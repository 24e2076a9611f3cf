"""filter.tagger: the feature head or the audio tagger itself (AST) tags the 18 x 128 log-mel.

Offline: AST is a tiny, randomly initialised model of the real architecture written to a temp
folder (as tests/test_models.py does); YAMNet is the embedded default.
"""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml

from vida_core.shared.config import ConfigError, Params, build, FilterConfig, ProtocolConfig
from vida_core.extract.logmel import fbank, pool_to_steps
from vida_core.shared.artifacts import clip_ids, provenance
from vida_core.learn.budget import assign_roles, write_roles
from vida_core.learn.data import build_table
from vida_core.learn.filtering import AudioTaggerOnLogmel, read_semantic_dictionary, run_filter
from synthetic import make_synthetic
from vida_core.models import audioset_labels, load_audio_tagger
from vida_core.models.tagger import frames_of_steps

ROOT = Path(__file__).resolve().parent.parent
SR = 16000


@pytest.fixture(scope="module")
def ast_folder(tmp_path_factory) -> Path:
    import torch
    from transformers import ASTConfig, ASTFeatureExtractor, ASTForAudioClassification

    names = [row["name"] for row in audioset_labels()]
    id2label = dict(enumerate(names))
    config = ASTConfig(
        hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=37, patch_size=16,
        frequency_stride=16, time_stride=16, max_length=320, num_mel_bins=128,
        num_labels=len(id2label), id2label=id2label, label2id={v: k for k, v in id2label.items()},
    )
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("ast") / "tiny-ast"
    ASTForAudioClassification(config).save_pretrained(folder)
    ASTFeatureExtractor(max_length=320).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def ast(ast_folder):
    return load_audio_tagger(str(ast_folder), device="cpu", batch_size=4)


def varying_waveform() -> np.ndarray:
    """3 s whose spectrum changes within each 1/6 s step: tone bursts, a chirp, clicks, noise."""
    t = np.arange(3 * SR) / SR
    rng = np.random.default_rng(0)
    wave = 0.3 * np.sin(2 * np.pi * (300 + 900 * t) * t)
    wave += 0.3 * np.sin(2 * np.pi * 2500 * t) * (np.sin(2 * np.pi * 7 * t) > 0)
    wave[::1200] += 0.8
    wave += 0.05 * rng.standard_normal(t.size)
    return np.clip(wave, -1, 1).astype(np.float32)


def test_tag_logmel_gives_deterministic_probabilities(ast):
    logmel = np.random.default_rng(1).normal(-6, 3, (5, 18, 128)).astype(np.float32)
    scores = ast.tag_logmel(logmel)
    assert scores.shape == (5, 527) and scores.dtype == np.float32
    assert np.all((scores >= 0) & (scores <= 1))
    np.testing.assert_array_equal(ast.tag_logmel(logmel), scores)
    np.testing.assert_allclose(ast.tag_logmel(logmel[2:3]), scores[2:3], atol=1e-6)   # batch-independent
    assert not np.allclose(scores[0], scores[1])
    with pytest.raises(ValueError, match="18"):
        ast.tag_logmel(logmel[:, :17])


def test_expansion_is_aligned_with_logmel_pooling(ast):
    wave = varying_waveform()
    frames = fbank(wave)                     # [298, 128], AST's raw filterbank of the clip
    steps = pool_to_steps(frames)            # [18, 128], the pipeline's feature
    expanded = frames_of_steps(steps[None])[0]
    assert expanded.shape == frames.shape == (298, 128)
    # Re-pooling the expanded frames gives back the feature bit for bit.
    np.testing.assert_array_equal(pool_to_steps(expanded), steps)

    # Independently: each frame replaced by the mean of the 1/6 s step holding its centre.
    centres = (np.arange(len(frames)) * 160 + 200) / SR
    step_of = np.minimum((centres * 6).astype(int), 17)
    replaced = np.stack([frames[step_of == s].mean(0) for s in range(18)])[step_of]
    np.testing.assert_allclose(expanded, replaced, rtol=0, atol=1e-5)
    np.testing.assert_allclose(ast.tag_logmel(steps[None]), ast.tag_frames(replaced[None]), atol=1e-5)
    # tag_frames pads and normalises as the extractor does: raw frames tag like the waveform.
    np.testing.assert_allclose(ast.tag_frames(frames[None]), ast.tag(wave[None]), atol=1e-5)


def test_filter_with_the_audio_tagger_itself(ast, tmp_path):
    paths = make_synthetic(tmp_path, clips=30, classes=3, dim=4, seeds=(0, 1))
    table = build_table(clip_ids(paths["generated_svdmap"]), paths["manifest"], paths["audio"])
    config = FilterConfig(top_k=5, iou_threshold=0.1, tagger="audio_tagger")
    summary, per_class = run_filter(paths["generated_svdmap"], AudioTaggerOnLogmel(ast),
                                    read_semantic_dictionary(paths["semantic_dictionary"]), table, config,
                                    tmp_path / "filter.h5", params={}, models={"audio_tagger": "tiny-ast"},
                                    audio_h5=paths["audio"])
    with h5py.File(tmp_path / "filter.h5", "r") as f:
        for seed in (0, 1):
            assert f[f"seed{seed}/keep"].shape == (len(table),) and f[f"seed{seed}/keep"].dtype == bool
            assert f[f"seed{seed}/topk"].shape == (len(table), 5)
            assert f[f"seed{seed}/topk"][()].max() < 527
        assert f["real_audio_iou"].shape == (len(table),)
    assert summary["tagger"] == "audio_tagger" and summary["tagger_models"] == {"audio_tagger": "tiny-ast"}
    assert len(per_class) == 3 and 0 <= summary["train"]["kept_fraction"] <= 1


def test_yamnet_cannot_tag_the_logmel():
    with pytest.raises(ConfigError) as err:
        AudioTaggerOnLogmel(load_audio_tagger("yamnet", device="cpu"))
    message = str(err.value)
    assert message.startswith("filter:") and "yamnet" in message and "64-band" in message
    assert "filter.tagger: feature_head" in message and "models.audio_tagger: ast" in message


def test_filter_tagger_must_be_a_known_choice():
    assert FilterConfig().tagger == "feature_head"
    with pytest.raises(ConfigError, match="filter.tagger"):   # checked where params.yaml is read
        build(Params, {"filter": {"tagger": "ast"}}, "")


def _project(tmp_path: Path, params: dict) -> Path:
    """A project folder holding the filter stage's inputs (synthetic) and params.yaml."""
    paths = make_synthetic(tmp_path / "artifacts", clips=30, classes=3, dim=4, seeds=(0,))
    paths["filter"].unlink()   # the synthetic set's stand-in for the stage's own output
    write_roles(tmp_path / "artifacts" / "roles.csv", paths["manifest"],
                assign_roles(paths["manifest"], ProtocolConfig(labels_per_class="all")))
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"device": "cpu", **params}))
    return tmp_path


def _run_filter_stage(project: Path, monkeypatch) -> None:
    monkeypatch.chdir(project)
    runpy.run_path(str(ROOT / "stages" / "filter.py"), run_name="__main__")


def test_filter_stage_with_audio_tagger_records_it(ast_folder, tmp_path, monkeypatch):
    project = _project(tmp_path, {"filter": {"tagger": "audio_tagger"},
                                  "models": {"audio_tagger": str(ast_folder)}})
    _run_filter_stage(project, monkeypatch)
    summary = json.loads((project / "artifacts" / "filter.json").read_text())
    assert summary["tagger"] == "audio_tagger"
    with h5py.File(project / "artifacts" / "filter.h5", "r") as f:
        info = provenance(f)
        assert f["seed0/keep"].shape == (30,)
    assert info["params"]["filter"]["tagger"] == "audio_tagger"
    assert info["params"]["models.audio_tagger"] == str(ast_folder)
    assert info["models"] == {"audio_tagger": str(ast_folder.resolve())}
    assert summary["tagger_models"] == info["models"]


def test_filter_stage_with_yamnet_and_audio_tagger_fails_at_once(tmp_path, monkeypatch):
    project = _project(tmp_path, {"filter": {"tagger": "audio_tagger"}})
    with pytest.raises(ConfigError, match="filter.tagger: feature_head"):
        _run_filter_stage(project, monkeypatch)
    assert not (project / "artifacts" / "filter.h5").exists()
    assert not (project / "artifacts" / "filter.json").exists()
