"""Frame sampling by timestamp, audio decoding and the bad inputs the decode stages must survive."""

import math
import shutil
from fractions import Fraction

import av
import numpy as np
import pytest

from media import damage_packets, make_clip, read_index
from vida_core.extract.logmel import logmel_18x128, mel_bin_of_frequency
from vida_core.io import decode
from vida_core.io.decode import ClipRejected, decode_audio, decode_audio_track, decode_frames


def expected_indices(fps, n_frames):
    duration = n_frames / float(fps)
    start = max(0.0, (duration - 3.0) / 2)
    return [min(int(np.floor((start + k / 6) * float(fps) + 1e-6)), n_frames - 1) for k in range(18)]


@pytest.mark.parametrize("fps", [10, Fraction(24000, 1001), 25, Fraction(30000, 1001), 60])
def test_frames_sampled_by_timestamp_at_any_frame_rate(tmp_path, fps):
    n = int(round(3 * float(fps)))
    path = make_clip(tmp_path / "clip.mp4", fps=fps, frames=n, audio_codec=None)
    frames, stamps = decode_frames(str(path), size=96)
    assert frames.shape == (18, 96, 96, 3) and frames.dtype == np.uint8
    assert [read_index(f) for f in frames] == expected_indices(fps, n)
    assert np.all(np.diff(stamps) > 0)


def test_variable_frame_rate_picks_the_frame_on_screen(tmp_path):
    rng = np.random.default_rng(0)
    times = np.cumsum(rng.uniform(0.02, 0.09, size=80))
    times = np.concatenate([[0.0], times[times < 2.98]])
    path = make_clip(tmp_path / "vfr.mp4", vfr_times=list(times), audio_codec=None)
    frames, stamps = decode_frames(str(path), size=96)
    for k, frame in enumerate(frames):
        on_screen = int(np.searchsorted(np.round(times, 3), k / 6 + 1e-6, side="right") - 1)
        assert read_index(frame) == on_screen


def test_long_clip_is_cut_to_its_centred_three_seconds(tmp_path):
    path = make_clip(tmp_path / "long.mp4", fps=25, seconds=5.0)
    frames, stamps = decode_frames(str(path), size=96)
    assert stamps[0] == pytest.approx(1.0, abs=1e-3)
    assert read_index(frames[0]) == 25 and read_index(frames[17]) == 25 + int(17 / 6 * 25)


def test_slightly_short_clip_holds_its_last_frame(tmp_path):
    path = make_clip(tmp_path / "short.mp4", fps=25, frames=68)     # 2.72 s
    frames, _ = decode_frames(str(path), size=96, min_duration=2.5)
    assert [read_index(f) for f in frames[-2:]] == [66, 67]   # 2.67 s shows frame 66; 2.83 s holds 67


@pytest.mark.slow   # a 60 fps portrait clip to encode and decode
def test_portrait_60fps_is_centre_cropped(tmp_path):
    path = make_clip(tmp_path / "portrait.mp4", fps=60, width=1080, height=1920, audio_codec=None)
    frames, _ = decode_frames(str(path), size=224)
    assert frames.shape == (18, 224, 224, 3)
    assert [read_index(f) for f in frames[:3]] == [0, 10, 20]


@pytest.mark.parametrize("maker, reason", [
    (lambda p: p.write_bytes(b""), "empty file"),
    (lambda p: p.write_text("this is not a video\n" * 20), "not a readable media file"),
    (lambda p: None, "file not found"),
    (lambda p: make_clip(p, audio_only=True), "no video stream"),
    (lambda p: make_clip(p, fps=25, frames=1), "too short"),
    (lambda p: make_clip(p, fps=25, seconds=1.5), "too short"),
])
def test_bad_clips_are_rejected_with_a_reason(tmp_path, maker, reason):
    path = tmp_path / "bad.mp4"
    maker(path)
    with pytest.raises(ClipRejected, match=reason):
        decode_frames(str(path), size=64, min_duration=2.5)


def test_truncated_file_is_rejected_or_held_never_crashes(tmp_path):
    path = make_clip(tmp_path / "whole.mp4", fps=25, seconds=3.0, width=320, height=240)
    data = path.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 3])
    try:
        frames, _ = decode_frames(str(cut), size=64)
        assert frames.shape == (18, 64, 64, 3)
    except ClipRejected as err:
        assert str(err)


