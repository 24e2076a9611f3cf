"""`vida report`: the label-budget study's tables (per k: val and test top-1, paired gains over
vision only with their intervals, minimum detectable gains and verdicts, for every test clip, the
look-alike classes and the others), the paper's numbers beside ours, the generated audio against
real audio (MSE, Frechet distance, KL) and the generators' MSE, the filter and what the filtered
conditions train on: everything `dvc exp show` leaves out, test numbers included."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import yaml

from vida_core.shared.artifacts import atomic_path

# Top-1 accuracy (%) on Moments in Time, quoted from the paper's Table 1 (SVDMap) and Table 2
# (CAFMap). None means the paper gives no such number and is shown as "n/a": fill a value in
# only from the paper itself, never from memory or an estimate. The paper reports SVDMap only
# filtered: Table 1's other audio row (34.3) is ground-truth audio, so unfiltered SVDMap is None.
PAPER_MIT_TOP1: dict[str, dict[str, float | None]] = {
    "table1": {"baseline": 17.7, "svdmap": None, "svdmap_filtered": 35.6, "real_audio": 34.3},
    "table2": {"baseline": 22.5, "cafmap": 30.7, "real_audio": 33.9},
}


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
    protocol = params.get("protocol") or {}
    seeds = details.get("seeds", [])
    groups = details.get("groups", {})
    group_text = "; ".join(f"{g}: {v['test_clips']} test clips ({', '.join(v['classes'])})"
                           for g, v in groups.items() if g != "all")
    if details.get("budget"):
        study = (f"Label-budget study: k labelled clips per class for k in {protocol.get('labels_per_class', '?')}, "
                 f"{protocol.get('label_draws', '?')} draws of them x {len(seeds)} seeds ({', '.join(map(str, seeds))}); "
                 "generators, feature tagger and label bank fitted on the unlabelled pool U only; each classifier "
                 f"trained for a fixed {protocol.get('train_epochs', '?')} epochs on its labelled clips.")
    else:
        study = (f"Every train clip labelled (labels_per_class: all), {len(seeds)} seeds; generators cross-fitted; "
                 "classifiers early-stopped on val.")
    return (f"Ours: dataset `{dataset}`, {details.get('num_classes', '?')} classes, "
            f"{details.get('test_clips', '?')} test clips (chance top-1 {_pct(details.get('chance_top1'))}%)"
            f"{'; ' + group_text if group_text else ''}. "
            f"Image encoder `{models.get('image_encoder', '?')}`, captioner `{models.get('captioner', '?')}`, "
            f"text encoder `{models.get('text_encoder', '?')}`, audio tagger `{models.get('audio_tagger', '?')}`. "
            f"{study} Nothing is chosen on test.")


def _gain_cell(entry: dict | None) -> str:
    gain = (entry or {}).get("gain")
    if not gain:
        return ""
    return (f"{_pct(gain['mean'], True)} [{_pct(gain['lo'], True)}, {_pct(gain['hi'], True)}] "
            f"(MDG {_pct(gain['mdg'])})")


def _verdict_short(entry: dict | None) -> str:
    gain = (entry or {}).get("gain")
    return {"better than baseline": "better", "worse than baseline": "worse"}.get(gain["verdict"], "n.d.") if gain else ""


def _recovered_cell(entry: dict | None) -> str:
    recovered = (entry or {}).get("recovered")
    if not recovered:
        return ""
    if recovered.get("mean") is None:
        return "n/a"
    lo, hi = recovered.get("lo"), recovered.get("hi")
    interval = f" [{_pct(lo)}, {_pct(hi)}]" if lo is not None and hi is not None else ""
    return f"{_pct(recovered['mean'])} %{interval}"


def k_tables(details: dict) -> list[str]:
    """One table per k: val top-1, test top-1, and the paired gain over baseline per class group,
    with its interval, minimum detectable gain (MDG, 80 % power) and verdict."""
    from vida_core.learn.conditions import CONDITIONS

    groups = list(details.get("groups", {"all": {}}))
    lines = []
    for k, entry in details.get("by_k", {}).items():
        title = "every train clip labelled" if k == "all" else f"k = {k} labelled clips per class"
        lines += [f"## {title} ({entry['runs']} runs: {entry['draws']} draws x {len(details.get('seeds', []))} seeds)", "",
                  "| condition | val top-1 | test top-1 [95 %] | " +
                  " | ".join(f"gain, {g} (points) [95 %] (MDG) | verdict, {g}" for g in groups) +
                  " | share of real-audio gain recovered (all) |",
                  "| --- | ---: | ---: | " + " | ".join("---: | ---" for _ in groups) + " | ---: |"]
        for name, c in entry["conditions"].items():
            top1 = c["groups"]["all"]["top1"]
            control = " (control)" if name in CONDITIONS and CONDITIONS[name].control else ""
            lines.append(f"| `{name}`{control} | {_pct(c['val_top1']['mean'])} | {_pct(top1['mean'])} "
                         f"[{_pct(top1['lo'])}, {_pct(top1['hi'])}] | " +
                         " | ".join(f"{_gain_cell(c['groups'].get(g))} | {_verdict_short(c['groups'].get(g))}"
                                    for g in groups) +
                         f" | {_recovered_cell(c['groups']['all'])} |")
        lines.append("")
    boot = details.get("bootstrap", {})
    lines += ["Gains are paired (same runs, same test clips as `baseline`). Intervals: "
              f"{boot.get('samples', '?')} hierarchical bootstrap resamples ({boot.get('resampled', '?')}; seed "
              f"{boot.get('seed', '?')}). Verdict from the interval alone (n.d.: not distinguishable from baseline); "
              "MDG: the smallest gain this run would detect with 80 % power, so n.d. means \"no gain of at least "
              "the MDG\", not \"no gain\". Val top-1: mean over runs (what a sweep chooses on)."]
    return lines


def _paper_value(table: str, condition: str) -> str:
    value = PAPER_MIT_TOP1.get(table, {}).get(condition)
    return "n/a" if value is None else f"{value:.1f}"


def paper_note() -> list[str]:
    """Why the paper's numbers and ours are not like for like (the numbers from PAPER_MIT_TOP1)."""
    return [
        "Not like for like, beyond the data (Moments in Time, its classes and the paper's models; every "
        "train clip labelled there, k per class in the study here):",
        f"- The paper gives two numbers for the same vision-only condition, {_paper_value('table1', 'baseline')} "
        f"(Table 1) and {_paper_value('table2', 'baseline')} (Table 2), so its two tables differ in more than "
        "the audio; a row is only comparable with the baseline of its own table.",
        f"- Its filtered SVDMap ({_paper_value('table1', 'svdmap_filtered')}) is above its ground-truth audio "
        f"({_paper_value('table1', 'real_audio')}), the upper bound generated audio learnt from real audio "
        "should not pass: noise, or rows that differ in more than the audio.",
        "- The paper tracked test accuracy per epoch, i.e. chose on test, which flatters every row; ours "
        "chooses on val (early stopping under `all`, fixed epochs in the study) and never on test.",
        "- The paper gives no unfiltered SVDMap number (Table 1's other audio row, "
        f"{_paper_value('table1', 'real_audio')}, is ground-truth audio), so that cell is n/a.",
        "- The paper gives no class list or test size, so no interval can be put on its numbers; ours carry "
        "95 % intervals (above)."]


