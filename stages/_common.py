"""Shared by the stage scripts: where artifacts live and how a stage reports its result."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ARTIFACTS = Path("artifacts")


def report(stage: str, summary: dict) -> None:
    """One closing line per stage: what it kept and rejected, on stderr beside the progress bars."""
    print(f"[{stage}] " + json.dumps(summary, default=str), file=sys.stderr)
