"""What DVC costs on large data: `dvc status` on a big dataset folder, and committing a big output
under each cache link type.

    python benchmarks/bench_dvc_cache.py [--files 20000] [--file-kb 8] [--big-mb 512] [--out DIR]
    python benchmarks/bench_dvc_cache.py --quick [--out DIR]   # 50 files of 1 KB, 1 MB, 2 cache types: a check

1. A dataset folder of `--files` small files (in 100 class folders) is the dependency of a stage,
   as `dataset.root` is of `manifest`. Timed: `dvc status` on a fresh project (DVC hashes every
   file), again (DVC trusts its state database of size, mtime and inode: stats only), `dvc repro`,
   and `dvc status` after one file's content changed.
2. A stage writes a `--big-mb` MB file (random bytes: a worst case for nothing) and `dvc repro`
   commits it, under each `cache.type`. Timed: DVC's own share (the run minus the command's
   time alone), and what the output becomes (a copy, a hardlink, a symlink) and the disk it takes.

Results: a markdown table on stdout and `bench_dvc_cache.json` in --out (default
$VIDA_BENCH_OUT, else ./bench_dvc_cache_out; with --quick, else a temporary folder). Runs in a
temporary folder; installs nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DVC = [sys.executable, "-m", "dvc"]
CACHE_TYPES = ["copy", "reflink,copy", "reflink,hardlink,symlink,copy", "hardlink,symlink,copy", "symlink"]


def run(cmd: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stdout}\n{done.stderr}")
    return time.perf_counter() - start


def new_project(folder: Path) -> Path:
    folder.mkdir(parents=True)
    for cmd in (["git", "init", "-q"], ["git", "config", "user.email", "bench@example.com"],
                ["git", "config", "user.name", "bench"], DVC + ["init", "-q"], DVC + ["config", "core.analytics", "false"]):
        run(cmd, folder)
    return folder


def dataset_folder_status(tmp: Path, files: int, file_kb: int) -> dict:
    repo = new_project(tmp / "status")
    data = repo / "data" / "clips"
    payload = os.urandom(file_kb * 1024)
    for i in range(files):
        folder = data / f"class_{i % 100:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"clip_{i:06d}.mp4").write_bytes(payload[:-8] + i.to_bytes(8, "little"))   # all distinct
    (repo / "dvc.yaml").write_text(
        "stages:\n  listing:\n    cmd: python -c \"import os; print(sum(len(f) for _, _, f in os.walk('data/clips')))\" > listing.txt\n"
        "    deps:\n    - data/clips\n    outs:\n    - listing.txt\n")
    times = {"first dvc status (hashes every file)": run(DVC + ["status"], repo),
             "second dvc status (stats only)": run(DVC + ["status"], repo),
             "dvc repro (stage runs; folder hash from state)": run(DVC + ["repro"], repo),
             "dvc status, up to date": run(DVC + ["status"], repo)}
    victim = next(data.rglob("*.mp4"))
    victim.write_bytes(b"changed" + victim.read_bytes())
    times["dvc status after one file changed"] = run(DVC + ["status"], repo)
    shutil.rmtree(repo)
    return {"files": files, "file_kb": file_kb, "seconds": {k: round(v, 2) for k, v in times.items()}}


def commit_cost(tmp: Path, big_mb: int, cache_type: str) -> dict:
    repo = new_project(tmp / f"commit-{cache_type.replace(',', '-')}")
    run(DVC + ["config", "cache.type", cache_type], repo)
    write = f"import os\nwith open('big.bin', 'wb') as f:\n    for _ in range({big_mb}): f.write(os.urandom(2**20))\n"
    (repo / "write_big.py").write_text(write)
    (repo / "dvc.yaml").write_text("stages:\n  big:\n    cmd: python write_big.py\n    deps:\n    - write_big.py\n"
                                   "    outs:\n    - big.bin\n")
    command = run([sys.executable, "write_big.py"], repo)   # the command alone, for DVC's share
    (repo / "big.bin").unlink()
    total = run(DVC + ["repro"], repo)
    out = repo / "big.bin"
    kind = "symlink" if out.is_symlink() else ("hardlink" if out.stat().st_nlink > 1 else "copy or reflink")
    used = int(subprocess.run(["du", "-sk", str(repo)], capture_output=True, text=True).stdout.split()[0]) // 1024
    result = {"cache.type": cache_type, "dvc_share_s": round(total - command, 2), "repro_s": round(total, 2),
              "command_s": round(command, 2), "output_is": kind, "disk_mb": used,
              "mode": stat.filemode(out.stat().st_mode)}   # DVC makes linked outputs read-only
    shutil.rmtree(repo)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=20000)
    parser.add_argument("--file-kb", type=int, default=8)
    parser.add_argument("--big-mb", type=int, default=512)
    parser.add_argument("--out", default=None, help="default: $VIDA_BENCH_OUT, else ./bench_dvc_cache_out "
                                                    "(with --quick: else a temporary folder)")
    parser.add_argument("--quick", action="store_true", help="50 files of 1 KB, a 1 MB output, cache.type copy and "
                                                             "symlink only: checks the script")
    args = parser.parse_args()
    if args.quick:
        args.files, args.file_kb, args.big_mb = 50, 1, 1
        if args.out is None:
            from _quick import quick_dir
            args.out = str(quick_dir())
    cache_types = [CACHE_TYPES[0], CACHE_TYPES[-1]] if args.quick else CACHE_TYPES   # --quick: a copy, a link
    if args.out is None:
        args.out = os.environ.get("VIDA_BENCH_OUT", "bench_dvc_cache_out")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        status = dataset_folder_status(tmp, args.files, args.file_kb)
        commits = [commit_cost(tmp, args.big_mb, t) for t in cache_types]
    dvc_version = subprocess.run(DVC + ["--version"], capture_output=True, text=True).stdout.strip()
    fs = subprocess.run(["df", "-T", tempfile.gettempdir()], capture_output=True, text=True).stdout.split("\n")[1].split()[1]
    results = {"dvc": dvc_version, "filesystem": fs, "status": status, "commit": commits, "big_mb": args.big_mb}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_dvc_cache.json").write_text(json.dumps(results, indent=1))
    print(f"DVC {dvc_version} on {fs}; dataset folder of {status['files']:,} files of {status['file_kb']} KB:\n")
    print("| command | s |\n| --- | ---: |")
    for what, seconds in status["seconds"].items():
        print(f"| {what} | {seconds} |")
    print(f"\nCommitting a {args.big_mb} MB stage output:\n")
    print("| cache.type | DVC's share of `dvc repro` (s) | the output is | disk (MB) | mode |")
    print("| --- | ---: | --- | ---: | --- |")
    for c in commits:
        print(f"| `{c['cache.type']}` | {c['dvc_share_s']} | {c['output_is']} | {c['disk_mb']} | `{c['mode']}` |")


if __name__ == "__main__":
    main()
