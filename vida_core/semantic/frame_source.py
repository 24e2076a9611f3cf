"""What the captioner looks at: the representative frames decoded again from the video, whole.

frames.h5 holds the 224 px centre square of each frame, made for the learning stages. A
captioner should see the frame as shown, at its own input size (BLIP squashes the whole frame to
384 x 384; EfficientNet crops the centre square at 224). So the captions stage decodes each
clip's representative frames again, at the timestamps frames.h5 recorded, applies the display
geometry (rotation, non-square pixels) as the frames stage does, and then the captioner's own
geometry (`ImagePrep`: centre square or whole frame, at its height x width). A frame that cannot
be found again (a damaged file) falls back to frames.h5's square.
"""

from __future__ import annotations

from collections.abc import Sequence

import av
import cv2
import numpy as np

from vida_core.io.decode import _ORIENTATIONS, _orientation, _pixel_aspect, main_video  # one display geometry

_EPS = 1e-6


def _displayed(frame: av.VideoFrame, pixel_aspect) -> np.ndarray:
    """The frame as a player shows it: square pixels, turned upright, RGB."""
    rgb = frame.to_ndarray(format="rgb24")
    if pixel_aspect != 1:
        rgb = cv2.resize(rgb, (round(rgb.shape[1] * pixel_aspect), rgb.shape[0]), interpolation=cv2.INTER_AREA)
    orientation = _orientation(frame)
    return np.ascontiguousarray(_ORIENTATIONS[orientation](rgb)) if orientation else rgb


def fit_to_captioner(image: np.ndarray, prep) -> np.ndarray:
    """The captioner's own geometry: the centre square (prep.centre_crop) or the whole frame,
    resized to prep.height x prep.width."""
    if prep.centre_crop:
        h, w = image.shape[:2]
        side = min(h, w)
        image = image[(h - side) // 2:(h - side) // 2 + side, (w - side) // 2:(w - side) // 2 + side]
    shrink = min(image.shape[:2]) >= 2 * min(prep.height, prep.width)
    return cv2.resize(image, (prep.width, prep.height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def frames_at(path: str, times: Sequence[float], prep) -> dict[float, np.ndarray]:
    """The frames shown at `times` (source timestamps, as frames.h5 stores them), fitted to the
    captioner; times not found (damage, unreadable file) are left out."""
    wanted, found = sorted(set(float(t) for t in times)), {}
    try:
        with av.open(path) as container:
            stream = main_video(container)     # the stream frames.h5 was read from
            if stream is None:
                return found
            pixel_aspect = _pixel_aspect(stream)
            for packet in container.demux(stream):
                try:
                    frames = packet.decode()
                except av.error.FFmpegError:  # a damaged packet: its frames are not the ones wanted
                    continue
                for frame in frames:
                    if frame.time is None:
                        continue
                    t = float(frame.time)
                    match = next((w for w in wanted if abs(w - t) < _EPS and w not in found), None)
                    if match is not None:
                        found[match] = fit_to_captioner(_displayed(frame, pixel_aspect), prep)
                    if len(found) == len(wanted) or t > wanted[-1] + 1:
                        return found
    except (av.error.FFmpegError, IndexError, OSError):
        pass
    return found


def video_frame_reader(paths: Sequence[str], timestamps, fallback, prep):
    """`read_frames(row, frame_indices)` for `caption_representative_frames`: the frames from
    the video of clip `row` (`paths[row]`, `timestamps[row]` the 18 source times), else
    `fallback(row, frame_indices)` fitted to the captioner. Counts fallbacks in `.fallbacks`."""
    def read(row: int, frame_indices: np.ndarray) -> np.ndarray:
        times = np.asarray(timestamps[row], dtype=np.float64)[frame_indices]
        found = frames_at(paths[row], times, prep)
        out = []
        for i, t in zip(frame_indices, times):
            if float(t) in found:
                out.append(found[float(t)])
            else:
                read.fallbacks += 1
                out.append(fit_to_captioner(np.asarray(fallback(row, np.array([i]))[0]), prep))
        return np.stack(out)

    read.fallbacks = 0
    return read
