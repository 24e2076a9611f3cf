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
from collections import Counter
from pathlib import Path

from vida_core.config import Params, load_params
from vida_core.io.artifacts import remove_dead_temporaries
from vida_core.io.registry import ARTIFACTS, artifact


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
    def __init__(self, name: str, params_file: str | Path = "params.yaml", root: str | Path = "."):
        self.name = name
        self.root = Path(root)
        self.params: Params = load_params(self.root / params_file)
        # Killed runs' temporaries, also of outputs DVC restored from its run cache without a write.
        remove_dead_temporaries(a.path(self.root) for a in ARTIFACTS.values())

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
        """The executor the params choose (`executor`, `workers`, the `ray` section) for this stage's per-clip work."""
        from vida_core.executors import make_executor
        p = self.params
        options = {}
        if p.executor == "ray":
            options = dict(address=p.ray.address, block_size=p.ray.block_size, num_cpus_per_task=p.ray.num_cpus_per_task)
        return make_executor(p.executor, workers=p.workers, preload=preload, **options)

    def model(self, loader, name: str, **kwargs):
        """`loader(name, device=<the device param>, **kwargs)`: the model itself with `executor: local`;
        with `executor: ray`, a `ModelPool` of `ray.actors` copies of it, on GPUs when the device is
        cuda (or auto on a cluster with GPUs), with the same API."""
        p = self.params
        if p.executor != "ray":
            return loader(name, device=p.device, **kwargs)
        from vida_core.ray_executor import ModelPool, cluster_gpus, connect

        connect(p.ray.address, p.workers)
        gpus = cluster_gpus()
        if p.device.startswith("cuda") and not gpus:
            raise ValueError(f"{self.name}: device is {p.device} but the Ray cluster has no GPUs; use device: auto or cpu")
        num_gpus = p.ray.num_gpus_per_actor if gpus and p.device != "cpu" else 0
        return ModelPool(loader, name, device=p.device, actors=p.ray.actors, num_gpus=num_gpus, **kwargs)

    def call_batch(self, batch: int) -> int:
        """How many inputs to hand a `model()` per call: `batch` locally, `batch` x `ray.actors`
        with Ray, so that one call keeps every actor busy."""
        return batch * self.params.ray.actors if self.params.executor == "ray" else batch

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
