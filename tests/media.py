"""Test clips made on the fly with PyAV: frames that carry their own index, tones, odd formats."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.audio.plane import AudioPlane

BITS = 8


def index_frame(j: int, width: int, height: int) -> np.ndarray:
    """A frame whose index j is written as 8 black/white vertical bands across its centre square
    (the part a centre crop keeps), which survives H.264."""
    frame = np.full((height, width, 3), 128, dtype=np.uint8)
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    band = side // BITS
    for b in range(BITS):
        frame[top:top + side, left + b * band:left + (b + 1) * band] = 255 if (j >> b) & 1 else 0
    return frame


def read_index(frame: np.ndarray) -> int:
    """Inverse of `index_frame` on a centre-cropped square frame."""
    band = frame.shape[1] / BITS
    row = frame.mean(axis=(0, 2))
    return sum(1 << b for b in range(BITS)
               if row[int(b * band + band / 4):int((b + 1) * band - band / 4)].mean() > 127)


def make_clip(path: Path, fps=25, seconds=3.0, width=160, height=120, frames=None,
              audio_codec: str | None = "aac", channels=1, sample_rate=44100, tone_hz=440.0,
              silent=False, vfr_times: list[float] | None = None, audio_only=False,
              video_options: dict | None = None, draw=index_frame, rotation: float = 0.0,
              hflip=False, sample_aspect_ratio: Fraction | None = None) -> Path:
    """Write a clip; frame j shows `draw(j, width, height)` (by default index j). `vfr_times` gives
    explicit frame times (variable rate); `video_options` are extra libx264 options; `rotation`
    (degrees counter-clockwise) and `hflip` go into the display matrix; `sample_aspect_ratio` is
    the width over height of one stored pixel."""
    path = Path(path)
    suffix_format = {"mp3": "mp3", "mp2": "mp2", "libvorbis": "ogg", "libopus": "ogg"}
    container = av.open(str(path), "w", format="mp4" if path.suffix == ".mp4" else None)
    video = None
    if not audio_only:
        rate = Fraction(fps).limit_denominator(1001) if not isinstance(fps, Fraction) else fps
        video = container.add_stream("libx264", rate=rate)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.options = {"preset": "ultrafast", **(video_options or {})}
        if rotation or hflip:
            video.set_display_rotation(rotation, hflip=hflip)
        if sample_aspect_ratio is not None:
            video.codec_context.sample_aspect_ratio = sample_aspect_ratio
        if vfr_times is not None:
            video.time_base = video.codec_context.time_base = Fraction(1, 1000)
    audio = None
    if audio_codec:
        audio = container.add_stream(audio_codec, rate=sample_rate)
        audio.layout = {1: "mono", 2: "stereo", 6: "5.1"}[channels]
    if video is not None:
        n = frames if frames is not None else (len(vfr_times) if vfr_times else int(round(seconds * float(fps))))
        for j in range(n):
            vf = av.VideoFrame.from_ndarray(draw(j, width, height), format="rgb24")
            if vfr_times is not None:
                vf.pts, vf.time_base = int(round(vfr_times[j] * 1000)), Fraction(1, 1000)
            for packet in video.encode(vf):
                container.mux(packet)
        for packet in video.encode():
            container.mux(packet)
    if audio is not None:
        total = int(seconds * sample_rate)
        t = np.arange(total) / sample_rate
        signal = np.zeros(total) if silent else 0.5 * np.sin(2 * np.pi * tone_hz * t)
        samples = np.repeat(signal[None].astype(np.float32), channels, axis=0)
        fmt = "fltp"
        step = audio.codec_context.frame_size or 1024
        for lo in range(0, total, step):
            chunk = np.ascontiguousarray(samples[:, lo:lo + step])
            af = av.AudioFrame.from_ndarray(chunk, format=fmt, layout=audio.layout.name)
            af.sample_rate, af.pts = sample_rate, lo
            for packet in audio.encode(af):
                container.mux(packet)
        for packet in audio.encode():
            container.mux(packet)
    container.close()
    return path


def damage_packets(path: Path, kind: str, indices) -> list[float]:
    """Overwrite with zeros the payloads of the packets of the first `kind` ("video" or "audio")
    stream whose positions in that stream are in `indices`, leaving the container's own structure
    intact; return the packets' presentation times (seconds)."""
    data = bytearray(Path(path).read_bytes())
    times = []
    with av.open(str(path)) as container:
        stream = getattr(container.streams, kind)[0]
        packets = [p for p in container.demux(stream) if p.size]
        for i in indices:
            payload = bytes(packets[i])
            at = data.find(payload, max(packets[i].pos, 0))   # pos is where the container's record starts
            assert at >= 0, "packet payload not stored verbatim"
            data[at:at + len(payload)] = bytes(len(payload))
            times.append(float(packets[i].pts * packets[i].time_base))
    Path(path).write_bytes(bytes(data))
    return times


