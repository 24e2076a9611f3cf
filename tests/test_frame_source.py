"""The captioner sees the whole frame, decoded again from the video at its own input size."""

import numpy as np

from vida_core.io.decode import decode_frames
from vida_core.io.demo import DemoConfig, render_clip, write_mp4
from vida_core.models.image import ImagePrep
from vida_core.semantic.frame_source import frames_at, video_frame_reader

SQUARE = ImagePrep(64, 64, (0.5,) * 3, (0.5,) * 3, centre_crop=True)   # EfficientNet-like
WHOLE = ImagePrep(48, 48, (0.5,) * 3, (0.5,) * 3, centre_crop=False)   # BLIP-like: squash


def _clip(tmp_path):
    frames, fps, audio, rate = render_clip("siren", 0, DemoConfig(width=128, height=64))
    path = tmp_path / "siren.mp4"
    write_mp4(path, frames, fps, audio, rate)
    return str(path), frames


def test_frames_are_found_again_by_timestamp_whole_or_centre_square(tmp_path):
    path, rendered = _clip(tmp_path)
    squares, stamps = decode_frames(path, size=64)
    picked = stamps[[2, 9, 15]]
    square = frames_at(path, picked, SQUARE)
    assert sorted(square) == sorted(picked.tolist())
    for k, t in zip([2, 9, 15], picked):  # the same picture the frames stage stored
        assert np.abs(square[t].astype(int) - squares[k]).mean() < 4
    whole = frames_at(path, picked, WHOLE)
    assert whole[picked[0]].shape == (48, 48, 3)
    # The whole frame squashed keeps the left and right edges the centre square cuts away.
    assert np.abs(whole[picked[0]].astype(int) - square[picked[0]][8:56:1, ::1][:48, :48]).mean() > 5


def test_a_frame_not_found_falls_back_to_the_stored_square(tmp_path):
    path, _ = _clip(tmp_path)
    squares, stamps = decode_frames(path, size=64)
    stored = np.stack([squares, squares])
    read = video_frame_reader([path, str(tmp_path / "gone.mp4")], np.stack([stamps, stamps]),
                              lambda row, idx: stored[row, idx], SQUARE)
    assert read(0, np.array([1, 4])).shape == (2, 64, 64, 3) and read.fallbacks == 0
    assert np.array_equal(read(1, np.array([3])), stored[1, [3]]) and read.fallbacks == 1
