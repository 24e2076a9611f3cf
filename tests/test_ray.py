"""`executor: ray` on a two-node local Ray cluster: the same artifacts as `local`, crash-safe, bounded.

One cluster (two nodes of one CPU each) is shared by every test of this module: starting Ray
costs seconds. Model actors take a CPU each, so a test that starts a pool closes it.
"""

import filecmp
import json
import os
import random
import signal
import time
import uuid
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml

ray = pytest.importorskip("ray", reason="Ray is an optional extra: pip install -e '.[ray]'")
pytestmark = pytest.mark.slow   # a local Ray cluster per module: not in the fast lane

from test_executors import _within_timeout  # noqa: E402  (after the skip)
from vida_core.executors import WorkerDied  # noqa: E402
from vida_core.extract.audio import extract_audio  # noqa: E402
from vida_core.extract.flow import compute_flow  # noqa: E402
from vida_core.extract.frames import extract_frames  # noqa: E402
from vida_core.extract.representative import select_representative  # noqa: E402
from vida_core.io.demo import DemoConfig, generate_demo_dataset  # noqa: E402

TESTS = Path(__file__).resolve().parent
TIMEOUT_S = 120


@pytest.fixture(scope="module")
def cluster():
    from ray.cluster_utils import Cluster

    # Workers import this module's functions by name, and vida_core: put both on their path.
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join([str(TESTS), str(TESTS.parent)] + ([old] if old else []))
    nodes = Cluster(initialize_head=True, connect=True,
                    head_node_args={"num_cpus": 1, "object_store_memory": 100 * 2**20, "include_dashboard": False})
    nodes.add_node(num_cpus=1, object_store_memory=100 * 2**20)
    nodes.wait_for_nodes()
    yield nodes
    ray.shutdown()
    nodes.shutdown()
    if old is None:
        os.environ.pop("PYTHONPATH", None)
    else:
        os.environ["PYTHONPATH"] = old


def ray_executor(cluster, **options):
    from vida_core.executors.ray import RayExecutor
    return RayExecutor(address=cluster.address, **{"block_size": 2, **options})


# Task functions: module level, so Ray workers import them.

def _square_after_sleep(job):
    x, delay = job
    time.sleep(delay)
    return x * x


def _killed_on_marked_item(job):
    item, marker_dir, always = job
    if item == 3:
        Path(marker_dir, f"attempt-{uuid.uuid4().hex}").touch()
        first = not Path(marker_dir, "crashed").exists()
        Path(marker_dir, "crashed").touch()
        if always or first:
            os.kill(os.getpid(), signal.SIGKILL)
    return item * 10


def _raise_on_five(item):
    if item == 5:
        raise ValueError(f"bad item {item}")
    return item


def _node_of(_):
    time.sleep(0.1)   # long enough that one node's CPU is busy when the next block is placed
    return ray.get_runtime_context().get_node_id()


# --------------------------------------------------------------------------- the executor

def test_results_in_input_order_from_a_generator_across_both_nodes(cluster):
    rng = random.Random(0)
    jobs = [(x, rng.uniform(0, 0.02)) for x in range(30)]   # blocks finish out of order
    results = _within_timeout(lambda: list(ray_executor(cluster).map(_square_after_sleep, (j for j in jobs))),
                              TIMEOUT_S)
    assert results == [x * x for x, _ in jobs]
    nodes = _within_timeout(lambda: set(ray_executor(cluster, block_size=1).map(_node_of, range(12))), TIMEOUT_S)
    assert len(nodes) == 2


def test_input_is_pulled_no_further_than_max_in_flight_ahead(cluster):
    pulled = consumed = furthest = 0

    def items():
        nonlocal pulled, furthest
        for item in range(40):
            pulled += 1
            furthest = max(furthest, pulled - consumed)
            yield (item, 0.0)

    def consume():
        nonlocal consumed
        for result in ray_executor(cluster, block_size=3, max_in_flight=6).map(_square_after_sleep, items()):
            assert result == consumed * consumed
            consumed += 1

    _within_timeout(consume, TIMEOUT_S)
    assert consumed == 40 and furthest <= 6


@pytest.mark.parametrize("always", [False, True], ids=["killed-once", "killed-always"])
def test_a_worker_killed_mid_task_is_retried_or_becomes_worker_died(cluster, tmp_path, always):
    jobs = [(item, str(tmp_path), always) for item in range(8)]
    results = _within_timeout(lambda: list(ray_executor(cluster, block_size=4).map(_killed_on_marked_item, jobs)),
                              TIMEOUT_S)
    others = [r for i, r in enumerate(results) if i != 3]
    assert others == [i * 10 for i in range(8) if i != 3]
    if always:
        assert isinstance(results[3], WorkerDied) and "retried once" in results[3].reason
    else:
        assert results[3] == 30
        assert len(list(tmp_path.glob("attempt-*"))) == 2   # the block's retry ran it again


