"""Measured inputs of the capacity plan (docs/scale.md): stage costs, artifact sizes, writer ceiling.

Run from the project root of a reproduced pipeline (artifacts/ present, `dvc status` clean),
with the project's virtual environment active. Each part writes JSON to --out (default
benchmarks/results) and prints a Markdown table:

    python benchmarks/bench_stage_costs.py repro       # dvc repro -f -s <stage> for every stage, CPU + wall
    python benchmarks/bench_stage_costs.py storage     # bytes per clip of every artifact, x 802,264 clips
    python benchmarks/bench_stage_costs.py writer      # the single writer's append rate (frames.h5 chunks), md5 rate
    python benchmarks/bench_stage_costs.py jpeg        # frames.h5 rows as JPEG (not wired in): bytes, ms
    python benchmarks/bench_stage_costs.py real --clips-dir DIR   # frames/flow/audio bytes per clip on real clips
    python benchmarks/bench_stage_costs.py plan        # hours for all MiT clips from the JSON of the parts above
    python benchmarks/bench_stage_costs.py compare --other DIR --name frames112   # test top-1, paired, vs DIR's run

`repro` reruns each stage with `dvc repro -f -s STAGE` and records the CPU time (user + sys of
DVC, the stage process and all its workers: `getrusage(RUSAGE_CHILDREN)` deltas) and the wall
time; CPU time is the basis of the plan because wall time on a shared machine measures the
neighbours too. It also compares every output's hash in dvc.lock before and after: a forced
rerun of a deterministic stage must give the same bytes. `--stages a,b` picks stages.
`storage` counts clips from artifacts/manifest.csv and the rows of each artifact.

    python benchmarks/bench_stage_costs.py --quick [--out DIR]   # every part, in half a minute: checks the script

`--quick` runs every part in a miniature reproduced project it makes in a temporary folder: 4
tiny demo clips through the per-clip stages' own code, learning outputs of tiny models on
synthetic features (the generators' and classifiers' own code and writers), and a toy DVC
project (benchmarks/_quick.py) whose stages restore those outputs when `repro` reruns them. Its
JSON goes to --out (default: a temporary folder or $VIDA_BENCH_OUT); its numbers mean nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MIT_CLIPS = 802_264
STAGES = ["manifest", "frames", "audio", "flow", "representative", "visual_features", "captions",
          "label_bank", "label_map", "semantic_dictionary", "feature_tagger", "generate_svdmap",
          "generate_cafmap", "filter", "classify_baseline", "classify_svdmap",
          "classify_svdmap_filtered", "classify_cafmap", "classify_real_audio", "results"]


def _become_subreaper() -> None:
    """Adopt orphaned descendants (Linux PR_SET_CHILD_SUBREAPER), so that their CPU time is counted.

    The stage processes start their workers from a multiprocessing forkserver; the forkserver
    outlives the stage process by a moment and would be reparented to init, taking its
    workers' CPU time with it. As a subreaper this process inherits it and reaps it."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(36, 1, 0, 0, 0) != 0:       # PR_SET_CHILD_SUBREAPER
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER) failed")


def _reap_orphans(timeout: float = 30.0) -> int:
    """Wait for adopted descendants (e.g. a forkserver) to exit; returns how many were reaped."""
    reaped, deadline = 0, time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return reaped
        if pid:
            reaped += 1
        else:
            time.sleep(0.05)
    return reaped


def _cpu_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _lock_outs() -> dict[str, dict[str, str]]:
    import yaml
    lock = yaml.safe_load(Path("dvc.lock").read_text())["stages"]
    return {name: {o["path"]: o.get("md5", "") for o in stage.get("outs", [])} for name, stage in lock.items()}


def _clips() -> int:
    import csv
    with open("artifacts/manifest.csv", newline="") as f:
        return sum(1 for _ in csv.DictReader(f))


