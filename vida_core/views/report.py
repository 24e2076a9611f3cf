"""`vida report`: the headline table with a verdict per generated-audio condition, our numbers in
the layout of the paper's Tables 1 and 2, and everything `dvc exp show` leaves out (per seed
values, epochs, clip counts, the generators' MSE before and after cross-fitting, the filter)."""

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


def _pct(x: float | None, signed: bool = False) -> str:
    if x is None:
        return "n/a"
    return f"{100 * x:+.1f}" if signed else f"{100 * x:.1f}"


def _setup_line(details: dict, params: dict) -> str:
    dataset = (params.get("dataset") or {}).get("name", "unknown") if isinstance(params.get("dataset"), dict) \
        else params.get("dataset", "unknown")
    models = params.get("models") or {}
    folds = {kind: g.get("cross_fit_folds") for kind, g in details.get("generators", {}).items()}
    seeds = details.get("seeds", [])
    return (f"Ours: dataset `{dataset}`, {details.get('num_classes', '?')} classes, "
            f"{details.get('test_clips', '?')} test clips (chance top-1 {_pct(details.get('chance_top1'))}%), "
            f"{details.get('train_clips', '?')} train / {details.get('val_clips', '?')} val clips; "
            f"clips without real audio: {details.get('train_no_audio', '?')} train, "
            f"{details.get('val_no_audio', '?')} val, {details.get('test_no_audio', '?')} test. "
            f"Image encoder `{models.get('image_encoder', '?')}`, captioner `{models.get('captioner', '?')}`, "
            f"text encoder `{models.get('text_encoder', '?')}`, audio tagger `{models.get('audio_tagger', '?')}`. "
            f"{len(seeds)} seeds ({', '.join(map(str, seeds))}); each trains both generators "
            f"(cross-fitted, {', '.join(f'{k} {v} folds' for k, v in folds.items()) or '?'}), the filter's "
            "decisions and every classifier. Model selection on val only; test evaluated once per seed.")


def headline_table(details: dict) -> list[str]:
    from vida_core.learn.results import is_generated

    boot = details.get("bootstrap", {})
    k = details.get("top5_k", 5)
    lines = [f"| condition | top-1 (mean ± std over seeds) | 95 % interval (test clips) | top-{k} | "
             "gain over baseline, points [95 % interval] | verdict |",
             "| --- | ---: | ---: | ---: | ---: | --- |"]
    verdicts = []
    for name, entry in details["conditions"].items():
        top1, gain = entry["top1"], entry.get("gain")
        gain_text = (f"{_pct(gain['mean'], True)} [{_pct(gain['lo'], True)}, {_pct(gain['hi'], True)}]"
                     if gain else "")
        verdict = gain["verdict"] if gain and is_generated(name) else ""
        lines.append(f"| `{name}` | {_pct(top1['mean'])} ± {_pct(top1['std'])} | {_pct(top1['lo'])}–{_pct(top1['hi'])} | "
                     f"{_pct(entry['top5']['mean'])} | {gain_text} | {verdict} |")
        if verdict:
            verdicts.append(f"- `{name}`: **{verdict}** (gain {_pct(gain['mean'], True)} points, 95 % interval "
                            f"{_pct(gain['lo'], True)} to {_pct(gain['hi'], True)})")
    notes = ["", "Verdicts come from the paired interval (same test clips, same seeds as `baseline`), "
             "never from the mean alone:", *verdicts, "",
             f"Intervals: {boot.get('samples', '?')} bootstrap resamples of the test clips (seed "
             f"{boot.get('seed', '?')}), each scoring the accuracy averaged over seeds; percentiles "
             f"{100 * (1 - boot.get('level', 0.95)) / 2:.1f} and {100 - 100 * (1 - boot.get('level', 0.95)) / 2:.1f}."]
    return lines + notes


