"""`vida report`: our accuracies beside the paper's, in the layout of its Tables 1 and 2."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from vida_core.io.artifacts import atomic_path

# Top-1 accuracy (%) on Moments in Time, quoted from the paper's Table 1 (SVDMap) and Table 2
# (CAFMap). None means the number has not been transcribed here and is shown as "n/a": fill
# a value in only from the paper itself, never from memory or an estimate.
PAPER_MIT_TOP1: dict[str, dict[str, float | None]] = {
    "table1": {"baseline": None, "svdmap": None, "svdmap_filtered": None, "real_audio": None},
    "table2": {"baseline": None, "cafmap": None, "real_audio": None},
}



def report_tables(conditions=None) -> dict[str, tuple[str, list[tuple[str, str]]]]:
    """table -> (title, [(row label, condition)]), from the conditions table; a condition in no
    paper table gets an "Other conditions" table, so none is dropped from the report silently."""
    from vida_core.learn.conditions import CONDITIONS, REPORT_TABLES

    conditions = CONDITIONS if conditions is None else conditions
    tables = {t: (title, [(c.label, c.name) for c in conditions.values() if t in c.tables])
              for t, title in REPORT_TABLES.items()}
    others = [(c.label, c.name) for c in conditions.values() if not set(c.tables) & set(REPORT_TABLES)]
    if others:
        tables["other"] = ("Other conditions", others)
    return tables


def _load(value):
    """A dict as is, or the contents of a JSON/YAML file path."""
    if value is None or isinstance(value, dict):
        return value or {}
    text = Path(value).read_text()
    return json.loads(text) if str(value).endswith(".json") else yaml.safe_load(text) or {}


def _pct(mean: float | None, std: float | None = None) -> str:
    if mean is None:
        return "n/a"
    return f"{100 * mean:.1f}" + (f" ± {100 * std:.1f}" if std is not None else "")


def _setup_line(metrics: dict, params: dict) -> str:
    dataset = (params.get("dataset") or {}).get("name", "unknown") if isinstance(params.get("dataset"), dict) \
        else params.get("dataset", "unknown")
    models = params.get("models") or {}
    classify = params.get("classify") or {}
    n_seeds = metrics.get("seeds", len(classify.get("seeds", [])) or "?")
    return (f"Ours: dataset `{dataset}`, {metrics.get('num_classes', '?')} classes, "
            f"{metrics.get('test_clips', '?')} test clips (chance top-1 {_pct(metrics.get('chance_top1'))}%), "
            f"{metrics.get('train_clips', '?')} train / {metrics.get('val_clips', '?')} val clips; "
            f"clips without real audio: {metrics.get('train_no_audio', '?')} train, "
            f"{metrics.get('val_no_audio', '?')} val, {metrics.get('test_no_audio', '?')} test. "
            f"Image encoder `{models.get('image_encoder', '?')}`, captioner `{models.get('captioner', '?')}`, "
            f"text encoder `{models.get('text_encoder', '?')}`, audio tagger `{models.get('audio_tagger', '?')}`. "
            f"Accuracy in %, mean ± std over {n_seeds} seeds; model selection on val only, test evaluated once.")


def build_report(metrics_json, params, out_md: str | Path | None = None) -> str:
    """Markdown with Tables 1 and 2 (paper's MiT top-1 beside ours); also written to `out_md`."""
    metrics, params = _load(metrics_json), _load(params)
    k = metrics.get("top5_k", 5)
    lines = ["# VIDA results", "", _setup_line(metrics, params), ""]
    for table, (title, rows) in report_tables().items():
        lines += [f"## {title}", "",
                  f"| setting | paper, MiT top-1 | ours top-1 | ours top-{k} | train clips with audio |",
                  "| --- | ---: | ---: | ---: | ---: |"]
        for label, condition in rows:
            paper = PAPER_MIT_TOP1.get(table, {}).get(condition)
            paper_text = "n/a" if paper is None else f"{paper:.1f}"
            entry = metrics.get(condition)
            if entry is None:
                lines.append(f"| {label} | {paper_text} | not run | not run | |")
                continue
            lines.append(f"| {label} | {paper_text} | {_pct(entry['top1_mean'], entry['top1_std'])} | "
                         f"{_pct(entry['top5_mean'], entry['top5_std'])} | "
                         f"{entry.get('train_clips_with_audio', '?')} of {entry.get('train_clips', '?')} |")
        lines.append("")
    lines.append("The paper's numbers are for Moments in Time with its own classes and models; ours "
                 "follow the stricter protocol of the design (same classes, splits and seeds for every "
                 "condition), so compare the differences between rows rather than absolute values.")
    text = "\n".join(lines) + "\n"
    if out_md is not None:
        with atomic_path(out_md) as tmp:
            tmp.write_text(text)
    return text
