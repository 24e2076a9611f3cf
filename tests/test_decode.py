"""Frame sampling by timestamp, audio decoding and the bad inputs the decode stages must survive."""

from fractions import Fraction

import av
import numpy as np
import pytest

from media import make_clip, read_index
from vida_core.extract.logmel import logmel_18x128, mel_bin_of_frequency
from vida_core.io.decode import ClipRejected, decode_audio, decode_frames


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
