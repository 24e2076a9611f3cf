"""Decoding clips: 18 frames at 6 fps by timestamp, and the 16 kHz mono audio of the same window.

Both decoders read the file sequentially once (a single seek to the window start for long
clips, never a seek per frame) and agree on the window through `clip_window`:
- a clip of 3 s or more is cut to its centred 3 s;
- a clip shorter than 3 s but at least `min_duration` long starts at 0 and holds its last frame;
- anything shorter, unreadable, or without a video stream is rejected with a one-line reason.
Frame k is the frame on screen at time start + k/6 s (the last frame whose presentation time is
not after it), which is right for any frame rate, fractional or variable.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import av
import cv2
import numpy as np

from vida_core import CLIP_SECONDS, FPS, NUM_FRAMES, SAMPLE_RATE

_EPS = 1e-4          # seconds of slack when comparing presentation times
_SEEK_AFTER = 2.0    # seek once when the window starts later than this


class ClipRejected(Exception):
    """A clip that can't give 18 frames; the message is the one-line reason shown to users."""


@dataclass(frozen=True)
class Window:
    start: float        # absolute presentation time of frame 0, seconds
    duration: float     # length of the source stream, seconds


def _open(path: str):
    if not os.path.exists(path):
        raise ClipRejected("file not found")
    if os.path.getsize(path) == 0:
        raise ClipRejected("empty file (0 bytes)")
    try:
        return av.open(path)
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as err:
        raise ClipRejected(f"not a readable media file ({err.__class__.__name__}: {err})") from None


def _stream_span(container, stream) -> tuple[float, float | None]:
    """(start time, duration) of a stream in seconds; duration None when the file doesn't say."""
    tb = float(stream.time_base)
    start = stream.start_time * tb if stream.start_time is not None else 0.0
    if stream.duration:
        return start, stream.duration * tb
    if container.duration:
        return start, container.duration / 1e6 - max(0.0, start - (container.start_time or 0) / 1e6)
    return start, None


def _scan_duration(container, stream) -> float:
    """Duration from packet timestamps, for files whose headers don't give it (no decoding)."""
    tb = float(stream.time_base)
    first = last = None
    for packet in container.demux(stream):
        if packet.pts is None:
            continue
        first = packet.pts if first is None else min(first, packet.pts)
        end = packet.pts + (packet.duration or 0)
        last = end if last is None else max(last, end)
    container.seek(0)
    return 0.0 if first is None else (last - first) * tb


def clip_window(container, stream, min_duration: float) -> Window:
    start, duration = _stream_span(container, stream)
    if duration is None:
        duration = _scan_duration(container, stream)
    if duration < min_duration - _EPS:
        raise ClipRejected(f"too short: {duration:.2f} s, under frames.min_duration={min_duration} s")
    return Window(start=start + max(0.0, (duration - CLIP_SECONDS) / 2), duration=duration)


def sample_times(window_start: float) -> np.ndarray:
    return window_start + np.arange(NUM_FRAMES) / FPS


def _resize_and_crop(frame: av.VideoFrame, size: int) -> np.ndarray:
    """The centre square of a frame, resized to size x size RGB.

    Colour conversion and area-averaging resize in OpenCV: several times faster than asking
    FFmpeg's swscale to convert and scale in one call, which matters since decoding itself is
    cheap at these sizes.
    """
    w, h = frame.width, frame.height
    if frame.format.name == "yuv420p" and w % 2 == 0 and h % 2 == 0:
        rgb = cv2.cvtColor(frame.to_ndarray(), cv2.COLOR_YUV2RGB_I420)
    else:
        rgb = frame.to_ndarray(format="rgb24")
    side = min(w, h)
    top, left = (h - side) // 2, (w - side) // 2
    square = rgb[top:top + side, left:left + side]
    # Area averaging only where it prevents aliasing (shrinking 2x or more); OpenCV's area
    # resize at fractional ratios costs more than decoding the frame.
    interpolation = cv2.INTER_AREA if side >= 2 * size else cv2.INTER_LINEAR
    return cv2.resize(square, (size, size), interpolation=interpolation)


