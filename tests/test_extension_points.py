"""The extension tables: a new flow method, classifier condition or executor is one entry, and
the config rejects what it does not know."""

import sys
import types
from dataclasses import dataclass

import h5py
import numpy as np
import pytest
import yaml

from vida_core import executors
from vida_core.shared.config import ConfigError, Params, load_params
from vida_core.extract import flow as flow_module
from vida_core.extract.flow import FLOW_METHODS, FlowMethod, compute_flow
from vida_core.shared.artifacts import write_h5, write_strings
from vida_core.learn import conditions as conditions_module
from vida_core.learn.conditions import CONDITIONS, Condition
from vida_core.views.report import build_report


# ---------------------------------------------------------------------------------- config

def _params_file(tmp_path, text: str):
    path = tmp_path / "params.yaml"
    path.write_text(text)
    return path


def test_defaults_load_from_an_empty_file(tmp_path):
    params = load_params(_params_file(tmp_path, ""))
    assert params == Params() and params.flow.method == "dis" and params.classify.seeds == [0, 1]


def test_the_projects_params_yaml_loads(tmp_path):
    params = load_params("params.yaml")
    assert params.threshold == 1.2 and params.flow.options == {"preset": "fast"}


@pytest.mark.parametrize("text, words", [
    ("treshold: 1.3\n", ["treshold", "top level"]),
    ("frames:\n  sise: 112\n", ["sise", "section 'frames'"]),
    ("generate_svdmap:\n  hiden: 64\n", ["hiden", "generate_svdmap"]),
    ("dataset:\n  classes: 2.5\n", ["dataset.classes", "2.5"]),
    ("frames:\n  resolution: big\n", ["frames.resolution", "'big'"]),
    ("frames:\n  size: 112\n", ["frames.size", "frames.resolution", "dvc#10296"]),
    ("flow:\n  size: 56\n", ["flow.size", "flow.resolution"]),
    ("frames: 3\n", ["'frames' must be a section"]),
])
def test_unknown_keys_and_wrong_types_name_the_key_and_section(tmp_path, text, words):
    with pytest.raises(ConfigError) as err:
        load_params(_params_file(tmp_path, text))
    for word in words:
        assert word in str(err.value)


def test_values_keep_the_type_the_user_wrote(tmp_path):
    # An int where a float is declared stays an int, so provenance records what was asked.
    params = load_params(_params_file(tmp_path, "audio:\n  silence_dbfs: -80\nthreshold: 2\n"))
    assert params.audio.silence_dbfs == -80 and isinstance(params.audio.silence_dbfs, int)
    assert params.threshold == 2


# ------------------------------------------------------------------------------ flow methods

@dataclass
class ShiftOptions:
    dx: float = 1.0


def _constant_shift(gray, options: ShiftOptions):
    """A toy method: every field is a constant shift of `dx` pixels."""
    n, h, w = len(gray) - 1, *gray[0].shape
    out = np.zeros((n, h, w, 2), np.float32)
    out[..., 0] = options.dx
    return out


def _frames_file(path, clips=3):
    rng = np.random.default_rng(0)
    with write_h5(path, "frames") as f:
        write_strings(f, "clip_id", [f"c{i}" for i in range(clips)])
        f["frames"] = rng.integers(0, 255, (clips, 18, 32, 32, 3), dtype=np.uint8)
    return path


def test_a_new_flow_method_is_one_table_entry(tmp_path, monkeypatch):
    monkeypatch.setitem(FLOW_METHODS, "shift", FlowMethod(_constant_shift, ShiftOptions))
    frames = _frames_file(tmp_path / "frames.h5")
    compute_flow(frames, tmp_path / "flow.h5", method="shift", size=16, options={"dx": 2.0})
    with h5py.File(tmp_path / "flow.h5", "r") as f:
        # 2 px at 16 px is 4 px at the frames' 32 px.
        assert np.allclose(f["magnitude"][()], 4.0) and f["flow"].shape == (3, 17, 16, 16, 2)
    with pytest.raises(ConfigError, match="dy"):
        compute_flow(frames, tmp_path / "bad.h5", method="shift", size=16, options={"dy": 1.0})


