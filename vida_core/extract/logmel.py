"""The one audio feature of the pipeline (ARCHITECTURE.md, "The data contract").

AST's input filterbank: 16 kHz mono, 25 ms Hann window, 10 ms hop, 128 kaldi-scale mel bins, log
energies, as transformers' `ASTFeatureExtractor` computes it without torchaudio (we call the same
`transformers.audio_utils` functions with the same constants, so the feature does not depend on
whether torchaudio happens to be installed). The 298 frames of a 3 s clip are averaged over each
1/6 s step, giving an 18 x 128 matrix aligned with the 18 video frames. Values are raw log-mel
(before AST's own mean/std normalisation).
"""

from __future__ import annotations

import warnings
from functools import lru_cache

import numpy as np

from vida_core import CLIP_SECONDS, FPS, NUM_FRAMES, NUM_MEL_BINS, SAMPLE_RATE

WINDOW_SAMPLES = 400        # 25 ms
HOP_SAMPLES = 160           # 10 ms
FFT_SIZE = 512
MEL_FLOOR = 1.192092955078125e-07   # log(MEL_FLOOR) ~ -15.9 is what digital silence maps to
CLIP_SAMPLES = int(CLIP_SECONDS * SAMPLE_RATE)


@lru_cache(maxsize=1)
def _filterbank() -> tuple[np.ndarray, np.ndarray]:
    # Imported here: transformers takes a second to import, and decode workers never need it.
    from transformers.audio_utils import mel_filter_bank, window_function

    with warnings.catch_warnings():
        # 128 kaldi bins over a 512-point FFT leave the lowest filters empty; AST lives with it too.
        warnings.simplefilter("ignore", UserWarning)
        mel_filters = mel_filter_bank(num_frequency_bins=FFT_SIZE // 2 + 1, num_mel_filters=NUM_MEL_BINS,
                                      min_frequency=20, max_frequency=SAMPLE_RATE // 2,
                                      sampling_rate=SAMPLE_RATE, norm=None, mel_scale="kaldi",
                                      triangularize_in_mel_space=True)
    return mel_filters, window_function(WINDOW_SAMPLES, "hann", periodic=False)


def fbank(waveform: np.ndarray) -> np.ndarray:
    """AST's log-mel filterbank of a 16 kHz mono float waveform in [-1, 1]: [frames, 128]."""
    from transformers.audio_utils import spectrogram

    mel_filters, window = _filterbank()
    return spectrogram(np.asarray(waveform, dtype=np.float64), window, frame_length=WINDOW_SAMPLES,
                       hop_length=HOP_SAMPLES, fft_length=FFT_SIZE, power=2.0, center=False,
                       preemphasis=0.97, mel_filters=mel_filters, log_mel="log", mel_floor=MEL_FLOOR,
                       remove_dc_offset=True).T.astype(np.float32)


@lru_cache(maxsize=4)
def _step_of_frame(n_frames: int) -> np.ndarray:
    # Each filterbank frame belongs to the 1/6 s step that contains its centre.
    centres = (np.arange(n_frames) * HOP_SAMPLES + WINDOW_SAMPLES / 2) / SAMPLE_RATE
    return np.minimum((centres * FPS).astype(np.int64), NUM_FRAMES - 1)


def pool_to_steps(frames: np.ndarray) -> np.ndarray:
    """Average filterbank frames [T, 128] over each 1/6 s step -> [18, 128]."""
    step = _step_of_frame(frames.shape[0])
    sums = np.zeros((NUM_FRAMES, frames.shape[1]), dtype=np.float64)
    np.add.at(sums, step, frames)
    counts = np.bincount(step, minlength=NUM_FRAMES)[:, None]
    return (sums / np.maximum(counts, 1)).astype(np.float32)


def logmel_18x128(waveform: np.ndarray) -> np.ndarray:
    """The pipeline's audio feature of a 3 s, 16 kHz mono waveform (float in [-1, 1]): [18, 128]."""
    waveform = np.asarray(waveform, dtype=np.float32)
    if waveform.shape[0] != CLIP_SAMPLES:
        waveform = np.pad(waveform[:CLIP_SAMPLES], (0, max(0, CLIP_SAMPLES - waveform.shape[0])))
    return pool_to_steps(fbank(waveform))


def mel_bin_of_frequency(hz: float) -> int:
    """The mel bin whose filter responds most to a pure tone at `hz` (for checks and plots)."""
    mel_filters, _ = _filterbank()
    fft_bin = int(round(hz * FFT_SIZE / SAMPLE_RATE))
    return int(np.argmax(mel_filters[fft_bin]))