def remux(src: Path, dst: Path, keep_audio: bool = True) -> Path:
    """Copy `src`'s video (and audio, if `keep_audio`) packets into `dst`, whose extension picks
    the container (.mkv, .mov ...): the same pictures and sound, re-wrapped, nothing re-encoded."""
    with av.open(str(src)) as source, av.open(str(dst), "w") as target:
        streams = {s.index: target.add_stream_from_template(s) for s in source.streams
                   if s.type == "video" or (keep_audio and s.type == "audio")}
        for packet in source.demux(*[source.streams[i] for i in streams]):
            if packet.dts is None:   # the flush packet at the end of each stream
                continue
            packet.stream = streams[packet.stream.index]
            target.mux(packet)
    return dst


# ------------------------------------------------------------------ clips of any make (hard formats)

def audio_frame(samples: np.ndarray, format: str, layout, rate: int, pts: int) -> av.AudioFrame:
    """[channels, n] float samples in [-1, 1] as one frame of `format`, at any channel count
    (PyAV's `from_ndarray` goes through `frame.planes`, which breaks at 8 planes or more)."""
    fmt = av.AudioFormat(format)
    dtype = np.dtype({"flt": "f4", "dbl": "f8", "s16": "i2", "s32": "i4", "u8": "u1"}[fmt.packed.name])
    if dtype.kind == "i":
        samples = np.round(samples * (np.iinfo(dtype).max - 1))
    elif dtype.kind == "u":
        samples = np.round(samples * 127 + 128)
    samples = samples.astype(dtype)
    frame = av.AudioFrame(format=format, layout=layout, samples=samples.shape[1])
    rows = samples if fmt.is_planar else samples.T.reshape(1, -1)
    for index, row in enumerate(rows):
        AudioPlane(frame, index).update(np.ascontiguousarray(row).tobytes())
    frame.sample_rate, frame.pts, frame.time_base = rate, pts, Fraction(1, rate)
    return frame


@dataclass
class Tone:
    """An audio track: a sine of `hz` at `amplitude` from `start` for `seconds` (None: to the end
    of the video), in every channel or only in `channel`. `default` sets the default disposition
    (None leaves the muxer's choice)."""
    codec: str = "aac"
    layout: str = "mono"
    rate: int = 44100
    hz: float = 440.0
    amplitude: float = 0.5
    start: float = 0.0
    seconds: float | None = None
    channel: int | None = None
    default: bool | None = None

    def signal(self, seconds: float, channels: int) -> np.ndarray:
        t = np.arange(int(round(seconds * self.rate))) / self.rate
        wave = self.amplitude * np.sin(2 * np.pi * self.hz * t)
        out = np.zeros((channels, len(t)))
        out[slice(None) if self.channel is None else self.channel] = wave
        return out


