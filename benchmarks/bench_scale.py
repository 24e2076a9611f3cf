"""Scale run on one machine: the per-clip stages through DVC at N clips, label_map and one
classifier epoch at N clips, peak memory per stage, and `dvc status` on the N-clip project.

    python benchmarks/bench_scale.py --clips 2000 20000 --workdir DIR
    python benchmarks/bench_scale.py --clips 2000 --ray --workdir DIR    # also frames with executor: ray
    python benchmarks/bench_scale.py --clips 20000 --unique-per-class 400 --workdir DIR
    python benchmarks/bench_scale.py --clips 2000 20000 --workdir DIR --report-only
    python benchmarks/bench_scale.py --quick [--workdir DIR]    # checks the script, in about a minute

Results of a run on a 2-core machine: benchmarks/results/scale_run.md.

For each N (default 2,000 and 20,000), in `<workdir>/clips_<N>/`:

1. A fresh git + DVC project is made from this checkout (code, dvc.yaml, params.yaml with the
   overrides below; the repo's `.dvc/config`, hence its cache.type, is kept), as
   tests/test_pipeline_e2e.py does.
   Overrides: `demo` with --classes classes x N/--classes clips of --width x --height px (the
   project's own generator: real H.264 + AAC mp4, 3-4 s), `frames.resolution` --frames-size,
   `flow.resolution` --flow-size, `workers` --workers.
   Generating costs about 0.1 CPU s a clip at 128 x 96 px. With --unique-per-class U, demo_data
   does not run: the first U clips of each class are generated (exactly the files demo_data
   makes for those indices; files already there are kept), every other index gets a hardlink
   to clip (index mod U) under its own name, and `dvc commit -f demo_data` records the folder.
   Decoding costs the same per file whether its bytes are shared or not; the results say how
   many files were unique.
2. `dvc repro -s <stage>` runs, one at a time, demo_data (unless --unique-per-class), manifest, frames, audio, flow and
   representative, as a user would. Per stage: wall time of the DVC call and of the stage
   process; CPU time (user + sys) of the stage process and its workers (psutil, sampled) and of
   everything including DVC (getrusage of reaped children: this process makes itself the
   subreaper, so forkserver workers orphaned when the stage exits are reaped and counted);
   peak RSS of the stage process and peak of the RSS summed over its process tree (stage +
   forkserver + workers), sampled every --sample-s seconds. The RSS sum counts pages that
   forkserver children share with each other once per process, so it overstates the tree's
   real footprint a little; it is the number that is flat or not with N.
3. Artifact sizes on disk (frames.h5, audio.h5, flow.h5, representative.h5), per clip.
4. `dvc status` wall time: cold (an empty DVC state database: every file hashed), again
   (state database: stats only), after `touch` on one clip (re-hashed, unchanged), and after
   one clip's bytes changed (the change is found).
5. label_map at N clips in a fresh process: the real `run_label_map` on the real
   representative.h5 of this run, with synthetic captions (one per representative frame), a
   synthetic label bank and the fake bag-of-words text encoder of bench_label_map_memory.py
   (the captioner and the text encoder are too slow on CPU for N = 20,000).
6. One classifier epoch (condition real_audio) in a fresh process: bench_learning.py's
   `classify_one_epoch` on synthetic visual.h5 + audio.h5 of N clips (D = --dim, float16, 50
   classes), since visual features need the image encoder over every clip.
7. With --ray: frames again at the smallest N with `executor: ray` (`dvc repro -s -f frames`).

Steps are resumable: each writes `<workdir>/clips_<N>/results.json` as it finishes and is
skipped when its result is there. Results: a markdown table on stdout and `scale_run.json` in
--workdir. --keep-data keeps the projects (default: deleted after their results are written).

`--quick`: N = 4 (2 classes, 64 x 48 px, frames at 32 px, flow at 16 px, 1 worker), one unique
clip per class (so the hardlink path and `dvc commit` run), the classifier epoch on 200 synthetic
clips at D = 16, results in --workdir (default: bench_scale/ in a temporary folder or in
$VIDA_BENCH_OUT); its numbers mean nothing.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import yaml

ROOT = Path(__file__).resolve().parents[1]
BENCH = Path(__file__).resolve().parent
DVC = [sys.executable, "-m", "dvc"]
STAGES = ["demo_data", "manifest", "frames", "audio", "flow", "representative"]
ARTIFACTS = ["frames.h5", "audio.h5", "flow.h5", "representative.h5"]
PROJECT_FILES = ("dvc.yaml", "params.yaml", "stages", "vida_core", ".dvcignore", "data/audioset", "plots/templates")
MB = 2**20


# ----------------------------------------------------------------------------- measuring


def _make_subreaper() -> None:
    """Orphaned descendants (forkserver workers outliving their stage) become our children, so
    waiting for them adds their CPU time to RUSAGE_CHILDREN."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)   # PR_SET_CHILD_SUBREAPER