def run_repro(args) -> dict:
    stages = args.stages.split(",") if args.stages else STAGES
    clips = _clips()
    _become_subreaper()
    out_path = Path(args.out) / "stage_costs_repro.json"
    results = json.loads(out_path.read_text()) if out_path.exists() and args.append else {}
    # Fixed cost every stage pays: DVC starting and checking the stage, without running it.
    start_cpu, start = _cpu_children(), time.perf_counter()
    subprocess.run(["dvc", "status", "manifest"], check=True, capture_output=True)
    results["_dvc_status_overhead"] = {"cpu_s": round(_cpu_children() - start_cpu, 2),
                                       "wall_s": round(time.perf_counter() - start, 2)}
    start_cpu, start = _cpu_children(), time.perf_counter()
    subprocess.run([sys.executable, "-c", "import vida_core.shared.stage, torch, h5py, cv2"], check=True)
    results["_python_import_overhead"] = {"cpu_s": round(_cpu_children() - start_cpu, 2),
                                          "wall_s": round(time.perf_counter() - start, 2)}
    for stage in stages:
        before = _lock_outs().get(stage, {})
        load = os.getloadavg()[0]
        start_cpu, start = _cpu_children(), time.perf_counter()
        proc = subprocess.run(["dvc", "repro", "-f", "-s", stage], capture_output=True, text=True)
        wall = time.perf_counter() - start
        orphans = _reap_orphans()
        cpu = _cpu_children() - start_cpu
        after = _lock_outs().get(stage, {})
        changed = sorted(p for p in after if before.get(p) != after[p])
        results[stage] = {"rc": proc.returncode, "clips": clips, "cpu_s": round(cpu, 2), "wall_s": round(wall, 2),
                          "cpu_ms_per_clip": round(1000 * cpu / clips, 2), "load_avg_1m": round(load, 2),
                          "orphans_reaped": orphans, "outputs_changed": changed}
        if proc.returncode:
            results[stage]["stderr_tail"] = proc.stderr[-2000:]
        print(f"{stage}: rc {proc.returncode}, CPU {cpu:.1f} s ({1000 * cpu / clips:.1f} ms/clip), "
              f"wall {wall:.1f} s, load {load:.1f}, changed outputs {changed}", flush=True)
        out_path.write_text(json.dumps(results, indent=2))
    status = subprocess.run(["dvc", "status"], capture_output=True, text=True)
    results["_dvc_status_after"] = status.stdout.strip()
    out_path.write_text(json.dumps(results, indent=2))
    print("dvc status after:", status.stdout.strip())
    return results


# --------------------------------------------------------------------------------------- storage

def _h5_split(path: Path) -> tuple[int | None, int, int]:
    """(rows, bytes of per-row datasets, bytes of the rest) of an HDF5 artifact, as stored.

    A dataset is per-row when its first axis (or, for per-seed groups, any dataset's) has as
    many entries as the artifact's clip_id; the rest (label tables, histograms) is fixed."""
    import h5py
    with h5py.File(path, "r") as f:
        rows = int(f["clip_id"].shape[0]) if "clip_id" in f else None
        per_row, fixed = 0, 0

        def visit(_, obj):
            nonlocal per_row, fixed
            if isinstance(obj, h5py.Dataset):
                size = obj.id.get_storage_size()
                if rows is not None and obj.ndim and rows in obj.shape[:2]:
                    per_row += size
                else:
                    fixed += size
        f.visititems(visit)
    return rows, per_row, fixed


def _source_bytes() -> tuple[int, int]:
    import csv
    total, n = 0, 0
    with open("artifacts/manifest.csv", newline="") as f:
        for row in csv.DictReader(f):
            total += os.path.getsize(row["path"])
            n += 1
    return total, n


def run_storage(args) -> dict:
    clips = _clips()
    rows = []
    src_bytes, src_n = _source_bytes()
    rows.append({"artifact": "source clips (manifest paths)", "bytes": src_bytes, "rows": src_n,
                 "per_row_bytes": src_bytes, "fixed_bytes": 0})
    for path in sorted(Path("artifacts").rglob("*")):
        if not path.is_file() or path.name.startswith(".") or path.name == "report.md" or "inspect" in path.parts:
            continue
        size = path.stat().st_size
        n, per_row, fixed = None, 0, size
        if path.suffix == ".h5":
            n, per_row, _ = _h5_split(path)
            fixed = size - per_row      # file overhead (B-trees, attributes) counted with the fixed part
        elif path.name == "captions.json":
            data = json.loads(path.read_text())["clips"]
            n, per_row = len(data), len(json.dumps(data))
            fixed = size - per_row
        elif path.name == "manifest.csv":
            n, per_row, fixed = clips, size, 0
        rows.append({"artifact": str(path.relative_to("artifacts")), "bytes": size, "rows": n,
                     "per_row_bytes": per_row, "fixed_bytes": fixed})
    for row in rows:
        # per-row data scales with the clips it covers (rows/clips of the dataset); the rest is fixed
        per_clip = row["per_row_bytes"] / clips
        row["per_clip_bytes"] = round(per_clip)
        row["mit_gb"] = round((per_clip * MIT_CLIPS + row["fixed_bytes"]) / 1e9, 3)
    out = {"clips": clips, "mit_clips": MIT_CLIPS, "artifacts": rows}
    Path(args.out, "stage_costs_storage.json").write_text(json.dumps(out, indent=2))
    print(f"{clips} clips in the manifest\n| artifact | rows | bytes per manifest clip | fixed bytes | "
          f"MiT ({MIT_CLIPS:,} clips) |\n| --- | ---: | ---: | ---: | ---: |")
    for row in rows:
        print(f"| {row['artifact']} | {row['rows']} | {row['per_clip_bytes']:,} | {row['fixed_bytes']:,} | "
              f"{row['mit_gb']:,} GB |")
    total = sum(r["mit_gb"] for r in rows[1:])
    print(f"| all artifacts | | {sum(r['per_clip_bytes'] for r in rows[1:]):,} | "
          f"{sum(r['fixed_bytes'] for r in rows[1:]):,} | {total:,.1f} GB |")
    return out


