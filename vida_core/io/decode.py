"""Decoding clips: 18 frames at 6 fps by timestamp, and the 16 kHz mono audio of the same window.

Both decoders read the file sequentially once (a single seek to the window start for long
clips, never a seek per frame) and agree on the window through `clip_window`:
- a clip of 3 s or more is cut to its centred 3 s;
- a clip shorter than 3 s but at least `min_duration` long starts at 0 and holds its last frame;
- anything shorter, unreadable, or without a video stream is rejected with a one-line reason.
Frame k is the frame on screen at time start + k/6 s (the last frame whose presentation time is
not after it), which is right for any frame rate, fractional or variable.

The streams are those a player uses: the first video stream that is not an attached picture
(cover art, which files may list before the video) for frames and for the window, and the audio
track marked default, else the first (`main_video`, `main_audio`; see `decode_audio` for a
silent chosen track).

Frames are cropped from the picture as a player shows it: non-square pixels are stretched to square
ones and the display matrix (phone rotation, mirroring) is applied. A seek is trusted only when
decoding restarts at a clean intra frame no later than the window; otherwise the clip is decoded
from the start, so stored frames always equal a decode from the start. Decoding goes packet by
packet: a damaged packet is skipped. Video frames lost that way are never replaced by a held
frame (the clip is rejected instead); lost audio becomes silence, reported in the note.
"""

from __future__ import annotations

import math
import os
import struct
from dataclasses import dataclass
from fractions import Fraction

import av
import cv2
import numpy as np
from av.audio.plane import AudioPlane

from vida_core.shared import CLIP_SECONDS, FPS, NUM_FRAMES, SAMPLE_RATE
from vida_core.shared.config import AudioConfig, FramesConfig   # the defaults' one home

_EPS = 1e-4          # seconds of slack when comparing presentation times
_SEEK_AFTER = 2.0    # seek once when the window starts later than this


class ClipRejected(Exception):
    """A clip that can't give 18 frames; the message is the one-line reason shown to users."""


class _UnverifiedSeek(Exception):
    """Decoding after a seek did not restart at a clean picture; decode from the start instead."""


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


def _describe(err: Exception) -> str:
    return f"{err.__class__.__name__}: {err}"


def _packets(container, stream, read_failed: list):
    """The stream's packets. A read error ends them (the error is appended to `read_failed`) with
    a None, for which `stream.decode(None)` still gives up the frames the decoder holds."""
    packets = container.demux(stream)
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            return
        except av.error.FFmpegError as err:
            read_failed.append(err)
            yield None
            return
        yield packet


# ------------------------------------------------------------------------------ display geometry

# How to turn a stored picture into the displayed one, named after FFmpeg's filters.
_ORIENTATIONS = {
    "clock": lambda a: np.rot90(a, -1),
    "cclock": lambda a: np.rot90(a, 1),
    "cclock_flip": lambda a: a.transpose(1, 0, 2),
    "clock_flip": lambda a: a[::-1, ::-1].transpose(1, 0, 2),
    "hflip": lambda a: a[:, ::-1],
    "vflip": lambda a: a[::-1],
    "hflip,vflip": lambda a: a[::-1, ::-1],
}


def _pixel_aspect(stream) -> Fraction | int:
    """Width over height of one stored pixel: 1 when unknown, or too far off to be anything but a
    broken header."""
    sar = stream.sample_aspect_ratio
    return sar if sar and sar != 1 and Fraction(1, 8) <= sar <= 8 else 1


def _side_data(frame: av.VideoFrame) -> list:
    """A frame's side data entries. PyAV before 18 iterates over the entries themselves, PyAV 18
    over their types (the container became a mapping from type to entry)."""
    container = frame.side_data
    return [item if hasattr(item, "type") else container[item] for item in container]