def _reap_orphans(limit_s: float = 60) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            time.sleep(0.1)


def _env(project: Path | None) -> dict:
    # Stage commands say `python`: make it this interpreter, and import the project's own code.
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    env = {**os.environ, "PATH": path, "PYTHONUNBUFFERED": "1"}
    if project is not None:
        env["PYTHONPATH"] = str(project)
    return env


def _is_stage(proc: psutil.Process, script: str | None) -> bool:
    try:
        cmd = proc.cmdline()
    except psutil.Error:
        return False
    if script is None:
        return True
    return len(cmd) >= 2 and Path(cmd[0]).name.startswith("python") and cmd[1] == script


def measure(cmd: list[str], cwd: Path, script: str | None = None, sample_s: float = 0.2,
            env: dict | None = None) -> dict:
    """Run `cmd`; sample RSS and CPU of the process running `script` (the stage process, found
    among the descendants; None: `cmd` itself) and of its process tree."""
    usage0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    popen = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    root = psutil.Process(popen.pid)
    state = {"stage": None, "stage_first": None, "stage_last": None, "peak_stage": 0, "peak_tree": 0,
             "peak_all": 0, "cpu": {}, "procs_max": 0}
    output: list[str] = []
    reader = threading.Thread(target=lambda: output.extend(popen.stdout), daemon=True)
    reader.start()

    def sample():
        try:
            everyone = [root, *root.children(recursive=True)]
        except psutil.Error:
            return
        rss_all = 0
        for p in everyone:
            try:
                rss_all += p.memory_info().rss
            except psutil.Error:
                pass
        state["peak_all"] = max(state["peak_all"], rss_all)
        if state["stage"] is None:
            state["stage"] = next((p for p in everyone if _is_stage(p, script)), None)
        stage = state["stage"]
        if stage is None or not stage.is_running():
            return
        try:
            tree = [stage, *stage.children(recursive=True)]
            stage_rss = stage.memory_info().rss
        except psutil.Error:
            return
        now = time.perf_counter()
        state["stage_first"] = state["stage_first"] or now
        state["stage_last"] = now
        total = 0
        for p in tree:
            try:
                with p.oneshot():
                    total += p.memory_info().rss
                    t = p.cpu_times()
                    state["cpu"][(p.pid, p.create_time())] = t.user + t.system
            except psutil.Error:
                pass
        state["peak_stage"] = max(state["peak_stage"], stage_rss)
        state["peak_tree"] = max(state["peak_tree"], total)
        state["procs_max"] = max(state["procs_max"], len(tree))

    while popen.poll() is None:
        sample()
        time.sleep(sample_s)
    wall = time.perf_counter() - start
    _reap_orphans()
    reader.join(timeout=10)
    usage1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if popen.returncode:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed ({popen.returncode}):\n{''.join(output)[-5000:]}")
    stage_wall = (state["stage_last"] - state["stage_first"]) if state["stage_first"] else None
    return {"wall_s": round(wall, 2),
            "stage_wall_s": round(stage_wall, 2) if stage_wall is not None else None,
            "cpu_stage_tree_s": round(sum(state["cpu"].values()), 2),
            "cpu_all_s": round((usage1.ru_utime - usage0.ru_utime) + (usage1.ru_stime - usage0.ru_stime), 2),
            "peak_rss_stage_mb": round(state["peak_stage"] / MB),
            "peak_rss_tree_mb": round(state["peak_tree"] / MB),
            "peak_rss_all_mb": round(state["peak_all"] / MB),   # DVC + stage tree
            "processes": state["procs_max"],
            "log_tail": "".join(output)[-1500:]}


