"""The paper's models on a GPU, through the pipeline's own stage code, at a few batch sizes.

    python benchmarks/bench_models_gpu.py --out DIR            # one GPU, about 3-5 minutes
    python benchmarks/bench_models_gpu.py --out DIR --smoke    # tiny models on the CPU: checks the script
    python benchmarks/bench_models_gpu.py --quick [--out DIR]  # --smoke on fewer, smaller inputs: seconds

- BLIP-base captioning: `run_captions` (the captions stage) on representative frames read from a
  frames.h5 written by our RowWriter, batches gathered across clips, fp16, greedy, 20 new tokens,
  through the per-frame caption cache. Target >= 500 images/s.
- AST tagging at its native 1,024 frames: `tag_rows` with the AST tagger (what label_bank
  runs), fbank frontend on the GPU. Target >= 3,000 clips/s.
- ViT-base features: `extract_visual_features` (the visual_features stage), 18 RGB + 18 flow
  images a clip. Target >= 5,000 images/s.

The models are the paper's architectures with random weights (no hub is reachable on a GPU
machine here): `BlipForConditionalGeneration(BlipConfig())`, `ASTForAudioClassification(ASTConfig())`,
`ViTModel(ViTConfig())`, written with save_pretrained to a temporary folder and loaded by path
through our loaders, like any local model folder. A random BLIP never says end-of-text, so it
always generates all 20 tokens: an upper bound on the cost of real captions. Each stage number
includes reading its inputs from HDF5 on the CPU; "model only" times the network alone on the
same batches. Writes `models_gpu.json` and `models_gpu.md` into --out.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
import torch

from vida_core.shared import NUM_FRAMES
from vida_core.shared.artifacts import STRING, RowWriter, encode_row, write_strings
from vida_core.learn.visual_features import extract_visual_features
from vida_core.models import audioset_labels, load_audio_tagger, load_captioner, load_image_encoder, resolve_device
from vida_core.models.image import image_processor_class, images_to_tensor
from vida_core.models.tagger import tag_rows
from vida_core.semantic.captions import run_captions

TARGETS = {"blip": 500, "ast": 3000, "vit": 5000}
FRAMES_STORAGE = {"compression": "lzf"}   # as the frames stage stores them (not imported: that needs PyAV and OpenCV)


# ------------------------------------------------------------------------------- model folders

def blip_folder(folder: Path, smoke: bool, device: torch.device) -> Path:
    from transformers import BertTokenizer, BlipConfig, BlipForConditionalGeneration, BlipProcessor

    if smoke:
        config = BlipConfig(vision_config=dict(hidden_size=32, intermediate_size=37, num_hidden_layers=1,
                                               num_attention_heads=2, image_size=32, patch_size=8),
                            text_config=dict(vocab_size=64, hidden_size=32, encoder_hidden_size=32, intermediate_size=37,
                                             num_hidden_layers=1, num_attention_heads=2, max_position_embeddings=64,
                                             bos_token_id=5, sep_token_id=3, eos_token_id=3, pad_token_id=0),
                            projection_dim=32)
    else:
        config = BlipConfig()      # BLIP-base: ViT-B/16 at 384 px + BERT-base decoder
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEC]"]
    vocab += [f"w{i}" for i in range(config.text_config.vocab_size - len(vocab))]
    (folder / "vocab.txt").parent.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    with torch.device(device):     # random init of 250M weights is slow on a CPU
        BlipForConditionalGeneration(config).save_pretrained(folder)
    size = {"height": 32, "width": 32} if smoke else {"height": 384, "width": 384}
    BlipProcessor(image_processor=image_processor_class("Blip")(size=size),
                  tokenizer=BertTokenizer(str(folder / "vocab.txt"), bos_token="[DEC]")).save_pretrained(folder)
    return folder


def vit_folder(folder: Path, smoke: bool, device: torch.device) -> Path:
    from transformers import ViTConfig, ViTModel

    config = ViTConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=37,
                       image_size=32, patch_size=8) if smoke else ViTConfig()     # ViT-B/16 at 224 px
    with torch.device(device):
        ViTModel(config, add_pooling_layer=False).save_pretrained(folder)
    side = 32 if smoke else 224
    image_processor_class("ViT")(size={"height": side, "width": side}).save_pretrained(folder)
    return folder


def ast_folder(folder: Path, smoke: bool, device: torch.device) -> Path:
    from transformers import ASTConfig, ASTFeatureExtractor, ASTForAudioClassification

    names = {i: row["name"] for i, row in enumerate(audioset_labels())}
    labels = dict(num_labels=527, id2label=names, label2id={v: k for k, v in names.items()})
    if smoke:
        config = ASTConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=37,
                           max_length=320, **labels)
    else:
        config = ASTConfig(max_length=1024, **labels)      # AST-base at its native 1,024 frames x 128 bins
    with torch.device(device):
        ASTForAudioClassification(config).save_pretrained(folder)
    ASTFeatureExtractor(max_length=config.max_length).save_pretrained(folder)
    return folder


# ------------------------------------------------------------------------------------- inputs

def write_inputs(folder: Path, clips: int, representative: int, size: int = 224) -> dict[str, Path]:
    """frames.h5 (lzf, one chunk a clip, as the frames stage writes it), flow.h5, representative.h5."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    ids = [f"c/{i:05d}" for i in range(clips)]
    yy, xx = np.mgrid[:size, :size] / size
    paths = {name: folder / f"{name}.h5" for name in ("frames", "flow", "representative")}
    with h5py.File(paths["frames"], "w") as f:
        writer = RowWriter(f, {"clip_id": ((), STRING, {}),
                               "frames": ((NUM_FRAMES, size, size, 3), np.uint8,
                                          {"chunks": (1, NUM_FRAMES, size, size, 3), **FRAMES_STORAGE})})
        for i, cid in enumerate(ids):   # smooth, photo-like frames with a little noise
            base = np.stack([np.sin(6 * xx + i), np.cos(5 * yy + i), xx * yy], -1) * 100 + 120
            frames = (base[None] + rng.normal(0, 8, (NUM_FRAMES, size, size, 3))).clip(0, 255).astype(np.uint8)
            writer.append(clip_id=cid, frames=encode_row(frames, **FRAMES_STORAGE))
        writer.flush()
    flow_side = size // 2
    with h5py.File(paths["flow"], "w") as f:
        write_strings(f, "clip_id", ids)
        f.create_dataset("flow", data=rng.normal(0, 3, (clips, NUM_FRAMES - 1, flow_side, flow_side, 2)).astype(np.float16),
                         chunks=(1, NUM_FRAMES - 1, flow_side, flow_side, 2))
    mask = np.zeros((clips, NUM_FRAMES), bool)
    for row in mask:
        row[1 + rng.choice(NUM_FRAMES - 1, representative, replace=False)] = True
    with h5py.File(paths["representative"], "w") as f:
        write_strings(f, "clip_id", ids)
        f.create_dataset("mask", data=mask)
    return paths


