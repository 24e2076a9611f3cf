"""Which streams a clip is decoded from, and audio of any channel count and sample rate.

- Video: the first stream that is not an attached picture (cover art), for frames, for the
  audio window and for the captioner's frames; frames.h5 and `vida inspect` say which stream
  was read when a file has several.
- Audio: the default track, else the first; the note names it when there are several, and a
  silent chosen track gives way to the loudest track with sound.
- Channels: 1 to 16 channels at 8 to 192 kHz mix to the same mono, never through PyAV's planar
  `to_ndarray` (which reads past the end of a frame of 8 planes and crashed the worker).
"""

from __future__ import annotations

from fractions import Fraction

import av
import h5py
import numpy as np
import pytest

from media import Tone, damage_packets, make_clip, read_index, write_clip
from vida_core.shared import SAMPLE_RATE
from vida_core.extract.audio import extract_audio
from vida_core.extract.frames import extract_frames
from vida_core.extract.logmel import logmel_18x128, mel_bin_of_frequency
from vida_core.io import decode
from vida_core.shared.artifacts import read_strings
from vida_core.io.decode import ClipRejected, decode_audio, decode_audio_track, decode_frames
from vida_core.models.image import ImagePrep
from vida_core.semantic.frame_source import frames_at
from vida_core.views.inspect import summarize_h5

RATES = [8000, 16000, 22050, 44100, 48000, 96000, 192000]


def _rows(*paths):
    return [{"clip_id": p.stem, "path": str(p)} for p in paths]


def _audio_h5(paths, tmp_path):
    extract_audio(_rows(*paths), tmp_path / "audio.h5")
    with h5py.File(tmp_path / "audio.h5") as f:
        return dict(zip(read_strings(f["clip_id"]), zip(f["has_audio"][()], read_strings(f["audio_note"]))))


# ------------------------------------------------------------------------------------- channels

def _assert_last_channel_tone(waveform, note, channels, seconds=1.0, amplitude=0.8, hz=1000.0):
    """The tone was in the last channel only: the mean mix holds it at amplitude / channels."""
    assert note == "" and waveform.shape == (48000,)
    sound, after = waveform[800:int(seconds * SAMPLE_RATE) - 800], waveform[int(seconds * SAMPLE_RATE) + 800:]
    assert np.abs(sound).max() == pytest.approx(amplitude / channels, rel=0.03)
    assert np.abs(after).max(initial=0) < 1e-3
    steps = int(seconds * 6)
    assert np.all(logmel_18x128(waveform)[:steps].argmax(axis=1) == mel_bin_of_frequency(hz))


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("channels, layout", [(1, "mono"), (2, "stereo"), (6, "5.1"), (8, "7.1"), (16, "16 channels")])
def test_pcm_of_any_channel_count_and_rate_mixes_to_mono(tmp_path, channels, layout, rate):
    """Packed 16-bit PCM in Matroska, a tone in the last channel only (the one a ninth-plane
    read would get wrong)."""
    tone = Tone(codec="pcm_s16le", layout=layout, rate=rate, hz=1000.0, amplitude=0.8, seconds=1.0, channel=channels - 1)
    path = write_clip(tmp_path / "a.mkv", codec=None, tracks=(tone,))
    assert av.open(str(path)).streams.audio[0].channels == channels
    _assert_last_channel_tone(*decode_audio(str(path)), channels)


@pytest.mark.parametrize("codec, suffix, layout, rate", [
    ("pcm_s16le_planar", ".nut", "7.1", 8000), ("pcm_s16le_planar", ".nut", "16 channels", 192000),
    ("aac", ".mp4", "7.1", 8000), ("aac", ".mp4", "7.1", 96000), ("libopus", ".mkv", "7.1", 48000),
    ("flac", ".mkv", "7.1", 192000),
])
def test_planar_and_compressed_audio_of_8_or_more_channels(tmp_path, codec, suffix, layout, rate):
    path = write_clip(tmp_path / f"a{suffix}", codec=None, tracks=(
        Tone(codec=codec, layout=layout, rate=rate, hz=1000.0, amplitude=0.8, seconds=1.0, channel=0),))
    waveform, note = decode_audio(str(path))
    channels = av.AudioLayout(layout).nb_channels
    # Lossy codecs (and their channel coupling) don't keep one channel's level exactly.
    assert note == "" and 0.6 / channels < np.abs(waveform[800:15200]).max() < 1.0 / channels
    assert np.all(logmel_18x128(waveform)[:6].argmax(axis=1) == mel_bin_of_frequency(1000.0))
    assert len(decode_audio_track(str(path))) == pytest.approx(SAMPLE_RATE, abs=2048)