def run(cmd: list[str], cwd: Path, env: dict | None = None) -> str:
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)
    if done.returncode:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout + done.stderr


def timed(cmd: list[str], cwd: Path, env: dict | None = None) -> tuple[float, str]:
    start = time.perf_counter()
    out = run(cmd, cwd, env)
    return round(time.perf_counter() - start, 2), out


# ----------------------------------------------------------------------------- project


def merge(base: dict, override: dict) -> dict:
    for key, value in override.items():
        base[key] = merge(dict(base.get(key) or {}), value) if isinstance(value, dict) else value
    return base


def make_project(repo: Path, clips: int, args) -> dict:
    if clips % args.classes:
        raise SystemExit(f"--clips {clips} is not a multiple of --classes {args.classes}")
    repo.mkdir(parents=True)
    for item in PROJECT_FILES:
        src = ROOT / item
        if not src.exists():
            continue
        (repo / item).parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree(src, repo / item, ignore=shutil.ignore_patterns("__pycache__"))
         if src.is_dir() else shutil.copy(src, repo / item))
    overrides = {"workers": args.workers,
                 "demo": {"num_classes": args.classes, "clips_per_class": clips // args.classes,
                          "width": args.width, "height": args.height},
                 "frames": {"resolution": args.frames_size}, "flow": {"resolution": args.flow_size}}
    params = merge(yaml.safe_load((ROOT / "params.yaml").read_text()), overrides)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env = _env(repo)
    for cmd in (["git", "init", "-q"], ["git", "config", "user.email", "bench@example.com"],
                ["git", "config", "user.name", "bench"]):
        run(cmd, repo)
    run(DVC + ["init", "-q"], repo, env)
    shutil.copy(ROOT / ".dvc" / "config", repo / ".dvc" / "config")   # the repo's cache.type (hardlinks)
    run(DVC + ["config", "core.analytics", "false"], repo, env)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", f"VIDA scale project, {clips} clips"], repo)
    return overrides


def du_bytes(path: Path) -> int:
    return int(subprocess.run(["du", "-sb", str(path)], capture_output=True, text=True).stdout.split()[0])


# ----------------------------------------------------------------------------- label_map, classifier


def captions_job(rep_h5: str, folder: str) -> None:
    """Synthetic captions (one per representative frame of the real representative.h5, in the
    form of the label captioner's "a photo of a X or a Y") and a synthetic label bank."""
    import h5py
    import numpy as np

    sys.path.insert(0, str(BENCH))
    from bench_label_map_memory import write_captions_and_bank
    from vida_core.shared.artifacts import read_strings

    folder = Path(folder)
    with h5py.File(rep_h5, "r") as f:
        ids, masks = read_strings(f["clip_id"]), f["mask"][()]
    write_captions_and_bank(folder, ids, masks, np.random.default_rng(0))
    print(json.dumps({"representative_frames": int(masks.sum()), "clips": len(ids)}))


