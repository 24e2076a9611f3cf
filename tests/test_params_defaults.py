"""One home for each default: params.yaml lists every key at its config.py default, except the
declared departures of the demo (config.DEMO_DEPARTURES)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import yaml

from vida_core.shared.config import DEMO_DEPARTURES, FlowConfig, Params, load_params

PARAMS_YAML = Path(__file__).resolve().parents[1] / "params.yaml"


def flatten(config, prefix: str = "") -> dict:
    """Dotted key -> value of every leaf of a config (a flow section as params.yaml spells it)."""
    if isinstance(config, FlowConfig):
        return {f"{prefix}{key}": value for key, value in config.as_params().items()}
    if dataclasses.is_dataclass(config):
        out = {}
        for field in dataclasses.fields(config):
            out.update(flatten(getattr(config, field.name), f"{prefix}{field.name}."))
        return out
    return {prefix[:-1]: config}


def flatten_yaml(data: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in data.items():
        if isinstance(value, dict) and value:
            out.update(flatten_yaml(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def test_params_yaml_lists_every_key_at_its_default_but_the_declared_departures():
    defaults, shipped = flatten(Params()), flatten(load_params(PARAMS_YAML))
    written = flatten_yaml(yaml.safe_load(PARAMS_YAML.read_text()))
    missing = sorted(set(defaults) - set(written))
    assert not missing, f"params.yaml leaves out {missing}: list them at their config.py defaults"
    differing = {key for key in defaults if shipped[key] != defaults[key]}
    undeclared = sorted(differing - set(DEMO_DEPARTURES))
    assert not undeclared, (f"params.yaml departs from config.py on {undeclared} "
                            f"({[(k, shipped[k], defaults[k]) for k in undeclared]}): change the default "
                            "or declare the departure in config.DEMO_DEPARTURES")
    assert set(DEMO_DEPARTURES) <= differing, "a declared departure is back at its default: drop it from the list"


# Functions whose arguments the stages fill from params: a default there must be the config's
# own (referenced, not restated as a literal), so a default still has one home.
PARAM_FED = {
    "vida_core/io/decode.py": {"decode_frames": ("size", "min_duration"), "decode_audio": ("silence_dbfs",)},
    "vida_core/extract/frames.py": {"extract_frames": ("size", "min_duration")},
    "vida_core/extract/flow.py": {"compute_flow": ("method", "size"), "optical_flow": ("method", "size")},
    "vida_core/models/image.py": {"load_image_encoder": ("runtime",)},
    "vida_core/models/captioner.py": {"load_captioner": ("batch_size",)},
}


def test_no_function_signature_restates_a_params_default():
    import ast

    root = Path(__file__).resolve().parents[1]
    for file, functions in PARAM_FED.items():
        tree = ast.parse((root / file).read_text())
        found = {node.name: node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
        for name, params in functions.items():
            args = found[name].args
            positional = args.posonlyargs + args.args
            defaults = dict(zip([a.arg for a in positional][len(positional) - len(args.defaults):], args.defaults))
            defaults.update({a.arg: d for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None})
            for param in params:
                default = defaults.get(param)
                assert not isinstance(default, ast.Constant), \
                    f"{file}: {name}({param}={default.value!r}) restates a default that lives in vida_core/shared/config.py"
