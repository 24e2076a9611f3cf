"""The per-clip stages: frames, audio, flow, representative frames.

Only decode and format errors of a clip (`DECODE_ERRORS`) become a reject (frames) or a clip
kept without audio (audio). Anything else is a bug, not a bad clip: it fails the stage with the
clip named, since "no audio" is the very case VIDA models and a bug turned into "no audio"
would silently reshape the real-audio condition and the generators' training set.
"""

from __future__ import annotations


def __getattr__(name: str):
    # Resolved on first use, so that `vida_core.extract.logmel` imports without PyAV or OpenCV
    # (the AST tagger's GPU frontend uses it on machines that decode nothing).
    if name == "DECODE_ERRORS":
        import av

        from vida_core.io.decode import ClipRejected

        # OSError: a file that vanished or can't be read (permissions, a dead network mount).
        return (ClipRejected, av.error.FFmpegError, OSError)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class ClipError(RuntimeError):
    """A code error while processing one clip; the message names the stage and the clip."""


def clip_error(stage: str, path: str, err: BaseException) -> ClipError:
    return ClipError(f"{stage}: unexpected {type(err).__name__} on clip {path}: {err}. This is a bug, not "
                     "a bad clip, so the stage stops; please report it with the clip if you can share it.")