def _orientation(frame: av.VideoFrame) -> str | None:
    """How a player turns this frame, from its display matrix (phone rotation, mirroring).

    The same choices as ffmpeg's and ffplay's autorotate; angles that are not quarter turns
    (which cameras don't write) are rounded to the nearest one.
    """
    data = next((bytes(sd) for sd in _side_data(frame) if sd.type == av.sidedata.sidedata.Type.DISPLAYMATRIX), None)
    if data is None:
        return None
    m = struct.unpack("=9i", data)
    scale_x, scale_y = math.hypot(m[0], m[3]), math.hypot(m[1], m[4])
    if not (scale_x and scale_y):
        return None     # a degenerate matrix: FFmpeg gives no angle either
    # The clockwise angle (av_display_rotation_get computes it with the opposite sign).
    clockwise = math.degrees(math.atan2(m[1] / scale_y, m[0] / scale_x))
    quarter_turns = round(clockwise / 90) % 4
    if quarter_turns == 1:
        return "cclock_flip" if m[3] > 0 else "clock"
    if quarter_turns == 3:
        return "clock_flip" if m[3] < 0 else "cclock"
    flips = (["hflip"] if quarter_turns == 2 and m[0] < 0 else []) + (["vflip"] if m[4] < 0 else [])
    return ",".join(flips) or None


def _centre_square(width: int, height: int, pixel_aspect: Fraction | int = 1) -> tuple[slice, slice]:
    """The rows and columns of the stored picture that show the centre square of the displayed one.

    Stretching non-square pixels to square ones keeps the picture centred, and so does turning it:
    the centre square of the turned picture is the turned centre square of the stored one.
    """
    if pixel_aspect == 1:
        rows = cols = min(width, height)
    elif width * pixel_aspect >= height:
        rows, cols = height, min(width, round(height / pixel_aspect))
    else:
        rows, cols = min(height, round(width * pixel_aspect)), width
    top, left = (height - rows) // 2, (width - cols) // 2
    return slice(top, top + rows), slice(left, left + cols)


def _resize_and_crop(frame: av.VideoFrame, size: int, crop: tuple[slice, slice] | None = None,
                     orientation: str | None = None) -> np.ndarray:
    """The centre square of the frame as displayed, resized to size x size RGB.

    Colour conversion and area-averaging resize in OpenCV: several times faster than asking
    FFmpeg's swscale to convert and scale in one call, which matters since decoding itself is
    cheap at these sizes. `crop` (from `_centre_square`; square pixels when None) is resized in
    one step, which also makes non-square pixels square, and the small result is then turned by
    `orientation` (cheaper than turning the full frame first).
    """
    w, h = frame.width, frame.height
    if frame.format.name == "yuv420p" and w % 2 == 0 and h % 2 == 0:
        rgb = cv2.cvtColor(frame.to_ndarray(), cv2.COLOR_YUV2RGB_I420)
    else:
        rgb = frame.to_ndarray(format="rgb24")
    square = rgb[crop or _centre_square(w, h)]
    # Area averaging only where it prevents aliasing (shrinking 2x or more); OpenCV's area
    # resize at fractional ratios costs more than decoding the frame.
    interpolation = cv2.INTER_AREA if min(square.shape[:2]) >= 2 * size else cv2.INTER_LINEAR
    resized = cv2.resize(square, (size, size), interpolation=interpolation)
    if orientation is None:
        return resized
    return np.ascontiguousarray(_ORIENTATIONS[orientation](resized))


class _Pictures:
    """Decoded frames to stored arrays. The display geometry is read from the first frame
    converted; the crop is worked out once per frame size."""

    def __init__(self, stream, size: int):
        self.stream, self.size = stream, size
        self.pixel_aspect = self.orientation = None
        self.crops = {}

    def __call__(self, frame: av.VideoFrame) -> np.ndarray:
        if self.pixel_aspect is None:
            self.pixel_aspect, self.orientation = _pixel_aspect(self.stream), _orientation(frame)
        dims = frame.width, frame.height
        if dims not in self.crops:
            self.crops[dims] = _centre_square(*dims, self.pixel_aspect)
        return _resize_and_crop(frame, self.size, self.crops[dims], self.orientation)


# ----------------------------------------------------------------------------------------- video

