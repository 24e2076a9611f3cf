"""Stage `results`: every condition against baseline (intervals, paired gains, verdicts) -> metrics/results.json, artifacts/results.json."""

from vida_core.io.artifacts import write_json
from vida_core.io.registry import CLASSIFY_CONDITIONS
from vida_core.learn.results import gather_results, headline, threshold_point
from vida_core.stage import Stage


def main() -> None:
    stage = Stage("results")
    details, by_epoch = gather_results(
        {name: stage.input(f"classify_{name}") for name in CLASSIFY_CONDITIONS},
        generator_summaries={kind: stage.input(f"generate_{kind}_summary") for kind in ("svdmap", "cafmap")},
        filter_summary=stage.input("filter_summary"))
    metrics = headline(details, threshold=stage.params.threshold)
    write_json(stage.output("results"), details)
    write_json(stage.output("results_metrics"), metrics)
    write_json(stage.output("accuracy_plot"), by_epoch)
    write_json(stage.output("threshold_plot"), threshold_point(stage.params.threshold, details))
    stage.done(metrics)


if __name__ == "__main__":
    main()
