"""`dvc repro` and `dvc exp run -S threshold=...` in a fresh git repo on a tiny demo dataset."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from vida_core.shared.registry import CLASSIFY_CONDITIONS, PAPER_CONDITIONS

# The whole DAG through DVC, minutes on 2 cores: not in the fast lane (`pytest -m "not slow"`).
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
DVC = [sys.executable, "-m", "dvc"]

# Small enough for CI: 4 classes x 10 clips (per class 2 test, 2 val, 2 labelled, 4 in the pool),
# small frames, short training.
TINY = {
    "workers": 2,
    "demo": {"num_classes": 4, "clips_per_class": 10, "width": 128, "height": 96, "bank_clips_per_sound": 3},
    "dataset": {"val_fraction": 0.2, "test_fraction": 0.2},
    "frames": {"resolution": 64},
    "flow": {"resolution": 32},
}


def merge(base: dict, override: dict) -> dict:
    for key, value in override.items():
        base[key] = merge(dict(base.get(key) or {}), value) if isinstance(value, dict) else value
    return base


def run(cmd, cwd, env=None):
    # Stage commands say `python`: make it this interpreter, whether or not a venv is activated.
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "PATH": path, "PYTHONUNBUFFERED": "1", **(env or {})})
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout + proc.stderr


def ran_stages(log: str) -> set[str]:
    return {line.split("'")[1] for line in log.splitlines() if line.startswith("Running stage '")}


def make_project(repo: Path, overrides: dict) -> Path:
    """A fresh git + DVC repo with this project's pipeline, params.yaml with `overrides` and
    tests/tiny_params.yaml applied, committed."""
    repo.mkdir(parents=True, exist_ok=True)
    for item in ("dvc.yaml", "params.yaml", "stages", "vida_core", ".dvcignore", "data/audioset", "plots/templates"):
        src = ROOT / item
        (repo / item).parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree(src, repo / item, ignore=shutil.ignore_patterns("__pycache__"))
         if src.is_dir() else shutil.copy(src, repo / item))
    params = merge(yaml.safe_load((ROOT / "params.yaml").read_text()), overrides)
    for section, knobs in yaml.safe_load((ROOT / "tests" / "tiny_params.yaml").read_text()).items():
        params[section] = merge(dict(params.get(section) or {}), knobs) if isinstance(knobs, dict) else knobs
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run(["git", "init", "-q"], repo)
    run(["git", "config", "user.email", "ci@example.com"], repo)
    run(["git", "config", "user.name", "ci"], repo)
    run(DVC + ["init", "-q"], repo)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "tiny VIDA project"], repo)
    return repo


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    repo = make_project(tmp_path_factory.mktemp("vida"), TINY)
    log = run(DVC + ["repro"], repo)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "repro"], repo)
    return repo, log


def test_repro_runs_every_stage_and_writes_every_artifact(project):
    repo, log = project
    stages = set(yaml.safe_load((repo / "dvc.yaml").read_text())["stages"])
    assert ran_stages(log) == stages
    for out in ("manifest.csv", "frames.h5", "audio.h5", "flow.h5", "representative.h5"):
        assert (repo / "artifacts" / out).stat().st_size > 0


# From the registry (tests/test_layout.py checks it against the conditions table and dvc.yaml).
CONDITIONS = PAPER_CONDITIONS   # what `vida predict` runs
CONTROLS = tuple(c for c in CLASSIFY_CONDITIONS if c not in PAPER_CONDITIONS)


def test_threshold_sweep_reruns_only_what_reads_the_threshold(project):
    repo, _ = project
    log = run(DVC + ["exp", "run", "-S", "threshold=1.6"], repo)
    # representative -> captions -> label_map -> CAFMap and its two controls -> their classifiers ->
    # results; the other classifiers, SVDMap, the filter and everything upstream are reused.
    assert ran_stages(log) == {"representative", "captions", "label_map", "cafmap_controls", "generate_cafmap",
                               "generate_cafmap_labels_only", "generate_cafmap_bank_permuted", "classify_cafmap",
                               "classify_cafmap_labels_only", "classify_cafmap_bank_permuted", "audio_quality", "results"}


def test_experiment_metrics_are_val_top1s_with_the_threshold_first(project):
    repo, _ = project
    header = run(DVC + ["exp", "show", "--csv"], repo).splitlines()[0].split(",")
    metrics = header[header.index("parent") + 1:header.index("threshold")]
    assert metrics[:2] == ["run.threshold", "run.k"]
    assert tuple(metrics[2:7]) == tuple(f"val_{c}" for c in CONDITIONS)
    assert {"chance", "svdmap_mse", "cafmap_mse", "keep_rate"} <= set(metrics)
    # Test accuracy is for the final report only, so nothing a sweep compares is a test number.
    assert not any(m in CONDITIONS or m.endswith("_gain") for m in metrics)
    assert header[header.index("threshold") - 1] == metrics[-1]   # threshold is the first param column
    results = json.loads((repo / "metrics" / "results.json").read_text())
    assert 0 <= results["val_baseline"] <= 100 and results["run"]["k"] == "2"
    table = run(DVC + ["exp", "show"], repo, env={"COLUMNS": "120"})
    head = next(line for line in table.splitlines() if "Experiment" in line)
    assert any("[" in line for line in table.splitlines())    # the threshold=1.6 experiment
    assert " run.threshold " in head
    details = json.loads((repo / "artifacts" / "results.json").read_text())
    assert set(details["by_k"]) == {"1", "2"}
    assert set(details["by_k"]["2"]["conditions"]) == set(CONDITIONS + CONTROLS)
    assert details["by_k"]["2"]["runs"] == 2 * 2      # 2 draws x 2 seeds
    report = run([sys.executable, "-m", "vida_core.views.cli", "report"], repo)
    assert "## k = 1 labelled clips per class" in report and "(MDG " in report


def test_plots_page_has_one_figure_per_question(project):
    repo, _ = project
    shown = json.loads(run(DVC + ["plots", "show", "--json"], repo))
    names = set(shown["data"])
    # the learning curve, 2 losses, the classifier curves, keep rate, threshold, 10 confusions
    assert len(names) == 16, sorted(names)


def test_predict_on_clips_without_audio_and_in_other_containers(project, tmp_path):
    import csv

    import h5py
    import numpy as np
    from media import remux

    repo, _ = project
    with open(repo / "artifacts" / "manifest.csv", newline="") as f:
        test_rows = [r for r in csv.DictReader(f) if r["split"] == "test"]
    with h5py.File(repo / "artifacts" / "audio.h5") as f:
        audio_ids = [s.decode() for s in f["clip_id"][()]]
        with_audio = {c for c, has in zip(audio_ids, f["has_audio"][()]) if has}
        real = {c: row for c, row in zip(audio_ids, f["logmel"][()])}
    clip = next(r for r in test_rows if r["clip_id"] in with_audio)
    silent = remux(repo / clip["path"], tmp_path / "silent.mkv", keep_audio=False)   # audio removed
    with_sound = remux(repo / clip["path"], tmp_path / "sound.mov", keep_audio=True)
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    out = tmp_path / "predicted"
    shown = run([sys.executable, "-m", "vida_core.views.cli", "predict", silent, with_sound, broken, "--out", out], repo)
    assert "no audio (no audio stream)" in shown and "HAS AUDIO" in shown
    assert "broken.mp4  (clip broken)" in shown and "rejected by the frames stage" in shown
    for name in CONDITIONS:
        assert f"  {name} " in shown
    with h5py.File(out / "predictions.h5") as f:
        assert [s.decode() for s in f["clip_id"][()]] == ["silent", "sound"]
        assert f["has_audio"][()].tolist() == [False, True]
        assert [s.decode() for s in f["rejects/clip_id"][()]] == ["broken"]
        for name in CONDITIONS:
            probs = f[f"probabilities/{name}"][()]
            assert probs.shape == (2, 4) and np.allclose(probs.sum(1), 1, atol=1e-5)
        seeds = len(yaml.safe_load((repo / "params.yaml").read_text())["classify"]["seeds"])
        svdmap = f["generated/svdmap"][()]
        assert svdmap.shape == (seeds, 2, 18, 128) and f["generated/cafmap"].shape == (seeds, 2, 18, 128)
        # Same pictures, so the same generated audio: the file's own sound is not an input.
        assert np.allclose(svdmap[:, 0], svdmap[:, 1], atol=1e-5)
        assert np.allclose(f["probabilities/baseline"][0], f["probabilities/baseline"][1], atol=1e-5)
        # The real audio is used where the file has it, and only there.
        assert not f["real_logmel"][0].any() and np.allclose(f["real_logmel"][1], real[clip["clip_id"]])
    assert (out / "silent.png").stat().st_size > 0 and (out / "sound.png").stat().st_size > 0

    # Named as the pipeline names it, a test clip gets exactly the pipeline's own test predictions.
    out = tmp_path / "same"
    run([sys.executable, "-m", "vida_core.views.cli", "predict", clip["path"], "--ids-from", "data/demo",
         "--out", out, "--no-png"], repo)
    with h5py.File(out / "predictions.h5") as f:
        assert [s.decode() for s in f["clip_id"][()]] == [clip["clip_id"]]
        for name in CONDITIONS:
            with h5py.File(repo / "artifacts" / "classify" / f"{name}.h5") as c:
                row = [s.decode() for s in c["clip_id"][()]].index(clip["clip_id"])
                # The checkpoint keeps, per seed, the run with the most labels (draw 0).
                k, draw = c["runs/k"][()], c["runs/draw"][()]
                runs = np.flatnonzero((k == k.max()) & (draw == 0))
                logits = c["logits"][runs, row].astype(np.float64)
            expected = np.exp(logits - logits.max(1, keepdims=True))
            expected /= expected.sum(1, keepdims=True)
            assert np.allclose(f[f"per_seed/{name}"][:, 0], expected, atol=1e-4), name


def test_a_changed_clip_or_csv_reruns_exactly_the_stages_that_read_it(project, tmp_path):
    repo, _ = project
    work = tmp_path / "work"
    shutil.copytree(repo, work, symlinks=True)
    own = work / "mydata"                       # a user's own folder of clips, not a DVC output
    shutil.copytree(work / "data" / "demo", own, ignore=shutil.ignore_patterns("demo_info.csv"))
    params = yaml.safe_load((work / "params.yaml").read_text())
    params["dataset"].update(name="folder", root="mydata")
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run(DVC + ["repro", "audio"], work)
    assert "didn't change" in run(DVC + ["repro", "audio"], work)

    # The same path, other content: a clip that had audio is now an empty file.
    victim = next(p for p in sorted(own.rglob("*.mp4")))
    victim.write_bytes(b"")
    status = run(DVC + ["status", "manifest", "audio"], work)
    assert "manifest" in status and "mydata" in status
    ran = ran_stages(run(DVC + ["repro", "audio"], work))
    assert ran == {"manifest", "audio"}
    import h5py
    with h5py.File(work / "artifacts" / "audio.h5") as f:
        ids = [s.decode() for s in f["clip_id"][()]]
        row = ids.index(victim.relative_to(own).with_suffix("").as_posix())
        assert not f["has_audio"][row] and f["audio_note"][row].decode().startswith("empty file")

    # A CSV dataset inside dataset.root: editing the CSV reruns the manifest.
    listing = own / "clips.csv"
    clips = sorted(p for p in own.rglob("*.mp4") if p != victim)
    listing.write_text("path,label\n" + "".join(f"{p.relative_to(own).as_posix()},{p.parent.name}\n" for p in clips))
    params["dataset"].update(name="csv", csv="mydata/clips.csv")
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run(DVC + ["repro", "manifest"], work)
    listing.write_text("\n".join(listing.read_text().splitlines()[:-1]) + "\n")   # drop the last clip
    assert "manifest" in run(DVC + ["status", "manifest"], work)
    assert ran_stages(run(DVC + ["repro", "manifest"], work)) == {"manifest"}
    manifest = (work / "artifacts" / "manifest.csv").read_text()
    assert clips[-1].relative_to(own).with_suffix("").as_posix() not in manifest
    assert clips[0].relative_to(own).with_suffix("").as_posix() in manifest


def test_changing_k_reruns_only_the_classifiers(project):
    """Last: it leaves the workspace at k = [1]."""
    repo, _ = project
    log = run(DVC + ["exp", "run", "-S", "protocol.labels_per_class=[1]"], repo)
    assert ran_stages(log) == {"label_budget", *(f"classify_{c}" for c in CONDITIONS + CONTROLS), "results"}
