"""Test clips made on the fly with PyAV: frames that carry their own index, tones, odd formats."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

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