def label_map_job(rep_h5: str, folder: str) -> None:
    """In a fresh process: the real run_label_map on the real representative.h5, synthetic captions
    (made first in a child process, so they are not part of this process's memory), the fake encoder."""
    sys.path.insert(0, str(BENCH))
    from bench_label_map_memory import BagOfWords
    import vida_core.semantic.label_map as label_map
    from vida_core.models.specs import audioset_names

    folder = Path(folder)
    if not (folder / "captions.json").exists():
        made = subprocess.run([sys.executable, __file__, "--_captions", rep_h5, str(folder)],
                              capture_output=True, text=True, check=True)
        print(made.stdout.strip().splitlines()[-1])
    label_map.model_identity = lambda encoder: {"id": "bag-of-words"}
    names = audioset_names()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    label_map.run_label_map(Path(rep_h5), folder / "captions.json", folder / "bank.h5", folder / "label_map.h5",
                            BagOfWords(), names, 5, params={}, reading=label_map.Reading(synonyms="none"))
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"run_s": round(time.perf_counter() - start, 1), "maxrss_before_mb": round(before / 1024),
                      "maxrss_after_mb": round(after / 1024),
                      "captions_json_mb": round((folder / "captions.json").stat().st_size / MB, 1)}))


def classify_job(folder: str, clips: int, dim: int) -> None:
    """In a fresh process: bench_learning's one classifier epoch on synthetic features."""
    sys.path.insert(0, str(BENCH))
    from bench_learning import classify_one_epoch

    folder = Path(folder)
    if not (folder / "visual.h5").exists():   # written by a child process: not in this one's memory
        subprocess.run([sys.executable, __file__, "--_synth", str(folder), str(clips), str(dim)], check=True)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    result = classify_one_epoch(str(folder))
    print(json.dumps({"epoch_s": round(time.perf_counter() - start, 1), "maxrss_before_mb": round(before / 1024),
                      "maxrss_after_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
                      "file_mb": {n: round((folder / n).stat().st_size / MB) for n in ("visual.h5", "audio.h5")},
                      **result}))


def generate_job(project: str, unique: int) -> None:
    """In a fresh process: the first `unique` clips of every class with the project's own generator
    (the very clips `demo_data` makes for those indices; files already there are kept), then
    hardlinked copies under the names of the remaining indices (clip i is a link to clip
    i % unique), and demo_info.csv for all of them."""
    import csv

    import numpy as np
    from vida_core.executors import make_executor
    from vida_core.io import demo

    project = Path(project)
    params = yaml.safe_load((project / "params.yaml").read_text())
    knobs = dict(params["demo"])
    out_dir = project / knobs.pop("root")
    config = demo.DemoConfig(**knobs)
    name = lambda label, i: Path(label) / f"{label}_{i:03d}.mp4"   # as demo._make_clip names them
    for label in config.classes:
        (out_dir / label).mkdir(parents=True, exist_ok=True)
        for stale in (out_dir / label).glob(".*.tmp"):   # a killed earlier run's temporaries
            stale.unlink()
    jobs = [(label, i, config, out_dir) for label in config.classes for i in range(unique)
            if not (out_dir / name(label, i)).exists()]
    start = time.perf_counter()
    cpu0 = time.process_time()
    for _ in make_executor("local", params["workers"], preload=("vida_core.io.demo",)).map(
            demo._make_clip, jobs, total=len(jobs), desc="demo clips"):
        pass
    generated_s = time.perf_counter() - start
    rows, links = [], 0
    for label in config.classes:
        for i in range(config.clips_per_class):
            path = out_dir / name(label, i)
            if not path.exists():
                os.link(out_dir / name(label, i % unique), path)
                links += 1
            source = i if i < unique or path.stat().st_nlink == 1 else i % unique
            rng = np.random.default_rng([config.seed, demo.DEMO_CLASSES.index(label), source])
            fps, duration = demo._choose(rng, demo.FPS_CHOICES), demo._choose(rng, demo.DURATION_CHOICES)
            rows.append({"clip_id": path.stem, "path": name(label, i).as_posix(), "label": label,
                         "fps": round(float(fps), 3), "duration": round(round(duration * fps) / float(fps), 3),
                         "audio": demo.audio_mode(label, source, config)})
    with open(out_dir / demo.INFO_FILE, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=demo.INFO_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    inodes = {(out_dir / r["path"]).stat().st_ino for r in rows}
    print(json.dumps({"generated_now": len(jobs), "generate_s": round(generated_s, 1),
                      "generate_cpu_s_parent": round(time.process_time() - cpu0, 1),
                      "hardlinks_made": links, "clips": len(rows), "unique_files": len(inodes)}))


def synth_job(folder: str, clips: int, dim: int) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))   # test support, not the package
    from synthetic import make_synthetic

    make_synthetic(Path(folder), clips=clips, classes=50, dim=dim, dtype="float16",
                   visual_signal=0.2, audio_signal=0.2, only_features=True)


