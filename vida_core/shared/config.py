"""Every knob of the pipeline, typed, with its default, in one place.

`params.yaml` is read into `Params` by `load_params`: each section becomes its dataclass, and
an unknown key anywhere is an error naming the key and the section, so a typo in
`dvc exp run -S generate_svdmap.hiden=256` fails loudly instead of being ignored. Values keep
the type the user wrote when it fits the declared one (an int where a float is declared stays
an int), so artifacts that record their params record exactly what was asked for.

Defaults live here and only here: `params.yaml` repeats the knobs a user is expected to turn,
with comments, and any key left out of it takes the default below.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union

import yaml


class ConfigError(ValueError):
    """params.yaml has an unknown key or a value of the wrong type; the message names both."""


# -------------------------------------------------------------------------- executors

@dataclass
class RayConfig:
    """`executor: ray` (vida_core/executors/ray.py). Like `executor`, speed only: no stage lists it."""
    # null: start Ray on this machine with `workers` CPUs; "auto": join the cluster this node
    # belongs to (`ray start` ran here); "host:6379" or "ray://host:10001": join that cluster.
    address: str | None = None
    block_size: int = 16             # clips per Ray task of the per-clip stages (frames, audio, flow, demo)
    num_cpus_per_task: float = 1.0   # CPUs each of those tasks reserves
    actors: int = 2                  # Ray actors per model (captioner, image/text encoder, audio tagger)
    num_gpus_per_actor: float = 1.0  # GPUs each model actor reserves when `device` is cuda or auto on a
                                     # cluster with GPUs (0.5: two actors share a GPU)


# ------------------------------------------------------------------------------ data

@dataclass
class DatasetConfig:
    name: Literal["demo", "mit", "folder", "csv"] = "demo"   # io/dataset.py DATASET_LAYOUTS
    root: str = "data/demo"   # MiT root (training/, validation/), a <class>/<clip> tree, or the demo folder
    csv: str | None = None    # for name: csv, a file with columns path,label[,split], inside `root`
    classes: int | list[str] | None = None   # null (all), K (the first K classes), or a list of names
    max_clips_per_class: int | None = None
    val_fraction: float = 0.15   # of training clips (MiT) or of all clips (others)
    test_fraction: float = 0.15  # ignored for MiT, whose validation set is the test split
    seed: int = 0


@dataclass
class DemoConfig:
    """The embedded demo dataset (vida_core.io.demo)."""
    root: str = "data/demo"
    num_classes: int = 7           # take the first K demo classes (tiny test datasets)
    clips_per_class: int = 40
    width: int = 256               # must be even (yuv420p)
    height: int = 192
    no_audio_fraction: float = 0.03   # clips without an audio stream
    silent_fraction: float = 0.03     # clips whose audio stream is all zeros
    seed: int = 0
    # Pixels (of a 192-high frame) that the ringing clock's striker swings while it rings: the
    # one visible difference between clock_ringing and clock_ticking; 0 makes the two classes
    # identical to vision (the negative control of the label-budget study).
    clock_cue: float = 10.0
    crf: int = 23                  # libx264 quality
    preset: str = "ultrafast"      # libx264 preset
    # The label bank's external source on the demo: a sound-only stand-in for AudioSet
    # (vida_core.io.demo_audioset, written to data/demo_audioset), this many clips per sound.
    bank_clips_per_sound: int = 30


# --------------------------------------------------------------------------- extract

@dataclass
class FramesConfig:
    # Named `resolution`, not `size`: DVC's run cache drops every key named size from its key
    # (treeverse/dvc#10296), so a sweep of a `size` param would restore another size's outputs.
    resolution: int = 224      # frames are resized (short side) and centre-cropped to resolution x resolution
    min_duration: float = 2.5  # seconds; shorter clips are rejected, 2.5-3 s ones hold their last frame


@dataclass
class AudioConfig:
    silence_dbfs: float = -80  # a track whose peak is at or below this is digital silence


@dataclass
class FlowConfig:
    """`method` picks an entry of vida_core.extract.flow.FLOW_METHODS; any other key of the
    section is one of that method's own knobs, checked against the method's options dataclass
    when the flow stage starts."""
    method: str = "dis"
    resolution: int = 112      # working resolution of the flow fields (see FramesConfig.resolution)
    options: dict = field(default_factory=dict)   # the method's knobs, e.g. {"preset": "fast"} for DIS

    def as_params(self) -> dict:
        """The section as params.yaml spells it (method knobs at the top level)."""
        return {"method": self.method, "resolution": self.resolution, **self.options}


# -------------------------------------------------------------------------- semantic

@dataclass
class ModelsConfig:
    """Model roles: a short name, a Hugging Face id, or a local folder. The defaults are the
    embedded models, whose weights ship inside Python packages (no download)."""
    captioner: str = "effnet-lite2-labels"   # its own network, not the image encoder's; paper: blip (Salesforce/blip-image-captioning-base)
    text_encoder: str = "minilm"             # all-MiniLM-L6-v2, as the reference code used
    image_encoder: str = "effnet-lite0"      # paper: vit (google/vit-base-patch16-224-in21k)
    audio_tagger: str = "yamnet"             # paper: ast (MIT/ast-finetuned-audioset-10-10-0.4593)


@dataclass
class CaptionsConfig:
    batch_size: int = 16       # representative frames per captioner call, gathered across clips
    # video: each frame whole, decoded again from the video at the captioner's input size |
    # frames: frames.h5's 224 px centre squares (the first release)
    source: Literal["video", "frames"] = "video"



@dataclass
class LabelMapConfig:
    top_k: int = 5             # keep labels with similarity >= mean of the top-k (paper: 5)
    strip_template: bool = True   # drop "a photo of", articles ... before embedding (paper: false)
    # Words of ImageNet-label captions: none | lemmas (WordNet synonyms, "chime, bell, gong") |
    # lemmas+definition (also the WordNet gloss: "drake" -> "adult male of a ... duck")
    synonyms: Literal["none", "lemmas", "lemmas+definition"] = "lemmas+definition"
    label_text: Literal["name", "name+description"] = "name"   # what a label is embedded as (ontology descriptions)



@dataclass
class LabelBankConfig:
    # audioset (default: AudioSet, or on the demo its stand-in, data/demo_audioset) |
    # tagged_train_audio (the run's own audio, labelled by the audio tagger; the pool U in the study)
    source: Literal["audioset", "tagged_train_audio"] = "audioset"
    min_prob: float = 0.2      # tagger score for a train clip to feed a label (its top-1 always does)
    # Source audioset: the folder of <YTID>[_<start>].<ext> media files, a dependency of the stage
    # (so it must exist, whatever the source), and the segment list inside it.
    audioset_root: str = "data/demo_audioset"
    audioset_csv: str | None = "data/demo_audioset/segments.csv"
    # A label without examples: ontology (its nearest covered parent, child or sibling, then the
    # global mean) | global_mean (the first release's rule)
    backoff: Literal["ontology", "global_mean"] = "ontology"


@dataclass
class SemanticDictionaryConfig:
    top_n: int = 5             # AudioSet labels per action class (paper: 5)


# ---------------------------------------------------------------------------- learn

@dataclass
class FeatureTaggerConfig:
    hidden: int = 128
    epochs: int = 60
    lr: float = 0.001
    batch_size: int = 64
    patience: int = 8          # epochs without val-loss improvement before stopping
    label_threshold: float = 0.2   # teacher labels for mAP: score >= this, plus the teacher's top-1


@dataclass
class VisualFeaturesConfig:
    batch_clips: int = 8            # clips encoded together (36 images each: 18 RGB + 18 flow)
    flow_clip_pixels: float = 16.0  # displacement (flow.h5 units: pixels at flow.resolution) at the ends of uint8
    dtype: Literal["float16", "float32"] = "float16"          # storage type of visual.h5 features; halves the file
    # How the embedded EfficientNet runs on a CPU: openvino (fp32, ~4x PyTorch's stage speed,
    # cosine 0.9999999 to it) | torch (the exact fp32 PyTorch reference). GPUs always run PyTorch.
    runtime: Literal["openvino", "torch"] = "openvino"


@dataclass
class TrainConfig:
    epochs: int = 60          # upper bound; early stopping on val usually ends sooner
    patience: int = 8         # epochs without a val improvement before stopping
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.0


@dataclass
class GeneratorConfig(TrainConfig):
    hidden: int = 256          # paper: 512 (demo val MSE 0.73 at 512 against 0.77 at 256, for 2.2x the time)
    layers: int = 2
    dropout: float = 0.3
    epochs: int = 40
    patience: int = 6
    # RGB+flow features are linearly projected to this many dims before the LSTM (0: fed
    # directly, as in the paper). A low-rank factorisation of the LSTM's input weights that
    # makes CPU training several times faster with 2 x 1280-d features.
    input_proj: int = 256
    # Train clips get their generated audio from one of K fold models that did not see them
    # (0: from the model fitted on all train clips, in-sample; the paper does not say which).
    cross_fit_folds: int = 5


@dataclass
class CAFMapConfig(GeneratorConfig):
    lr: float = 3e-3
    use_visual: bool = False  # also feed RGB+flow features (an ablation beyond the paper)
    # Feed the condition mask as one more input channel, so the LSTM knows which steps carry a
    # caption-derived condition and which are noise (false: noise and conditions only, the paper).
    mask_input: bool = True


@dataclass
class FilterConfig:
    top_k: int = 5               # labels the feature tagger assigns to each generated clip
    iou_threshold: float = 0.1   # keep a train clip's generated audio when IoU >= this
    # exact: a tagged label counts when it is a dictionary label (paper); ontology: also when one
    # is the other's ancestor below the seven top-level categories ("Bell" ~ "Church bell")
    match: Literal["exact", "ontology"] = "exact"
    # What tags the generated log-mel: feature_head (a small head distilled on the run's audio,
    # artifacts/feature_tagger.pt) | audio_tagger (models.audio_tagger itself; AST only: the paper)
    tagger: Literal["feature_head", "audio_tagger"] = "feature_head"


@dataclass
class ClassifyConfig(TrainConfig):
    # The learning chain runs once per seed: both generators (with their cross-fitting folds),
    # the filter and every condition's classifier; results are mean, spread and intervals over them.
    # The conditions are one dvc.yaml stage each (classify_<name>), from vida_core.learn.conditions.
    seeds: list[int] = field(default_factory=lambda: [0, 1])
    hidden: int = 128          # 128 and input_proj 64: 2.2x faster than 256 and 128 (the study trains many runs)
    dropout: float = 0.3
    epochs: int = 30
    patience: int = 6
    batch_size: int = 64
    weight_decay: float = 1e-4
    # Each modality (RGB, flow, audio) is linearly projected to this many dims before the
    # LSTM (0: raw concatenation, as in the paper). Besides speed, it gives the 128-d audio
    # the same width as each 1280-d visual stream.
    input_proj: int = 64


@dataclass
class ProtocolConfig:
    """The label-budget study (design.md section 9; README "The label-budget study").

    The train split is cut, per class and seeded, into a labelled reservoir of
    `reservoir_per_class` clips and the unlabelled pool U (the rest). Nothing that fits on U sees
    a label: the generators, the feature tagger and a label bank of tagged audio learn from U's
    audio alone (`pool_val_fraction` of U early-stops them on audio loss, never on labels), so
    every labelled, val and test clip's generated audio is out of sample. Each classifier then
    learns from k labelled clips per class drawn from the reservoir, for each k in
    `labels_per_class`, `label_draws` times, for each seed in classify.seeds, for a fixed
    `train_epochs` (no early stopping: a val split big enough to choose an epoch would cost more
    labels than the budget). `labels_per_class: all` is the paper's protocol: every train clip
    labelled, no pool, generators cross-fitted, classifiers early-stopped on val.
    """
    labels_per_class: list[int] | str = field(default_factory=lambda: [1, 2, 4, 8])
    label_draws: int = 5            # random labelled sets per k (each crossed with every seed)
    reservoir_per_class: int = 12   # train clips per class that may be labelled; the rest of train is U
    pool_val_fraction: float = 0.15  # of U (per class): early stopping of the models fitted on U
    # Passes over the labelled clips of each budget classifier (one step each while k x classes
    # <= classify.batch_size): fixed in advance, the same for every condition, enough for the
    # train loss of every condition to settle on the demo (README "The label-budget study").
    train_epochs: int = 40
    seed: int = 0                   # the reservoir/pool cut and the label draws
    # Classes that look alike (results are also reported for them and for the rest separately);
    # classes not in the dataset are ignored. The demo's two clocks.
    lookalike_classes: list[str] = field(default_factory=lambda: ["clock_ticking", "clock_ringing"])
    headline_k: int = 2             # the k whose val top-1 `dvc exp show` and the threshold curve show

    def __post_init__(self):
        k = self.labels_per_class
        if isinstance(k, str) and k != "all":
            raise ConfigError(f"protocol.labels_per_class must be a list of positive ints or 'all', not {k!r}")
        if isinstance(k, list) and (not k or min(k) < 1 or max(k) > self.reservoir_per_class):
            raise ConfigError(f"protocol.labels_per_class {k} must be positive and at most "
                              f"protocol.reservoir_per_class ({self.reservoir_per_class})")
        if self.label_draws < 1 or self.train_epochs < 1:
            raise ConfigError("protocol.label_draws and protocol.train_epochs must be at least 1")
        if not 0 < self.pool_val_fraction < 1:
            raise ConfigError(f"protocol.pool_val_fraction must be in (0, 1), not {self.pool_val_fraction}")

    @property
    def budget(self) -> bool:
        """True for the label-budget study, False for `labels_per_class: all` (the paper's protocol)."""
        return self.labels_per_class != "all"


# ----------------------------------------------------------------------------- all

@dataclass
class Params:
    # Motion threshold of representative frames: frame i+1 is representative when the motion
    # between sampled frames i and i+1 is >= threshold x the clip's mean motion (paper: 1.2).
    threshold: float = 1.2
    seed: int = 0             # the feature tagger's initialisation and data order (classify.seeds drive the rest)
    device: str = "auto"      # auto | cpu | cuda
    # How per-clip work runs; both change speed, never results, so no stage lists them.
    workers: int = 2          # processes of the local executor (CPUs of a Ray started here)
    executor: str = "local"   # a module of vida_core/executors/: local | ray
    # A per-clip stage that rejects more than this fraction of its clips fails (frames: clips
    # rejected; audio: clips whose audio could not be read, not those that have none).
    max_reject_fraction: float = 0.5
    ray: RayConfig = field(default_factory=RayConfig)
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    demo: DemoConfig = field(default_factory=DemoConfig)
    frames: FramesConfig = field(default_factory=FramesConfig)
    audio: AudioConfig = field(default_factory=AudioConfig)
    flow: FlowConfig = field(default_factory=FlowConfig)
    models: ModelsConfig = field(default_factory=ModelsConfig)
    captions: CaptionsConfig = field(default_factory=CaptionsConfig)
    label_map: LabelMapConfig = field(default_factory=LabelMapConfig)
    label_bank: LabelBankConfig = field(default_factory=LabelBankConfig)
    semantic_dictionary: SemanticDictionaryConfig = field(default_factory=SemanticDictionaryConfig)
    feature_tagger: FeatureTaggerConfig = field(default_factory=FeatureTaggerConfig)
    visual_features: VisualFeaturesConfig = field(default_factory=VisualFeaturesConfig)
    generate_svdmap: GeneratorConfig = field(default_factory=GeneratorConfig)
    generate_cafmap: CAFMapConfig = field(default_factory=CAFMapConfig)
    filter: FilterConfig = field(default_factory=FilterConfig)
    classify: ClassifyConfig = field(default_factory=ClassifyConfig)
    protocol: ProtocolConfig = field(default_factory=ProtocolConfig)


# The keys where the shipped params.yaml departs from the defaults above, and why. Every other key
# of params.yaml is at its default (tests/test_params_defaults.py), so a default has one home.
DEMO_DEPARTURES = {
    "dataset.val_fraction": "the demo's study split: 13 val clips a class",
    "dataset.test_fraction": "the demo's study split: 51 test clips a class",
    "demo.clips_per_class": "the full demo (the default is a small one, for quick checks)",
}


# --------------------------------------------------------------------------- parsing

def _fits(value: Any, annotation: Any) -> bool:
    """Whether `value` (as YAML gives it) fits a field's annotation; an int fits a float."""
    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType):
        return any(_fits(value, arg) for arg in typing.get_args(annotation))
    if annotation is type(None):
        return value is None
    if origin is list:
        (item,) = typing.get_args(annotation) or (Any,)
        return isinstance(value, list) and all(_fits(v, item) for v in value)
    if origin is dict or annotation is dict:
        return isinstance(value, dict)
    if origin is Literal:   # a choice: checked here, for every section, against the listed values
        return value in typing.get_args(annotation)
    if annotation is Any:
        return True
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, annotation)


