"""Stage `audio`: the 16 kHz waveform, the 18 x 128 log-mel and `has_audio` of every clip -> audio.h5.

A clip whose audio is absent, unreadable or digitally silent is kept, with `has_audio` false
and a note saying why: that is the missing-audio case VIDA exists for.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vida_core.shared import NUM_FRAMES, NUM_MEL_BINS, SAMPLE_RATE
from vida_core.executors import WorkerDied, make_executor
from vida_core.extract import DECODE_ERRORS, clip_error
from vida_core.extract.logmel import CLIP_SAMPLES, logmel_18x128
from vida_core.shared.artifacts import STRING, RowWriter, encode_row, write_h5
from vida_core.io.dataset import read_manifest
from vida_core.io.decode import decode_audio, is_silent, pcm16
from vida_core.shared.config import asdict


# Notes of clips whose audio could not be read, as opposed to clips that have none (no audio
# stream, digital silence): the former count towards max_reject_fraction.
FAILURE_PREFIXES = ("audio decode failed", "not a readable media file", "decoder crashed", "decode error",
                    "file not found", "empty file")


# One chunk per clip, gzip-compressed in the workers: the writing process only appends bytes.
WAVEFORM_STORAGE = {"compression": "gzip", "compression_opts": 1}


def _no_audio(note: str):
    return np.zeros(CLIP_SAMPLES, np.int16), np.zeros((NUM_FRAMES, NUM_MEL_BINS), np.float32), False, note


def _audio_of(job: tuple[str, float]):
    pcm, logmel, has_audio, note = _decoded_audio(*job)
    return encode_row(pcm, **WAVEFORM_STORAGE), logmel, has_audio, note


def _decoded_audio(path: str, silence_dbfs: float):
    try:
        waveform, note = decode_audio(path, silence_dbfs=silence_dbfs)
    except DECODE_ERRORS as err:  # keep the clip, with its audio marked missing
        waveform, note = None, f"decode error ({err.__class__.__name__}: {err})"
    except Exception as err:
        raise clip_error("audio", path, err) from err
    if waveform is None:
        return _no_audio(note)
    pcm = pcm16(waveform)
    if is_silent(waveform, silence_dbfs):
        peak = np.abs(pcm).max(initial=0) / 32768
        # The decoder's note (which of several tracks, damage) goes after the reason.
        return pcm, np.zeros((NUM_FRAMES, NUM_MEL_BINS), np.float32), False, "; ".join(filter(None, [
            f"digital silence (peak {20 * np.log10(max(peak, 1e-12)):.0f} dBFS <= {silence_dbfs} dBFS)", note]))
    # A note here says what was repaired (e.g. damaged packets skipped), with the audio kept.
    return pcm, logmel_18x128(pcm.astype(np.float32) / 32768), True, note


def extract_audio(rows: list[dict], out_path: str | Path,
                  silence_dbfs: float = -80.0, executor=None, params: dict | None = None, workers: int = 1) -> dict:
    """Waveform, log-mel and `has_audio` for every manifest row into `audio.h5`."""
    with write_h5(out_path, "audio", params) as f:
        f.attrs["sample_rate"] = SAMPLE_RATE
        f.attrs["feature"] = ("AST log-mel fbank (16 kHz, 25 ms Hann, 10 ms hop, 128 kaldi mel bins, "
                              "log energy) averaged over 18 steps of 1/6 s; zeros where has_audio is false")
        writer = RowWriter(f, {
            "clip_id": ((), STRING, {}),
            "logmel": ((NUM_FRAMES, NUM_MEL_BINS), np.float32, {}),
            "waveform": ((CLIP_SAMPLES,), np.int16, {"chunks": (1, CLIP_SAMPLES), **WAVEFORM_STORAGE}),
            "has_audio": ((), np.bool_, {}),
            "audio_note": ((), STRING, {}),
        }, flush_every=64)
        jobs = ((r["path"], silence_dbfs) for r in rows)
        missing = 0
        results = (executor or make_executor("local", workers)).map(_audio_of, jobs, total=len(rows), desc="audio")
        failures = []
        for row, result in zip(rows, results):
            pcm, logmel, has_audio, note = _no_audio(f"decoder crashed: {result.reason}") \
                if isinstance(result, WorkerDied) else result
            if note.startswith(FAILURE_PREFIXES):
                failures.append((row["clip_id"], note))
            missing += not has_audio
            writer.append(clip_id=row["clip_id"], logmel=logmel, waveform=pcm, has_audio=has_audio, audio_note=note)
        writer.flush()
        f.attrs["with_audio"], f.attrs["without_audio"] = writer.count - missing, missing
    return {"clips": writer.count, "with_audio": writer.count - missing, "without_audio": missing,
            "unreadable": len(failures), "failures": failures}


def audio_stage(stage) -> dict:
    """The `audio` stage (stages/audio.py, and `vida predict`): every manifest clip's audio window,
    its 18 x 128 log-mel, or the reason it has none -> audio.h5. Returns counts and failures."""
    rows = read_manifest(stage.input("manifest"))
    summary = extract_audio(rows, stage.output("audio"), silence_dbfs=stage.params.audio.silence_dbfs,
                            executor=stage.executor(("vida_core.extract.audio",)),
                            params={"audio": asdict(stage.params.audio)})
    return {**summary, "clips": len(rows)}