def paper_section(details: dict) -> list[str]:
    """The paper's MiT top-1 beside our test top-1 per k, for the paper's conditions of its
    Tables 1 and 2, and why the two are not like for like."""
    from vida_core.learn.conditions import CONDITIONS, REPORT_TABLES

    by_k = details.get("by_k", {})
    ks = list(by_k)
    heads = [("every train clip labelled" if k == "all" else f"k = {k}") for k in ks]
    lines = ["## The paper's numbers beside ours (top-1 %)", "",
             "| paper table | condition | paper, MiT top-1 | " +
             " | ".join(f"ours, test top-1 [95 %], {h}" for h in heads) + " |",
             "| --- | --- | ---: | " + " | ".join("---:" for _ in ks) + " |"]
    for table, title in REPORT_TABLES.items():
        for name in PAPER_MIT_TOP1.get(table, {}):
            label = CONDITIONS[name].label if name in CONDITIONS else name
            cells = []
            for k in ks:
                entry = by_k[k]["conditions"].get(name)
                top1 = entry["groups"]["all"]["top1"] if entry else None
                cells.append(f"{_pct(top1['mean'])} [{_pct(top1['lo'])}, {_pct(top1['hi'])}]" if top1 else "not run")
            lines.append(f"| {title.split(':')[0]} | {label} (`{name}`) | {_paper_value(table, name)} | " +
                         " | ".join(cells) + " |")
    return lines + ["", *paper_note()]


