"""Stage `flow`: optical flow between the 18 sampled frames -> flow.h5 (fields and motion magnitudes).

Flow methods are a table, `FLOW_METHODS`: name -> how to compute it, its own knobs (a typed
dataclass whose fields are read from the `flow` section of params.yaml) and whether it works on
batches of clips (GPU methods) rather than one clip at a time in the executor's workers.
Adding a method is one entry here; `flow.method` then picks it and its knobs are checked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import h5py
import numpy as np

from vida_core.shared import NUM_FRAMES
from vida_core.shared.config import FlowConfig as _FLOW   # the defaults' one home
from vida_core.executors import WorkerDied, make_executor
from vida_core.shared.artifacts import EncodedRow, RowWriter, decode_row, read_encoded_row, read_strings, write_h5, write_strings

FARNEBACK_REFERENCE = dict(pyr_scale=0.5, levels=3, winsize=15, iterations=3, poly_n=5, poly_sigma=1.2, flags=0)
DIS_PRESETS = {"ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST, "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
               "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM}


@dataclass
class DISOptions:
    preset: str = "fast"       # DIS speed/accuracy: ultrafast | fast | medium

    def __post_init__(self):
        if self.preset not in DIS_PRESETS:
            raise ValueError(f"flow.preset '{self.preset}' is not one of {sorted(DIS_PRESETS)}")


@dataclass
class NoOptions:
    """A method without knobs (Farneback always uses the reference parameters)."""


def dis_flow(gray: list[np.ndarray], options: DISOptions) -> np.ndarray:
    dis = cv2.DISOpticalFlow_create(DIS_PRESETS[options.preset])
    return np.stack([dis.calc(a, b, None) for a, b in zip(gray[:-1], gray[1:])])


def farneback_flow(gray: list[np.ndarray], options: NoOptions) -> np.ndarray:
    return np.stack([cv2.calcOpticalFlowFarneback(a, b, None, **FARNEBACK_REFERENCE)
                     for a, b in zip(gray[:-1], gray[1:])])


@dataclass(frozen=True)
class FlowMethod:
    # Per clip: (18 grey frames [size, size] uint8, options) -> [17, size, size, 2] float32 in
    # pixels at `size`. Batched: (grey frames [B, 18, size, size], options) -> [B, 17, size, size, 2].
    compute: Callable
    options: type = NoOptions
    batched: bool = False      # True for methods that want many clips at once (GPU); run in-process


FLOW_METHODS: dict[str, FlowMethod] = {
    "dis": FlowMethod(dis_flow, DISOptions),
    "farneback": FlowMethod(farneback_flow),
}


def flow_method(name: str) -> FlowMethod:
    if name not in FLOW_METHODS:
        raise ValueError(f"flow.method '{name}' is not one of {', '.join(FLOW_METHODS)}")
    return FLOW_METHODS[name]


def check_options(spec: FlowMethod, options: dict, method: str):
    """The method's options dataclass from the flow section's extra keys; an unknown key is an error."""
    from vida_core.shared.config import build

    return build(spec.options, options, f"flow (knobs of flow method '{method}')")


def grey_frames(frames: np.ndarray, size: int) -> list[np.ndarray]:
    return [cv2.resize(cv2.cvtColor(f, cv2.COLOR_RGB2GRAY), (size, size), interpolation=cv2.INTER_AREA)
            for f in frames]


def optical_flow(frames: np.ndarray, method: str = _FLOW.method, size: int = _FLOW.resolution, **options) -> np.ndarray:
    """Flow between consecutive frames [T, H, W, 3] -> [T-1, size, size, 2] in pixels at `size`."""
    spec = flow_method(method)
    opts = check_options(spec, options, method)
    gray = grey_frames(frames, size)
    if spec.batched:
        return spec.compute(np.stack(gray)[None], opts)[0]
    return spec.compute(gray, opts)


def motion_magnitude(flow: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """Mean pixel displacement of each flow field [T, h, w, 2] -> [T], times `scale`."""
    return (np.sqrt((flow.astype(np.float32) ** 2).sum(-1)).mean(axis=(1, 2)) * scale).astype(np.float32)


def _flow_of(job: tuple[np.ndarray | EncodedRow, str, int, dict]):
    frames, method, size, options = job
    if isinstance(frames, EncodedRow):     # decompressed here, in the worker, not in the reading process
        frames = decode_row(frames)
    flow = optical_flow(frames, method, size, **options)
    # Magnitudes in pixels at the frames' resolution, whatever flow.resolution is.
    return flow.astype(np.float16), motion_magnitude(flow, frames.shape[1] / size)


def _frame_rows(frames_ds: h5py.Dataset, batch: int = 32):
    """Each clip's frames: as stored (lzf bytes, one chunk per clip) for the workers to decompress,
    or as arrays when frames.h5 is chunked otherwise."""
    if frames_ds.chunks == (1, *frames_ds.shape[1:]):
        for index in range(frames_ds.shape[0]):
            yield read_encoded_row(frames_ds, index)
        return
    for lo in range(0, frames_ds.shape[0], batch):
        yield from frames_ds[lo:lo + batch]


def _batched_results(frames_ds: h5py.Dataset, spec: FlowMethod, size: int, options: dict, batch: int = 32):
    opts = spec.options(**options)   # checked by compute_flow
    for lo in range(0, frames_ds.shape[0], batch):
        clips = frames_ds[lo:lo + batch]
        flows = spec.compute(np.stack([grey_frames(c, size) for c in clips]), opts)
        for clip, flow in zip(clips, flows):
            yield flow.astype(np.float16), motion_magnitude(flow, clip.shape[1] / size)


def compute_flow(frames_path: str | Path, out_path: str | Path, method: str = _FLOW.method, size: int = _FLOW.resolution,
                 options: dict | None = None, executor=None, params: dict | None = None, workers: int = 1) -> dict:
    """Flow fields and motion magnitudes of every clip in `frames.h5` into `flow.h5`.

    Flow is stored uncompressed: fields of real motion are noise-like and compress by ~10 %,
    which is not worth the time.
    """
    spec, options = flow_method(method), dict(options or {})
    check_options(spec, options, method)   # fail on a wrong knob before any work
    with h5py.File(frames_path, "r") as src, write_h5(out_path, "flow", params) as f:
        ids = read_strings(src["clip_id"])
        write_strings(f, "clip_id", ids)
        f.attrs["magnitude_units"] = f"mean pixel displacement at {src['frames'].shape[2]} px frames"
        writer = RowWriter(f, {
            "flow": ((NUM_FRAMES - 1, size, size, 2), np.float16,
                     {"chunks": (1, NUM_FRAMES - 1, size, size, 2)}),
            "magnitude": ((NUM_FRAMES - 1,), np.float32, {}),
        }, flush_every=8)
        if spec.batched:
            results = _batched_results(src["frames"], spec, size, options)
        else:
            jobs = ((frames, method, size, options) for frames in _frame_rows(src["frames"]))
            results = (executor or make_executor("local", workers)).map(_flow_of, jobs, total=len(ids), desc=f"flow ({method})")
        for clip_id, result in zip(ids, results):
            if isinstance(result, WorkerDied):   # frames.h5 holds decoded frames: no bad input left here
                raise RuntimeError(f"flow: the worker computing clip {clip_id} died ({result.reason}); "
                                   "frames.h5 holds only decoded frames, so this is a bug, not a bad clip")
            flow, magnitude = result
            writer.append(flow=flow, magnitude=magnitude)
        writer.flush()
    return {"clips": len(ids)}


def flow_stage(stage) -> dict:
    """The `flow` stage (stages/flow.py, and `vida predict`): flow between the sampled frames -> flow.h5."""
    knobs = stage.params.flow
    return compute_flow(stage.input("frames"), stage.output("flow"), method=knobs.method, size=knobs.resolution,
                        options=knobs.options, executor=stage.executor(("vida_core.extract.flow",)),
                        params={"flow": knobs.as_params()})