# ---------------------------------------------------------------------------------------- writer

def run_writer(args) -> dict:
    """Append --clips frames.h5 chunks (real lzf bytes from the demo) through RowWriter, one process."""
    import h5py
    import numpy as np

    from vida_core.shared.artifacts import STRING, RowWriter, read_encoded_row

    with h5py.File("artifacts/frames.h5", "r") as f:
        ds = f["frames"]
        chunks = [read_encoded_row(ds, i) for i in range(min(64, ds.shape[0]))]
        shape = ds.shape[1:]
    mean_bytes = sum(len(c.data) for c in chunks) / len(chunks)
    stamps = np.zeros(shape[0])
    out_path = Path(args.out, "stage_costs_writer.json")
    earlier = json.loads(out_path.read_text())["rounds"] if args.append and out_path.exists() else []
    out = {"clips": args.clips, "chunk_bytes_mean": round(mean_bytes), "rounds": earlier}
    for _ in range(args.rounds):
        with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
            path = Path(tmp, "frames.h5")
            start_cpu = time.process_time()
            start = time.perf_counter()
            with h5py.File(path, "w") as f:
                writer = RowWriter(f, {
                    "clip_id": ((), STRING, {}),
                    "frames": (shape, np.uint8, {"chunks": (1, *shape), "compression": "lzf"}),
                    "timestamps": ((shape[0],), np.float64, {}),
                }, flush_every=8)
                for i in range(args.clips):
                    writer.append(clip_id=f"clip_{i:07d}", frames=chunks[i % len(chunks)], timestamps=stamps)
                writer.flush()
            buffered = time.perf_counter() - start
            fd = os.open(path, os.O_RDONLY)
            os.fsync(fd)
            os.close(fd)
            synced = time.perf_counter() - start
            cpu = time.process_time() - start_cpu
            size = path.stat().st_size
        out["rounds"].append({"load_avg_1m": round(os.getloadavg()[0], 2), "bytes": size,
                              "seconds_to_page_cache": round(buffered, 2),
                              "seconds_with_fsync": round(synced, 2), "cpu_s": round(cpu, 2),
                              "mb_per_s_fsync": round(size / 1e6 / synced), "clips_per_s_fsync": round(args.clips / synced),
                              "clips_per_s_page_cache": round(args.clips / buffered)})
        print(out["rounds"][-1], flush=True)
    # DVC hashes every output once (md5, one process) before caching it: its rate on frames.h5.
    import hashlib
    md5, start_cpu, start = hashlib.md5(), time.process_time(), time.perf_counter()
    with open("artifacts/frames.h5", "rb") as f:
        while block := f.read(1 << 20):
            md5.update(block)
    size = Path("artifacts/frames.h5").stat().st_size
    out["md5_mb_per_cpu_s"] = round(size / 1e6 / (time.process_time() - start_cpu))
    out["md5_mb_per_wall_s"] = round(size / 1e6 / (time.perf_counter() - start))
    print("md5", out["md5_mb_per_cpu_s"], "MB per CPU-s,", out["md5_mb_per_wall_s"], "MB/s wall", flush=True)
    Path(args.out, "stage_costs_writer.json").write_text(json.dumps(out, indent=2))
    return out


# ------------------------------------------------------------------------------------------ jpeg

