"""`vida predict`: the trained chain on new video files, most usefully files without audio.

What VIDA exists for: a clip whose audio is missing gets audio features generated from what is
seen, and is classified with them. For each file this replays the pipeline's per-clip stages
with the same functions and the same params (frames, audio, flow, representative frames, visual
features, captions, caption -> label condition), then the trained models the pipeline left in
`artifacts/`: both generators (each seed's full model, the one that generates for clips outside
train) and every condition's classifier (each seed's). The new clips are treated as test clips:
no filtering (the filter decides for train clips only), the full generator models, the
probabilities averaged over seeds.

The per-stage files of the new clips are written under `<out>/artifacts/` with the pipeline's
names, so `vida inspect <out>/artifacts/frames.h5 --clip ID` works on them too; `<out>/
predictions.h5` holds what a user asks for (probabilities per condition, generated log-mels,
real log-mels where the file has audio).

Clip ids are file names without their extension (parent folders are added only where two files
share a name), or paths relative to `ids_relative_to` when given (the dataset root, to name a
clip as the pipeline does). CAFMap's noise is drawn from (seed, clip id), so a clip predicted
under the same id gets the same numbers.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
import torch

from vida_core.shared import NUM_FRAMES, NUM_MEL_BINS
from vida_core.shared.config import Params, asdict, load_params
from vida_core.shared.artifacts import RowWriter, aligned_rows, provenance, read_strings, write_h5, write_strings
from vida_core.shared.registry import PAPER_CONDITIONS, artifact

EVAL_BATCH = 256
TOP_K = 5

# What the trained chain is: made by `dvc repro`, read here, never written.
TRAINED_CHAIN = ("label_bank", "svdmap_model", "cafmap_model",
                 *(f"classify_{name}_model" for name in PAPER_CONDITIONS))
# Pipeline artifacts whose recorded params must equal params.yaml's for the replay to be the
# chain the models were trained on.
REPLAYED = ("frames", "audio", "flow", "representative", "visual", "label_map")


class PredictError(RuntimeError):
    """The trained chain is missing or does not match params.yaml: the message names the fix."""


@dataclass
class ClipPrediction:
    clip_id: str
    path: str
    rejected: str = ""           # why the clip could not be used ("" when predicted)
    has_audio: bool = False
    audio_note: str = ""         # why there is no audio (no stream, silence, unreadable)
    representative_frames: int = 0
    captions: list[str] = field(default_factory=list)
    top: dict[str, list[tuple[str, float]]] = field(default_factory=dict)   # condition -> top-k (class, p)


# ----------------------------------------------------------------------------- checks

def _flat(data, prefix: str = "") -> dict:
    if isinstance(data, dict):
        out = {}
        for key, value in data.items():
            out.update(_flat(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: data}


def check_trained_chain(root: Path, params: Params) -> None:
    """Every model the chain needs exists, and the pipeline's artifacts were made with params.yaml.

    Artifacts the user deleted are not checked (nothing to compare); their models still are.
    """
    missing = [artifact(name) for name in TRAINED_CHAIN if not artifact(name).path(root).exists()]
    if missing:
        stages = sorted({a.stage for a in missing})
        raise PredictError(
            "vida predict needs the trained chain in artifacts/, and these are missing: "
            + ", ".join(f"{a.file} (stage {a.stage})" for a in missing)
            + f". Run `dvc repro {' '.join(stages)}` (or `dvc repro` for the whole pipeline), "
              "or `dvc pull` if the project has a remote with them.")
    # Each section as the stages record it (vida_core.shared.config.asdict), through JSON like the record.
    now = _flat(json.loads(json.dumps({f.name: asdict(getattr(params, f.name))
                                       if dataclasses.is_dataclass(getattr(params, f.name))
                                       else getattr(params, f.name) for f in dataclasses.fields(params)})))
    differences = []
    for name in REPLAYED:
        path = artifact(name).path(root)
        if not path.exists():
            continue
        with h5py.File(path, "r") as f:
            recorded = _flat(provenance(f)["params"] or {})
        for key, value in recorded.items():
            if key in now and now[key] != value:
                differences.append(f"{key} is {now[key]!r} in params.yaml but {path} was made with {value!r}")
    if differences:
        raise PredictError("params.yaml does not match the trained chain: " + "; ".join(differences[:6])
                           + ". Run `dvc repro` so the chain is trained with these params, or restore "
                             "params.yaml (`git checkout params.yaml`).")


# ----------------------------------------------------------------------------- clips

def clip_rows(paths: list[Path], ids_relative_to: Path | None = None) -> list[dict]:
    """Manifest-like rows (clip_id, path) of the files given; ids unique (see the module docstring)."""
    from vida_core.io.dataset import DatasetError, check_unique_clip_ids, clip_id_for

    if ids_relative_to is not None:
        rows = [{"clip_id": clip_id_for(p, ids_relative_to), "path": str(p)} for p in paths]
    else:
        rows = [{"clip_id": clip_id, "path": str(p)} for clip_id, p in zip(_short_ids(paths), paths)]
    try:
        check_unique_clip_ids(rows)
    except DatasetError as err:
        raise PredictError(str(err)) from None
    return rows


def _short_ids(paths: list[Path]) -> list[str]:
    """File names without extension; where two files share one, as many parent folders as tell them apart."""
    parts = [Path(p).resolve().with_suffix("").parts[1:] for p in paths]   # [1:]: no root
    depth = [1] * len(parts)
    while True:
        ids = ["/".join(q[-d:]) for q, d in zip(parts, depth)]
        counts = Counter(ids)
        clashing = [i for i, clip_id in enumerate(ids) if counts[clip_id] > 1 and depth[i] < len(parts[i])]
        if not clashing:
            return ids   # the same file given twice still clashes: check_unique_clip_ids names it
        for i in clashing:
            depth[i] += 1


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


# ----------------------------------------------------------------------------- the chain

def replay_stages(rows: list[dict], out_dir: Path, params: Params, root: Path, log=print) -> list[tuple[str, str]]:
    """The pipeline's per-clip stages on `rows`: the stages' own functions with the project's params,
    on an artifacts folder of their own (`out_dir/artifacts/`); the label bank is the project's.

    Returns the rejects (clip_id, reason) of the frames stage; the later stages see the kept clips.
    """
    from vida_core.extract.audio import audio_stage
    from vida_core.extract.flow import flow_stage
    from vida_core.extract.frames import frames_stage
    from vida_core.extract.representative import representative_stage
    from vida_core.io.dataset import write_manifest
    from vida_core.learn.visual_features import visual_features_stage
    from vida_core.semantic.captions import captions_stage
    from vida_core.semantic.label_map import label_map_stage
    from vida_core.shared.stage import Stage

    def stage(name: str) -> Stage:
        return Stage(name, root=out_dir, params=params, inputs_from={"label_bank": root})

    manifest = artifact("manifest").path(out_dir)
    write_manifest([dict(r, label="", split="test", fingerprint="") for r in rows], manifest)
    summary = frames_stage(stage("frames"))
    rejects = summary["rejects"]
    rejected = {clip_id for clip_id, _ in rejects}
    kept = [r for r in rows if r["clip_id"] not in rejected]
    if not kept:
        return rejects
    write_manifest([dict(r, label="", split="test", fingerprint="") for r in kept], manifest)
    audio_stage(stage("audio"))
    flow_stage(stage("flow"))
    representative_stage(stage("representative"))
    log(f"[predict] visual features ({params.models.image_encoder})")
    visual_features_stage(stage("visual_features"))
    log(f"[predict] captions ({params.models.captioner})")
    captions_stage(stage("captions"), cache_path=None)
    log(f"[predict] caption -> label condition ({params.models.text_encoder})")
    label_map_stage(stage("label_map"))
    return rejects


def new_clip_table(work: Path, class_names: list[str]):
    """The kept clips as test clips of a ClipTable (label unknown: 0, never read)."""
    from vida_core.learn.data import ClipTable

    with h5py.File(work / "visual.h5", "r") as f:
        ids = read_strings(f["clip_id"])
    with h5py.File(work / "audio.h5", "r") as f:
        by_id = dict(zip(read_strings(f["clip_id"]), f["has_audio"][()].astype(bool)))
    return ClipTable(ids, np.array(["test"] * len(ids), dtype=object), np.zeros(len(ids), np.int64),
                     list(class_names), np.array([by_id[c] for c in ids], bool))


def generate_audio(kind: str, checkpoint: Path, table, work: Path, device: torch.device) -> list[int]:
    """Each seed's full generator on the new clips -> work/generated_<kind>.h5 (the pipeline's layout)."""
    from vida_core.learn.data import ClipBatches, per_seed
    from vida_core.learn.generators import generator_columns, load_generator

    seeds = torch.load(checkpoint, map_location="cpu", weights_only=False)["seeds"]
    out = work / Path(artifact(f"generated_{kind}").file).name
    with write_h5(out, "predict", params={"checkpoint": str(checkpoint), "checkpoint_md5": _md5(checkpoint)}) as f:
        write_strings(f, "clip_id", table.clip_ids)
        f.create_dataset("has_audio", data=table.has_audio)
        f.create_dataset("seeds", data=np.asarray(seeds, dtype=np.int64))
        for seed in seeds:
            model = load_generator(checkpoint, seed, device)
            columns = generator_columns(kind, table.clip_ids, work / "audio.h5", work / "visual.h5",
                                        work / "label_map.h5", use_visual=model.uses_visual)
            writer = RowWriter(f, {per_seed("audio", seed): ((NUM_FRAMES, NUM_MEL_BINS), np.float32, {})},
                               flush_every=EVAL_BATCH)
            batches = ClipBatches(columns, table.positions(), EVAL_BATCH,
                                  extras={"clip_id": np.asarray(table.clip_ids, dtype=object)})
            for batch in batches:
                batch = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
                for row in model.generate(batch).cpu().numpy():
                    writer.append(**{per_seed("audio", seed): row})
            writer.flush()
        f["audio"] = h5py.SoftLink("/" + per_seed("audio", seeds[0]))
    return list(seeds)


def write_unfiltered(table, seeds: list[int], work: Path) -> None:
    """filter.h5 for the new clips: every clip kept. The filter decides for train clips only;
    new clips, like val and test clips, always get their generated audio."""
    from vida_core.learn.data import per_seed

    with write_h5(work / Path(artifact("filter").file).name, "predict") as f:
        write_strings(f, "clip_id", table.clip_ids)
        for seed in seeds:
            f.create_dataset(per_seed("keep", seed), data=np.ones(len(table), bool))
        f.attrs["note"] = "new clips are never filtered: the filter decides for train clips only"


def classify(name: str, ckpt: dict, table, work: Path, device: torch.device) -> np.ndarray:
    """Probabilities [seeds, clips, classes] of one condition's classifiers (its loaded checkpoint) on the new clips."""
    from vida_core.learn.classify import load_classifier, predict
    from vida_core.learn.conditions import condition
    from vida_core.learn.data import ClipBatches, H5Column

    spec = condition(name)
    paths = {"visual": work / "visual.h5", "audio": work / "audio.h5"}
    paths.update({need: work / Path(artifact(need).file).name for need in spec.needs})
    visual = {key: H5Column(paths["visual"], key, table.clip_ids, "visual_features") for key in ("rgb", "flow")}
    probabilities = []
    for seed in ckpt["seeds"]:
        audio_column, audio_used = spec.audio(table, paths, seed)
        columns = dict(visual)
        if audio_column is not None:
            columns["audio"] = audio_column
        model = load_classifier(ckpt, seed, device)
        batches = ClipBatches(columns, table.positions(), EVAL_BATCH,
                              extras={"label": table.label, "audio_used": audio_used})
        logits, positions = predict(model, batches, device)
        assert np.array_equal(positions, table.positions())
        probabilities.append(torch.softmax(torch.from_numpy(logits).double(), dim=1).numpy())
    return np.stack(probabilities)