# ---------------------------------------------------------------------------------- measuring

def synced(device: torch.device, fn) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def bench_blip(folder: Path, inputs: dict, device, batches, work: Path) -> list[dict]:
    captioner = load_captioner(str(folder), batch_size=16, device=device)
    captioner.max_new_tokens = 20
    with h5py.File(inputs["representative"]) as f:
        images = int(f["mask"][()].sum())
    with h5py.File(inputs["frames"]) as f:
        sample = f["frames"][0]
    rows = []
    for b in batches:
        captioner.batch_size = b
        run = lambda cache: run_captions(inputs["representative"], inputs["frames"], work / "captions.json",  # noqa: E731
                                         captioner, b, visual_h5=None, cache_path=cache)
        run(None)   # warm-up (kernels, allocator)
        seconds = synced(device, lambda: run(work / f"cache-{b}.sqlite"))
        x = np.resize(sample, (b, *sample.shape[1:]))
        tensor = images_to_tensor(x, captioner.prep, device, captioner.model.dtype)
        gen = lambda: captioner.model.generate(pixel_values=tensor, max_new_tokens=20, do_sample=False, num_beams=1)  # noqa: E731
        gen()
        model_only = synced(device, gen)
        rows.append({"model": "blip", "batch": b, "items": images, "unit": "images/s",
                     "stage_rate": images / seconds, "model_only_rate": b / model_only})
    return rows


def bench_ast(folder: Path, device, batches, clips: int) -> list[dict]:
    tagger = load_audio_tagger(str(folder), device=device)
    t = np.arange(48000) / 16000
    rng = np.random.default_rng(0)
    waveforms = (np.sin(2 * np.pi * rng.uniform(100, 4000, (clips, 1)) * t) * 0.3 * 32767
                 + rng.normal(0, 500, (clips, 48000))).astype(np.int16)
    rows = []
    for b in batches:
        tagger.batch_size = b
        tag_rows(tagger.tag, waveforms, np.arange(min(clips, 2 * b)), batch_size=b)   # warm-up
        seconds = synced(device, lambda: tag_rows(tagger.tag, waveforms, np.arange(clips), batch_size=b))
        features = tagger._features(waveforms[:b].astype(np.float32) / 32768)
        tagger._classify(features)
        model_only = synced(device, lambda: tagger._classify(features))
        rows.append({"model": "ast", "batch": b, "items": clips, "unit": "clips/s",
                     "stage_rate": clips / seconds, "model_only_rate": b / model_only})
    return rows