def _jpeg_stats(frames_path, clips: int, quality: int) -> dict:
    """frames.h5 rows as JPEG at `quality` (OpenCV, one thread): bytes, encode/decode ms, PSNR per clip."""
    import cv2
    import h5py
    import numpy as np

    cv2.setNumThreads(1)
    sizes, enc, dec, psnr = [], [], [], []
    with h5py.File(frames_path, "r") as f:
        ds = f["frames"]
        step = max(1, ds.shape[0] // clips)
        for i in range(0, ds.shape[0], step)[:clips]:
            clip = ds[i]
            t0 = time.process_time()
            blobs = [cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR),
                                  [cv2.IMWRITE_JPEG_QUALITY, quality])[1] for frame in clip]
            t1 = time.process_time()
            back = np.stack([cv2.cvtColor(cv2.imdecode(b, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB) for b in blobs])
            t2 = time.process_time()
            sizes.append(sum(b.nbytes for b in blobs))
            enc.append(t1 - t0)
            dec.append(t2 - t1)
            mse = np.mean((back.astype(np.float32) - clip.astype(np.float32)) ** 2)
            psnr.append(10 * np.log10(255 ** 2 / max(mse, 1e-9)))
        lzf = sum(ds.id.get_chunk_info(j).size for j in range(ds.shape[0])) / ds.shape[0]
        raw = int(np.prod(ds.shape[1:]))
    return dict(quality=quality, clips=len(sizes), frame_shape=list(clip.shape), raw_bytes_per_clip=raw,
                lzf_bytes_per_clip=round(lzf), jpeg_bytes_per_clip=round(float(np.mean(sizes))),
                encode_ms_per_clip=round(1000 * float(np.mean(enc)), 1),
                decode_ms_per_clip=round(1000 * float(np.mean(dec)), 1),
                psnr_db_mean=round(float(np.mean(psnr)), 1), psnr_db_min=round(float(np.min(psnr)), 1))


def run_jpeg(args) -> dict:
    """The demo's frames.h5 rows as JPEG (not wired into the pipeline)."""
    out = _jpeg_stats("artifacts/frames.h5", args.clips, args.quality)
    Path(args.out, f"stage_costs_jpeg_q{args.quality}.json").write_text(json.dumps(out, indent=2))
    print(json.dumps(out, indent=2))
    return out


# ------------------------------------------------------------------------------------------ real

def run_real(args) -> dict:
    """frames (at each --sizes) and flow (at 112 and 56) of every clip under --clips-dir: bytes per clip.

    The clips are only read; the artifacts go to a temporary folder and are deleted."""
    import numpy as np

    from vida_core.extract.audio import extract_audio
    from vida_core.extract.flow import compute_flow
    from vida_core.extract.frames import extract_frames

    paths = sorted(p for p in Path(args.clips_dir).rglob("*") if p.suffix.lower() in {".mp4", ".webm", ".avi", ".mkv"})
    rows = [{"clip_id": f"real_{i:03d}", "path": str(p)} for i, p in enumerate(paths)]
    out = {"clips": len(rows), "source_bytes_per_clip": round(float(np.mean([p.stat().st_size for p in paths]))),
           "frames": {}, "flow": {}}
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        for size in [int(s) for s in args.sizes.split(",")]:
            frames = Path(tmp, f"frames_{size}.h5")
            start = time.process_time()
            summary = extract_frames(rows, frames, size=size, workers=1)
            cpu = time.process_time() - start
            kept = summary["kept"]
            out["frames"][size] = {"kept": kept, "bytes_per_clip": round(frames.stat().st_size / max(kept, 1)),
                                   "cpu_ms_per_clip_in_process": round(1000 * cpu / max(len(rows), 1), 1)}
            out["frames"][size]["jpeg"] = _jpeg_stats(frames, len(rows), args.quality)
            if size == 224:
                for flow_size in (112, 56):
                    flow = Path(tmp, f"flow_{flow_size}.h5")
                    compute_flow(frames, flow, method="dis", size=flow_size, workers=1)
                    out["flow"][flow_size] = {"bytes_per_clip": round(flow.stat().st_size / max(kept, 1))}
        audio = Path(tmp, "audio.h5")
        extract_audio(rows, audio, workers=1)
        out["audio_bytes_per_clip"] = round(audio.stat().st_size / max(len(rows), 1))
    Path(args.out, "stage_costs_real.json").write_text(json.dumps(out, indent=2))
    print(json.dumps(out, indent=2))
    return out


# ------------------------------------------------------------------------------------------ plan

# Measured once on one H200 through the stage code (README, "GPU"): images or clips per second.
GPU_RATES = {"captions": ("BLIP-base captions", 33, 43, "representative frame"),
             "visual_features": ("ViT-base/16 features", 1831, 1924, "image"),
             "label_bank": ("AST tagging", 1171, 1211, "clip")}
IMAGES_PER_CLIP_VISUAL = 36          # 18 RGB + 18 flow images per clip
RAY_TASK_S, RAY_BLOCK = 0.010, 16     # README "Running on a cluster": ~10 ms a task, 16 clips a block
PER_CLIP_STAGES = ["frames", "audio", "flow", "representative"]


def _clip_epochs():
    """(stage, clip passes, model-epochs) of each learning stage in the demo run, from its outputs.

    A generator trains per seed one full model (epochs_run epochs over its train and val targets)
    and `cross_fit_folds` fold models (best_epoch + 1 epochs over (k-1)/k of the train targets);
    a classifier per seed epochs_run epochs over train and val clips."""
    import h5py
    t = json.loads(Path("metrics/feature_tagger.json").read_text())
    yield "feature_tagger", t["epochs_run"] * (t["train_clips"] + t["val_clips"]), t["epochs_run"]
    for kind in ("svdmap", "cafmap"):
        g = json.loads(Path(f"artifacts/generate_{kind}.json").read_text())
        k, train, val = g["cross_fit_folds"], g["train_targets"], g["val_targets"]
        passes = epochs = 0
        for seed in g["per_seed"].values():
            passes += seed["epochs_run"] * (train + val) + k * (seed["best_epoch"] + 1) * train * (k - 1) / max(k, 1)
            epochs += seed["epochs_run"] + k * (seed["best_epoch"] + 1)
        yield f"generate_{kind}", passes, epochs
    for condition in ("baseline", "svdmap", "svdmap_filtered", "cafmap", "real_audio"):
        with h5py.File(f"artifacts/classify/{condition}.h5", "r") as f:
            runs = [int(e) for e in f["runs/epochs_run"][:]]
        g = json.loads(Path("artifacts/generate_svdmap.json").read_text())
        yield f"classify_{condition}", sum(runs) * (g["train_clips"] + g["val_clips"]), sum(runs)


def run_plan(args) -> dict:
    """Hours for --mit-clips clips on the cluster shapes in --shapes (nodes x cores + GPUs per node)."""
    import h5py
    import numpy as np

    res = Path(args.out)
    repro = json.loads((res / "stage_costs_repro.json").read_text())
    writer = json.loads((res / "stage_costs_writer.json").read_text())
    real = json.loads((res / "stage_costs_real.json").read_text()) if (res / "stage_costs_real.json").exists() else None
    fixed = repro["_dvc_status_overhead"]["cpu_s"] + repro["_python_import_overhead"]["cpu_s"]
    writer_mb_s = min(r["mb_per_s_fsync"] for r in writer["rounds"])
    with h5py.File("artifacts/representative.h5", "r") as f:
        rep_per_clip = float(np.asarray(f["mask"]).sum(1).mean())
    n = args.mit_clips
    stage_bytes = {"frames": real["frames"]["224"]["jpeg"]["lzf_bytes_per_clip"] if real else 1_127_304,
                   "flow": 852_992, "audio": real["audio_bytes_per_clip"] if real else 89_376, "representative": 50}
    shapes = [tuple(int(x) for x in s.split("x")) for s in args.shapes.split(",")]
    rows = []
    for stage in PER_CLIP_STAGES:
        r = repro[stage]
        cpu = max(r["cpu_s"] - fixed, 0) / r["clips"]
        ceiling = writer_mb_s * 1e6 / stage_bytes[stage]          # clips/s one writer can append
        cpu_per_clip = cpu + RAY_TASK_S / RAY_BLOCK
        hours = {}
        for nodes, cores, gpus in shapes:
            rate = min(nodes * cores / cpu_per_clip, ceiling)
            hours[f"{nodes}x{cores}"] = round(n / rate / 3600, 2)
        rows.append({"stage": stage, "cpu_ms_per_clip": round(1000 * cpu, 1), "writer_clips_per_s": round(ceiling),
                     "cores_to_writer_bound": round(ceiling * cpu_per_clip), "hours": hours})
    gpu_rows = []
    for stage, (what, lo, hi, unit) in GPU_RATES.items():
        per_clip = {"captions": rep_per_clip, "visual_features": IMAGES_PER_CLIP_VISUAL, "label_bank": 1}[stage]
        hours = {}
        for nodes, cores, gpus in shapes:
            if gpus:
                hours[f"{nodes}x{cores}"] = [round(n * per_clip / (hi * nodes * gpus) / 3600, 2),
                                             round(n * per_clip / (lo * nodes * gpus) / 3600, 2)]
        gpu_rows.append({"stage": stage, "model": what, f"{unit}s_per_clip": round(per_clip, 2),
                         "clips_per_s_per_gpu": [round(lo / per_clip, 1), round(hi / per_clip, 1)], "hours": hours})
    cpu_rows = []
    learning = {"feature_tagger", "generate_svdmap", "generate_cafmap"} | {s for s in STAGES if s.startswith("classify_")}
    for stage in [s for s in STAGES if s not in PER_CLIP_STAGES and s not in learning and s in repro]:
        r = repro[stage]
        cpu = max(r["cpu_s"] - fixed, 0) / r["clips"]
        cpu_rows.append({"stage": stage, "cpu_s": r["cpu_s"], "cpu_ms_per_clip": round(1000 * cpu, 1),
                         "core_hours_mit": round(cpu * n / 3600, 1),
                         "hours": {f"{a}x{b}": round(cpu * n / (a * b) / 3600, 2) for a, b, _ in shapes}})
    learn_rows = []
    node_cores = shapes[0][1]
    for stage, clip_epochs, epochs in _clip_epochs():
        if stage not in repro:
            continue
        cpu = max(repro[stage]["cpu_s"] - fixed, 0)
        per = cpu / clip_epochs                        # s per clip-epoch (a clip seen once, train or val)
        core_hours = per * clip_epochs * n / repro[stage]["clips"] / 3600   # the demo's epochs, MiT's clips
        learn_rows.append({"stage": stage, "cpu_s": repro[stage]["cpu_s"], "clip_epochs": round(clip_epochs),
                           "model_epochs": epochs, "cpu_ms_per_clip_epoch": round(1000 * per, 2),
                           "core_hours_mit_demo_epochs": round(core_hours, 1),
                           f"hours_one_process_{node_cores}_cores": round(core_hours / node_cores, 1)})
    # Storage for MiT: all artifacts at the demo's rates, then frames/flow/audio at the real-video rates
    # and with the knobs (real-video rates from `real`; flow is uncompressed, so its size is exact).
    storage = json.loads((res / "stage_costs_storage.json").read_text())
    per = {r["artifact"]: r for r in storage["artifacts"]}
    rest = sum(r["per_clip_bytes"] * n + r["fixed_bytes"] for name, r in per.items()
               if name not in ("source clips (manifest paths)", "frames.h5", "flow.h5", "audio.h5"))
    totals = {}
    if real:
        frames_fixed, flow_fixed = per["frames.h5"]["fixed_bytes"], per["flow.h5"]["fixed_bytes"]
        variants = {
            "default, demo rates": (per["frames.h5"]["per_clip_bytes"], per["flow.h5"]["per_clip_bytes"],
                                    per["audio.h5"]["per_clip_bytes"]),
            "default, real-video rates": (real["frames"]["224"]["jpeg"]["lzf_bytes_per_clip"], 852_992,
                                          real["audio_bytes_per_clip"]),
            "frames.size=112": (real["frames"]["112"]["jpeg"]["lzf_bytes_per_clip"], 852_992, real["audio_bytes_per_clip"]),
            "flow.size=56": (real["frames"]["224"]["jpeg"]["lzf_bytes_per_clip"], 17 * 56 * 56 * 2 * 2,
                             real["audio_bytes_per_clip"]),
            "frames.size=112 + flow.size=56": (real["frames"]["112"]["jpeg"]["lzf_bytes_per_clip"], 17 * 56 * 56 * 2 * 2,
                                               real["audio_bytes_per_clip"]),
            "JPEG q90 frames at 224 (not implemented)": (real["frames"]["224"]["jpeg"]["jpeg_bytes_per_clip"], 852_992,
                                                         real["audio_bytes_per_clip"]),
            "JPEG q90 frames at 224 + flow.size=56 (not implemented)": (
                real["frames"]["224"]["jpeg"]["jpeg_bytes_per_clip"], 17 * 56 * 56 * 2 * 2, real["audio_bytes_per_clip"]),
        }
        for name, (frames_b, flow_b, audio_b) in variants.items():
            totals[name] = {"frames_tb": round((frames_b * n + frames_fixed) / 1e12, 3),
                            "flow_tb": round((flow_b * n + flow_fixed) / 1e12, 3),
                            "audio_tb": round(audio_b * n / 1e12, 3),
                            "rest_tb": round(rest / 1e12, 3),
                            "total_tb": round((frames_b * n + flow_b * n + audio_b * n + rest) / 1e12, 2)}
    out = {"mit_clips": n, "fixed_cpu_s_per_stage": round(fixed, 2), "writer_mb_s": writer_mb_s,
           "storage_totals": totals,
           "representative_per_clip": round(rep_per_clip, 2), "per_clip_stages": rows, "gpu_stages": gpu_rows,
           "other_stages_cpu": cpu_rows,
           "learning": learn_rows}
    (res / "stage_costs_plan.json").write_text(json.dumps(out, indent=2))
    print(json.dumps(out, indent=2))
    return out


def run_compare(args) -> dict:
    """Test top-1 of two runs' classifiers, paired over the same test clips (mean over seeds per
    clip, 2,000 bootstrap resamples of the clips): --base and --other are artifacts folders."""
    import h5py
    import numpy as np

    rng, out = np.random.default_rng(0), {}
    for condition in ("baseline", "svdmap", "svdmap_filtered", "cafmap", "real_audio"):
        with h5py.File(Path(args.base, "classify", f"{condition}.h5"), "r") as a, \
                h5py.File(Path(args.other, "classify", f"{condition}.h5"), "r") as b:
            if list(a["clip_id"][:]) != list(b["clip_id"][:]):
                raise SystemExit(f"{condition}: the two runs have different test clips")
            label = a["label"][:]
            hit_a = (a["logits"][:].argmax(-1) == label).mean(0)
            hit_b = (b["logits"][:].argmax(-1) == label).mean(0)
        diff, n = hit_b - hit_a, len(label)
        boots = [diff[rng.integers(0, n, n)].mean() for _ in range(2000)]
        out[condition] = {"base": round(100 * hit_a.mean(), 1), "other": round(100 * hit_b.mean(), 1),
                          "diff": round(100 * diff.mean(), 1),
                          "diff_95": [round(100 * float(np.percentile(boots, 2.5)), 1),
                                      round(100 * float(np.percentile(boots, 97.5)), 1)]}
        print(condition, out[condition])
    Path(args.out, f"stage_costs_compare_{args.name}.json").write_text(json.dumps(out, indent=2))
    return out


# ----------------------------------------------------------------------------------------- quick

QUICK_STAGES = ["manifest", "frames", "audio", "flow", "representative", "feature_tagger", "classify_baseline"]
QUICK_CONDITIONS = ("baseline", "svdmap", "svdmap_filtered", "cafmap", "real_audio")   # what `plan` and `compare` read


def quick_project(folder: Path) -> tuple[Path, Path]:
    """--quick: a reproduced project in miniature (see the module's doc); returns it and its clips' folder."""
    import torch

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _quick import DVC, tiny_clips, toy_dvc_project

    from vida_core.shared.config import CAFMapConfig, ClassifyConfig, GeneratorConfig
    from vida_core.extract.audio import extract_audio
    from vida_core.extract.flow import compute_flow
    from vida_core.extract.frames import extract_frames
    from vida_core.extract.representative import select_representative
    from vida_core.shared.artifacts import clip_ids, write_json
    from vida_core.io.dataset import build_manifest, write_manifest
    from vida_core.learn.classify import run_condition, write_condition
    from vida_core.learn.data import build_table
    from vida_core.learn.generators import generator_columns, run_generator
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))   # test support, not the package
    from synthetic import make_synthetic

    clips, made = folder / "clips", folder / "made"
    tiny_clips(clips, classes=2, per_class=2)
    made.mkdir()
    rows = build_manifest("demo", clips, val_fraction=0.25, test_fraction=0.25, fingerprint_cache=None)
    write_manifest(rows, made / "manifest.csv")
    extract_frames(rows, made / "frames.h5", size=64)
    extract_audio(rows, made / "audio.h5")
    compute_flow(made / "frames.h5", made / "flow.h5", size=32)
    select_representative(made / "flow.h5", made / "representative.h5", 1.2)
    # The learning outputs `plan` and `compare` read, from tiny models on synthetic features.
    paths = make_synthetic(folder / "synthetic", clips=48, classes=3, dim=8, seeds=(0,))
    ids, device = clip_ids(paths["visual"]), torch.device("cpu")
    table = build_table(ids, paths["manifest"], paths["audio"])
    tiny = dict(hidden=8, input_proj=8, epochs=1, cross_fit_folds=2)
    learned = {}
    for kind, config in (("svdmap", GeneratorConfig(**tiny)), ("cafmap", CAFMapConfig(**tiny))):
        columns = generator_columns(kind, ids, paths["audio"], paths["visual"], paths["label_map"])
        summary, _ = run_generator(kind, table, columns, config, [0], device, folder / f"{kind}.pt",
                                   folder / f"generated_{kind}.h5", params={})
        learned[f"artifacts/generate_{kind}.json"] = summary
    config = ClassifyConfig(seeds=[0], hidden=8, input_proj=8, epochs=1)
    for name in QUICK_CONDITIONS:
        write_condition(run_condition(name, table, paths, config, device), table, config, made / f"{name}.h5")
    learned["metrics/feature_tagger.json"] = {"train_clips": 30, "val_clips": 6, "epochs_run": 2, "best_epoch": 1}
    for path, data in learned.items():
        write_json(made / Path(path).name, data)

    stash = {f"artifacts/{name}": made / name for name in
             ("manifest.csv", "frames.h5", "audio.h5", "flow.h5", "representative.h5")}
    stash["metrics/feature_tagger.json"] = made / "feature_tagger.json"
    stash["artifacts/classify/baseline.h5"] = made / "baseline.h5"
    repo = toy_dvc_project(folder / "project", QUICK_STAGES, stash=stash)
    for name in QUICK_CONDITIONS[1:]:   # outputs of stages the toy leaves out
        (repo / "artifacts/classify").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(made / f"{name}.h5", repo / f"artifacts/classify/{name}.h5")
    for path in ("artifacts/generate_svdmap.json", "artifacts/generate_cafmap.json"):
        shutil.copyfile(made / Path(path).name, repo / path)
    subprocess.run(DVC + ["repro", "-q"], cwd=repo, check=True, capture_output=True)   # a reproduced project
    shutil.copytree(repo / "artifacts", folder / "other")   # `compare`'s second run
    return repo, clips