def last_json(log: str) -> dict:
    return json.loads([line for line in log.splitlines() if line.startswith("{")][-1])


# ----------------------------------------------------------------------------- one size


def run_size(clips: int, args, ray: bool) -> dict:
    base = Path(args.workdir) / f"clips_{clips}"
    repo = base / "project"
    result_file = base / "results.json"
    res = json.loads(result_file.read_text()) if result_file.exists() else {"clips": clips, "stages": {}}

    def save():
        result_file.write_text(json.dumps(res, indent=1))

    def log(msg):
        print(f"[{time.strftime('%H:%M:%S')}] {clips} clips: {msg}", flush=True)

    base.mkdir(parents=True, exist_ok=True)
    env = _env(repo)
    if "overrides" not in res:
        if repo.exists():
            shutil.rmtree(repo)
        res["overrides"] = make_project(repo, clips, args)
        save()
    unique = args.unique_per_class
    if unique and unique < clips // args.classes and "demo_data" not in res["stages"]:
        log(f"generate {unique} unique clips per class, hardlink the rest, dvc commit demo_data")
        m = measure([sys.executable, __file__, "--_generate", str(repo), str(unique)], repo,
                    script=None, sample_s=args.sample_s, env=env)
        info = last_json(m.pop("log_tail"))
        commit = measure(DVC + ["commit", "-f", "demo_data"], repo, script=None, sample_s=args.sample_s, env=env)
        commit.pop("log_tail")
        res["stages"]["demo_data"] = {**m, "generation": info, "dvc_commit": commit, "hardlinked": True}
        save()
        log(f"demo_data: {json.dumps(res['stages']['demo_data'])}")
    for stage in STAGES:
        if stage in res["stages"]:
            continue
        log(f"dvc repro -s {stage}")
        m = measure(DVC + ["repro", "-s", stage], repo, script=f"stages/{stage}.py", sample_s=args.sample_s, env=env)
        res["stages"][stage] = m
        save()
        log(f"{stage}: {json.dumps({k: v for k, v in m.items() if k != 'log_tail'})}")

    if "artifacts" not in res:
        sizes = {a: (repo / "artifacts" / a).stat().st_size for a in ARTIFACTS}
        res["artifacts"] = {"bytes": sizes, "bytes_per_clip": {a: round(b / clips) for a, b in sizes.items()},
                            "dataset_bytes": sum(p.stat().st_size for p in (repo / "data" / "demo").rglob("*.mp4")),
                            "dataset_disk_bytes": du_bytes(repo / "data" / "demo"),   # hardlinked files once
                            "dataset_files": sum(1 for _ in (repo / "data" / "demo").rglob("*.mp4"))}
        save()

    if "dvc_status" not in res:
        log("dvc status")
        (repo / ".dvc" / "config.local").write_text(f"[core]\n    site_cache_dir = {base / 'site_cache'}\n")
        times = {}
        times["cold (empty state db)"], out = timed(DVC + ["status"], repo, env)
        times["again (state db)"], _ = timed(DVC + ["status"], repo, env)
        clip = sorted((repo / "data" / "demo").rglob("*.mp4"))[0]
        os.utime(clip)
        times["after touch of one clip"], out_touch = timed(DVC + ["status"], repo, env)
        data = clip.read_bytes()
        clip.unlink()   # a hardlink into the cache: write a new file, not through the link
        clip.write_bytes(data + b"\0")
        times["after one clip's bytes changed"], out_changed = timed(DVC + ["status"], repo, env)
        res["dvc_status"] = {"seconds": times, "touch_reports_change": "demo_data" in out_touch,
                             "changed_reports_change": "demo_data" in out_changed and "manifest" in out_changed,
                             "dvc_version": run(DVC + ["--version"], repo, env).strip()}
        save()
        log(json.dumps(res["dvc_status"]))

    if "label_map" not in res:
        log("label_map")
        with tempfile.TemporaryDirectory(dir=base) as tmp:
            m = measure([sys.executable, __file__, "--_label_map", str(repo / "artifacts" / "representative.h5"), tmp],
                        base, sample_s=args.sample_s, env=_env(ROOT))
        res["label_map"] = {**m, **last_json(m.pop("log_tail"))}
        save()
        log(json.dumps(res["label_map"]))

    if "classify_epoch" not in res:
        log("classifier epoch")
        with tempfile.TemporaryDirectory(dir=base) as tmp:
            synthetic = 200 if args.quick else clips   # --quick: enough for every one of the 50 classes' splits
            m = measure([sys.executable, __file__, "--_classify", tmp, str(synthetic), str(args.dim)],
                        base, sample_s=args.sample_s, env=_env(ROOT))
        res["classify_epoch"] = {**m, **last_json(m.pop("log_tail")), "dim": args.dim}
        save()
        log(json.dumps(res["classify_epoch"]))

    if ray and "frames_ray" not in res:
        log("frames with executor: ray")
        params = repo / "params.yaml"
        original = params.read_text()
        params.write_text(original.replace("\nexecutor: local", "\nexecutor: ray"))
        try:
            m = measure(DVC + ["repro", "-s", "-f", "frames"], repo, script="stages/frames.py",
                        sample_s=args.sample_s, env=env)
        finally:
            params.write_text(original)
        res["frames_ray"] = m
        save()
        log(json.dumps({k: v for k, v in m.items() if k != "log_tail"}))

    if not args.keep_data and repo.exists():
        shutil.rmtree(repo)
        shutil.rmtree(base / "site_cache", ignore_errors=True)
    return res