def bench_vit(folder: Path, inputs: dict, device, batches, work: Path) -> list[dict]:
    encoder = load_image_encoder(str(folder), device=device)
    with h5py.File(inputs["frames"]) as f:
        clips = f["frames"].shape[0]
        sample = f["frames"][0]
    rows = []
    for b in batches:
        encoder.batch_size = b
        batch_clips = max(1, -(-b // NUM_FRAMES))   # enough clips to fill a batch of RGB frames
        run = lambda: extract_visual_features(inputs["frames"], inputs["flow"], work / "visual.h5", encoder,  # noqa: E731
                                              batch_clips=batch_clips)
        run()
        seconds = synced(device, run)
        x = images_to_tensor(np.resize(sample, (b, *sample.shape[1:])), encoder.prep, device, encoder.model.dtype)
        forward = lambda: encoder.model(pixel_values=x)  # noqa: E731
        with torch.inference_mode():
            forward()
            model_only = synced(device, forward)
        rows.append({"model": "vit", "batch": b, "items": clips * 2 * NUM_FRAMES, "unit": "images/s",
                     "stage_rate": clips * 2 * NUM_FRAMES / seconds, "model_only_rate": b / model_only})
    return rows


def markdown(rows: list[dict], header: str) -> str:
    lines = [header, "", "| model | batch | stage code | model only | target | stage meets it |",
             "| --- | ---: | ---: | ---: | ---: | --- |"]
    for r in rows:
        target = TARGETS[r["model"]]
        lines.append(f"| {r['model']} | {r['batch']} | {r['stage_rate']:,.0f} {r['unit']} | "
                     f"{r['model_only_rate']:,.0f} | {target:,} | {'yes' if r['stage_rate'] >= target else 'no'} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="folder for models_gpu.json and models_gpu.md (required, "
                                                 "but with --quick: default a temporary folder or $VIDA_BENCH_OUT)")
    parser.add_argument("--smoke", action="store_true", help="tiny models and inputs (on the CPU unless --device)")
    parser.add_argument("--quick", action="store_true", help="--smoke at smaller sizes still, with a default --out: "
                                                             "checks the script in seconds")
    parser.add_argument("--device", default=None, help="default: cuda for the real run, cpu with --smoke")
    parser.add_argument("--models", default="blip,ast,vit")
    args = parser.parse_args()
    if args.quick:
        args.smoke = True
        if args.out is None:
            from _quick import quick_dir
            args.out = quick_dir()
    if args.out is None:
        parser.error("the following arguments are required: --out")
    device = resolve_device(args.device or ("cpu" if args.smoke else "cuda"))
    smoke = args.smoke
    # Sizes: each measurement takes a few seconds at the target rate.
    batches = {"blip": [8, 16] if smoke else [64, 128, 256],
               "ast": [8, 16] if smoke else [128, 256, 512],
               "vit": [18, 36] if smoke else [128, 256, 512]}
    clips = {"blip": 8 if smoke else 400, "vit": 8 if smoke else 300, "ast": 32 if smoke else 4096}
    representative, side = 6, 224
    if args.quick:   # smaller still than --smoke: seconds
        batches = {"blip": [4, 8], "ast": [4, 8], "vit": [18, 36]}
        clips = {"blip": 2, "vit": 2, "ast": 8}
        representative, side = 3, 64
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "CPU"
    header = (f"Paper models, random weights, on {name} (torch {torch.__version__}, {device}, "
              f"{'quick sizes' if args.quick else 'smoke sizes' if smoke else 'full sizes'})")
    print(header, flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        wanted = args.models.split(",")
        if "blip" in wanted:
            inputs = write_inputs(tmp / "blip-inputs", clips["blip"], representative=representative, size=side)
            rows += bench_blip(blip_folder(tmp / "blip", smoke, device), inputs, device, batches["blip"], tmp)
            print(markdown(rows, ""), flush=True)
        if "ast" in wanted:
            rows += bench_ast(ast_folder(tmp / "ast", smoke, device), device, batches["ast"], clips["ast"])
            print(markdown(rows[-len(batches["ast"]):], ""), flush=True)
        if "vit" in wanted:
            inputs = write_inputs(tmp / "vit-inputs", clips["vit"], representative=representative, size=side)
            rows += bench_vit(vit_folder(tmp / "vit", smoke, device), inputs, device, batches["vit"], tmp)
    table = markdown(rows, header)
    (args.out / "models_gpu.md").write_text(table)
    (args.out / "models_gpu.json").write_text(json.dumps({"device": name, "torch": torch.__version__,
                                                          "smoke": smoke, "quick": args.quick, "targets": TARGETS, "rows": rows}, indent=1))
    print("\n" + table)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