def test_a_damaged_packet_of_7_1_audio_becomes_silence_of_8_planes(tmp_path):
    path = write_clip(tmp_path / "a.mp4", codec=None, tracks=(Tone(layout="7.1", rate=48000, seconds=3.0),))
    damage_packets(path, "audio", [40])
    waveform, note = decode_audio(str(path))
    assert waveform is not None and note.startswith("skipped 1 damaged audio packet")


@pytest.mark.parametrize("format, layout", [("s16p", "16 channels"), ("fltp", "7.1"), ("s16", "16 channels")])
def test_silence_frames_of_any_planes_mix_to_zeros(format, layout):
    like = av.AudioFrame(format=format, layout=layout, samples=1024)
    like.sample_rate, like.time_base, like.pts = 48000, Fraction(1, 48000), 0
    frames = [frame for frame, _ in decode._silence(like, 0.0, 0.5)]
    to_mono = decode._MonoResampler()
    mono = np.concatenate([m for f in frames for m in to_mono(f)] + to_mono(None))
    assert sum(f.samples for f in frames) == 24000 and len(mono) > 7000 and not mono.any()


@pytest.mark.parametrize("channels", [1, 2, 6])
def test_ordinary_audio_has_the_same_bits_as_the_planar_mean(tmp_path, channels):
    """The packed mix equals what the stage computed before (planar float from FFmpeg, then
    `mean(axis=0)`) bit for bit, so audio.h5 of ordinary clips doesn't change."""
    path = make_clip(tmp_path / "a.mp4", channels=channels, sample_rate=44100, audio_only=True)
    resampler, chunks = None, []
    with av.open(str(path)) as container:
        for frame in container.decode(container.streams.audio[0]):
            resampler = resampler or av.AudioResampler(format="fltp", layout=frame.layout.name, rate=SAMPLE_RATE)
            chunks += [out.to_ndarray().mean(axis=0) for out in resampler.resample(frame)]
        chunks += [out.to_ndarray().mean(axis=0) for out in resampler.resample(None)]
    assert decode_audio_track(str(path)).tobytes() == np.concatenate(chunks).astype(np.float32).tobytes()


# ---------------------------------------------------------------------------------------- video

def test_an_attached_picture_before_the_video_is_skipped_everywhere(tmp_path):
    cover = write_clip(tmp_path / "cover.mp4", cover=True)
    plain = make_clip(tmp_path / "plain.mp4")
    with av.open(str(cover)) as container:
        assert [s.codec_context.name for s in container.streams.video] == ["mjpeg", "h264"]
    decoded = decode_frames(str(cover), size=64)
    frames, stamps = decoded
    assert [read_index(f) for f in frames] == [round(t * 25) for t in stamps]
    assert decoded.note == "video stream #1 of 2 video streams; attached picture #0 skipped"
    assert decode_frames(str(plain), size=64).note == ""
    # The captioner finds the same frames again.
    found = frames_at(str(cover), stamps[[0, 9]], ImagePrep(64, 64, (0.5,) * 3, (0.5,) * 3, centre_crop=True))
    assert [read_index(found[t]) for t in stamps[[0, 9]]] == [0, round(stamps[9] * 25)]

    # frames.h5 lists the clip and stream, and `vida inspect` shows them; without such a clip
    # there is no `notes` group (the artifact of ordinary clips is unchanged).
    extract_frames(_rows(cover, plain), tmp_path / "frames.h5", size=32)
    summary = summarize_h5(tmp_path / "frames.h5")
    assert "notes: 1\n  cover: video stream #1 of 2 video streams; attached picture #0 skipped" in summary
    extract_frames(_rows(plain), tmp_path / "plain.h5", size=32)
    with h5py.File(tmp_path / "plain.h5") as f:
        assert "notes" not in f