def test_an_exception_in_fn_is_raised_naming_the_item_and_node(cluster):
    with pytest.raises(ValueError, match="bad item 5") as caught:
        _within_timeout(lambda: list(ray_executor(cluster).map(_raise_on_five, range(20))), TIMEOUT_S)
    notes = " ".join(getattr(caught.value, "__notes__", []))
    assert "on item 5" in notes and "Ray worker on" in notes
    assert "_raise_on_five" in str(caught.value.__cause__)   # the worker's traceback travels with it


def test_a_node_that_cannot_see_the_data_fails_before_any_work(cluster, monkeypatch):
    from vida_core.executors import ray as module

    # This machine "sees" a clip that no node has: the probe must name it, the node and the fix.
    monkeypatch.setattr(module, "_paths_in", lambda item: ["/nonexistent/shared/clips/a.mp4"])
    with pytest.raises(module.NodeCannotSeeData) as caught:
        _within_timeout(lambda: list(ray_executor(cluster).map(_raise_on_five, range(3), desc="frames")), TIMEOUT_S)
    message = str(caught.value)
    for words in ("frames", "/nonexistent/shared/clips/a.mp4", "Ray node", "every node", "executor: local"):
        assert words in message


def test_the_stage_builds_the_ray_executor_from_params(cluster, tmp_path):
    from vida_core.executors.ray import RayExecutor
    from vida_core.shared.stage import Stage

    (tmp_path / "params.yaml").write_text(yaml.safe_dump(
        {"executor": "ray", "ray": {"address": cluster.address, "block_size": 5, "num_cpus_per_task": 0.5}}))
    executor = Stage("frames", root=tmp_path).executor(("vida_core.extract.frames",))
    assert isinstance(executor, RayExecutor)
    assert (executor.address, executor.block_size, executor.num_cpus_per_task) == (cluster.address, 5, 0.5)


# ---------------------------------------------------------------- the per-clip stages, as artifacts

@pytest.fixture(scope="module")
def clips(tmp_path_factory, cluster):
    """Demo clips made by Ray tasks and by the local executor, and a clip list with two bad files."""
    root = tmp_path_factory.mktemp("ray_clips")
    config = DemoConfig(num_classes=2, clips_per_class=3, width=128, height=96)
    made = {}
    for name, executor in (("local", None), ("ray", ray_executor(cluster))):
        made[name] = generate_demo_dataset(root / name, config, executor=executor, progress=False)
    rows = [{"clip_id": r["clip_id"], "path": str(root / "ray" / r["path"])} for r in made["ray"]]
    (root / "empty.mp4").write_bytes(b"")
    (root / "notes.mp4").write_text("not a video")
    rows += [{"clip_id": "bad/empty", "path": str(root / "empty.mp4")},
             {"clip_id": "bad/notes", "path": str(root / "notes.mp4")}]
    return root, made, rows


def test_the_demo_generator_makes_the_same_files_on_ray(clips):
    root, made, _ = clips
    assert made["ray"] == made["local"]
    for row in made["local"]:
        assert filecmp.cmp(root / "local" / row["path"], root / "ray" / row["path"], shallow=False)


def _datasets(path: Path) -> dict:
    found = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: found.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return found


def test_frames_audio_flow_on_two_nodes_equal_local_byte_for_byte(clips, cluster, tmp_path):
    _, _, rows = clips
    for name, executor in (("local", None), ("ray", ray_executor(cluster))):
        out = tmp_path / name
        out.mkdir()
        frames = extract_frames(rows, out / "frames.h5", size=32, executor=executor)
        extract_audio(rows, out / "audio.h5", executor=executor)
        compute_flow(out / "frames.h5", out / "flow.h5", size=16, executor=executor)
        assert frames["rejected"] == 2
    for artifact in ("frames.h5", "audio.h5", "flow.h5"):
        local, remote = _datasets(tmp_path / "local" / artifact), _datasets(tmp_path / "ray" / artifact)
        assert local.keys() == remote.keys()
        for name in local:
            assert np.array_equal(local[name], remote[name]), f"{artifact}/{name} differs"
        # Same arrays, same writer, same order: the files are byte-identical too.
        assert filecmp.cmp(tmp_path / "local" / artifact, tmp_path / "ray" / artifact, shallow=False)


# -------------------------------------------------------------------------------- model actors

