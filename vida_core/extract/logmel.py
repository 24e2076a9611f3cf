"""The one audio feature of the pipeline (ARCHITECTURE.md, "The data contract").

AST's input filterbank: 16 kHz mono, 25 ms Hann window, 10 ms hop, 128 kaldi-scale mel bins, log
energies, as transformers' `ASTFeatureExtractor` computes it without torchaudio (the same
arithmetic as `transformers.audio_utils`, with the same constants, checked bit for bit by a test,
so the feature does not depend on whether torchaudio happens to be installed). The 298 frames of a 3 s clip are averaged over each
1/6 s step, giving an 18 x 128 matrix aligned with the 18 video frames. Values are raw log-mel
(before AST's own mean/std normalisation).
"""

from __future__ import annotations

import warnings
from functools import lru_cache

import numpy as np

from vida_core.shared import CLIP_SECONDS, FPS, NUM_FRAMES, NUM_MEL_BINS, SAMPLE_RATE

WINDOW_SAMPLES = 400        # 25 ms
HOP_SAMPLES = 160           # 10 ms
FFT_SIZE = 512
MEL_FLOOR = 1.192092955078125e-07   # log(MEL_FLOOR) ~ -15.9 is what digital silence maps to
CLIP_SAMPLES = int(CLIP_SECONDS * SAMPLE_RATE)


def _kaldi_mel(hz):
    return 1127.0 * np.log(1.0 + hz / 700.0)