def write_clip(path: Path, *, codec: str | None = "libx264", pix_fmt: str = "yuv420p", width: int = 160,
               height: int = 120, fps=25, seconds: float = 3.0, frame_times: list[float] | None = None,
               video_options: dict | None = None, tracks: tuple[Tone, ...] = (Tone(),), cover: bool = False,
               format: str | None = None, video_shift: int = 0) -> Path:
    """A clip whose frame j shows `index_frame(j)`, in any codec and container PyAV writes
    (`codec` None: no video stream).

    `frame_times` (seconds) make the rate variable; `cover` adds a still attached picture as the
    first video stream (for MP4 the muxer stores it as cover art after the tracks, so the file's
    boxes are then reordered to put it first, as some taggers write it); `video_shift` frames
    are moved before time 0, which makes an MP4 muxer write an edit list that starts the video at
    frame `video_shift`.
    """
    path = Path(path)
    fps = Fraction(fps)
    container = av.open(str(path), "w", format=format)
    if cover:
        picture = container.add_stream("mjpeg", rate=1)
        picture.width, picture.height, picture.pix_fmt = 64, 64, "yuvj420p"
        picture.disposition = av.stream.Disposition.attached_pic
        still = av.VideoFrame.from_ndarray(np.full((64, 64, 3), 200, np.uint8), format="rgb24")
        still.pts = 0
        cover_packets = picture.encode(still) + picture.encode()
    time_base = Fraction(1, 1000) if frame_times is not None else 1 / fps
    if codec is not None:
        video = container.add_stream(codec, rate=fps, options=dict(video_options or {}))
        video.width, video.height, video.pix_fmt = width, height, pix_fmt
        video.codec_context.time_base = time_base
    audio = []
    for tone in tracks:
        stream = container.add_stream(tone.codec, rate=tone.rate, layout=tone.layout)
        if tone.default is not None:
            stream.disposition = av.stream.Disposition.default if tone.default else av.stream.Disposition(0)
        audio.append(stream)
    if cover:
        container.mux(cover_packets)
    count = len(frame_times) if frame_times is not None else int(round(seconds * fps))
    for j in range(count if codec is not None else 0):
        frame = av.VideoFrame.from_ndarray(index_frame(j, width, height), format="rgb24")
        frame.pts = round(frame_times[j] * 1000) if frame_times is not None else j
        frame.time_base = time_base
        for packet in video.encode(frame) + (video.encode() if j == count - 1 else []):
            if video_shift:
                shift = round(video_shift / fps / packet.time_base)
                packet.pts, packet.dts = packet.pts - shift, packet.dts - shift
            container.mux(packet)
    length = (frame_times[-1] + 0.1 if frame_times else count / fps) - video_shift / fps
    for tone, stream in zip(tracks, audio):
        signal = tone.signal(tone.seconds if tone.seconds is not None else float(length) - tone.start,
                             stream.layout.nb_channels)
        step = stream.codec_context.frame_size or 1024
        offset = int(round(tone.start * tone.rate))
        for lo in range(0, signal.shape[1], step):
            frame = audio_frame(signal[:, lo:lo + step], stream.format.name, stream.layout, tone.rate, offset + lo)
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    container.close()
    if cover and path.suffix in (".mp4", ".m4v", ".mov"):
        _cover_art_first(path)
    return path


def _boxes(data: bytes, start: int, end: int) -> list[tuple[bytes, int, int]]:
    out = []
    while start < end:
        size, kind = struct.unpack(">I4s", data[start:start + 8])
        out.append((kind, start, size))
        start += size
    return out


def _cover_art_first(path: Path) -> None:
    """Move the MP4's `udta` box (which holds the cover art) before its tracks, inside `moov`:
    a demuxer then lists the cover art as stream 0. Box sizes and media offsets don't change."""
    data = bytearray(Path(path).read_bytes())
    _, start, size = next(box for box in _boxes(data, 0, len(data)) if box[0] == b"moov")
    children = _boxes(data, start + 8, start + size)
    order = sorted(children, key=lambda box: {b"mvhd": 0, b"udta": 1}.get(box[0], 2))
    data[start + 8:start + size] = b"".join(bytes(data[o:o + n]) for _, o, n in order)
    Path(path).write_bytes(bytes(data))
