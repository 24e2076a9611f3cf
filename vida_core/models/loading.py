"""Shared loading helpers: the one error type, device choice, and cache-then-network fetching.

Paper models come from the Hugging Face Hub. They are always tried from the local cache
first (`local_files_only=True`); only when that fails and downloads are allowed is the
network tried. Any failure becomes one `ModelLoadError` that names the role, the id and the
three ways out. There is deliberately no silent fallback to another model: features made by
a different model than the one asked for would be silently incomparable.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, TypeVar

import torch

from vida_core.shared.config import ModelsConfig
from vida_core.shared.device import resolve_device  # noqa: F401  (re-exported)

if TYPE_CHECKING:
    from .specs import ModelSpec

T = TypeVar("T")

ROLE_WORDS = {
    "captioner": "captioner",
    "text_encoder": "text encoder",
    "image_encoder": "image encoder",
    "audio_tagger": "audio tagger",
}
# The embedded defaults of each role are the defaults of the `models` section of params.
EMBEDDED_DEFAULTS = dataclasses.asdict(ModelsConfig())
_TRUTHY = {"1", "true", "yes", "on"}


class ModelLoadError(RuntimeError):
    """A model could not be resolved or loaded; the message says why and what to do."""


def ways_out(role: str) -> str:
    return (
        "Ways out: (1) connect to the network (and unset HF_HUB_OFFLINE) so the weights are "
        "downloaded once into the Hugging Face cache; (2) pass the path of a local folder that "
        "holds the model (for example one written with save_pretrained) instead of the id; "
        f"(3) use the embedded default '{EMBEDDED_DEFAULTS[role]}', which needs no download."
    )


def hub_offline() -> bool:
    """True when downloads are disabled, read at call time (not only at import time)."""
    if any(os.environ.get(v, "").strip().lower() in _TRUTHY for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")):
        return True
    try:
        from huggingface_hub import constants
    except ImportError:  # pragma: no cover - huggingface_hub ships with transformers
        return False
    return bool(constants.HF_HUB_OFFLINE)


@contextlib.contextmanager
def hub_offline_env() -> Iterator[None]:
    """Set HF_HUB_OFFLINE=1 while loading embedded models, so nothing reaches for the network."""
    old = os.environ.get("HF_HUB_OFFLINE")
    os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        yield
    finally:
        if old is None:
            del os.environ["HF_HUB_OFFLINE"]
        else:
            os.environ["HF_HUB_OFFLINE"] = old


def fetch(spec: ModelSpec, load: Callable[[bool], T]) -> T:
    """Run `load(local_files_only)` from the local folder/cache first, then from the network."""
    role = ROLE_WORDS[spec.role]
    try:
        return load(True)
    except Exception as err:  # transformers raises OSError, ValueError, ... for missing files
        if spec.folder is not None:
            raise ModelLoadError(
                f"Cannot load the {role} '{spec.name}' from the local folder {spec.folder}: {err}. "
                "Check that the folder was written with save_pretrained (config, weights and "
                "processor/tokenizer files). " + ways_out(spec.role)
            ) from err
        if hub_offline():
            raise missing_weights_error(spec, "downloads are disabled (HF_HUB_OFFLINE is set)") from err
    try:
        return load(False)
    except Exception as err:
        raise missing_weights_error(spec, f"downloading it failed ({type(err).__name__}: {err})") from err


def missing_weights_error(spec: ModelSpec, why: str) -> ModelLoadError:
    return ModelLoadError(
        f"Cannot load the {ROLE_WORDS[spec.role]} '{spec.name}' (Hugging Face id '{spec.hf_id}'): "
        f"it is not in the local Hugging Face cache and {why}. " + ways_out(spec.role)
    )


def batch_slices(n: int, batch_size: int) -> Iterator[slice]:
    """Consecutive slices of at most `batch_size` items covering range(n)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    for start in range(0, n, batch_size):
        yield slice(start, min(start + batch_size, n))