class _LostFrames:
    """Video packets the decoder refused or could not read, and which frames went with them.

    The decoder returns frames in presentation order, so once decoding has failed, a packet read
    whose time lies after the frame on screen but not after a target time, and whose frame never
    came out, was lost. (With frame threads an error surfaces a packet or two late, so the packet
    that raised is not necessarily the one lost; packet times don't depend on that.)
    """

    def __init__(self, stream):
        self.stream = stream
        self.packet_pts = []       # of every packet read, in the stream's time base
        self.error = None          # the first decode or read error
        self.read_failed = []      # the read error that ended the stream, if one did

    def check(self, shown: float | None, target: float) -> None:
        """Reject the clip if the frame on screen at `target` was lost, rather than stand in the
        frame at time `shown` (None: the first frame decoded, which comes after the target)."""
        if self.error is None:
            return
        after = -math.inf if shown is None else shown + _EPS
        time_base = float(self.stream.time_base)
        lost = [pts * time_base for pts in self.packet_pts if after < pts * time_base <= target + _EPS]
        if lost:
            raise ClipRejected(f"video decode failed at {min(lost):.1f} s: {_describe(self.error)}")


def _video_frames(container, stream, lost: _LostFrames):
    """The stream's frames, decoded packet by packet so that a damaged packet is skipped, not fatal."""
    for packet in _packets(container, stream, lost.read_failed):
        if packet is not None and packet.pts is not None and not packet.is_discard:
            lost.packet_pts.append(packet.pts)
        try:
            frames = stream.decode(packet)
        except av.error.FFmpegError as err:
            lost.error = lost.error or err
            continue
        yield from frames
    if lost.read_failed:
        lost.error = lost.error or lost.read_failed[0]


def _is_picture(stream) -> bool:
    """An attached picture: cover art stored as a one-frame video stream, often before the video."""
    return bool(stream.disposition & av.stream.Disposition.attached_pic)


def main_video(container):
    """The video a player shows: the first video stream that is not an attached picture; None
    when there is none."""
    return next((s for s in container.streams.video if not _is_picture(s)), None)


def _video_note(container, stream) -> str:
    """Which video stream was read, when the file has several ('' when it has one)."""
    videos = container.streams.video
    if len(videos) < 2:
        return ""
    pictures = [f"#{s.index}" for s in videos if _is_picture(s)]
    skipped = f"; attached picture {', '.join(pictures)} skipped" if pictures else ""
    return f"video stream #{stream.index} of {len(videos)} video streams{skipped}"


def _video_stream(container):
    stream = main_video(container)
    if stream is None:
        raise ClipRejected("no video stream" + (" (only an attached picture)" if container.streams.video else ""))
    # One decoding thread: the per-clip stages already run one process per core, and FFmpeg's
    # frame threads then only add work (a third more CPU per clip at 340x256).
    stream.codec_context.thread_count = 1
    return stream


def _check_clean_start(frame: av.VideoFrame, time: float, first_target: float, lost: _LostFrames) -> None:
    """After a seek, decoding must restart at an intra picture no later than the window, with no
    error on the way. A frame the file flags as key may be a recovery point or the start of an
    intra refresh, whose successors depend on pictures before the seek: decoding from it gives
    frames that differ from a decode from the start, and from run to run."""
    clean = frame.key_frame and frame.pict_type == av.video.frame.PictureType.I and not frame.is_corrupt
    if lost.error is not None or not clean or time > first_target + _EPS:
        raise _UnverifiedSeek