def predict_clips(paths: list[str | Path], out_dir: str | Path = "predictions", root: str | Path = ".",
                  ids_relative_to: str | Path | None = None, top_k: int = TOP_K, log=print) -> list[ClipPrediction]:
    """Run the trained chain on video files -> one ClipPrediction per file (in the order given).

    Writes `<out_dir>/predictions.h5` and the new clips' stage artifacts under `<out_dir>/artifacts/`.
    """
    from vida_core.shared.device import resolve_device

    root, out_dir = Path(root), Path(out_dir)
    if not (root / "params.yaml").exists():
        raise PredictError(f"no params.yaml in {root.resolve()}: run vida predict in the project folder "
                           "(where dvc.yaml is) or pass --project")
    params = load_params(root / "params.yaml")
    check_trained_chain(root, params)
    if not paths:
        raise PredictError("no clips given")
    rows = clip_rows([Path(p) for p in paths], Path(ids_relative_to) if ids_relative_to else None)
    work = out_dir / "artifacts"
    work.mkdir(parents=True, exist_ok=True)
    device = resolve_device(params.device)

    rejects = dict(replay_stages(rows, out_dir, params, root, log=log))
    results = {r["clip_id"]: ClipPrediction(r["clip_id"], r["path"], rejected=rejects.get(r["clip_id"], ""))
               for r in rows}
    checkpoints = {name: artifact(name).path(root) for name in TRAINED_CHAIN}
    classifiers = {name: torch.load(checkpoints[f"classify_{name}_model"], map_location="cpu", weights_only=False)
                   for name in PAPER_CONDITIONS}
    class_names = list(classifiers["baseline"]["class_names"])
    for name, ckpt in classifiers.items():
        if list(ckpt["class_names"]) != class_names:
            raise PredictError(f"{checkpoints[f'classify_{name}_model']} was trained on other classes than the "
                               "baseline classifier; run `dvc repro` so every classifier is trained on the same data")
    probabilities, seeds = {}, {}
    table = None
    if len(rejects) < len(rows):
        table = new_clip_table(work, class_names)
        log("[predict] generators and classifiers")
        for kind in ("svdmap", "cafmap"):
            seeds[kind] = generate_audio(kind, checkpoints[f"{kind}_model"], table, work, device)
        write_unfiltered(table, seeds["svdmap"], work)
        for name, ckpt in classifiers.items():
            probabilities[name] = classify(name, ckpt, table, work, device)
        _fill(results, table, work, probabilities, class_names, top_k)

    _write_predictions(out_dir / "predictions.h5", rows, results, table, work, probabilities, seeds,
                       class_names, checkpoints, params)
    return [results[r["clip_id"]] for r in rows]