# ----------------------------------------------------------------------------- report


def report(results: list[dict]) -> str:
    lines = ["| stage | clips | wall s (dvc repro) | wall s (stage) | CPU s (stage + workers) | CPU s (all, incl. DVC) "
             "| clips/s by CPU | peak RSS stage MB | peak RSS tree MB | peak RSS incl. DVC MB |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for stage in STAGES + ["frames_ray"]:
        for r in results:
            m = r["stages"].get(stage) or (r.get("frames_ray") if stage == "frames_ray" else None)
            if not m:
                continue
            rate = (f"{r['clips'] / m['cpu_stage_tree_s']:.1f}" if m["cpu_stage_tree_s"] and not m.get("hardlinked")
                    else "-")
            name = "frames (executor: ray)" if stage == "frames_ray" else stage
            if m.get("hardlinked"):
                g = m["generation"]
                name = (f"demo_data ({g['unique_files']:,} unique files, {g['hardlinks_made']:,} hardlinks made, "
                        f"then `dvc commit`)")
            lines.append(f"| {name} | {r['clips']:,} | {m['wall_s']} | {m['stage_wall_s']} | {m['cpu_stage_tree_s']} | "
                         f"{m['cpu_all_s']} | {rate} | {m['peak_rss_stage_mb']} | {m['peak_rss_tree_mb']} | "
                         f"{m['peak_rss_all_mb']} |")
    lines += ["", "| job | clips | wall s | CPU s | peak RSS MB | RSS before the job MB | inputs |",
              "| --- | ---: | ---: | ---: | ---: | ---: | --- |"]
    for key in ("label_map", "classify_epoch"):
        for r in results:
            m = r.get(key)
            if m:
                inputs = (f"captions.json {m['captions_json_mb']} MB" if key == "label_map" else
                          f"visual.h5 {m['file_mb']['visual.h5']} MB, audio.h5 {m['file_mb']['audio.h5']} MB")
                lines.append(f"| {key} | {r['clips']:,} | {m['wall_s']} | {m['cpu_all_s']} | {m['peak_rss_stage_mb']} | "
                             f"{m['maxrss_before_mb']} | {inputs} |")
    lines += ["", "| dvc status | " + " | ".join(f"{r['clips']:,} clips s" for r in results) + " |",
              "| --- |" + " ---: |" * len(results)]
    keys = next((list(r["dvc_status"]["seconds"]) for r in results if "dvc_status" in r), [])
    for k in keys:
        lines.append(f"| {k} | " + " | ".join(str(r.get("dvc_status", {}).get("seconds", {}).get(k, "")) for r in results) + " |")
    lines += ["", "| artifact | " + " | ".join(f"bytes/clip at {r['clips']:,}" for r in results) + " |",
              "| --- |" + " ---: |" * len(results)]
    for a in ARTIFACTS + ["dataset (mp4)"]:
        cells = []
        for r in results:
            art = r.get("artifacts", {})
            cells.append(str(round(art["dataset_bytes"] / r["clips"]) if a == "dataset (mp4)" and art
                             else art.get("bytes_per_clip", {}).get(a, "")))
        lines.append(f"| {a} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, nargs="+", default=[2000, 20000])
    parser.add_argument("--workdir", default=None, help="where the projects go (default: a temporary folder)")
    parser.add_argument("--classes", type=int, default=5, help="demo classes (N must be a multiple)")
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--height", type=int, default=96)
    parser.add_argument("--frames-size", type=int, default=64)
    parser.add_argument("--flow-size", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--dim", type=int, default=1280, help="visual feature size of the synthetic visual.h5")
    parser.add_argument("--sample-s", type=float, default=0.2)
    parser.add_argument("--ray", action="store_true", help="also frames with executor: ray at the smallest N")
    parser.add_argument("--unique-per-class", type=int, default=None,
                        help="generate only this many clips per class and hardlink the rest (see above)")
    parser.add_argument("--keep-data", action="store_true")
    parser.add_argument("--report-only", action="store_true", help="print the tables of the results in --workdir")
    parser.add_argument("--_label_map", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--_classify", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--_generate", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--_captions", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--_synth", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="4 tiny clips, one unique per class: checks the script")
    args = parser.parse_args()
    if args.quick:
        args.clips, args.classes, args.width, args.height = [4], 2, 64, 48
        args.frames_size, args.flow_size, args.workers, args.dim, args.unique_per_class = 32, 16, 1, 16, 1
        if args.workdir is None:
            sys.path.insert(0, str(BENCH))
            from _quick import quick_dir
            args.workdir = str(quick_dir() / "bench_scale")
    if args._label_map:
        return label_map_job(*args._label_map)
    if args._captions:
        return captions_job(*args._captions)
    if args._synth:
        return synth_job(args._synth[0], int(args._synth[1]), int(args._synth[2]))
    if args._generate:
        return generate_job(args._generate[0], int(args._generate[1]))
    if args._classify:
        return classify_job(args._classify[0], int(args._classify[1]), int(args._classify[2]))

    if args.report_only:
        print(report([json.loads((Path(args.workdir) / f"clips_{n}" / "results.json").read_text())
                      for n in args.clips]))
        return
    _make_subreaper()
    with tempfile.TemporaryDirectory() as tmp:
        args.workdir = args.workdir or tmp
        Path(args.workdir).mkdir(parents=True, exist_ok=True)
        results = [run_size(n, args, ray=args.ray and n == min(args.clips)) for n in args.clips]
        out = {"cpu_count": os.cpu_count(), "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
               "args": {k: v for k, v in vars(args).items() if not k.startswith("_")}, "results": results}
        (Path(args.workdir) / "scale_run.json").write_text(json.dumps(out, indent=1))
        print(report(results))
        if args.quick:
            print(f"wrote {Path(args.workdir) / 'scale_run.json'}")


if __name__ == "__main__":
    main()
