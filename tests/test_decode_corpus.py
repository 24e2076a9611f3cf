"""A corpus of hard real-world formats, made by the tests, through the frames and audio stages.

Each file carries frame indices in its pictures (`media.index_frame`) and a tone in its audio.
Every case is checked for status (kept), `has_audio`, and frames equal to a plain decode (PyAV
decoding the video stream from the start) at the timestamps the stage stored, within colour
conversion tolerance. A case whose encoder or decoder this FFmpeg build lacks is skipped, saying which.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import av
import cv2
import h5py
import numpy as np
import pytest

from media import Tone, read_index, write_clip
from vida_core.executors import LocalExecutor
from vida_core.extract.audio import extract_audio
from vida_core.extract.frames import extract_frames
from vida_core.extract.logmel import logmel_18x128, mel_bin_of_frequency
from vida_core.shared.artifacts import read_strings
from vida_core.io.decode import clip_window

SIZE = 96
VFR_TIMES = [float(t) for t in np.round(np.cumsum(np.r_[0, np.random.default_rng(0).uniform(0.02, 0.09, 60)]), 3)]


@dataclass
class Case:
    file: str
    make: dict = field(default_factory=dict)     # write_clip's arguments
    video: int = 0                  # index of the stream a player shows
    has_audio: bool = True
    first_index: int = 0            # index drawn on the frame shown at the stream's first time
    sound: tuple[float, float] = (0.0, 3.0)    # where the tone is in the window, seconds
    frames_note: str = ""
    audio_note: str = ""
    why: str = ""

    @property
    def tracks(self) -> tuple[Tone, ...]:
        return self.make.get("tracks", (Tone(),))

    @property
    def codecs(self) -> list[str]:
        return [self.make.get("codec", "libx264")] + [tone.codec for tone in self.tracks]


OPUS = dict(codec="libopus", rate=48000)
CASES = [
    # The three the per-clip stages got wrong.
    Case("cover_art_first.mp4", dict(cover=True), video=1,
         frames_note="video stream #1 of 2 video streams; attached picture #0 skipped",
         why="an attached picture (cover art) before the video"),
    Case("aac_7_1.mp4", dict(tracks=(Tone(layout="7.1", rate=48000),)), why="7.1 AAC"),
    Case("pcm_8ch.mkv", dict(tracks=(Tone(codec="pcm_s16le", layout="7.1", rate=48000),)), why="8-channel PCM"),
    Case("two_tracks.mkv", dict(tracks=(Tone(**OPUS, layout="stereo", amplitude=0.0, default=False),
                                        Tone(**OPUS, layout="stereo", default=True))),
         audio_note="audio track 2 of 2 (the default)",
         why="a silent first audio track, and the default one with the sound"),
    # Hard formats.
    Case("hevc_10bit.mkv", dict(codec="libx265", pix_fmt="yuv420p10le",
                                video_options={"preset": "ultrafast", "x265-params": "log-level=error"}),
         why="HEVC Main 10"),
    Case("h264_444.mp4", dict(pix_fmt="yuv444p"), why="H.264 4:4:4"),
    Case("interlaced_mpeg2.ts", dict(codec="mpeg2video", video_options={"flags": "+ildct+ilme", "top": "1"},
                                     tracks=(Tone(codec="mp2", layout="stereo", rate=48000),)),
         why="interlaced MPEG-2 and MP2 in MPEG-TS (which starts its clock late)"),
    Case("vfr.mkv", dict(frame_times=VFR_TIMES, tracks=(Tone(**OPUS),)), sound=(0.0, VFR_TIMES[-1]),
         why="variable frame rate"),
    Case("mjpeg.avi", dict(codec="mjpeg", pix_fmt="yuvj422p", fps=15, tracks=(Tone(codec="pcm_s16le", rate=22050),)),
         why="MJPEG and PCM in AVI, as old cameras write"),
    Case("prores.mov", dict(codec="prores_ks", pix_fmt="yuv422p10le",
                            tracks=(Tone(codec="pcm_s16le", layout="stereo", rate=48000),)), why="ProRes 422"),
    Case("av1.mp4", dict(codec="libsvtav1", height=128, video_options={"preset": "12"}, tracks=(Tone(**OPUS),)),
         why="AV1 and Opus"),
    Case("4k.mp4", dict(width=3840, height=2160, fps=3), why="4K (at 3 fps, to stay quick)"),
    Case("edit_list.mp4", dict(seconds=3.48, video_shift=12, video_options={"g": "25"}), first_index=12,
         why="an edit list that starts the video mid-GOP"),
    Case("audio_starts_late.mp4", dict(tracks=(Tone(start=1.0),)), sound=(1.0, 3.0), why="audio from 1 s"),
    Case("audio_ends_early.mp4", dict(tracks=(Tone(seconds=1.5),)), sound=(0.0, 1.5), why="audio to 1.5 s"),
]


def _missing(case: Case) -> str | None:
    for name in case.codecs:
        try:
            codec = av.codec.Codec(name, "w")
        except av.codec.codec.UnknownCodecError:
            return f"this FFmpeg build has no {name} encoder"
        try:
            av.codec.Codec(codec.canonical_name, "r")
        except av.codec.codec.UnknownCodecError:
            return f"this FFmpeg build has no {codec.canonical_name} decoder"
    return None


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Every case that can be made, through extract_frames and extract_audio (two worker
    processes, so a decoder crash is a result, not the end of the test run)."""
    folder = tmp_path_factory.mktemp("corpus")
    made, skipped = [], {}
    for case in CASES:
        skipped[case.file] = _missing(case)
        if skipped[case.file] is None:
            write_clip(folder / case.file, **{"video_options": {"preset": "ultrafast"}, **case.make})
            made.append(case)
    rows = [{"clip_id": case.file, "path": str(folder / case.file)} for case in made]
    extract_frames(rows, folder / "frames.h5", size=SIZE, executor=LocalExecutor(2))
    extract_audio(rows, folder / "audio.h5", executor=LocalExecutor(2))
    results = {}
    with h5py.File(folder / "frames.h5") as f:
        kept = read_strings(f["clip_id"])
        notes = dict(zip(read_strings(f["notes/clip_id"]), read_strings(f["notes/note"]))) if "notes" in f else {}
        for case in made:
            results[case.file] = dict(path=str(folder / case.file), frames_note=notes.get(case.file, ""))
            if case.file in kept:
                i = kept.index(case.file)
                results[case.file].update(frames=f["frames"][i], stamps=f["timestamps"][i])
        for cid, reason in zip(read_strings(f["rejects/clip_id"]), read_strings(f["rejects/reason"])):
            results[cid]["rejected"] = reason
    with h5py.File(folder / "audio.h5") as f:
        for i, cid in enumerate(read_strings(f["clip_id"])):
            results[cid].update(has_audio=bool(f["has_audio"][i]), waveform=f["waveform"][i] / 32768,
                                audio_note=read_strings(f["audio_note"])[i])
    return results, skipped