def balance_section(details: dict) -> list[str]:
    """What dropping the filter's rejected clips leaves the filtered conditions to learn from."""
    lines = []
    for k, entry in details.get("by_k", {}).items():
        for name in ("svdmap_filtered", "filter_random"):
            c = entry["conditions"].get(name)
            if c:
                lines.append(f"| {k} | `{name}` | {c['labelled']:.1f} | {c['trained_on']:.1f} | "
                             f"{c['classes_without_clip']:.2f} | {c['missing_audio_information']:.3f} |")
    if not lines:
        return []
    return ["## Filtered conditions: what they train on (mean over runs)", "",
            "Rejected clips are dropped, so no training clip lacks its audio and missing audio cannot carry "
            "the label (last column: how much better than the commonest class the pattern of missing "
            "audio predicts the label; 0 = not at all).", "",
            "| k | condition | labelled clips | kept | classes left without a clip | label information in missing audio |",
            "| --- | --- | ---: | ---: | ---: | ---: |", *lines]


AUDIO_QUALITY_REFERENCES = {"mean_predictor": "mean predictor (reference)",
                            "class_template": "class template (reference)",
                            "real_fitting": "real audio of the fitting clips (reference)"}


def _number(x: float | None, digits: int) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def audio_quality_table(details: dict, split: str = "test") -> list[str]:
    """Generated audio against the real audio of the split's clips, as audio-generation papers
    measure it (stage `audio_quality`): standardised MSE, Frechet distance, tag KL, with the
    mean predictor, the class template and a second real sample as references."""
    quality = details.get("audio_quality") or {}
    entry = quality.get("splits", {}).get(split)
    if not entry:
        return ["(No audio-quality table in this results.json: `dvc repro audio_quality results` adds the "
                "generated audio's Frechet distance and KL beside its MSE.)", ""] if details.get("generators") else []
    fitting = quality.get("fitting", {})
    merged = quality.get("class_template", {}).get("merged") or []
    merged_text = f" ({' and '.join(merged)} merged into one, as vision cannot tell them apart)" if merged else ""
    lines = [f"## Generated audio against real audio ({split} clips with real audio, mean over seeds)", "",
             f"{entry['clips']} {split} clips with real audio; fitting clips: {fitting.get('which', '?')}, "
             f"{fitting.get('clips', '?')} clips with real audio. Lower is better in every column. "
             "*MSE*: squared error per mel bin after standardising with the generators' own statistics (the real "
             "audio of the clips they fit to), so the mean predictor scores about 1 and a perfect copy 0; it asks "
             "whether each clip gets its own sound. *Frechet distance*: between Gaussians fitted to the real and to "
             "the generated clips' embeddings (the feature tagger's penultimate layer, "
             f"{quality.get('embedding', {}).get('dim', '?')}-d), as FAD does with VGGish: whether the generated "
             "audio is distributed like real audio, clip by clip or not; it shrinks with more clips, so read it "
             "against the real-audio row (two real samples: the floor). *KL*: per clip, the feature tagger's label "
             "probabilities on the real and on the generated audio, each normalised to sum 1 over the labels, "
             "KL(real || generated), averaged over clips (as AudioLDM-style papers do with a tagger): whether the "
             "generated clip would be tagged like its real one. *Class template*: each clip gets the mean real "
             f"log-mel of the fitting clips of its own class{merged_text}: all that vision can know of a clip's "
             "sound. It reads the fitting clips' labels, which no model of the pipeline does, so it is a "
             "reference, not a method: a generator that does not beat it reproduces its class's average sound "
             "and little more.", "",
             f"| audio | {split} MSE (standardised) | Frechet distance | KL |",
             "| --- | ---: | ---: | ---: |"]
    for name in quality.get("rows", list(entry["rows"])):
        row = entry["rows"].get(name)
        if row is None:
            continue
        label = AUDIO_QUALITY_REFERENCES.get(name, f"`{name}`")
        lines.append(f"| {label} | {_number(row.get('mse'), 3)} | {_number(row.get('frechet'), 1)} | "
                     f"{_number(row.get('kl'), 3)} |")
    return lines + [""]


