"""Audio taggers: 16 kHz mono waveforms [B,N] in [-1,1] -> AudioSet-527 scores [B,527].

Scores are per-class sigmoid probabilities in the order of `audioset_labels()`. Classes the
model does not predict get 0 and are listed in `tagger.missing_indices`.

* `yamnet` (embedded): see `yamnet.py`. A 3 s clip gives 298 log-mel frames, covered by 6
  patches of 0.96 s; the clip score is the MEAN of the patch probabilities (a clip-level
  "how much of this sound is there", less jumpy than max for 3 s action clips).
* `ast` = MIT/ast-finetuned-audioset-10-10-0.4593 (or an AST folder/Hub id): Kaldi fbank
  features from ASTFeatureExtractor (padded to its 1024 frames), sigmoid of the logits;
  its labels are mapped onto the 527 by display name.

AST also tags the pipeline's own feature, `tag_logmel(logmel [B,18,128])` (SVDMap's filter with
`filter.tagger: audio_tagger`, the paper's way): the 18 x 128 log-mel is AST's filterbank averaged
over 1/6 s steps (`vida_core.extract.logmel`), so each step is repeated over the 298 frames it
averaged and fed like a 3 s clip's filterbank (`tag_frames`). YAMNet reads 64-band log-mel of
waveforms and has no such method.

`tag_pooled_stretched(waveforms, steps=18)` is the naive baseline the paper compares
against: the model's own input features for the clip are averaged over `steps` equal time
steps (one per video frame: 18 frames for 3 s at 6 fps), each step's mean is repeated back
over the frames it covers, and the classifier is run on that blocky feature map.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.special
from tqdm import tqdm
import torch

from . import yamnet
from .image import model_dtype
from .loading import ModelLoadError, batch_slices, fetch, resolve_device
from .specs import ModelSpec, audioset_labels, complete_spec, resolve_spec

N_CLASSES = 527


def check_waveforms(waveforms: np.ndarray) -> np.ndarray:
    waveforms = np.asarray(waveforms)
    if waveforms.ndim != 2 or not np.issubdtype(waveforms.dtype, np.floating):
        raise ValueError(f"waveforms must be a float array [B,N] (16 kHz mono), got {waveforms.dtype} {waveforms.shape}")
    return waveforms.astype(np.float32, copy=False)


def pool_and_stretch(frames: np.ndarray, steps: int) -> np.ndarray:
    """[B,T,F] -> [B,T,F]: mean over `steps` near-equal time segments, repeated back to T."""
    n_frames = frames.shape[1]
    if not 1 <= steps <= n_frames:
        raise ValueError(f"steps must be in 1..{n_frames} (frames in the clip), got {steps}")
    bounds = np.linspace(0, n_frames, steps + 1).round().astype(int)
    out = np.empty_like(frames)
    for start, end in zip(bounds[:-1], bounds[1:]):
        out[:, start:end] = frames[:, start:end].mean(axis=1, keepdims=True)
    return out


def frames_of_steps(logmel_steps: np.ndarray) -> np.ndarray:
    """The pipeline's pooled log-mel [B,18,F] -> AST filterbank frames of a 3 s clip [B,298,F].

    Each frame takes the value of the 1/6 s step that `logmel.pool_to_steps` averaged it into,
    so pooling the result again gives back the input exactly."""
    from vida_core.extract.logmel import CLIP_SAMPLES, HOP_SAMPLES, WINDOW_SAMPLES, _step_of_frame

    logmel_steps = np.asarray(logmel_steps)
    n_frames = 1 + (CLIP_SAMPLES - WINDOW_SAMPLES) // HOP_SAMPLES   # kaldi framing (snip_edges): 298
    step = _step_of_frame(n_frames)
    steps = int(step.max()) + 1
    if logmel_steps.ndim != 3 or logmel_steps.shape[1] != steps:
        raise ValueError(f"log-mel must be [B,{steps},bins] (one row per 1/6 s step), got {logmel_steps.shape}")
    return logmel_steps[:, step]


class _ScoreMapper:
    """Scatter a model's class scores into the AudioSet-527 order."""

    def __init__(self, model_to_audioset: dict[int, int]):
        self.model_index = np.array(sorted(model_to_audioset), dtype=int)
        self.audioset_index = np.array([model_to_audioset[i] for i in self.model_index], dtype=int)
        covered = set(self.audioset_index.tolist())
        self.missing_indices = [i for i in range(N_CLASSES) if i not in covered]

    def __call__(self, scores: np.ndarray) -> np.ndarray:
        out = np.zeros((scores.shape[0], N_CLASSES), np.float32)
        out[:, self.audioset_index] = scores[:, self.model_index]
        return out