def decode_frames(path: str, size: int = 224, min_duration: float = 2.5) -> tuple[np.ndarray, np.ndarray]:
    """The 18 frames [18, size, size, 3] uint8 RGB and their source timestamps [18] (seconds)."""
    with _open(path) as container:
        if not container.streams.video:
            raise ClipRejected("no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        window = clip_window(container, stream, min_duration)
        targets = sample_times(window.start)
        if window.start - _stream_span(container, stream)[0] > _SEEK_AFTER:
            container.seek(int(window.start * 1e6), backward=True)

        frames = np.zeros((NUM_FRAMES, size, size, 3), dtype=np.uint8)
        stamps = np.zeros(NUM_FRAMES, dtype=np.float64)
        k = 0
        held = None          # (time, frame) currently on screen
        held_rgb = None      # its resized RGB, converted only when chosen
        decoded_until = None
        try:
            for frame in container.decode(stream):
                if frame.time is None:
                    continue
                t = float(frame.time)
                decoded_until = t
                # Every target before this frame's time shows the held frame (or this one, if first).
                while k < NUM_FRAMES and targets[k] < t - _EPS:
                    if held is None:
                        held, held_rgb = (t, frame), None
                    if held_rgb is None:
                        held_rgb = _resize_and_crop(held[1], size)
                    frames[k], stamps[k] = held_rgb, held[0]
                    k += 1
                if k == NUM_FRAMES:
                    break
                held, held_rgb = (t, frame), None
        except av.error.FFmpegError as err:
            if held is None:
                raise ClipRejected(f"video decode failed ({err.__class__.__name__}: {err})") from None
        if held is None:
            raise ClipRejected("video stream has no decodable frames")
        if k < NUM_FRAMES:
            shown = (decoded_until or 0.0) - _stream_span(container, stream)[0] + 1 / FPS
            if shown < min_duration - _EPS and window.duration >= min_duration:
                raise ClipRejected(f"truncated or corrupt: decoded only {shown:.2f} s of video")
            # Hold the last frame for a clip a little short of 3 s.
            rgb = held_rgb if held_rgb is not None else _resize_and_crop(held[1], size)
            frames[k:], stamps[k:] = rgb, held[0]
        return frames, stamps


class _MonoResampler:
    """Any layout and rate -> 16 kHz mono float32: FFmpeg resamples, then channels are averaged
    (FFmpeg's own down-mix adds channels and clips 5.1 material)."""

    def __init__(self):
        self.resampler = None

    def __call__(self, frame: av.AudioFrame | None) -> list[np.ndarray]:
        if frame is None:
            return [out.to_ndarray().mean(axis=0) for out in self.resampler.resample(None)] if self.resampler else []
        if self.resampler is None:
            self.resampler = av.AudioResampler(format="fltp", layout=frame.layout.name, rate=SAMPLE_RATE)
        return [out.to_ndarray().mean(axis=0) for out in self.resampler.resample(frame)]


def decode_audio_track(path: str) -> np.ndarray:
    """A file's whole first audio stream as 16 kHz mono float32 (for sources cut by their own labels)."""
    to_mono = _MonoResampler()
    chunks = []
    with _open(path) as container:
        if not container.streams.audio:
            raise ClipRejected("no audio stream")
        for frame in container.decode(container.streams.audio[0]):
            chunks += to_mono(frame)
        chunks += to_mono(None)
    if not chunks:
        raise ClipRejected("audio stream decodes to nothing")
    return np.concatenate(chunks).astype(np.float32)


def decode_audio(path: str, min_duration: float = 2.5) -> tuple[np.ndarray | None, str]:
    """16 kHz mono float32 [48000] of the clip's 3 s window, or (None, why there is none).

    Any codec and layout FFmpeg reads (AAC, MP3, MP2, Vorbis, Opus, PCM; mono to 7.1) goes
    through `_MonoResampler`. Samples outside the audio stream are zeros.
    """
    n = int(CLIP_SECONDS * SAMPLE_RATE)
    try:
        container = _open(path)
    except ClipRejected as err:
        return None, str(err)
    with container:
        if not container.streams.audio:
            return None, "no audio stream"
        audio = container.streams.audio[0]
        reference = container.streams.video[0] if container.streams.video else audio
        try:
            window = clip_window(container, reference, min_duration=0.0)
        except ClipRejected as err:
            return None, str(err)
        if window.start > _SEEK_AFTER:
            container.seek(int(max(0.0, window.start - 1.0) * 1e6), backward=True)
        to_mono = _MonoResampler()
        out = np.zeros(n, dtype=np.float32)
        filled = 0
        cursor = None   # sample index (relative to the window start) of the next decoded sample
        try:
            for frame in container.decode(audio):
                if cursor is None:
                    t0 = float(frame.time) if frame.time is not None else 0.0
                    cursor = int(round((t0 - window.start) * SAMPLE_RATE))
                for samples in to_mono(frame):
                    cursor, filled = _place(out, samples, cursor, filled)
                if cursor >= n:
                    break
            else:
                for samples in to_mono(None):
                    cursor, filled = _place(out, samples, cursor, filled)
        except av.error.FFmpegError as err:
            if not filled:
                return None, f"audio decode failed ({err.__class__.__name__}: {err})"
        if not filled:
            return None, "audio stream has no samples in the clip window"
        return out, ""


def _place(out: np.ndarray, samples: np.ndarray, cursor: int, filled: int) -> tuple[int, int]:
    """Copy `samples` to `out` at `cursor` (clipping at both ends); return the new cursor and count."""
    lo, hi = max(cursor, 0), min(cursor + len(samples), len(out))
    if hi > lo:
        out[lo:hi] = samples[lo - cursor:hi - cursor]
        filled += hi - lo
    return cursor + len(samples), filled