def yaml_stages() -> dict:
    import yaml
    return yaml.safe_load((Path(__file__).resolve().parents[1] / "dvc.yaml").read_text())["stages"]


def run_quick(args) -> None:
    """Every part, in order, in a miniature project (--quick)."""
    out = Path(args.out).resolve()
    os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    real = yaml_stages()
    unknown = [stage for stage in STAGES if stage not in real]
    if unknown:
        sys.exit(f"STAGES names stages that dvc.yaml does not have: {', '.join(unknown)}")
    with tempfile.TemporaryDirectory() as tmp:
        repo, clips = quick_project(Path(tmp))
        here = os.getcwd()
        os.chdir(repo)
        try:
            common = dict(out=str(out), append=False, rounds=1, dir=tmp, quality=90, mit_clips=MIT_CLIPS,
                          shapes="1x16x1,8x16x1")
            repro = run_repro(argparse.Namespace(**common, stages=",".join(QUICK_STAGES)))
            failed = [stage for stage in QUICK_STAGES if repro[stage]["rc"]]
            if failed:
                sys.exit(f"dvc repro failed for {', '.join(failed)}: {repro[failed[0]].get('stderr_tail')}")
            run_storage(argparse.Namespace(**common))
            run_writer(argparse.Namespace(**common, clips=20))
            run_jpeg(argparse.Namespace(**common, clips=2))
            run_real(argparse.Namespace(**common, clips_dir=str(clips), sizes="224,112"))
            run_plan(argparse.Namespace(**common))
            run_compare(argparse.Namespace(**common, base="artifacts", other=str(Path(tmp) / "other"), name="quick"))
        finally:
            os.chdir(here)
    print(f"wrote {', '.join(sorted(p.name for p in out.glob('stage_costs_*.json')))} in {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("part", nargs="?", choices=["repro", "storage", "writer", "jpeg", "real", "plan", "compare"])
    parser.add_argument("--out", default=None, help="default: benchmarks/results (with --quick: a temporary folder "
                                                    "or $VIDA_BENCH_OUT)")
    parser.add_argument("--stages", default="", help="repro: comma-separated stages (default: all but demo_data)")
    parser.add_argument("--append", action="store_true",
                        help="repro: keep earlier stages' results in the JSON; writer: keep earlier rounds")
    parser.add_argument("--clips", type=int, default=0, help="writer: clips appended (2000); jpeg: clips sampled (40)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--dir", default=".", help="writer/real: folder for temporary files (the disk measured)")
    parser.add_argument("--quality", type=int, default=90)
    parser.add_argument("--clips-dir", default="")
    parser.add_argument("--sizes", default="224,112")
    parser.add_argument("--base", default="artifacts", help="compare: artifacts folder of the reference run")
    parser.add_argument("--other", default="", help="compare: artifacts folder of the knob's run")
    parser.add_argument("--name", default="knob", help="compare: suffix of the JSON written")
    parser.add_argument("--mit-clips", type=int, default=MIT_CLIPS)
    parser.add_argument("--shapes", default="1x16x1,8x16x1,32x16x1", help="plan: NODESxCORESxGPUS, comma-separated")
    parser.add_argument("--quick", action="store_true", help="every part in a miniature project of its own: "
                                                             "checks the script in half a minute")
    args = parser.parse_args()
    if args.quick:
        if args.out is None:
            sys.path.insert(0, str(Path(__file__).resolve().parent))
            from _quick import quick_dir
            args.out = str(quick_dir())
        Path(args.out).mkdir(parents=True, exist_ok=True)
        return run_quick(args)
    if args.part is None:
        parser.error("a part is required (or --quick)")
    args.out = args.out or "benchmarks/results"
    Path(args.out).mkdir(parents=True, exist_ok=True)
    if not args.clips:
        args.clips = {"writer": 2000, "jpeg": 40}.get(args.part, 0)
    {"repro": run_repro, "storage": run_storage, "writer": run_writer, "jpeg": run_jpeg, "real": run_real,
     "plan": run_plan, "compare": run_compare}[args.part](args)


if __name__ == "__main__":
    main()