@pytest.mark.parametrize("codec, channels, rate, suffix", [
    ("aac", 1, 44100, ".mp4"), ("aac", 6, 48000, ".mp4"), ("mp3", 2, 44100, ".mp3"),
    ("mp2", 2, 32000, ".mp2"), ("libopus", 2, 48000, ".ogg"), ("pcm_s16le", 2, 22050, ".wav"),
])
def test_audio_of_any_codec_becomes_16k_mono(tmp_path, codec, channels, rate, suffix):
    path = make_clip(tmp_path / f"a{suffix}", audio_codec=codec, channels=channels, sample_rate=rate,
                     tone_hz=1000.0, audio_only=True)
    waveform, note = decode_audio(str(path))
    assert note == "" and waveform.shape == (48000,)
    assert 0.3 < np.abs(waveform[4000:-4000]).max() <= 1.0     # mean down-mix: no 6-channel clipping
    logmel = logmel_18x128(waveform)
    assert np.all(logmel[2:-2].argmax(axis=1) == mel_bin_of_frequency(1000.0))


def test_audio_window_matches_the_video_window(tmp_path):
    path = make_clip(tmp_path / "long.mp4", fps=25, seconds=5.0)
    waveform, _ = decode_audio(str(path))
    assert waveform.shape == (48000,) and np.abs(waveform).max() > 0.3


def test_missing_audio_is_reported_not_raised(tmp_path):
    assert decode_audio(str(make_clip(tmp_path / "v.mp4", audio_codec=None)))[1] == "no audio stream"
    assert "not found" in decode_audio(str(tmp_path / "nope.mp4"))[1]


# --------------------------------------------------------------------------- seeking in long clips

def decode_from_the_start(monkeypatch, path, size):
    with monkeypatch.context() as m:
        m.setattr(decode, "_SEEK_AFTER", math.inf)
        return decode_frames(str(path), size=size)


def count_opens(monkeypatch):
    opened = []
    real_open = decode._open
    monkeypatch.setattr(decode, "_open", lambda path: opened.append(path) or real_open(path))
    return opened


@pytest.mark.parametrize("seconds, options", [
    # x264 marks each intra-refresh start as a keyframe, but it is a P picture: decoding from it
    # gives nothing until the refresh completes, after the window start (2.1 s; refresh at 2.0 s).
    (7.2, {"x264-params": "intra-refresh=1:keyint=50"}),
    (12.0, {"g": "100"}),                                           # seek lands on the IDR at 4 s
    (12.0, {"preset": "medium", "x264-params": "open-gop=1:keyint=50"}),   # B-frames, open GOPs
])
def test_frames_after_a_seek_equal_a_decode_from_the_start(tmp_path, monkeypatch, seconds, options):
    path = make_clip(tmp_path / "long.mp4", fps=25, seconds=seconds, audio_codec=None, video_options=options)
    reference, reference_stamps = decode_from_the_start(monkeypatch, path, size=96)
    frames, stamps = decode_frames(str(path), size=96)
    assert stamps[0] > decode._SEEK_AFTER                      # the window does start with a seek
    assert [read_index(f) for f in frames] == [int(round(t * 25)) for t in stamps]
    assert np.array_equal(stamps, reference_stamps) and frames.tobytes() == reference.tobytes()
    assert decode_frames(str(path), size=96)[0].tobytes() == frames.tobytes()    # and every run


@pytest.mark.parametrize("options", [{"g": "100"}, {"preset": "medium", "x264-params": "open-gop=1:keyint=50"}])
def test_a_clean_seek_is_trusted_without_decoding_from_the_start(tmp_path, monkeypatch, options):
    path = make_clip(tmp_path / "long.mp4", fps=25, seconds=12.0, audio_codec=None, video_options=options)
    opened = count_opens(monkeypatch)
    decode_frames(str(path), size=96)
    assert len(opened) == 1


# ------------------------------------------------------------------------------ display geometry