def plain_decode(path: str, index: int, stamps: np.ndarray) -> tuple[np.ndarray, list[float], float]:
    """The frames of stream `index` at `stamps`, decoded from the start with PyAV's defaults and
    centre-cropped like the stage; every frame time of the stream; and the start of its window."""
    wanted = {round(float(t), 6): None for t in stamps}
    times = []
    with av.open(path) as container:
        start = clip_window(container, container.streams[index], min_duration=0.0).start
        for frame in container.decode(container.streams[index]):
            t = round(float(frame.time), 6)
            times.append(t)
            if t in wanted and wanted[t] is None:
                rgb = frame.to_ndarray(format="rgb24")
                h, w = rgb.shape[:2]
                side = min(h, w)
                square = rgb[(h - side) // 2:(h - side) // 2 + side, (w - side) // 2:(w - side) // 2 + side]
                shrink = cv2.INTER_AREA if side >= 2 * SIZE else cv2.INTER_LINEAR
                wanted[t] = cv2.resize(square, (SIZE, SIZE), interpolation=shrink)
    missing = [t for t, frame in wanted.items() if frame is None]
    assert not missing, f"no frame at the stored times {missing}"
    return np.stack([wanted[round(float(t), 6)] for t in stamps]), sorted(times), start


@pytest.mark.parametrize("case", CASES, ids=[c.file for c in CASES])
def test_hard_format(corpus, case):
    results, skipped = corpus
    if skipped[case.file]:
        pytest.skip(f"{case.file} ({case.why}): {skipped[case.file]}")
    got = results[case.file]
    assert "rejected" not in got, f"{case.why}: rejected ({got.get('rejected')})"
    assert got["frames_note"] == case.frames_note

    # The frames: those of a plain decode of the real video stream at the stored times, each the
    # frame on screen at its sample time.
    frames, stamps = got["frames"], got["stamps"]
    reference, times, start = plain_decode(got["path"], case.video, stamps)
    assert np.abs(frames.astype(int) - reference).mean() < 2.5       # colour conversion only
    assert [read_index(f) for f in frames] == [read_index(f) for f in reference]
    for k, t in enumerate(stamps):
        assert t == pytest.approx(max(s for s in times if s <= start + k / 6 + 1e-4), abs=1e-6)
    fps = Fraction(case.make.get("fps", 25))
    if "frame_times" in case.make:
        expected = [case.make["frame_times"].index(round(float(t), 3)) for t in stamps]
    else:
        expected = [case.first_index + round((t - times[0]) * fps) for t in stamps]
    assert [read_index(f) for f in frames] == expected

    # The audio: kept, the tone where the track has it and silence elsewhere.
    assert got["has_audio"] == case.has_audio, got["audio_note"]
    assert got["audio_note"] == case.audio_note
    waveform, (start, end) = got["waveform"], case.sound
    inside = waveform[int((start + 0.05) * 16000):int((end - 0.05) * 16000)]
    assert 0.4 < np.abs(inside).max() < 0.6
    outside = np.r_[waveform[:max(0, int((start - 0.05) * 16000))], waveform[int((end + 0.05) * 16000):]]
    assert np.abs(outside).max(initial=0) < 0.02
    hz = case.tracks[-1].hz
    steps = [k for k in range(18) if start <= k / 6 and (k + 1) / 6 <= end]
    assert np.all(logmel_18x128(waveform.astype(np.float32))[steps].argmax(axis=1) == mel_bin_of_frequency(hz))
