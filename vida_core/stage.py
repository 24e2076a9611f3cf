"""What every stage script shares: typed params, device, executor, artifacts by name, the closing line.

A stage script in `stages/` is a few lines:

    stage = Stage("frames")
    summary = extract_frames(read_manifest(stage.input("manifest")), stage.output("frames"),
                             stage.params.frames, executor=stage.executor(), ...)
    stage.done(summary)

Artifacts are named as in `vida_core.io.registry`; `input` fails with the stage to run when an
upstream file is missing.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from vida_core.config import Params, load_params
from vida_core.io.registry import artifact


class Stage:
    def __init__(self, name: str, params_file: str | Path = "params.yaml", root: str | Path = "."):
        self.name = name
        self.root = Path(root)
        self.params: Params = load_params(self.root / params_file)

    def input(self, name: str) -> Path:
        """An upstream artifact's path; an error naming the stage that makes it when it is missing."""
        return artifact(name).require(self.root)

    def output(self, name: str) -> Path:
        entry = artifact(name)
        if entry.stage != self.name:
            raise ValueError(f"stage '{self.name}' asked to write '{name}', which '{entry.stage}' owns")
        return entry.path(self.root)

    @property
    def device(self):
        from vida_core.device import resolve_device
        return resolve_device(self.params.device)

    def executor(self, preload: tuple[str, ...] = ()):
        """The executor the params choose (`executor`, `workers`) for this stage's per-clip work."""
        from vida_core.executors import make_executor
        return make_executor(self.params.executor, workers=self.params.workers, preload=preload)

    def done(self, summary: dict) -> None:
        """One closing line per stage: what it kept and rejected, on stderr beside the progress bars."""
        print(f"[{self.name}] " + json.dumps(summary, default=str), file=sys.stderr)
