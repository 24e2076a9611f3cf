"""Peak memory of the label_map stage at two dataset sizes, with fake captions and a fake encoder.

Each size runs in a fresh process: inputs (representative.h5, captions.json, label_bank.h5) are
written first, then `run_label_map` runs and the process's peak RSS growth during it is
reported. Flat numbers mean the stage streams: before, it built an [N,18,top_k,128] float32
array and a masked copy (8.6 GiB at 100k clips).

    python benchmarks/bench_label_map_memory.py [--clips 2000 20000] [--json FILE]
    python benchmarks/bench_label_map_memory.py --quick [--json FILE]   # 50 and 200 clips: checks the script
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

import h5py
import numpy as np

WORDS = ["clock", "dog", "bell", "siren", "guitar", "car", "water", "bird", "crowd", "drum", "engine", "rain"]


class BagOfWords:
    """A fast deterministic stand-in for the text encoder: each word a seeded random vector."""
    dim = 64
    spec = None

    def encode(self, texts):
        out = np.zeros((len(texts), self.dim), np.float32)
        for i, text in enumerate(texts):
            for word in re.findall(r"[a-z]+", text.lower()):
                out[i] += np.random.default_rng(zlib.crc32(word.encode())).standard_normal(self.dim)
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)


def write_captions_and_bank(folder: Path, ids: list[str], masks: np.ndarray, rng: np.random.Generator) -> None:
    """captions.json (one nearly unique caption per representative frame) and a random label bank."""
    clips = {cid: [{"frame": int(k), "caption": f"a photo of a {WORDS[rng.integers(len(WORDS))]} "
                    f"or a {WORDS[rng.integers(len(WORDS))]} {rng.integers(1000)}"}
                   for k in np.flatnonzero(m)] for cid, m in zip(ids, masks)}
    (folder / "captions.json").write_text(json.dumps({"model": {}, "clips": clips}))
    with h5py.File(folder / "bank.h5", "w") as f:
        f["mean"] = rng.standard_normal((527, 128)).astype(np.float32)


def make_inputs(folder: Path, n: int) -> None:
    rng = np.random.default_rng(0)
    ids = [f"c/{i:07d}" for i in range(n)]
    masks = rng.random((n, 18)) < 0.2
    with h5py.File(folder / "rep.h5", "w") as f:
        f["clip_id"], f["mask"] = np.array(ids, dtype=object), masks
    write_captions_and_bank(folder, ids, masks, rng)


def run_one(folder: Path) -> None:
    from vida_core.semantic.label_map import Reading, run_label_map
    from vida_core.models.specs import audioset_names
    import vida_core.semantic.label_map as label_map

    label_map.model_identity = lambda encoder: {"id": "bag-of-words"}
    names = audioset_names()
    start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    captions = json.loads((folder / "captions.json").read_text())  # what the stage holds whole
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    del captions
    run_label_map(folder / "rep.h5", folder / "captions.json", folder / "bank.h5", folder / "out.h5",
                  BagOfWords(), names, 5, params={}, reading=Reading(synonyms="none"))
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"peak_rss_mb": round(after / 1024), "captions_mb": round((before - start) / 1024),
                      "growth_mb": round((after - before) / 1024)}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, nargs="+", default=[2000, 20000])
    parser.add_argument("--json", type=Path, help="also write the numbers here (with --quick: default a temporary "
                                                  "folder or $VIDA_BENCH_OUT)")
    parser.add_argument("--quick", action="store_true", help="50 and 200 clips: checks the script in seconds")
    parser.add_argument("--_run", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._run:
        return run_one(Path(args._run))
    if args.quick:
        args.clips = [50, 200]
        if args.json is None:
            from _quick import quick_file
            args.json = quick_file("label_map_memory.json")
    report = {}
    for n in args.clips:
        with tempfile.TemporaryDirectory() as tmp:
            make_inputs(Path(tmp), n)
            out = subprocess.run([sys.executable, __file__, "--_run", tmp], capture_output=True, text=True)
            if out.returncode:
                sys.exit(out.stderr)
            result = json.loads(out.stdout.strip().splitlines()[-1])
            size = (Path(tmp) / "captions.json").stat().st_size / 2**20
            print(f"{n:7d} clips: peak RSS {result['peak_rss_mb']} MB; captions.json ({size:.1f} MB) parsed "
                  f"{result['captions_mb']} MB; mapping and writing beyond that {result['growth_mb']} MB")
            report[n] = {**result, "captions_json_mb": round(size, 1)}
    if args.json:
        args.json.write_text(json.dumps({"clips": report}, indent=1) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