def generator_table(details: dict) -> list[str]:
    generators = details.get("generators") or {}
    if not generators:
        return []
    pool = any(g.get("fitted_on") == "the unlabelled pool U" for g in generators.values())
    splits = ("With the label-budget pool, *train* is U (fitted), *val* the slice of U that early-stopped "
              "it, *test* every clip outside U (labelled reservoir, val and test: what the classifiers "
              "see, all out of sample). " if pool else
              "*Before*: one model fitted on all train clips generates every clip (in-sample on train). "
              "*Cross-fitted*: what the pipeline writes (train clips from fold models that did not see them). ")
    lines = ["## Generators: standardised MSE against real audio (mean over seeds)", "",
             "Clips with real audio; 1.0 is the fitted clips' variance of each mel bin. " + splits +
             "Test figures are reported, never used to choose anything.", "",
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
    return ["## Filter (the clips it acts on: train, or the labelled reservoir in the study; mean over seeds)", "",
            f"top-{summary['top_k']} tags, IoU threshold {summary['iou_threshold']}: keeps "
            f"{_pct(train['kept_fraction'])} % of train clips (mean IoU {train['iou_mean']:.3f}; "
            f"{train['classes_without_kept_clip']:.1f} of {details.get('num_classes', '?')} classes keep none){real}. Per class: "
            "`plots/filter/keep_per_class.json`, `vida inspect artifacts/filter.h5`."]


def build_report(results_json, params, out_md: str | Path | None = None) -> str:
    """Markdown: per k, every condition's val and test top-1 and its gain over baseline with
    interval, minimum detectable gain and verdict, per class group; the paper's numbers beside
    ours; the generated audio against real audio and the generators' MSE; the filter and what
    the filtered conditions train on; also written to `out_md`."""
    details, params = _load(results_json), _load(params)
    if "by_k" not in details:
        raise ValueError("this results.json was written by an older results stage; rerun `dvc repro results`")
    lines = ["# VIDA results", "", _setup_line(details, params), "", *k_tables(details), "",
             *paper_section(details), "", *audio_quality_table(details), *generator_table(details), "",
             *filter_section(details), "", *balance_section(details)]
    text = "\n".join(lines).rstrip() + "\n"
    if out_md is not None:
        with atomic_path(out_md) as tmp:
            tmp.write_text(text)
    return text


def learning_curve_figure(results_json, out_png: str | Path, title: str = "") -> Path:
    """The study's figure: test gain over vision only (points) against k, one line per condition,
    95 % interval as error bars, the minimum detectable gain as a dotted band, one panel per class
    group."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from vida_core.learn.conditions import CONDITIONS

    details = _load(results_json)
    ks = [k for k in details["by_k"] if k != "all"] or list(details["by_k"])
    groups = list(details.get("groups", {"all": {}}))
    names = [n for n in next(iter(details["by_k"].values()))["conditions"] if n != "baseline"]
    fig, axes = plt.subplots(1, len(groups), figsize=(5.2 * len(groups), 4.2), sharey=True, squeeze=False)
    x = np.arange(len(ks))
    for ax, group in zip(axes[0], groups):
        mdg = [details["by_k"][k]["conditions"][names[0]]["groups"][group]["gain"]["mdg"] * 100 for k in ks]
        ax.fill_between(x, -np.array(mdg), mdg, color="#dddddd", label="± MDG of " + names[0])
        ax.axhline(0, color="#888888", lw=0.8)
        for i, name in enumerate(names):
            control = name in CONDITIONS and CONDITIONS[name].control
            gains = [details["by_k"][k]["conditions"][name]["groups"][group]["gain"] for k in ks]
            mean = np.array([100 * g["mean"] for g in gains])
            err = np.array([[100 * (g["mean"] - g["lo"]) for g in gains], [100 * (g["hi"] - g["mean"]) for g in gains]])
            ax.errorbar(x + (i - len(names) / 2) * 0.05, mean, yerr=err, marker="o" if not control else "s",
                        ms=4, lw=1.2, ls="--" if control else "-", capsize=2, label=name)
        n = details["groups"].get(group, {}).get("test_clips", "?")
        ax.set_title(f"{group} ({n} test clips)")
        ax.set_xticks(x, ks)
        ax.set_xlabel("labelled clips per class (k)")
    axes[0][0].set_ylabel("test top-1 gain over vision only (points)")
    axes[0][-1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=110)
    plt.close(fig)
    return out_png