def paper_tables(details: dict) -> list[str]:
    lines = []
    k = details.get("top5_k", 5)
    for table, (title, rows) in report_tables().items():
        lines += [f"## {title}", "",
                  f"| setting | paper, MiT top-1 | ours top-1 | ours top-{k} | train clips with audio |",
                  "| --- | ---: | ---: | ---: | ---: |"]
        for label, condition in rows:
            paper = PAPER_MIT_TOP1.get(table, {}).get(condition)
            paper_text = "n/a" if paper is None else f"{paper:.1f}"
            entry = details["conditions"].get(condition)
            if entry is None:
                lines.append(f"| {label} | {paper_text} | not run | not run | |")
                continue
            with_audio = sorted(set((entry.get("train_clips_with_audio") or {}).values()))
            with_audio_text = "–".join(str(v) for v in (with_audio[0], with_audio[-1])) if len(with_audio) > 1 \
                else (str(with_audio[0]) if with_audio else "?")
            lines.append(f"| {label} | {paper_text} | {_pct(entry['top1']['mean'])} ± {_pct(entry['top1']['std'])} | "
                         f"{_pct(entry['top5']['mean'])} ± {_pct(entry['top5']['std'])} | "
                         f"{with_audio_text} of {details.get('train_clips', '?')} |")
        lines.append("")
    lines.append("The paper's numbers are for Moments in Time with its own classes and models; ours "
                 "follow the stricter protocol of the design (same classes, splits and seeds for every "
                 "condition), so compare the differences between rows rather than absolute values.")
    return lines


def per_seed_table(details: dict) -> list[str]:
    seeds = [str(s) for s in details.get("seeds", [])]
    lines = ["## Per seed", "",
             "| condition | " + " | ".join(f"top-1 seed {s}" for s in seeds) + " | val top-1 (mean) | best epochs | epochs run |",
             "| --- |" + " ---: |" * (len(seeds) + 3)]
    for name, entry in details["conditions"].items():
        per = entry["top1"]["per_seed"]
        val = entry.get("val_top1", {}).get("mean")
        lines.append(f"| `{name}` | " + " | ".join(_pct(per.get(s)) for s in seeds) +
                     f" | {_pct(val)} | {', '.join(str(v) for v in (entry.get('best_epoch') or {}).values())} | "
                     f"{', '.join(str(v) for v in (entry.get('epochs_run') or {}).values())} |")
    return lines


def generator_table(details: dict) -> list[str]:
    generators = details.get("generators") or {}
    if not generators:
        return []
    lines = ["## Generators: standardised MSE against real audio (mean over seeds)", "",
             "Clips with real audio; 1.0 is the train variance of each mel bin. *Before*: one model fitted on "
             "all train clips generates every clip (in-sample on train). *Cross-fitted*: what the pipeline "
             "writes (train clips from fold models that did not see them). Test figures are reported, "
             "never used to choose anything.", "",
             "| generator | split | mean predictor | before (one model) | cross-fitted (written) |",
             "| --- | --- | ---: | ---: | ---: |"]
    for kind, summary in generators.items():
        for split, row in summary.get("mse", {}).items():
            lines.append(f"| {kind} | {split} | {row['mean_predictor']:.3f} | {row['before_cross_fit']:.3f} | "
                         f"{row['cross_fitted']:.3f} |")
    return lines


def filter_section(details: dict) -> list[str]:
    summary = details.get("filter")
    if not summary:
        return []
    train = summary["train"]
    real = (f"; on real audio the same rule would keep {_pct(train['real_audio_kept_fraction'])} % "
            f"(IoU {train['real_audio_iou_mean']:.3f})" if "real_audio_kept_fraction" in train else "")
    return ["## Filter (train clips only, mean over seeds)", "",
            f"top-{summary['top_k']} tags, IoU threshold {summary['iou_threshold']}: keeps "
            f"{_pct(train['kept_fraction'])} % of train clips (mean IoU {train['iou_mean']:.3f}; "
            f"{train['classes_without_kept_clip']:.1f} of {details.get('num_classes', '?')} classes keep none){real}. Per class: "
            "`plots/filter/keep_per_class.json`, `vida inspect artifacts/filter.h5`."]


def build_report(results_json, params, out_md: str | Path | None = None) -> str:
    """Markdown: the headline table with verdicts, the paper's layout, per-seed values, the
    generators' MSE and the filter; also written to `out_md`."""
    details, params = _load(results_json), _load(params)
    lines = ["# VIDA results", "", _setup_line(details, params), "", "## Test top-1 (%) and verdicts", "",
             *headline_table(details), "", *paper_tables(details), "", *per_seed_table(details), "",
             *generator_table(details), "", *filter_section(details)]
    text = "\n".join(lines).rstrip() + "\n"
    if out_md is not None:
        with atomic_path(out_md) as tmp:
            tmp.write_text(text)
    return text