def corner_mark(j, width, height):
    """Black, with a white square in the top-left corner of the centre square."""
    frame = np.zeros((height, width, 3), dtype=np.uint8)
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    frame[top:top + side // 4, left:left + side // 4] = 255
    return frame


def marked_corner(frame):
    q = frame.shape[0] // 4
    corners = {"top-left": frame[:q, :q], "top-right": frame[:q, -q:],
               "bottom-left": frame[-q:, :q], "bottom-right": frame[-q:, -q:]}
    return [name for name, part in corners.items() if part.mean() > 127]


@pytest.mark.parametrize("rotation, hflip, corner", [
    (0, False, "top-left"),
    (-90, False, "top-right"),        # a phone's "rotate 90" (clockwise)
    (90, False, "bottom-left"),
    (180, False, "bottom-right"),
    (0, True, "top-right"),           # a front camera's mirror
    (90, True, "bottom-right"),
    (-90, True, "top-left"),
])
def test_the_display_matrix_turns_the_frame_before_the_centre_crop(tmp_path, rotation, hflip, corner):
    path = make_clip(tmp_path / "phone.mp4", fps=10, width=160, height=120, audio_codec=None,
                     draw=corner_mark, rotation=rotation, hflip=hflip)
    frames, _ = decode_frames(str(path), size=64)
    assert all(marked_corner(f) == [corner] for f in frames)


def test_non_square_pixels_are_made_square_before_the_centre_crop(tmp_path):
    """PAL 720x576 with 16:15 pixels shows as 768x576: its centre square is 540 stored columns."""
    def pattern(j, width, height):
        frame = np.zeros((height, width, 3), dtype=np.uint8)
        frame[:, 90:630] = 255              # the displayed centre square, 576 x 576
        frame[144:432, 225:495] = 0         # a centred square, 288 x 288 as displayed
        return frame

    path = make_clip(tmp_path / "pal.mp4", fps=10, width=720, height=576, audio_codec=None,
                     draw=pattern, sample_aspect_ratio=Fraction(16, 15))
    frames, _ = decode_frames(str(path), size=96)
    grey = frames[0].mean(axis=2)
    assert grey[:, :2].min() > 200 and grey[:, -2:].min() > 200         # nothing from outside it
    dark_rows, dark_cols = np.nonzero(grey[:, 48] < 128)[0], np.nonzero(grey[48] < 128)[0]
    assert (dark_rows.min(), dark_rows.max()) == (24, 71) and (dark_cols.min(), dark_cols.max()) == (24, 71)


# ------------------------------------------------------------------------------------ damaged data

def damaged_copy(clean, kind, indices):
    damaged = clean.with_name("damaged" + clean.suffix)
    shutil.copy(clean, damaged)
    return damaged, damage_packets(damaged, kind, indices)


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
@pytest.mark.parametrize("index", [0, 40])      # the file's first audio packet, one at 0.9 s
def test_a_damaged_audio_packet_is_skipped_and_reported(tmp_path, suffix, index):
    clean = make_clip(tmp_path / f"clean{suffix}", seconds=3.0, audio_only=True)
    damaged, [time] = damaged_copy(clean, "audio", [index])
    reference, _ = decode_audio(str(clean))
    waveform, note = decode_audio(str(damaged))
    assert waveform is not None and note == "skipped 1 damaged audio packet (~23 ms lost)"
    # Only the lost packet and the next one (whose decoding overlaps it) differ, in place.
    differ = np.nonzero(np.abs(waveform - reference) > 1e-3)[0]
    assert 0 < differ.max() - differ.min() < 2 * 1024 / 44100 * 16000 + 64
    assert abs(differ.min() / 16000 - max(time, 0)) < 0.02


@pytest.mark.parametrize("index", [0, 40])
def test_a_damaged_audio_packet_keeps_the_track_and_its_timing(tmp_path, index):
    clean = make_clip(tmp_path / "clean.mp4", seconds=3.0, audio_only=True)
    damaged, [time] = damaged_copy(clean, "audio", [index])
    reference, track = decode_audio_track(str(clean)), decode_audio_track(str(damaged))
    assert track.shape == reference.shape
    after = int((max(time, 0) + 2 * 1024 / 44100) * 16000) + 64
    np.testing.assert_allclose(track[after:], reference[after:], atol=1e-3)   # ~-54 dB: codec state, not timing


def test_a_damaged_video_packet_between_sample_times_is_skipped(tmp_path):
    """Frame 30 (1.2 s) shows at no sample time; intra-only, so no other frame depends on it."""
    clean = make_clip(tmp_path / "clean.mp4", fps=25, seconds=3.0, audio_codec=None, video_options={"g": "1"})
    damaged, _ = damaged_copy(clean, "video", [30])
    frames, _ = decode_frames(str(damaged), size=64)
    assert [read_index(f) for f in frames] == expected_indices(25, 75)


@pytest.mark.parametrize("options", [{"g": "1"}, {}])
def test_frames_lost_to_damage_reject_the_clip_rather_than_hold_another(tmp_path, options):
    """Frames 66-68 (2.64-2.72 s) are gone; frame 66 is the one on screen at 2.67 s."""
    clean = make_clip(tmp_path / "clean.mp4", fps=25, seconds=3.0, audio_codec=None, video_options=options)
    damaged, _ = damaged_copy(clean, "video", [66, 67, 68])
    with pytest.raises(ClipRejected, match=r"video decode failed at 2\.6 s: "):
        decode_frames(str(damaged), size=64)