def test_a_file_whose_only_video_is_a_picture_has_no_video_stream(tmp_path):
    path = write_clip(tmp_path / "song.mp4", codec=None, cover=True)
    with pytest.raises(ClipRejected, match=r"^no video stream \(only an attached picture\)$"):
        decode_frames(str(path), size=64)
    waveform, note = decode_audio(str(path))
    assert waveform is not None and note == ""


# ---------------------------------------------------------------------------------- audio tracks

OPUS = dict(codec="libopus", layout="stereo", rate=48000)


def test_the_default_track_is_used_and_named(tmp_path):
    path = write_clip(tmp_path / "a.mkv", tracks=(Tone(**OPUS, hz=440.0, default=False),
                                                  Tone(**OPUS, hz=2000.0, default=True)))
    waveform, note = decode_audio(str(path))
    assert note == "audio track 2 of 2 (the default)"
    assert np.all(logmel_18x128(waveform)[1:-1].argmax(axis=1) == mel_bin_of_frequency(2000.0))


def test_without_a_default_the_first_track_is_used(tmp_path):
    path = write_clip(tmp_path / "a.mkv", tracks=(Tone(**OPUS, hz=440.0, default=False),
                                                  Tone(**OPUS, hz=2000.0, default=False)))
    waveform, note = decode_audio(str(path))
    assert note == "audio track 1 of 2 (none is marked default)"
    assert np.all(logmel_18x128(waveform)[1:-1].argmax(axis=1) == mel_bin_of_frequency(440.0))


def test_a_silent_default_track_gives_way_to_the_loudest_track_with_sound(tmp_path):
    path = write_clip(tmp_path / "a.mkv", tracks=(
        Tone(**OPUS, amplitude=0.0, default=True), Tone(**OPUS, hz=440.0, amplitude=0.1, default=False),
        Tone(**OPUS, hz=2000.0, amplitude=0.5, default=False)))
    waveform, note = decode_audio(str(path))
    assert note == "audio track 1 of 3 (the default) is digital silence: used track 3, the loudest"
    assert np.all(logmel_18x128(waveform)[1:-1].argmax(axis=1) == mel_bin_of_frequency(2000.0))
    has_audio, stage_note = _audio_h5([path], tmp_path)["a"]
    assert has_audio and stage_note == note


def test_a_default_track_with_sound_is_kept_even_if_another_is_louder(tmp_path):
    path = write_clip(tmp_path / "a.mkv", tracks=(Tone(**OPUS, hz=440.0, amplitude=0.05, default=True),
                                                  Tone(**OPUS, hz=2000.0, amplitude=0.5, default=False)))
    waveform, note = decode_audio(str(path))
    assert note == "audio track 1 of 2 (the default)"
    assert np.all(logmel_18x128(waveform)[1:-1].argmax(axis=1) == mel_bin_of_frequency(440.0))


def test_when_every_track_is_silent_the_note_says_so(tmp_path):
    path = write_clip(tmp_path / "a.mkv", tracks=(Tone(**OPUS, amplitude=0.0, default=True),
                                                  Tone(**OPUS, amplitude=0.0, default=False)))
    has_audio, note = _audio_h5([path], tmp_path)["a"]
    assert not has_audio
    assert note.startswith("digital silence (peak ") and note.endswith(
        "; audio track 1 of 2 (the default); no other track has sound")


def test_an_unreadable_default_track_gives_way_too(tmp_path):
    path = write_clip(tmp_path / "a.mkv", tracks=(Tone(default=True), Tone(hz=2000.0, default=False)))
    with av.open(str(path)) as container:
        count = sum(1 for p in container.demux(container.streams.audio[0]) if p.size)
    damage_packets(path, "audio", range(count))
    waveform, note = decode_audio(str(path))
    assert note.startswith("audio track 1 of 2 (the default) is without sound (audio decode failed (")
    assert note.endswith("): used track 2, the loudest")
    assert np.all(logmel_18x128(waveform)[1:-1].argmax(axis=1) == mel_bin_of_frequency(2000.0))