class ToyEncoder:
    """A model with the pipeline's model API: `encode` in internal batches, `spec`, `dim`."""
    dim = 3
    pool_attributes = ("spec", "dim", "batch_size")

    def __init__(self, name: str, batch_size: int):
        self.spec, self.batch_size = {"name": name}, batch_size

    def encode(self, rows: np.ndarray) -> np.ndarray:
        if rows.dtype != np.float32:
            raise ValueError(f"rows must be float32, not {rows.dtype}")
        return np.stack([rows.sum(1), np.full(len(rows), len(rows)), np.full(len(rows), os.getpid())], 1)

    def features_and_logits(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Two outputs per call, as the embedded image encoder's."""
        return self.encode(rows), -rows


def load_toy_encoder(name: str, device: str = "cpu", batch_size: int = 4) -> ToyEncoder:
    return ToyEncoder(name, batch_size)


def test_a_model_pool_cuts_calls_at_the_models_batches_and_keeps_its_api(cluster, capsys):
    from vida_core.executors.ray import ModelPool

    rows = np.arange(22, dtype=np.float32).reshape(11, 2)
    local = load_toy_encoder("toy", batch_size=4)
    pool = ModelPool(load_toy_encoder, "toy", batch_size=4, actors=5)   # only 2 fit on 2 CPUs
    try:
        assert "2 fit" in capsys.readouterr().err
        assert (pool.dim, pool.spec, pool.batch_size) == (3, {"name": "toy"}, 4)
        out = pool.encode(rows)
        assert np.array_equal(out[:, 0], local.encode(rows)[:, 0])          # in order
        assert out[:, 1].tolist() == [4] * 8 + [3] * 3                      # the model's own batches: 4 + 4 + 3
        assert len(set(out[:, 2])) == 2                                     # spread over both actors
        features, logits = pool.features_and_logits(rows)                   # tuples joined element-wise
        assert np.array_equal(features[:, 0], out[:, 0]) and np.array_equal(logits, -rows)
        with pytest.raises(ValueError, match="float32"):
            pool.encode(rows.astype(np.float64))   # the model's own error, raised here
        with pytest.raises(AttributeError, match="tag"):
            pool.tag
    finally:
        pool.close()


def test_the_captions_stage_on_ray_actors_writes_the_local_captions(clips, cluster, tmp_path):
    from vida_core.models import load_captioner, model_identity
    from vida_core.semantic.captions import run_captions
    from vida_core.shared.stage import Stage

    _, _, rows = clips
    extract_frames(rows, tmp_path / "frames.h5", size=64)
    compute_flow(tmp_path / "frames.h5", tmp_path / "flow.h5", size=16)
    select_representative(tmp_path / "flow.h5", tmp_path / "representative.h5", 1.2)
    outputs = {}
    for executor in ("local", "ray"):
        project = tmp_path / executor
        project.mkdir()
        (project / "params.yaml").write_text(yaml.safe_dump(
            {"executor": executor, "device": "cpu", "captions": {"batch_size": 2},
             "ray": {"address": cluster.address, "actors": 2}}))
        stage = Stage("captions", root=project)
        captioner = stage.model(load_captioner, stage.params.models.captioner, batch_size=2)
        assert stage.call_batch(2) == (4 if executor == "ray" else 2)
        # captions.source: video (the default): the captioner's own geometry, frames decoded again.
        run_captions(tmp_path / "representative.h5", tmp_path / "frames.h5", project / "captions.json",
                     captioner, stage.call_batch(2), video_paths={r["clip_id"]: r["path"] for r in rows},
                     cache_path=None)
        if executor == "ray":
            assert type(captioner).__name__ == "ModelPool"
            assert model_identity(captioner)["id"] == stage.params.models.captioner
            captioner.close()
        outputs[executor] = (project / "captions.json").read_bytes()
    assert json.loads(outputs["local"])["clips"] and outputs["ray"] == outputs["local"]


def test_the_visual_features_stage_on_ray_actors_writes_the_local_features(clips, cluster, tmp_path):
    from vida_core.learn.visual_features import extract_visual_features
    from vida_core.models import load_image_encoder
    from vida_core.shared.stage import Stage

    _, _, rows = clips
    extract_frames(rows, tmp_path / "frames.h5", size=64)
    compute_flow(tmp_path / "frames.h5", tmp_path / "flow.h5", size=16)
    arrays = {}
    for executor in ("local", "ray"):
        project = tmp_path / executor
        project.mkdir()
        (project / "params.yaml").write_text(yaml.safe_dump(
            {"executor": executor, "device": "cpu", "ray": {"address": cluster.address, "actors": 2}}))
        stage = Stage("visual_features", root=project)
        runtime = stage.params.visual_features.runtime      # the default, as the stage runs it
        encoder = stage.model(load_image_encoder, stage.params.models.image_encoder, batch_size=16, runtime=runtime)
        extract_visual_features(tmp_path / "frames.h5", tmp_path / "flow.h5", project / "visual.h5", encoder,
                                batch_clips=stage.call_batch(2))
        if executor == "ray":
            assert type(encoder).__name__ == "ModelPool"
            encoder.close()
        with h5py.File(project / "visual.h5") as f:
            arrays[executor] = {name: f[name][()] for name in ("rgb", "flow", "rgb_label_index", "rgb_label_prob")}
    for name, local in arrays["local"].items():
        assert np.array_equal(local, arrays["ray"][name]), f"visual.h5/{name} differs between local and Ray actors"