class YamnetTagger:
    pool_attributes = ("spec", "batch_size", "missing_indices")
    local_attributes = ("input_name",)   # the ONNX session's own input, meaningless elsewhere

    def __init__(self, spec: ModelSpec, session, device: torch.device, batch_size: int = 32, workers: int = 1):
        self.spec, self.session, self.device, self.batch_size = spec, session, device, batch_size
        self.input_name = session.get_inputs()[0].name
        # The graph takes one patch per call; patches of a batch are spread over CPU threads
        # (onnxruntime releases the GIL), each session call itself single-threaded.
        self.pool = ThreadPoolExecutor(max_workers=workers) if workers > 1 else None
        by_mid = {row["mid"]: row["index"] for row in audioset_labels()}
        self.mapper = _ScoreMapper({i: by_mid[mid] for i, (mid, _) in enumerate(yamnet.class_map()) if mid in by_mid})
        self.missing_indices = self.mapper.missing_indices

    def _run_patch(self, patch: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: patch})[0]

    def _classify(self, log_mel: np.ndarray) -> np.ndarray:
        """[B,T,64] log-mel -> [B,527] mean patch probabilities."""
        patches, owners = [], []
        for b, frames in enumerate(log_mel):
            frames = yamnet.pad_frames(frames)
            for start in yamnet.patch_starts(len(frames)):
                patches.append(yamnet.quantise_patch(frames[start : start + yamnet.PATCH_FRAMES]))
                owners.append(b)
        run = self.pool.map if self.pool else map
        logits = np.concatenate(list(run(self._run_patch, patches)))
        probs = scipy.special.expit(yamnet.dequantise_logits(logits))   # no overflow for large logits
        clip_probs = np.zeros((len(log_mel), probs.shape[1]), np.float32)
        np.add.at(clip_probs, owners, probs)
        return self.mapper(clip_probs / np.bincount(owners)[:, None])

    def tag(self, waveforms: np.ndarray) -> np.ndarray:
        waveforms = check_waveforms(waveforms)
        parts = [self._classify(yamnet.log_mel(waveforms[sl])) for sl in batch_slices(len(waveforms), self.batch_size)]
        return np.concatenate(parts) if parts else np.zeros((0, N_CLASSES), np.float32)

    def tag_pooled_stretched(self, waveforms: np.ndarray, steps: int = 18) -> np.ndarray:
        waveforms = check_waveforms(waveforms)
        parts = [self._classify(pool_and_stretch(yamnet.log_mel(waveforms[sl]), steps))
                 for sl in batch_slices(len(waveforms), self.batch_size)]
        return np.concatenate(parts) if parts else np.zeros((0, N_CLASSES), np.float32)