def test_a_batched_flow_method_gets_whole_batches(tmp_path, monkeypatch):
    seen = []

    def batched(gray, options):
        seen.append(gray.shape)
        return np.zeros((gray.shape[0], gray.shape[1] - 1, *gray.shape[2:], 2), np.float32)

    monkeypatch.setitem(FLOW_METHODS, "gpu_toy", FlowMethod(batched, batched=True))
    compute_flow(_frames_file(tmp_path / "frames.h5", clips=5), tmp_path / "flow.h5", method="gpu_toy", size=8)
    assert seen == [(5, 18, 8, 8)]


def test_an_unknown_flow_method_names_the_known_ones():
    with pytest.raises(ValueError, match="dis, farneback"):
        flow_module.flow_method("raft")


# ---------------------------------------------------------------------------- conditions

def test_a_new_condition_is_one_table_entry(monkeypatch, tmp_path):
    from test_learn_classify import DEVICE  # the suite's device choice
    from vida_core.shared.config import ClassifyConfig
    from vida_core.learn.classify import run_condition, write_condition
    from vida_core.learn.data import H5Column, build_table
    from vida_core.learn.results import compare, read_condition
    from vida_core.shared.artifacts import clip_ids
    from synthetic import make_synthetic

    def half_real_audio(table, paths, seed):
        """Toy: real audio for every other clip."""
        used = table.has_audio & (np.arange(len(table)) % 2 == 0)
        return H5Column(paths["audio"], "logmel", table.clip_ids, "audio"), used

    toy = Condition("half_real", "+ half the real audio", half_real_audio, needs=("audio",))
    monkeypatch.setitem(CONDITIONS, "half_real", toy)
    paths = make_synthetic(tmp_path, clips=60, classes=2, dim=4)
    table = build_table(clip_ids(paths["visual"]), paths["manifest"], paths["audio"])
    config = ClassifyConfig(seeds=[0], hidden=8, input_proj=4, epochs=2, patience=2, batch_size=16)
    for name in ("baseline", "half_real"):
        write_condition(run_condition(name, table, paths, config, DEVICE), table, config, tmp_path / f"{name}.h5")
    details = compare({name: read_condition(name, tmp_path / f"{name}.h5") for name in ("baseline", "half_real")},
                      samples=200)
    entry = details["by_k"]["all"]["conditions"]["half_real"]["groups"]["all"]
    assert 0 <= entry["top1"]["mean"] <= 1 and "verdict" in entry["gain"] and "mdg" in entry["gain"]
    # Every condition of the table reaches the report.
    assert "| `half_real` |" in build_report(details, {})


def test_an_unknown_condition_fails_before_training(tmp_path):
    from vida_core.shared.config import ClassifyConfig
    from vida_core.learn.classify import run_condition

    with pytest.raises(ValueError, match="sound"):
        run_condition("sound", None, {}, ClassifyConfig(), "cpu")


# ----------------------------------------------------------------------------- executors

def _square(x):
    return x * x


class SerialExecutor:
    """A toy executor: what swapping the engine takes (a file vida_core/executors/serial.py)."""

    def __init__(self, workers=1, **options):
        self.calls = 0

    def map(self, fn, items, *, total=None, desc=""):
        for item in items:
            self.calls += 1
            yield fn(item)

    def model(self, loader, name, *, device, **kwargs):
        return loader(name, device=device, **kwargs)

    def call_batch(self, batch):
        return batch


def test_a_new_executor_is_one_file(monkeypatch, tmp_path):
    # As if vida_core/executors/serial.py held `EXECUTOR = SerialExecutor`, and nothing else changed.
    module = types.ModuleType("vida_core.executors.serial")
    module.EXECUTOR = SerialExecutor
    monkeypatch.setitem(sys.modules, module.__name__, module)
    executor = executors.make_executor("serial", workers=4)
    assert list(executor.map(_square, range(5))) == [0, 1, 4, 9, 16] and executor.calls == 5
    # And a stage uses whatever the params name, for its per-clip work and its models.
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"executor": "serial"}))
    from vida_core.shared.stage import Stage
    stage = Stage("flow", params_file=params.name, root=tmp_path)
    assert isinstance(stage.executor(), SerialExecutor)
    assert stage.model(lambda name, device: (name, device), "a-model") == ("a-model", "auto")
    assert stage.call_batch(8) == 8


def test_an_unknown_executor_names_the_known_ones():
    with pytest.raises(ValueError, match="local"):
        executors.make_executor("slurm")
