"""Stage `results`: every condition against baseline, per label budget k (intervals, paired gains, verdicts with their minimum detectable gain) -> artifacts/results.json; val top-1 -> metrics/results.json."""

from vida_core.shared.artifacts import write_json
from vida_core.shared.registry import CLASSIFY_CONDITIONS, GENERATOR_VARIANTS
from vida_core.learn.results import gather_results, headline, learning_curve, threshold_point
from vida_core.shared.stage import Stage


def main() -> None:
    stage = Stage("results")
    protocol = stage.params.protocol
    details, curves = gather_results(
        {name: stage.input(f"classify_{name}") for name in CLASSIFY_CONDITIONS},
        generator_summaries={kind: stage.input(f"generate_{kind}_summary") for kind in GENERATOR_VARIANTS},
        filter_summary=stage.input("filter_summary"), lookalike=protocol.lookalike_classes,
        headline_k=protocol.headline_k, audio_quality=stage.input("audio_quality"))
    metrics = headline(details, protocol.headline_k, threshold=stage.params.threshold)
    write_json(stage.output("results"), details)
    write_json(stage.output("results_metrics"), metrics)
    write_json(stage.output("accuracy_plot"), curves)
    write_json(stage.output("threshold_plot"), threshold_point(stage.params.threshold, details, protocol.headline_k))
    write_json(stage.output("learning_curve_plot"), learning_curve(details))
    stage.done(metrics)


if __name__ == "__main__":
    main()
