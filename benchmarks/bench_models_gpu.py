"""Throughput of the paper models on GPU: BLIP-base captioning and AST tagging.

Runs batch sizes 1, 2, 4, ..., 64 and prints images/s and clips/s (fp16 on GPU). Uses the
real weights when they can be loaded (network or Hugging Face cache); otherwise random
weights of the same architectures (BlipConfig() / ASTConfig() defaults are BLIP-base and
AST-base), which cost the same per step. A random BLIP never emits end-of-text, so it always
generates `--max-new-tokens` tokens: an upper bound on the cost of real captions.

    python benchmarks/bench_models_gpu.py [--device cuda] [--max-batch 64] [--repeats 3] [--random-weights]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from vida_core.models import ModelLoadError, audioset_labels, load_audio_tagger, load_captioner, resolve_device
from vida_core.models.captioner import BlipCaptioner
from vida_core.models.image import ImagePrep
from vida_core.models.specs import REGISTRY
from vida_core.models.tagger import ASTTagger


def random_blip(device: torch.device) -> BlipCaptioner:
    from transformers import BertTokenizer, BlipConfig, BlipForConditionalGeneration

    config = BlipConfig()
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab += [f"w{i}" for i in range(config.text_config.vocab_size - len(vocab))]
    vocab_file = Path(tempfile.mkdtemp()) / "vocab.txt"
    vocab_file.write_text("\n".join(vocab) + "\n")
    dtype = torch.float16 if device.type == "cuda" else torch.float32
    with torch.device(device):  # initialise on the GPU: random init of 250M weights on CPU is slow
        model = BlipForConditionalGeneration(config).to(dtype=dtype).eval()
    spec = REGISTRY[("captioner", "blip")]
    prep = ImagePrep(384, 384, spec.mean, spec.std, centre_crop=False, mode="bicubic")
    return BlipCaptioner(spec, model, BertTokenizer(str(vocab_file)), prep, device)


def random_ast(device: torch.device) -> ASTTagger:
    from transformers import ASTConfig, ASTFeatureExtractor, ASTForAudioClassification

    names = {i: row["name"] for i, row in enumerate(audioset_labels())}
    config = ASTConfig(num_labels=527, id2label=names, label2id={v: k for k, v in names.items()})
    dtype = torch.float16 if device.type == "cuda" else torch.float32
    with torch.device(device):
        model = ASTForAudioClassification(config).to(dtype=dtype).eval()
    return ASTTagger(REGISTRY[("audio_tagger", "ast")], model, ASTFeatureExtractor(), device)


def timed(fn, repeats: int, device: torch.device) -> float:
    """Best wall time of `repeats` calls after one warm-up call."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--max-batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-new-tokens", type=int, default=20)
    parser.add_argument("--random-weights", action="store_true",
                        help="skip trying the real weights (saves the Hub's retries on a machine without network)")
    args = parser.parse_args()
    device = resolve_device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"device: {device} ({name}), torch {torch.__version__}")
    batch_sizes = [b for b in (1, 2, 4, 8, 16, 32, 64) if b <= args.max_batch]
    rng = np.random.default_rng(0)

    try:
        if args.random_weights:
            raise ModelLoadError("random weights requested")
        captioner, weights = load_captioner("blip", device=device), "real weights"
    except ModelLoadError:
        captioner, weights = random_blip(device), "random weights, BLIP-base architecture"
    captioner.max_new_tokens = args.max_new_tokens
    print(f"\nBLIP captioning ({weights}, {captioner.model.dtype}, <= {args.max_new_tokens} new tokens)")
    print(f"{'batch':>6} {'images/s':>10} {'ms/batch':>10}")
    for b in batch_sizes:
        captioner.batch_size = b
        images = rng.integers(0, 256, (b, 240, 426, 3), dtype=np.uint8)  # a 240p video frame
        seconds = timed(lambda images=images: captioner.caption(images), args.repeats, device)
        print(f"{b:>6} {b / seconds:>10.1f} {seconds * 1000:>10.1f}")

    try:
        if args.random_weights:
            raise ModelLoadError("random weights requested")
        tagger, weights = load_audio_tagger("ast", device=device), "real weights"
    except ModelLoadError:
        tagger, weights = random_ast(device), "random weights, AST-base architecture"
    print(f"\nAST tagging of 3 s clips ({weights}, {tagger.model.dtype}); "
          "end-to-end includes the CPU fbank frontend, model-only does not")
    print(f"{'batch':>6} {'clips/s':>10} {'model-only clips/s':>20}")
    for b in batch_sizes:
        tagger.batch_size = b
        clips = rng.uniform(-0.5, 0.5, (b, 48000)).astype(np.float32)
        features = tagger._features(clips)
        end_to_end = timed(lambda clips=clips: tagger.tag(clips), args.repeats, device)
        model_only = timed(lambda features=features: tagger._classify(features), args.repeats, device)
        print(f"{b:>6} {b / end_to_end:>10.1f} {b / model_only:>20.1f}")


if __name__ == "__main__":
    main()
