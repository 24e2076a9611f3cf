"""The per-clip decode stages: frames, audio, flow and representative frames.

Each runs over the clips with a pool of `workers` processes and appends results to its HDF5
artifact in chunks as they arrive (memory stays flat with the dataset size). A clip that can't
be processed never stops a stage: `frames` lists it in `rejects` with a reason; `audio` keeps it
with `has_audio` false and a note, which is the missing-audio case VIDA exists for.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import cv2
import h5py
import numpy as np
from tqdm import tqdm

from . import NUM_FRAMES, NUM_MEL_BINS, SAMPLE_RATE
from .artifacts import STRING, RowWriter, read_strings, write_h5, write_strings
from .audio_features import CLIP_SAMPLES, logmel_18x128
from .decode import ClipRejected, decode_audio, decode_frames

# A clip whose mean motion is below this (pixels between sampled frames) is static: it has no
# representative frame, rather than every frame passing `0 >= threshold * 0`.
STATIC_MOTION_PX = 0.01


def parallel_map(fn: Callable, items: Iterable, workers: int, total: int, desc: str) -> Iterator:
    """`map(fn, items)` in order, over `workers` processes when more than one, with a progress bar."""
    bar = dict(total=total, desc=desc, unit="clip", dynamic_ncols=True, mininterval=1.0)
    if workers <= 1:
        yield from tqdm(map(fn, items), **bar)
        return
    # forkserver, not fork: a process that has run FFmpeg or BLAS threads can't be forked safely.
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["vida_core.extract"])
    with context.Pool(workers, initializer=_quiet_worker) as pool:
        yield from tqdm(pool.imap(fn, items, chunksize=1), **bar)


def _quiet_worker() -> None:
    # One process per core already: keep OpenCV from starting its own threads in each.
    cv2.setNumThreads(1)


# ---------------------------------------------------------------------------------------- frames

def _frames_of(job: tuple[str, int, float]):
    path, size, min_duration = job
    try:
        frames, stamps = decode_frames(path, size=size, min_duration=min_duration)
        return frames, stamps, ""
    except ClipRejected as err:
        return None, None, str(err)
    except Exception as err:  # a decoder crash on one odd file must not stop the stage
        return None, None, f"unexpected decode error ({err.__class__.__name__}: {err})"


def extract_frames(rows: list[dict], out_path: str | Path, size: int = 224, min_duration: float = 2.5,
                   workers: int = 1, params: dict | None = None) -> dict:
    """Decode 18 frames per manifest row into `frames.h5`; returns kept/rejected counts."""
    rejected_ids, reasons = [], []
    with write_h5(out_path, "frames", params) as f:
        writer = RowWriter(f, {
            "clip_id": ((), STRING, {}),
            "frames": ((NUM_FRAMES, size, size, 3), np.uint8,
                       {"chunks": (1, NUM_FRAMES, size, size, 3), "compression": "lzf"}),
            "timestamps": ((NUM_FRAMES,), np.float64, {}),
        }, flush_every=8)
        jobs = ((r["path"], size, min_duration) for r in rows)
        for row, (frames, stamps, reason) in zip(rows, parallel_map(_frames_of, jobs, workers, len(rows), "frames")):
            if frames is None:
                rejected_ids.append(row["clip_id"])
                reasons.append(reason)
            else:
                writer.append(clip_id=row["clip_id"], frames=frames, timestamps=stamps)
        writer.flush()
        rejects = f.create_group("rejects")
        write_strings(rejects, "clip_id", rejected_ids)
        write_strings(rejects, "reason", reasons)
        f.attrs["kept"], f.attrs["rejected"] = writer.count, len(rejected_ids)
    return {"kept": writer.count, "rejected": len(rejected_ids),
            "rejects": list(zip(rejected_ids, reasons))}


# ----------------------------------------------------------------------------------------- audio

def _audio_of(job: tuple[str, float, float]):
    path, min_duration, silence_dbfs = job
    try:
        waveform, note = decode_audio(path, min_duration=min_duration)
    except Exception as err:  # keep the clip, with its audio marked missing
        waveform, note = None, f"unexpected audio error ({err.__class__.__name__}: {err})"
    if waveform is None:
        return np.zeros(CLIP_SAMPLES, np.int16), np.zeros((NUM_FRAMES, NUM_MEL_BINS), np.float32), False, note
    pcm = np.clip(np.round(waveform * 32767), -32768, 32767).astype(np.int16)
    peak = np.abs(pcm).max(initial=0) / 32768
    if peak <= 10 ** (silence_dbfs / 20):
        return pcm, np.zeros((NUM_FRAMES, NUM_MEL_BINS), np.float32), False, \
            f"digital silence (peak {20 * np.log10(max(peak, 1e-12)):.0f} dBFS <= {silence_dbfs} dBFS)"
    return pcm, logmel_18x128(pcm.astype(np.float32) / 32768), True, ""


def extract_audio(rows: list[dict], out_path: str | Path, min_duration: float = 2.5,
                  silence_dbfs: float = -80.0, workers: int = 1, params: dict | None = None) -> dict:
    """Waveform, log-mel and `has_audio` for every manifest row into `audio.h5`."""
    with write_h5(out_path, "audio", params) as f:
        f.attrs["sample_rate"] = SAMPLE_RATE
        f.attrs["feature"] = ("AST log-mel fbank (16 kHz, 25 ms Hann, 10 ms hop, 128 kaldi mel bins, "
                              "log energy) averaged over 18 steps of 1/6 s; zeros where has_audio is false")
        writer = RowWriter(f, {
            "clip_id": ((), STRING, {}),
            "logmel": ((NUM_FRAMES, NUM_MEL_BINS), np.float32, {}),
            "waveform": ((CLIP_SAMPLES,), np.int16, {"compression": "gzip", "compression_opts": 1}),
            "has_audio": ((), np.bool_, {}),
            "audio_note": ((), STRING, {}),
        }, flush_every=64)
        jobs = ((r["path"], min_duration, silence_dbfs) for r in rows)
        missing = 0
        for row, (pcm, logmel, has_audio, note) in zip(rows, parallel_map(_audio_of, jobs, workers, len(rows), "audio")):
            missing += not has_audio
            writer.append(clip_id=row["clip_id"], logmel=logmel, waveform=pcm, has_audio=has_audio, audio_note=note)
        writer.flush()
        f.attrs["with_audio"], f.attrs["without_audio"] = writer.count - missing, missing
    return {"clips": writer.count, "with_audio": writer.count - missing, "without_audio": missing}


# ------------------------------------------------------------------------------------------ flow

FARNEBACK_REFERENCE = dict(pyr_scale=0.5, levels=3, winsize=15, iterations=3, poly_n=5, poly_sigma=1.2, flags=0)


DIS_PRESETS = {"ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST, "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
               "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM}


def optical_flow(frames: np.ndarray, method: str = "dis", size: int = 112, preset: str = "fast") -> np.ndarray:
    """Flow between consecutive frames [T, H, W, 3] -> [T-1, size, size, 2] in pixels at `size`.

    `preset` is DIS's speed/accuracy preset; Farneback always uses the reference parameters.
    """
    gray = [cv2.resize(cv2.cvtColor(f, cv2.COLOR_RGB2GRAY), (size, size), interpolation=cv2.INTER_AREA)
            for f in frames]
    if method == "dis":
        dis = cv2.DISOpticalFlow_create(DIS_PRESETS[preset])
        flows = [dis.calc(a, b, None) for a, b in zip(gray[:-1], gray[1:])]
    elif method == "farneback":
        flows = [cv2.calcOpticalFlowFarneback(a, b, None, **FARNEBACK_REFERENCE) for a, b in zip(gray[:-1], gray[1:])]
    else:
        raise ValueError(f"flow.method '{method}' is not one of dis, farneback")
    return np.stack(flows)


def motion_magnitude(flow: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """Mean pixel displacement of each flow field [T, h, w, 2] -> [T], times `scale`."""
    return (np.sqrt((flow.astype(np.float32) ** 2).sum(-1)).mean(axis=(1, 2)) * scale).astype(np.float32)


def _flow_of(job: tuple[np.ndarray, str, int, str]):
    frames, method, size, preset = job
    flow = optical_flow(frames, method, size, preset)
    # Magnitudes in pixels at the frames' resolution, whatever flow.size is.
    return flow.astype(np.float16), motion_magnitude(flow, frames.shape[1] / size)


def _frame_batches(frames_ds: h5py.Dataset, method: str, size: int, preset: str, batch: int = 32):
    for lo in range(0, frames_ds.shape[0], batch):
        for frames in frames_ds[lo:lo + batch]:
            yield frames, method, size, preset


def compute_flow(frames_path: str | Path, out_path: str | Path, method: str = "dis", size: int = 112,
                 preset: str = "fast", workers: int = 1, params: dict | None = None) -> dict:
    """Flow fields and motion magnitudes of every clip in `frames.h5` into `flow.h5`.

    Flow is stored uncompressed: fields of real motion are noise-like and compress by ~10 %,
    which is not worth the time.
    """
    with h5py.File(frames_path, "r") as src, write_h5(out_path, "flow", params) as f:
        ids = read_strings(src["clip_id"])
        write_strings(f, "clip_id", ids)
        f.attrs["magnitude_units"] = f"mean pixel displacement at {src['frames'].shape[2]} px frames"
        writer = RowWriter(f, {
            "flow": ((NUM_FRAMES - 1, size, size, 2), np.float16,
                     {"chunks": (1, NUM_FRAMES - 1, size, size, 2)}),
            "magnitude": ((NUM_FRAMES - 1,), np.float32, {}),
        }, flush_every=8)
        jobs = _frame_batches(src["frames"], method, size, preset)
        for flow, magnitude in parallel_map(_flow_of, jobs, workers, len(ids), f"flow ({method})"):
            writer.append(flow=flow, magnitude=magnitude)
        writer.flush()
    return {"clips": len(ids)}


# ------------------------------------------------------------------------------ representative

def representative_frames(magnitude: np.ndarray, threshold: float) -> tuple[np.ndarray, list[str]]:
    """Frame i+1 is representative when magnitude[i] >= threshold * mean(magnitude of its clip).

    magnitude [N, 17] -> mask [N, 18] (frame 0 never: no motion leads into it), and a note per clip.
    """
    magnitude = np.asarray(magnitude, dtype=np.float64)
    mean = magnitude.mean(axis=1, keepdims=True)
    mask = np.zeros((magnitude.shape[0], NUM_FRAMES), dtype=bool)
    mask[:, 1:] = magnitude >= threshold * mean
    static = mean[:, 0] < STATIC_MOTION_PX
    mask[static] = False
    notes = [f"static clip (mean motion {m:.3f} px < {STATIC_MOTION_PX}): no representative frame" if s
             else ("" if row.any() else f"no frame reaches {threshold} x mean motion")
             for m, s, row in zip(mean[:, 0], static, mask)]
    return mask, notes


def select_representative(flow_path: str | Path, out_path: str | Path, threshold: float,
                          params: dict | None = None) -> dict:
    with h5py.File(flow_path, "r") as src:
        ids = read_strings(src["clip_id"])
        magnitude = src["magnitude"][()]
    mask, notes = representative_frames(magnitude, threshold)
    with write_h5(out_path, "representative", params) as f:
        write_strings(f, "clip_id", ids)
        f.create_dataset("mask", data=mask)
        write_strings(f, "note", notes)
        f.attrs["threshold"] = threshold
    return {"clips": len(ids), "representative_per_clip": float(mask.sum(1).mean()) if len(ids) else 0.0,
            "without_representative": int((~mask.any(1)).sum())}
