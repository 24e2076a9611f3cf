"""The artifact registry: every file a stage writes, declared once.

Each entry names the artifact, its file (relative to the project root, as in dvc.yaml), the
stage that produces it and its main datasets (or columns). Stage scripts ask for inputs and
outputs by name through `vida_core.shared.stage.Stage`; `vida inspect`, `vida report` and the tests
find files here; a test checks that dvc.yaml's outs agree with this table.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vida_core.shared.artifacts import MissingArtifactError


@dataclass(frozen=True)
class Artifact:
    name: str
    file: str                    # relative to the project root
    stage: str                   # the dvc.yaml stage that writes it
    datasets: tuple[str, ...]    # main HDF5 datasets, CSV columns or JSON keys

    def path(self, root: str | Path = ".") -> Path:
        return Path(root) / self.file

    def require(self, root: str | Path = ".") -> Path:
        """The file, or an error naming the stage to run."""
        path = self.path(root)
        if not path.exists():
            raise MissingArtifactError(
                f"{path} is missing: it is produced by the '{self.stage}' stage. "
                f"Run `dvc repro {self.stage}` (or `dvc repro` for the whole pipeline) first.")
        return path


# One `classify_<name>` stage per classifier condition (vida_core.learn.conditions; a test checks
# that the two lists and dvc.yaml agree). Listed here, not imported, so the registry stays free of torch.
CLASSIFY_CONDITIONS = ("baseline", "svdmap", "svdmap_filtered", "cafmap", "real_audio",
                       # the label-budget study's controls
                       "svdmap_shuffled", "visual_pool", "cafmap_labels_only", "cafmap_bank_permuted", "filter_random")
# The paper's conditions: what `vida predict` runs on new clips (the others are the study's controls).
PAPER_CONDITIONS = ("baseline", "svdmap", "svdmap_filtered", "cafmap", "real_audio")
# One `generate_<name>` stage per generator (vida_core.learn.generators.GENERATORS).
GENERATOR_VARIANTS = ("svdmap", "svdmap_shuffled", "cafmap", "cafmap_labels_only", "cafmap_bank_permuted")

_ALL = [
    Artifact("demo", "data/demo", "demo_data", ("<class>/<clip_id>.mp4", "demo_info.csv")),
    Artifact("demo_audioset", "data/demo_audioset", "demo_audioset", ("<YTID>.m4a", "segments.csv")),
    Artifact("manifest", "artifacts/manifest.csv", "manifest", ("clip_id", "path", "label", "split")),
    Artifact("frames", "artifacts/frames.h5", "frames",
             ("clip_id", "frames", "timestamps", "rejects/clip_id", "rejects/reason")),
    Artifact("audio", "artifacts/audio.h5", "audio", ("clip_id", "logmel", "waveform", "has_audio", "audio_note")),
    Artifact("flow", "artifacts/flow.h5", "flow", ("clip_id", "flow", "magnitude")),
    Artifact("representative", "artifacts/representative.h5", "representative", ("clip_id", "mask", "note")),
    Artifact("captions", "artifacts/captions.json", "captions", ("model", "clips")),
    Artifact("label_bank", "artifacts/label_bank.h5", "label_bank",
             ("clip_id", "mean", "count", "covered", "label_name", "clip_labels", "clip_labels_offset")),
    Artifact("label_map", "artifacts/label_map.h5", "label_map",
             ("clip_id", "label_index", "label_similarity", "condition", "condition_mask", "label_embeddings")),
    Artifact("semantic_dictionary", "artifacts/semantic_dictionary.csv", "semantic_dictionary",
             ("class", "rank", "label_index", "label", "similarity")),
    Artifact("feature_tagger_model", "artifacts/feature_tagger.pt", "feature_tagger", ("state_dict", "mel_mean", "mel_std")),
    Artifact("feature_tagger", "artifacts/feature_tagger.h5", "feature_tagger",
             ("clip_id", "teacher", "val/clip_id", "val/teacher", "val/head", "val/stretched")),
    Artifact("visual", "artifacts/visual.h5", "visual_features", ("clip_id", "rgb", "flow")),
    Artifact("roles", "artifacts/roles.csv", "label_budget", ("clip_id", "label", "role")),
    Artifact("cafmap_controls", "artifacts/cafmap_controls.h5", "cafmap_controls",
             ("clip_id", "labels_only/condition", "bank_permuted/condition", "condition_mask", "label_codes",
              "bank_permutation")),
    Artifact("visual_pool", "artifacts/visual_pool.h5", "visual_pool", ("clip_id", "features", "components", "explained")),
    *[artifact for name in GENERATOR_VARIANTS for artifact in (
        Artifact(f"{name}_model", f"artifacts/{name}.pt", f"generate_{name}", ("state_dicts", "seeds", "config", "summary")),
        Artifact(f"generated_{name}", f"artifacts/generated_{name}.h5", f"generate_{name}",
                 ("clip_id", "seed<s>/audio", "seed<s>/fold", "audio", "has_audio", "used_as_target")),
        Artifact(f"generate_{name}_summary", f"artifacts/generate_{name}.json", f"generate_{name}",
                 ("val_mse", "mse", "per_seed")),
        Artifact(f"{name}_loss_plot", f"plots/generators/{name}_loss.json", f"generate_{name}",
                 ("epoch", "train_loss", "val_loss")),
    )],
    Artifact("filter", "artifacts/filter.h5", "filter", ("clip_id", "seed<s>/topk", "seed<s>/iou", "seed<s>/keep")),
    Artifact("filter_summary", "artifacts/filter.json", "filter", ("train", "per_seed_kept_fraction")),
    *[artifact for name in CLASSIFY_CONDITIONS for artifact in (
        Artifact(f"classify_{name}", f"artifacts/classify/{name}.h5", f"classify_{name}",
                 ("clip_id", "label", "seeds", "logits", "val_top1", "history/seed<s>")),
        Artifact(f"classify_{name}_model", f"artifacts/classify/{name}.pt", f"classify_{name}",
                 ("state_dicts", "seeds", "dims", "class_names")),
        Artifact(f"confusion_{name}", f"plots/confusion/{name}.json", f"classify_{name}", ("actual", "predicted")),
    )],
    Artifact("audio_quality", "artifacts/audio_quality.json", "audio_quality", ("rows", "splits", "seeds")),
    Artifact("results", "artifacts/results.json", "results", ("conditions", "generators", "filter", "audio_quality")),
    # Kept in git (cache: false), shown by `dvc exp show` / `dvc plots show`.
    Artifact("feature_tagger_metrics", "metrics/feature_tagger.json", "feature_tagger", ("val_head",)),
    Artifact("results_metrics", "metrics/results.json", "results", ("<condition>", "<condition>_gain")),
    Artifact("filter_plot", "plots/filter/keep_per_class.json", "filter", ("class", "kept_percent")),
    Artifact("accuracy_plot", "plots/classify/accuracy_by_epoch.json", "results", ("epoch", "<condition>")),
    Artifact("threshold_plot", "plots/threshold.json", "results", ("threshold", "cafmap_val_top1")),
    Artifact("learning_curve_plot", "plots/learning_curve.json", "results", ("k", "condition", "gain", "lo", "hi")),
]

ARTIFACTS: dict[str, Artifact] = {a.name: a for a in _ALL}


def artifact(name: str) -> Artifact:
    try:
        return ARTIFACTS[name]
    except KeyError:
        raise KeyError(f"no artifact named {name!r}; known: {sorted(ARTIFACTS)}") from None