class ASTTagger:
    pool_attributes = ("spec", "batch_size", "missing_indices")

    def __init__(self, spec: ModelSpec, model, feature_extractor, device: torch.device, batch_size: int = 32):
        self.spec, self.model, self.fe, self.device, self.batch_size = spec, model, feature_extractor, device, batch_size
        by_name = {row["name"]: row["index"] for row in audioset_labels()}
        id2label = {int(i): name for i, name in model.config.id2label.items()}
        self.mapper = _ScoreMapper({i: by_name[name] for i, name in id2label.items() if name in by_name})
        self.missing_indices = self.mapper.missing_indices
        if not len(self.mapper.model_index):
            raise ModelLoadError(f"the audio tagger '{spec.name}' has no labels matching AudioSet class names")

    def _features(self, waveforms: np.ndarray):
        if self.device.type == "cuda" and self.fe.num_mel_bins == 128 and self.fe.sampling_rate == yamnet.SAMPLE_RATE:
            return self._features_on_gpu(waveforms)
        return self.fe(list(waveforms), sampling_rate=yamnet.SAMPLE_RATE, return_tensors="np")["input_values"]

    def _features_on_gpu(self, waveforms: np.ndarray) -> torch.Tensor:
        """The extractor's fbank, padding and normalisation, batched on the GPU (the CPU frontend
        tags a few hundred clips a second; the model thousands)."""
        from vida_core.extract.logmel import fbank_torch

        with torch.inference_mode():
            return self._pad_normalize(fbank_torch(torch.from_numpy(np.ascontiguousarray(waveforms)).to(self.device)))

    def _pad_normalize(self, features: torch.Tensor) -> torch.Tensor:
        """Raw filterbank frames [B,T,bins] -> the model's input, as ASTFeatureExtractor makes it:
        zero-padded (in raw log-mel, as its `_extract_fbank_features` pads) or cut to `max_length`
        frames, then normalised with its mean and std."""
        frames = features.shape[1]
        if frames < self.fe.max_length:
            features = torch.nn.functional.pad(features, (0, 0, 0, self.fe.max_length - frames))
        features = features[:, :self.fe.max_length]
        return (features - self.fe.mean) / (self.fe.std * 2) if self.fe.do_normalize else features

    def _classify(self, features) -> np.ndarray:
        with torch.inference_mode():
            x = torch.as_tensor(features).to(self.device, self.model.dtype)
            probs = torch.sigmoid(self.model(input_values=x).logits.float()).cpu().numpy()
        return self.mapper(probs)

    def tag(self, waveforms: np.ndarray) -> np.ndarray:
        waveforms = check_waveforms(waveforms)
        parts = [self._classify(self._features(waveforms[sl])) for sl in batch_slices(len(waveforms), self.batch_size)]
        return np.concatenate(parts) if parts else np.zeros((0, N_CLASSES), np.float32)

    def tag_frames(self, frames_raw: np.ndarray) -> np.ndarray:
        """Raw (un-normalised) filterbank frames [B,T,bins], as `logmel.fbank` gives them for a
        waveform, -> [B,527]: padded and normalised as the extractor does, then classified."""
        frames_raw = np.asarray(frames_raw, np.float32)
        if frames_raw.ndim != 3 or frames_raw.shape[2] != self.fe.num_mel_bins:
            raise ValueError(f"filterbank frames must be [B,T,{self.fe.num_mel_bins}], got {frames_raw.shape}")
        parts = []
        for sl in batch_slices(len(frames_raw), self.batch_size):
            with torch.inference_mode():
                features = self._pad_normalize(torch.from_numpy(np.ascontiguousarray(frames_raw[sl])).to(self.device))
            parts.append(self._classify(features))
        return np.concatenate(parts) if parts else np.zeros((0, N_CLASSES), np.float32)

    def tag_logmel(self, logmel_raw: np.ndarray) -> np.ndarray:
        """The pipeline's raw 18 x 128 log-mel [B,18,128] (real or generated) -> [B,527].

        It is AST's own filterbank averaged over 1/6 s steps, so each step is repeated over the
        frames it averaged (298 for 3 s, `frames_of_steps`) and tagged as a 3 s clip's filterbank."""
        from vida_core.shared import NUM_MEL_BINS, SAMPLE_RATE

        if self.fe.num_mel_bins != NUM_MEL_BINS or self.fe.sampling_rate != SAMPLE_RATE:
            raise ValueError(f"the audio tagger '{self.spec.name}' reads {self.fe.num_mel_bins} mel bins at "
                             f"{self.fe.sampling_rate} Hz, not the pipeline's {NUM_MEL_BINS} at {SAMPLE_RATE} Hz, "
                             "so it cannot tag the 18 x 128 log-mel")
        return self.tag_frames(frames_of_steps(np.asarray(logmel_raw, np.float32)))

    def tag_pooled_stretched(self, waveforms: np.ndarray, steps: int = 18) -> np.ndarray:
        waveforms = check_waveforms(waveforms)
        # Kaldi fbank (25 ms / 10 ms, snip_edges): frames that hold real audio; the rest is padding.
        real = min(max(1, 1 + (waveforms.shape[1] - 400) // 160), self.fe.max_length)
        parts = []
        for sl in batch_slices(len(waveforms), self.batch_size):
            features = np.asarray(self.fe(list(waveforms[sl]), sampling_rate=yamnet.SAMPLE_RATE,
                                          return_tensors="np")["input_values"])
            features[:, :real] = pool_and_stretch(features[:, :real], steps)
            parts.append(self._classify(features))
        return np.concatenate(parts) if parts else np.zeros((0, N_CLASSES), np.float32)


def _yamnet_session(device: torch.device):
    import onnxruntime as ort

    options = ort.SessionOptions()
    providers = ["CPUExecutionProvider"]
    if device.type == "cuda" and "CUDAExecutionProvider" in ort.get_available_providers():
        providers.insert(0, "CUDAExecutionProvider")
    else:
        options.intra_op_num_threads = 1  # one tiny patch per call: extra threads only add overhead
    return ort.InferenceSession(str(yamnet.onnx_model_path()), options, providers=providers)


def _cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def load_audio_tagger(name: str, device: str | torch.device = "auto", batch_size: int = 32):
    spec = resolve_spec("audio_tagger", name)
    dev = resolve_device(device)
    if spec.loader == "yamnet_onnx":
        return YamnetTagger(spec, _yamnet_session(dev), dev, batch_size, workers=_cpu_count())
    spec = complete_spec(spec)  # loader "ast" is the only other tagger backend
    from transformers import ASTFeatureExtractor, ASTForAudioClassification

    model = fetch(spec, lambda local_only: ASTForAudioClassification.from_pretrained(
        spec.source, revision=spec.revision, local_files_only=local_only, dtype=model_dtype(dev)))
    fe = fetch(spec, lambda local_only: ASTFeatureExtractor.from_pretrained(
        spec.source, revision=spec.revision, local_files_only=local_only))
    spec = dataclasses.replace(spec, input_size=(fe.max_length, fe.num_mel_bins), mean=(fe.mean,), std=(fe.std,))
    return ASTTagger(spec, model.to(dev).eval(), fe, dev, batch_size)


def tag_rows(tag_fn: Callable[[np.ndarray], np.ndarray], waveforms, rows: np.ndarray,
             batch_size: int = 64, desc: str = "tagging") -> np.ndarray:
    """Tag the int16 waveforms at `rows` (increasing) of an array or h5py dataset
    [M,48000], a batch at a time, with `tag_fn(float32 waveforms in [-1,1]) -> [B,527]`."""
    out = []
    for i in tqdm(range(0, len(rows), batch_size), desc=desc, unit="batch"):
        batch = np.asarray(waveforms[rows[i:i + batch_size]], np.float32) / 32768.0
        out.append(np.asarray(tag_fn(batch), np.float32))
    return np.concatenate(out) if out else np.zeros((0, N_CLASSES), np.float32)