def _fill(results: dict, table, work: Path, probabilities: dict, class_names: list[str], top_k: int) -> None:
    with h5py.File(work / "audio.h5", "r") as f:
        notes = dict(zip(read_strings(f["clip_id"]), read_strings(f["audio_note"])))
    with h5py.File(work / "representative.h5", "r") as f:
        counts = dict(zip(read_strings(f["clip_id"]), f["mask"][()].sum(1)))
    captions = json.loads((work / "captions.json").read_text())["clips"]
    for i, clip_id in enumerate(table.clip_ids):
        result = results[clip_id]
        result.has_audio = bool(table.has_audio[i])
        result.audio_note = "" if result.has_audio else notes[clip_id]
        result.representative_frames = int(counts[clip_id])
        result.captions = [c["caption"] for c in captions.get(clip_id, [])]
        for name, probs in probabilities.items():
            mean = probs[:, i].mean(0)
            order = np.argsort(-mean, kind="stable")[:top_k]
            result.top[name] = [(class_names[k], float(mean[k])) for k in order]


def _write_predictions(path: Path, rows, results, table, work, probabilities, seeds, class_names,
                       checkpoints, params: Params) -> None:
    from vida_core.learn.data import per_seed

    chain = {name: {"file": str(p), "md5": _md5(p)} for name, p in checkpoints.items()}
    with write_h5(path, "predict", params={"threshold": params.threshold}, models={"trained_chain": chain}) as f:
        kept = table.clip_ids if table is not None else []
        write_strings(f, "clip_id", kept)
        write_strings(f, "path", [results[c].path for c in kept])
        write_strings(f, "class_names", class_names)
        f.attrs["conditions"] = json.dumps(list(probabilities))
        f.attrs["probabilities"] = "softmax of each seed's classifier, averaged over seeds; per seed under per_seed/"
        if table is not None:
            f.create_dataset("has_audio", data=table.has_audio)
            write_strings(f, "audio_note", [results[c].audio_note for c in kept])
            with h5py.File(work / "audio.h5", "r") as audio:
                audio_rows = aligned_rows(kept, read_strings(audio["clip_id"]), work / "audio.h5", "audio")
                # zeros where has_audio is false
                f.create_dataset("real_logmel", data=np.stack([audio["logmel"][int(r)] for r in audio_rows]))
            for name, probs in probabilities.items():
                f.create_dataset(f"probabilities/{name}", data=probs.mean(0).astype(np.float32))
                f.create_dataset(f"per_seed/{name}", data=probs.astype(np.float32))
            for kind, kind_seeds in seeds.items():
                with h5py.File(work / f"generated_{kind}.h5", "r") as gen:
                    f.create_dataset(f"generated/{kind}", data=np.stack([gen[per_seed("audio", s)][()]
                                                                         for s in kind_seeds]))
                f[f"generated/{kind}"].attrs["seeds"] = json.dumps(kind_seeds)
                f[f"generated/{kind}"].attrs["shape"] = "[seed, clip, 18 steps, 128 mel bins], raw log-mel as audio.h5"
        rejected = [r for r in rows if results[r["clip_id"]].rejected]
        group = f.create_group("rejects")
        write_strings(group, "clip_id", [r["clip_id"] for r in rejected])
        write_strings(group, "path", [r["path"] for r in rejected])
        write_strings(group, "reason", [results[r["clip_id"]].rejected for r in rejected])
