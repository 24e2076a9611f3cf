"""Named sets of params: `vida profile paper` prints the `-S` flags that set every choice the
paper states, for `dvc exp run -n paper $(vida profile paper)`.

Each setting says where its value comes from: `stated` (the paper's text says it), or `reading`
(the paper implies it without a number or a name, and this is our reading). `PAPER_LEAVES_OPEN`
lists the choices the paper does not make, with the value this project uses for them.
"""

from __future__ import annotations

from dataclasses import dataclass

from vida_core.shared.config import Params, build


@dataclass(frozen=True)
class Setting:
    key: str        # dotted params.yaml key
    value: object
    source: str     # stated | reading
    note: str


PAPER = (
    Setting("threshold", 1.2, "stated", "representative frames: motion >= 1.2 x the clip's mean"),
    Setting("models.captioner", "blip", "stated", "BLIP captions (Salesforce/blip-image-captioning-base)"),
    Setting("models.image_encoder", "vit", "stated", "ViT features of RGB and flow, concatenated"),
    Setting("models.audio_tagger", "ast", "stated", "AST, fine-tuned on AudioSet (527 classes)"),
    Setting("label_bank.source", "audioset", "stated", "the label bank holds AudioSet's mean feature per label"),
    Setting("label_bank.backoff", "global_mean", "reading",
            "the paper gives no rule for a label without examples; the first release's global mean"),
    Setting("label_map.strip_template", False, "stated", "the whole caption is embedded"),
    Setting("label_map.synonyms", "none", "stated", "captions embedded as written"),
    Setting("label_map.label_text", "name", "stated", "labels embedded by name"),
    Setting("label_map.top_k", 5, "stated", "keep labels with similarity >= the mean of the top 5"),
    Setting("semantic_dictionary.top_n", 5, "stated", "AudioSet labels per action class"),
    Setting("filter.tagger", "audio_tagger", "stated", "the audio tagger (AST) tags the generated audio"),
    Setting("filter.match", "exact", "stated", "a tagged label counts when it is one of the class's labels"),
    Setting("generate_svdmap.input_proj", 0, "stated", "RGB and flow features go to the LSTM as they are"),
    Setting("generate_svdmap.hidden", 512, "stated", "LSTM width 512"),
    Setting("generate_cafmap.hidden", 512, "stated", "LSTM width 512"),
    Setting("generate_cafmap.mask_input", False, "stated", "the input is the noise sequence with conditions inserted"),
    Setting("protocol.labels_per_class", "all", "stated", "every train clip labelled (the paper's protocol)"),
)

# What the paper does not say, and what this project does there (README "Deviations from the paper").
PAPER_LEAVES_OPEN = (
    ("text encoder", "`models.text_encoder: minilm` (all-MiniLM-L6-v2, what the reference code used; the paper says BERT)"),
    ("LSTM layers and dropout (generators), classifier width", "2 layers, dropout 0.3; classifier 128 wide, inputs projected to 64"),
    ("filter top-k and IoU threshold", "`filter.top_k: 5`, `filter.iou_threshold: 0.1`"),
    ("how frames reach the captioner", "`captions.source: video` (whole frames at the captioner's size)"),
    ("how flow reaches the image network", "a uint8 picture, +-`visual_features.flow_clip_pixels` px at its ends"),
    ("generated audio of train clips", "cross-fitted, 5 folds (`generate_*.cross_fit_folds`)"),
    ("model selection", "on val (`classify.patience`); the paper tracked test accuracy per epoch"),
    ("seeds, splits, test size", "`classify.seeds: [0, 1]`; the demo's split; intervals from a hierarchical bootstrap"),
)


def profile(name: str) -> tuple[Setting, ...]:
    if name != "paper":
        raise KeyError(f"unknown profile {name!r}; known: paper")
    return PAPER


def format_value(value) -> str:
    """A value as `dvc exp run -S` takes it (YAML)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def set_flags(settings: tuple[Setting, ...], overrides: dict[str, str] | None = None) -> list[str]:
    """`-S key=value` for every setting; `overrides` replaces values by key (a local model folder, say)."""
    overrides = dict(overrides or {})
    unknown = set(overrides) - {s.key for s in settings}
    if unknown:
        raise KeyError(f"not in the profile: {sorted(unknown)}")
    flags = []
    for s in settings:
        flags += ["-S", f"{s.key}={overrides.get(s.key, format_value(s.value))}"]
    return flags


def apply(settings: tuple[Setting, ...], params: dict) -> dict:
    """params.yaml's dict with the profile applied (nested keys), checked against the typed config."""
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in params.items()}
    for s in settings:
        *parents, leaf = s.key.split(".")
        node = out
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = s.value
    check(out)
    return out


def check(params: dict) -> Params:
    return build(Params, params, "")


def markdown_table(settings: tuple[Setting, ...]) -> str:
    lines = ["| param | value | source | what |", "| --- | --- | --- | --- |"]
    lines += [f"| `{s.key}` | `{format_value(s.value)}` | {s.source} | {s.note} |" for s in settings]
    lines += ["", "The paper leaves open (this project's choice):", ""]
    lines += [f"- {what}: {ours}" for what, ours in PAPER_LEAVES_OPEN]
    return "\n".join(lines)