def _sample_frames(container, stream, window: Window, size: int, min_duration: float,
                   after_seek: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Decode from where the container stands and keep the frame on screen at each target time."""
    targets = sample_times(window.start)
    frames = np.zeros((NUM_FRAMES, size, size, 3), dtype=np.uint8)
    stamps = np.zeros(NUM_FRAMES, dtype=np.float64)
    to_rgb = _Pictures(stream, size)
    lost = _LostFrames(stream)
    k = 0
    held = None          # (time, frame) currently on screen
    held_rgb = None      # its resized RGB, converted only when chosen
    decoded_until = None
    for frame in _video_frames(container, stream, lost):
        if frame.time is None:
            continue
        t = float(frame.time)
        if after_seek:
            _check_clean_start(frame, t, targets[0], lost)
            after_seek = False
        decoded_until = t
        # Every target before this frame's time shows the held frame (or this one, if first).
        while k < NUM_FRAMES and targets[k] < t - _EPS:
            lost.check(held[0] if held else None, targets[k])
            if held is None:
                held, held_rgb = (t, frame), None
            if held_rgb is None:
                held_rgb = to_rgb(held[1])
            frames[k], stamps[k] = held_rgb, held[0]
            k += 1
        if k == NUM_FRAMES:
            break
        held, held_rgb = (t, frame), None
    if after_seek:
        raise _UnverifiedSeek
    if held is None:
        if lost.error is not None:
            raise ClipRejected(f"video decode failed ({_describe(lost.error)})")
        raise ClipRejected("video stream has no decodable frames")
    if k < NUM_FRAMES:
        # Holding the last frame is for clips a little short of 3 s, not for frames lost to errors.
        lost.check(held[0], targets[-1])
        stream_start = _stream_span(container, stream)[0]
        if lost.read_failed and stream_start + window.duration > targets[k] + _EPS:
            raise ClipRejected(f"video decode failed at {held[0]:.1f} s: {_describe(lost.read_failed[0])}")
        shown = (decoded_until or 0.0) - stream_start + 1 / FPS
        if shown < min_duration - _EPS and window.duration >= min_duration:
            raise ClipRejected(f"truncated or corrupt: decoded only {shown:.2f} s of video")
        rgb = held_rgb if held_rgb is not None else to_rgb(held[1])
        frames[k:], stamps[k:] = rgb, held[0]
    return frames, stamps


class SampledFrames(tuple):
    """`frames, stamps = decode_frames(...)`, and `.note`: which video stream was read when the
    file has several ('' when it has one)."""

    note: str

    def __new__(cls, frames: np.ndarray, stamps: np.ndarray, note: str = ""):
        self = super().__new__(cls, (frames, stamps))
        self.note = note
        return self


def decode_frames(path: str, size: int = FramesConfig.resolution, min_duration: float = FramesConfig.min_duration) -> SampledFrames:
    """The 18 frames [18, size, size, 3] uint8 RGB and their source timestamps [18] (seconds),
    from the video a player shows (`main_video`: attached pictures are skipped)."""
    with _open(path) as container:
        stream = _video_stream(container)
        note = _video_note(container, stream)
        window = clip_window(container, stream, min_duration)
        if window.start - _stream_span(container, stream)[0] <= _SEEK_AFTER:
            return SampledFrames(*_sample_frames(container, stream, window, size, min_duration), note)
        container.seek(int(window.start * 1e6), backward=True)
        try:
            return SampledFrames(*_sample_frames(container, stream, window, size, min_duration, after_seek=True), note)
        except _UnverifiedSeek:
            pass
    # The seek landed where decoding can't be trusted: decode from the start (rare).
    with _open(path) as container:
        return SampledFrames(*_sample_frames(container, _video_stream(container), window, size, min_duration), note)


# ----------------------------------------------------------------------------------------- audio

class _MonoResampler:
    """Any layout and rate -> 16 kHz mono float32: FFmpeg resamples, then channels are averaged
    (FFmpeg's own down-mix adds channels and clips 5.1 material).

    FFmpeg gives packed float (channels interleaved), read as one buffer and reshaped to samples x
    channels: PyAV finds the planes of planar audio by walking pointers until a null one, and a
    frame of 8 or more channels has none, so reading it planar crashes the process. The channels
    are summed in order and divided once, as `mean(axis=0)` over planar rows did: the same bits.
    """

    def __init__(self):
        self.resampler = None
        self.channels = 0

    def _mono(self, frames: list[av.AudioFrame]) -> list[np.ndarray]:
        out = []
        for frame in frames:
            samples = frame.to_ndarray()[0]    # packed: one plane of samples x channels values
            if self.channels == 1:
                out.append(samples)
                continue
            samples = samples.reshape(-1, self.channels)
            mono = samples[:, 0] + samples[:, 1]
            for c in range(2, self.channels):
                mono += samples[:, c]
            out.append(mono / np.float32(self.channels))
        return out

    def __call__(self, frame: av.AudioFrame | None) -> list[np.ndarray]:
        if frame is None:
            return self._mono(self.resampler.resample(None)) if self.resampler else []
        if self.resampler is None:
            self.channels = frame.layout.nb_channels
            self.resampler = av.AudioResampler(format="flt", layout=frame.layout, rate=SAMPLE_RATE)
        return self._mono(self.resampler.resample(frame))


class _SkippedAudio:
    """Audio packets the decoder refused, or the read error that ended the stream: where, how
    long, and the first error."""

    def __init__(self):
        self.packets = []        # (time in seconds or None, duration in seconds or None, error)
        self.read_failed = []    # the read error that ended the stream, if one did
        self.read_failed_at = None    # where decoded audio stopped then, seconds
        self.frame_seconds = 0.0      # length of a decoded frame: stands in for unknown durations

    @property
    def error(self) -> Exception | None:
        return self.packets[0][2] if self.packets else (self.read_failed[0] if self.read_failed else None)

    def add(self, packet: av.Packet, err: Exception) -> tuple[float | None, float | None]:
        tb = packet.time_base
        time = float(packet.pts * tb) if packet.pts is not None and tb else None
        duration = float(packet.duration * tb) if packet.duration and tb else None
        self.packets.append((time, duration, err))
        return time, duration

    def note(self, start: float, end: float) -> str:
        """What the window [start, end) seconds lost, in words; '' when nothing."""
        spans = [(t, self.frame_seconds if d is None else d) for t, d, _ in self.packets]
        # A lost packet also spoils the start of the next one (audio codecs overlap their windows),
        # so one ending just before the window counts too.
        hit = [d for t, d in spans if t is None or (t + 2 * d > start and t < end)]
        words = []
        if hit:
            words.append(f"skipped {len(hit)} damaged audio packet{'s' if len(hit) > 1 else ''}"
                         f" (~{sum(hit) * 1000:.0f} ms lost)")
        if self.read_failed and (self.read_failed_at is None or self.read_failed_at < end):
            at = "" if self.read_failed_at is None else f" after {self.read_failed_at:.1f} s"
            words.append(f"audio unreadable{at} ({_describe(self.read_failed[0])})")
        return "; ".join(words)


def _silence(like: av.AudioFrame, start: float | None, end: float | None):
    """Silent frames in the format of `like` covering [start, end) seconds, as (frame, False)."""
    if start is None or end is None or not math.isfinite(end) or not like.time_base:
        return
    rate = like.sample_rate
    count = (end - start) * rate
    # Lost packets hold whole codec frames: snap to that when the timestamps are too coarse to
    # say better (Matroska's milliseconds), so later audio doesn't drift by a fraction of a frame.
    frames = round(count / like.samples)
    if frames and abs(count - frames * like.samples) <= float(like.time_base) * rate + 1:
        count = frames * like.samples
    count, first = round(count), round(start * rate)
    for offset in range(0, max(count, 0), rate):   # one second at a time
        frame = av.AudioFrame(format=like.format.name, layout=like.layout, samples=min(rate, count - offset))
        # Planes by index: `frame.planes` reads past the end of a frame of 8 or more planes.
        for index in range(like.layout.nb_channels if like.format.is_planar else 1):
            plane = AudioPlane(frame, index)
            plane.update(bytes(plane.buffer_size))
        frame.sample_rate, frame.time_base = rate, like.time_base
        frame.pts = round(Fraction(first + offset, rate) / like.time_base)
        yield frame, False


def _frame_end(frame: av.AudioFrame | None) -> float | None:
    if frame is None or frame.time is None:
        return None
    return frame.time + frame.samples / frame.sample_rate


def _audio_frames(container, stream, skipped: _SkippedAudio):
    """(frame, decoded) pairs of the stream, decoded packet by packet. A damaged packet is skipped
    and the hole it leaves filled with silent frames (decoded False), so later samples keep their
    time."""
    # Lost audio before the stream's start (an encoder's priming packet) needs no silence.
    origin = float(stream.start_time * stream.time_base) if stream.start_time is not None else -math.inf
    hole = None    # [start, end] seconds of audio lost since the last decoded frame
    last = None    # the last decoded frame
    for packet in _packets(container, stream, skipped.read_failed):
        try:
            frames = stream.decode(packet)
        except av.error.FFmpegError as err:
            if packet is None:
                continue    # the flush after a read error; that error is already recorded
            time, duration = skipped.add(packet, err)
            if hole is None:
                start = _frame_end(last) if last is not None else time
                hole = [None if start is None else max(start, origin), -math.inf]
            if time is not None:
                hole[1] = max(hole[1], time + (duration or skipped.frame_seconds))
            continue
        for frame in frames:
            if hole is not None:
                yield from _silence(frame, hole[0], frame.time)
                hole = None
            yield frame, True
            last = frame
            skipped.frame_seconds = frame.samples / frame.sample_rate
    if hole is not None and last is not None:
        yield from _silence(last, hole[0], hole[1])
    if skipped.read_failed:
        skipped.read_failed_at = _frame_end(last)


def main_audio(container):
    """The audio track a player plays: the first marked default, else the first; None when there
    is none."""
    tracks = container.streams.audio
    return next((s for s in tracks if s.disposition & av.stream.Disposition.default), tracks[0] if tracks else None)


def _track_name(container, stream) -> str:
    tracks = list(container.streams.audio)
    role = "the default" if stream.disposition & av.stream.Disposition.default else "none is marked default"
    return f"audio track {tracks.index(stream) + 1} of {len(tracks)} ({role})"


def _joined(*notes: str) -> str:
    return "; ".join(n for n in notes if n)


def pcm16(waveform: np.ndarray) -> np.ndarray:
    """A [-1, 1] float waveform as the 16-bit PCM audio.h5 stores."""
    return np.clip(np.round(waveform * 32767), -32768, 32767).astype(np.int16)


def is_silent(waveform: np.ndarray, silence_dbfs: float) -> bool:
    """Digital silence: the waveform, as 16-bit PCM, peaks at or below `silence_dbfs`."""
    return np.abs(pcm16(waveform)).max(initial=0) / 32768 <= 10 ** (silence_dbfs / 20)


def decode_audio_track(path: str) -> np.ndarray:
    """A file's whole audio track (`main_audio`) as 16 kHz mono float32 (for sources cut by their
    own labels).

    Damaged packets are skipped and their time filled with silence, so later sounds stay in place.
    """
    to_mono = _MonoResampler()
    skipped = _SkippedAudio()
    chunks = []
    decoded = False
    with _open(path) as container:
        if not container.streams.audio:
            raise ClipRejected("no audio stream")
        for frame, real in _audio_frames(container, main_audio(container), skipped):
            chunks += to_mono(frame)
            decoded |= real
        chunks += to_mono(None)
    if not decoded and skipped.error is not None:
        raise ClipRejected(f"audio decode failed ({_describe(skipped.error)})")
    if not chunks:
        raise ClipRejected("audio stream decodes to nothing")
    return np.concatenate(chunks).astype(np.float32)


def decode_audio(path: str, silence_dbfs: float = AudioConfig.silence_dbfs) -> tuple[np.ndarray | None, str]:
    """16 kHz mono float32 [48000] of the clip's 3 s window, or (None, why there is none).

    The window is the video's (the same `clip_window` of `main_video`), whatever the clip's
    length: a clip too short for frames is the frames stage's reject, and its audio is still
    read here.

    Any codec, layout and channel count FFmpeg reads (AAC, MP3, MP2, Vorbis, Opus, PCM; mono to
    7.1 and beyond) goes through `_MonoResampler`. Samples outside the audio stream are zeros.
    Damaged packets are skipped and their time left silent; the note then says how many and
    roughly how much audio the window lost (a waveform with a note is still audio).

    The track is the one a player plays (`main_audio`: the default, else the first). When the
    file has several, the note names it ("audio track 2 of 2 (the default)"), and when its window
    is digital silence (`silence_dbfs`, the audio stage's threshold) or unreadable while another
    track has sound, the loudest of those (by RMS) is used instead, and the note says so: a silent
    default beside a track with sound is a recording set-up (a muted microphone track), not a clip
    without sound, and VIDA's `has_audio` is about the sound. With no sound in any track, the
    chosen track's result stands and the note says the others are silent too.
    """
    try:
        container = _open(path)
    except ClipRejected as err:
        return None, str(err)
    with container:
        if not container.streams.audio:
            return None, "no audio stream"
        audio = main_audio(container)
        reference = main_video(container) or audio
        try:
            window = clip_window(container, reference, min_duration=0.0)
        except ClipRejected as err:
            return None, str(err)
        waveform, note = _window_audio(container, audio, window)
        if len(container.streams.audio) == 1:
            return waveform, note
        name = _track_name(container, audio)
        if waveform is not None and not is_silent(waveform, silence_dbfs):
            return waveform, _joined(note, name)
        others = [(i + 1, s.index) for i, s in enumerate(container.streams.audio) if s is not audio]
    heard = []
    for number, index in others:
        with _open(path) as other:
            found, found_note = _window_audio(other, other.streams[index], window)
        if found is not None and not is_silent(found, silence_dbfs):
            rms = float(np.sqrt(np.mean(np.square(found, dtype=np.float64))))
            heard.append((rms, -number, found, found_note, number))
    if not heard:
        return waveform, _joined(note, f"{name}; no other track has sound")
    *_, found, found_note, number = max(heard)
    what = "digital silence" if waveform is not None else f"without sound ({note})"
    return found, _joined(found_note, f"{name} is {what}: used track {number}, the loudest")


def _window_audio(container, audio, window: Window) -> tuple[np.ndarray | None, str]:
    """The 3 s window of one audio stream (see `decode_audio`)."""
    n = int(CLIP_SECONDS * SAMPLE_RATE)
    if window.start > _SEEK_AFTER:
        container.seek(int(max(0.0, window.start - 1.0) * 1e6), backward=True)
    to_mono = _MonoResampler()
    skipped = _SkippedAudio()
    out = np.zeros(n, dtype=np.float32)
    heard = 0       # decoded samples placed in the window (not silence put in for lost ones)
    cursor = None   # sample index (relative to the window start) of the next decoded sample
    for frame, decoded in _audio_frames(container, audio, skipped):
        if cursor is None:
            t0 = float(frame.time) if frame.time is not None else 0.0
            cursor = int(round((t0 - window.start) * SAMPLE_RATE))
        for samples in to_mono(frame):
            cursor, placed = _place(out, samples, cursor)
            heard += placed if decoded else 0
        if cursor >= n:
            break
    else:
        for samples in to_mono(None):
            cursor, placed = _place(out, samples, cursor)
            heard += placed
    if not heard:
        if skipped.error is not None:
            return None, f"audio decode failed ({_describe(skipped.error)})"
        return None, "audio stream has no samples in the clip window"
    return out, skipped.note(window.start, window.start + CLIP_SECONDS)


def _place(out: np.ndarray, samples: np.ndarray, cursor: int) -> tuple[int, int]:
    """Copy `samples` to `out` at `cursor` (clipping at both ends); return the new cursor and how
    many samples landed in `out`."""
    lo, hi = max(cursor, 0), min(cursor + len(samples), len(out))
    if hi > lo:
        out[lo:hi] = samples[lo - cursor:hi - cursor]
    return cursor + len(samples), max(hi - lo, 0)
