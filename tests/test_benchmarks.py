"""Every benchmark runs in its `--quick` mode (tiny inputs it makes itself, seconds to a minute),
so none rots unnoticed: each benchmarks/bench_*.py is found by name, so a new one is covered too."""

import ast
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = sorted((ROOT / "benchmarks").glob("bench_*.py"))
TIMEOUT_S = 600   # a quick run takes seconds to a minute on 2 cores

# What each benchmark's quick run writes into its output folder ($VIDA_BENCH_OUT): file -> the
# top-level keys its JSON must have (a list: every item's keys). A benchmark not listed here must
# write something there.
EXPECTED = {
    "bench_decode_stages": {"decode_stages.json": {"clips_per_second", "cpu_seconds_per_clip", "clips", "workers"}},
    "bench_demo_semantics": {"demo_semantics.json": {"all", "clock_ticking", "siren"}},
    "bench_dvc_cache": {"bench_dvc_cache.json": {"dvc", "filesystem", "status", "commit", "big_mb"}},
    "bench_label_map_memory": {"label_map_memory.json": {"clips"}},
    "bench_label_mapping": {"label_map_gold.json": {"gold_words", "text_encoder", "top_k", "paper",
                                                    "strip+lemmas+definition (default)"}},
    "bench_learning": {"learning.json": {"cpu_threads", "stream", "demo"}},
    "bench_lookalike_probe": {"lookalike_probe.json": {"pair", "demo.clock_cue", "streams"}},
    "bench_models_gpu": {"models_gpu.json": {"device", "torch", "smoke", "targets", "rows"}, "models_gpu.md": set()},
    "bench_pipeline": {"pipeline.json": {"rev", "stages", "total", "metrics", "lock", "sweep_total", "sweep_stages"}},
    "bench_ray": {"bench_ray.json": {"meta", "rows"}, "bench_ray.md": set()},
    "bench_scale": {"bench_scale/scale_run.json": {"cpu_count", "memory_gb", "args", "results"}},
    "bench_semantic_cpu": {"semantic_cpu.json": {"captions_per_s", "texts_per_s", "clips_per_s", "pooled_clips_per_s"}},
    "bench_stage_costs": {"stage_costs_repro.json": {"_dvc_status_overhead", "manifest", "frames", "audio", "flow",
                                                     "representative"},
                          "stage_costs_storage.json": {"clips", "mit_clips", "artifacts"},
                          "stage_costs_writer.json": {"clips", "chunk_bytes_mean", "rounds", "md5_mb_per_cpu_s"},
                          "stage_costs_jpeg_q90.json": {"quality", "jpeg_bytes_per_clip", "psnr_db_mean"},
                          "stage_costs_real.json": {"clips", "frames", "flow", "audio_bytes_per_clip"},
                          "stage_costs_plan.json": {"mit_clips", "per_clip_stages", "gpu_stages", "learning"},
                          "stage_costs_compare_quick.json": {"baseline", "real_audio"}},
    "bench_study": {"study_cost.json": {"rev", "wall_s", "cpu_s", "stages", "grid", "metrics"}},
    "bench_visual_features": {"visual_features.json": {"clips", "torch", "openvino", "cosine_rgb", "cosine_flow"}},
}
# What a quick run must leave alone: the committed results and what `--out` defaults to otherwise.
UNTOUCHED = [ROOT / "benchmarks" / "results", ROOT / "metrics" / "label_map_gold.json",
             ROOT / "metrics" / "demo_semantics.json"]


def adds_quick_flag(script: Path) -> bool:
    """The script's argparse has `--quick`: some `<parser>.add_argument("--quick", ...)` call."""
    for node in ast.walk(ast.parse(script.read_text())):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "add_argument"
                and any(isinstance(a, ast.Constant) and a.value == "--quick" for a in node.args)):
            return True
    return False


def snapshot(paths: list[Path]) -> dict[str, tuple[int, int]]:
    files = [f for p in paths if p.exists() for f in ([p] if p.is_file() else sorted(p.rglob("*")))]
    return {str(f): (f.stat().st_mtime_ns, f.stat().st_size) for f in files if f.is_file()}


def test_benchmarks_are_found():
    assert len(BENCHMARKS) >= 15
    assert set(EXPECTED) <= {script.stem for script in BENCHMARKS}, "EXPECTED names a benchmark that is gone"


@pytest.mark.parametrize("script", BENCHMARKS, ids=lambda p: p.stem)
def test_every_benchmark_has_a_quick_mode(script):
    assert adds_quick_flag(script), f"{script.name} has no --quick flag: add one that runs it on tiny inputs"


@pytest.mark.slow
@pytest.mark.parametrize("script", BENCHMARKS, ids=lambda p: p.stem)
def test_quick_run(script, tmp_path):
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "VIDA_BENCH_OUT": str(out), "PYTHONUNBUFFERED": "1",
           # stage commands and `dvc` say `python`/`dvc`: this interpreter's, venv activated or not
           "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
    top_level, untouched = set(os.listdir(ROOT)), snapshot(UNTOUCHED)
    # Its own process group, so that a run past the limit goes with everything it started.
    proc = subprocess.Popen([sys.executable, str(script), "--quick"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
    log = f"stdout:\n{stdout[-4000:]}\nstderr:\n{stderr[-6000:]}"
    assert proc.returncode == 0, f"{script.name} --quick failed ({proc.returncode}; -9: past {TIMEOUT_S} s)\n{log}"
    if stdout.strip().startswith("skipped:"):   # bench_ray without Ray installed
        pytest.skip(stdout.strip())
    assert stdout.strip(), f"{script.name} --quick printed nothing\n{log}"
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) if out.exists() else []
    assert written, f"{script.name} --quick wrote nothing into $VIDA_BENCH_OUT\n{log}"
    for name, keys in EXPECTED.get(script.stem, {}).items():
        assert name in written, f"{script.name} --quick did not write {name} (wrote {written})\n{log}"
        if name.endswith(".json"):
            data = json.loads((out / name).read_text())
            for item in data if isinstance(data, list) else [data]:
                assert keys <= set(item), f"{name} lacks {sorted(keys - set(item))}"
        else:
            assert (out / name).stat().st_size > 0
    assert snapshot(UNTOUCHED) == untouched, f"{script.name} --quick wrote into benchmarks/results or metrics"
    assert set(os.listdir(ROOT)) <= top_level, f"{script.name} --quick left {set(os.listdir(ROOT)) - top_level}"