# Keys renamed since a release, with the new name: the error says what to write instead.
RENAMED_KEYS = {"frames.size": "frames.resolution", "flow.size": "flow.resolution"}


def build(cls, data: dict | None, section: str):
    """Dataclass `cls` from a params section, rejecting unknown keys and ill-typed values."""
    data = dict(data or {})
    for name in data:
        renamed = RENAMED_KEYS.get(f"{section}.{name}")
        if renamed:
            raise ConfigError(f"params.yaml: '{section}.{name}' is now '{renamed}' (DVC's run cache ignores "
                              "params named size, treeverse/dvc#10296, so a sweep over it could restore "
                              "another size's outputs); rename the key")
    if cls is FlowConfig:
        return _build_flow(data, section)
    hints = typing.get_type_hints(cls)
    known = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(data) - set(known))
    if unknown:
        where = f"section '{section}'" if section else "the top level"
        raise ConfigError(f"params.yaml: unknown key(s) {unknown} in {where}; known keys: {known}")
    values = {}
    for name, value in data.items():
        annotation = hints[name]
        key = f"{section}.{name}" if section else name
        if dataclasses.is_dataclass(annotation):
            if not isinstance(value, dict):
                raise ConfigError(f"params.yaml: '{key}' must be a section (a mapping), not {value!r}")
            values[name] = build(annotation, value, key)
        elif not _fits(value, annotation):
            raise ConfigError(f"params.yaml: '{key}' is {value!r}, which is not a {_type_name(annotation)}")
        else:
            values[name] = value
    return cls(**values)


def _build_flow(data: dict, section: str) -> FlowConfig:
    # The method's own knobs are checked against its options dataclass by the flow stage, the
    # one stage that reads them, before any work (vida_core.extract.flow.compute_flow): the
    # table of methods lives with the flow code so that adding a method is one file.
    base = build(_FlowBase, {k: v for k, v in data.items() if k in ("method", "resolution")}, section)
    return FlowConfig(method=base.method, resolution=base.resolution,
                      options={k: v for k, v in data.items() if k not in ("method", "resolution")})


@dataclass
class _FlowBase:
    method: str = FlowConfig.method
    resolution: int = FlowConfig.resolution


def _type_name(annotation: Any) -> str:
    if typing.get_origin(annotation) is Literal:
        return "choice among " + ", ".join(map(str, typing.get_args(annotation)))
    return getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")


def load_params(path: str | Path = "params.yaml") -> Params:
    """params.yaml as a typed, validated `Params` (defaults for every key it leaves out)."""
    with open(path) as f:
        return build(Params, yaml.safe_load(f) or {}, "")


def asdict(config) -> dict:
    """A config as plain data, e.g. for an artifact's provenance."""
    if isinstance(config, FlowConfig):
        return config.as_params()
    return dataclasses.asdict(config)