@lru_cache(maxsize=1)
def _filterbank() -> tuple[np.ndarray, np.ndarray]:
    """transformers' `mel_filter_bank(..., mel_scale="kaldi", triangularize_in_mel_space=True)` and
    symmetric Hann window, restated (the same operations, the same bits: a test checks): importing
    transformers costs each worker process about a second."""
    mel_freqs = np.linspace(_kaldi_mel(20), _kaldi_mel(SAMPLE_RATE // 2), NUM_MEL_BINS + 2)
    fft_freqs = _kaldi_mel(SAMPLE_RATE / FFT_SIZE * np.arange(FFT_SIZE // 2 + 1))
    slopes = mel_freqs[None, :] - fft_freqs[:, None]
    widths = np.diff(mel_freqs)
    down, up = -slopes[:, :-2] / widths[:-1], slopes[:, 2:] / widths[1:]
    # 128 kaldi bins over a 512-point FFT leave the lowest filters empty; AST lives with it too.
    return np.maximum(np.zeros(1), np.minimum(down, up)), np.hanning(WINDOW_SAMPLES)


def _transformers_filterbank() -> tuple[np.ndarray, np.ndarray]:
    from transformers.audio_utils import mel_filter_bank, window_function

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        mel_filters = mel_filter_bank(num_frequency_bins=FFT_SIZE // 2 + 1, num_mel_filters=NUM_MEL_BINS,
                                      min_frequency=20, max_frequency=SAMPLE_RATE // 2,
                                      sampling_rate=SAMPLE_RATE, norm=None, mel_scale="kaldi",
                                      triangularize_in_mel_space=True)
    return mel_filters, window_function(WINDOW_SAMPLES, "hann", periodic=False)


PREEMPHASIS = 0.97


@lru_cache(maxsize=1)
def _blas():
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def fbank(waveform: np.ndarray) -> np.ndarray:
    """AST's log-mel filterbank of a 16 kHz mono float waveform in [-1, 1]: [frames, 128].

    The same arithmetic as `transformers.audio_utils.spectrogram` (per frame: remove the DC
    offset, pre-emphasis, Hann window, 512-point rFFT kept as complex64, power, mel, log), on
    all frames at once instead of one frame per Python loop turn: the same bits, 10x faster.
    The mel product runs on one BLAS thread: per-clip stages run one process per core, and
    BLAS threads fighting over those cores made this small product 20x slower (and its
    last bits depend on the thread count).
    """
    mel_filters, window = _filterbank()
    wave = np.asarray(waveform, dtype=np.float64)
    count = 1 + (wave.size - WINDOW_SAMPLES) // HOP_SAMPLES
    frames = np.lib.stride_tricks.sliding_window_view(wave, WINDOW_SAMPLES)[::HOP_SAMPLES][:count].copy()
    frames -= frames.mean(axis=1, keepdims=True)
    frames[:, 1:] -= PREEMPHASIS * frames[:, :-1].copy()
    frames[:, 0] *= 1 - PREEMPHASIS
    frames *= window
    power = np.abs(np.fft.rfft(frames, n=FFT_SIZE, axis=1).astype(np.complex64), dtype=np.float64) ** 2.0
    with _blas().limit(limits=1, user_api="blas"):
        mel = np.dot(mel_filters.T, power.T)
    return np.log(np.maximum(MEL_FLOOR, mel)).T.astype(np.float32)


def fbank_reference(waveform: np.ndarray) -> np.ndarray:
    """`fbank` by transformers' own loop (what `fbank` is tested against)."""
    from transformers.audio_utils import spectrogram

    mel_filters, window = _transformers_filterbank()
    with _blas().limit(limits=1, user_api="blas"):
        return spectrogram(np.asarray(waveform, dtype=np.float64), window, frame_length=WINDOW_SAMPLES,
                           hop_length=HOP_SAMPLES, fft_length=FFT_SIZE, power=2.0, center=False,
                           preemphasis=PREEMPHASIS, mel_filters=mel_filters, log_mel="log", mel_floor=MEL_FLOOR,
                           remove_dc_offset=True).T.astype(np.float32)


@lru_cache(maxsize=4)
def _step_of_frame(n_frames: int) -> np.ndarray:
    # Each filterbank frame belongs to the 1/6 s step that contains its centre.
    centres = (np.arange(n_frames) * HOP_SAMPLES + WINDOW_SAMPLES / 2) / SAMPLE_RATE
    return np.minimum((centres * FPS).astype(np.int64), NUM_FRAMES - 1)


def pool_to_steps(frames: np.ndarray) -> np.ndarray:
    """Average filterbank frames [T, 128] over each 1/6 s step -> [18, 128]."""
    step = _step_of_frame(frames.shape[0])
    counts = np.bincount(step, minlength=NUM_FRAMES)
    if counts.all():
        # Steps are runs of consecutive frames: one reduceat adds them in order, in float64.
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        sums = np.add.reduceat(frames.astype(np.float64), starts, axis=0)
    else:   # fewer frames than steps (a test's short input)
        sums = np.zeros((NUM_FRAMES, frames.shape[1]), dtype=np.float64)
        np.add.at(sums, step, frames)
    return (sums / np.maximum(counts, 1)[:, None]).astype(np.float32)


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


def fbank_torch(waveforms, mel_filters=None):
    """`fbank` of a batch [B, N] on the waveforms' device (a GPU), in float32: the same steps,
    for the AST tagger's frontend on a GPU, where the CPU loop would be the bottleneck. Agrees
    with `fbank` to about 1e-4 in log energy (float32 against float64)."""
    import torch

    filters, window = _filterbank()
    filters = torch.as_tensor(filters if mel_filters is None else mel_filters, dtype=torch.float32, device=waveforms.device)
    window = torch.as_tensor(window, dtype=torch.float32, device=waveforms.device)
    frames = waveforms.float().unfold(-1, WINDOW_SAMPLES, HOP_SAMPLES)            # [B, T, 400]
    frames = frames - frames.mean(-1, keepdim=True)
    frames = torch.cat([frames[..., :1] * (1 - PREEMPHASIS), frames[..., 1:] - PREEMPHASIS * frames[..., :-1]], -1)
    power = torch.fft.rfft(frames * window, n=FFT_SIZE).abs() ** 2                 # [B, T, 257]
    return torch.log(torch.clamp(power @ filters, min=MEL_FLOOR))                   # [B, T, 128]
