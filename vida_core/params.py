"""Reading `params.yaml`: the user's knobs, in one place."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


def load_params(path: str | Path = "params.yaml") -> dict[str, Any]:
    with open(path) as f:
        return yaml.safe_load(f) or {}


def section(params: dict, *keys: str) -> dict[str, Any]:
    """The sub-dict `params[k1][k2]...`, empty when absent."""
    out: Any = params
    for key in keys:
        out = (out or {}).get(key, {})
    return dict(out or {})
