"""CPU throughput of the embedded defaults, on synthetic inputs.

Prints captions/s (EfficientNet-Lite0 label captioner on 240x426 frames), text
embeddings/s (MiniLM on captions) and clips/s (YAMNet on 3 s, 16 kHz clips).

    python benchmarks/bench_semantic_cpu.py [--threads N] [--images 64] [--texts 1024] [--clips 64] [--json FILE]
    python benchmarks/bench_semantic_cpu.py --quick [--json FILE]   # 4 images, 16 texts, 4 clips: checks the script
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from vida_core.models import load_audio_tagger, load_captioner, load_text_encoder


def rate(fn, n: int) -> float:
    """Items per second of one timed call, after a small warm-up call."""
    fn(small=True)
    start = time.perf_counter()
    fn(small=False)
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's choice)")
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--texts", type=int, default=1024)
    parser.add_argument("--clips", type=int, default=64)
    parser.add_argument("--json", type=Path, help="also write the rates here (with --quick: default a temporary "
                                                  "folder or $VIDA_BENCH_OUT)")
    parser.add_argument("--quick", action="store_true", help="4 images, 16 texts, 4 clips: checks the script in seconds")
    args = parser.parse_args()
    if args.quick:
        args.images, args.texts, args.clips = 4, 16, 4
        if args.json is None:
            from _quick import quick_file
            args.json = quick_file("semantic_cpu.json")
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"CPU, torch {torch.__version__}, {torch.get_num_threads()} threads")
    rng = np.random.default_rng(0)

    captioner = load_captioner("effnet-lite0-labels", batch_size=16, device="cpu")
    frames = rng.integers(0, 256, (args.images, 240, 426, 3), dtype=np.uint8)
    captions_per_s = rate(lambda small: captioner.caption(frames[:2] if small else frames), args.images)
    print(f"captioner effnet-lite0-labels: {captions_per_s:8.1f} captions/s  (batch {captioner.batch_size})")

    text_encoder = load_text_encoder("minilm", device="cpu")
    words = ["a photo of a", "dog", "crowd", "stage", "guitar", "car", "kitchen", "or a", "theater curtain"]
    texts = [" ".join(rng.choice(words, 6)) for _ in range(args.texts)]
    texts_per_s = rate(lambda small: text_encoder.encode(texts[:8] if small else texts), args.texts)
    print(f"text encoder minilm:           {texts_per_s:8.1f} texts/s     (batch {text_encoder.batch_size})")

    tagger = load_audio_tagger("yamnet", device="cpu")
    clips = rng.uniform(-0.5, 0.5, (args.clips, 48000)).astype(np.float32)
    clips_per_s = rate(lambda small: tagger.tag(clips[:2] if small else clips), args.clips)
    print(f"audio tagger yamnet:           {clips_per_s:8.1f} clips/s     (3 s clips)")
    pooled_per_s = rate(lambda small: tagger.tag_pooled_stretched(clips[:2] if small else clips), args.clips)
    print(f"  yamnet tag_pooled_stretched: {pooled_per_s:8.1f} clips/s")
    if args.json:
        args.json.write_text(json.dumps({
            "torch": torch.__version__, "threads": torch.get_num_threads(),
            "inputs": {"images": args.images, "texts": args.texts, "clips": args.clips},
            "captions_per_s": captions_per_s, "texts_per_s": texts_per_s, "clips_per_s": clips_per_s,
            "pooled_clips_per_s": pooled_per_s}, indent=1) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
