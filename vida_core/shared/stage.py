"""What every stage script shares: typed params, device, executor, artifacts by name, the closing line.

A stage script in `stages/` is a few lines:

    stage = Stage("frames")
    summary = extract_frames(read_manifest(stage.input("manifest")), stage.output("frames"),
                             stage.params.frames, executor=stage.executor(), ...)
    stage.done(summary)

Artifacts are named as in `vida_core.shared.registry`; `input` fails with the stage to run when an
upstream file is missing.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections import Counter
from pathlib import Path

from vida_core.shared.config import Params, load_params
from vida_core.shared.artifacts import remove_dead_temporaries
from vida_core.shared.registry import ARTIFACTS, artifact


class TooManyRejects(RuntimeError):
    def __init__(self, stage: str, total: int, rejects: list[tuple[str, str]], what: str, limit: float):
        # Reasons grouped by their first words ("no video stream", "too short", ...).
        counts = Counter(reason.split(" (")[0].split(":")[0] for _, reason in rejects)
        common = "; ".join(f"{n} x '{reason}'" for reason, n in counts.most_common(5))
        example = f"{rejects[0][0]}: {rejects[0][1]}"
        super().__init__(
            f"{stage}: {len(rejects)} of {total} clips ({len(rejects) / total:.0%}) {what}, more than "
            f"max_reject_fraction={limit}, so the stage fails instead of passing them on. Reasons: {common}. "
            f"E.g. {example}. `vida inspect` on the stage's artifact lists every clip and reason. Fix the "
            "data or the dataset settings, or raise max_reject_fraction in params.yaml if this is expected.")


class Stage:
    def __init__(self, name: str, params_file: str | Path = "params.yaml", root: str | Path = ".",
                 params: Params | None = None, inputs_from: dict[str, str | Path] | None = None):
        """`root`: the project folder whose artifacts/ the stage reads and writes. `vida predict`
        runs a stage on an artifacts folder of its own: it passes the project's `params`, and
        `inputs_from` for the inputs that stay the project's (the trained chain's label bank)."""
        self.name = name
        self.root = Path(root)
        self.params: Params = params if params is not None else load_params(self.root / params_file)
        self.inputs_from = {key: Path(value) for key, value in (inputs_from or {}).items()}
        self._executor = None   # the executor models run through, made on first use
        # Killed runs' temporaries, also of outputs DVC restored from its run cache without a write.
        remove_dead_temporaries(a.path(self.root) for a in ARTIFACTS.values())

    def input(self, name: str) -> Path:
        """An upstream artifact's path; an error naming the stage that makes it when it is missing."""
        return artifact(name).require(self.inputs_from.get(name, self.root))

    def output(self, name: str) -> Path:
        entry = artifact(name)
        if entry.stage != self.name:
            raise ValueError(f"stage '{self.name}' asked to write '{name}', which '{entry.stage}' owns")
        return entry.path(self.root)

    @property
    def device(self):
        from vida_core.shared.device import resolve_device
        return resolve_device(self.params.device)

    def executor(self, preload: tuple[str, ...] = ()):
        """The executor the params choose (`executor`, `workers`, and the params section named
        after it, if any: `ray:`) for this stage's per-clip work and models."""
        from vida_core.executors import make_executor
        p = self.params
        section = getattr(p, p.executor, None)
        options = dataclasses.asdict(section) if dataclasses.is_dataclass(section) else {}
        return make_executor(p.executor, workers=p.workers, preload=preload, **options)

    def model(self, loader, name: str, **kwargs):
        """`loader(name, device=<the device param>, **kwargs)` through the executor: the model itself
        locally; on a cluster, something with the same API that runs copies of it."""
        return self._model_executor().model(loader, name, device=self.params.device, **kwargs)

    def call_batch(self, batch: int) -> int:
        """How many inputs to hand a `model()` per call so that every copy of it has work."""
        return self._model_executor().call_batch(batch)

    def _model_executor(self):
        if self._executor is None:
            self._executor = self.executor()
        return self._executor

    def check_rejects(self, total: int, rejects: list[tuple[str, str]], what: str = "rejected") -> None:
        """Fail the stage when more than `max_reject_fraction` of its clips were rejected.

        Called after the artifact is written, so `vida inspect` shows every reject and reason;
        the stage then exits non-zero, so DVC does not record it and nothing downstream runs.
        """
        limit = self.params.max_reject_fraction
        if total and len(rejects) / total > limit:
            raise TooManyRejects(self.name, total, rejects, what, limit)

    def done(self, summary: dict) -> None:
        """One closing line per stage: what it kept and rejected, on stderr beside the progress bars."""
        print(f"[{self.name}] " + json.dumps(summary, default=str), file=sys.stderr)
