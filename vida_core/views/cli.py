"""The `vida` command: look into artifacts and print results."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

app = typer.Typer(help="VIDA pipeline tools. Run the pipeline itself with `dvc repro`.", no_args_is_help=True)


@app.callback()
def _start() -> None:
    # Before any command: remove the temporaries of killed stages (as every stage does when it starts).
    from vida_core.shared.artifacts import remove_dead_temporaries
    from vida_core.shared.registry import ARTIFACTS

    remove_dead_temporaries(a.path() for a in ARTIFACTS.values())


@app.command()
def inspect(artifact: Path = typer.Argument(..., help="an artifact: artifacts/frames.h5, manifest.csv, captions.json, ..."),
            clip: Optional[str] = typer.Option(None, "--clip", help="a clip id: also draw a PNG of it"),
            out: Optional[Path] = typer.Option(None, "--out", help="where the PNG goes (default artifacts/inspect/<clip>.png)")):
    """Summarise an artifact (shapes, params, versions, counts, rejects); with --clip, draw the clip."""
    from vida_core.shared.artifacts import UnknownClipError
    from vida_core.views import inspect as inspection

    if not artifact.exists():
        raise typer.BadParameter(f"{artifact} does not exist; run `dvc repro` to make the artifacts")
    if artifact.suffix == ".h5":
        typer.echo(inspection.summarize_h5(artifact))
    elif artifact.suffix == ".csv" and artifact.name == "manifest.csv":
        typer.echo(inspection.summarize_manifest(artifact))
    else:
        typer.echo(inspection.summarize_other(artifact, clip))
    if clip:
        artifacts = artifact.parent
        try:
            clip = inspection.find_clip(clip, artifacts)
        except UnknownClipError as err:
            typer.echo(f"vida inspect: {err}", err=True)
            raise typer.Exit(2)
        out = out or artifacts / "inspect" / f"{clip.replace('/', '__')}.png"
        for png in inspection.plot_clip_all(clip, artifacts, out):
            typer.echo(f"wrote {png}")


@app.command()
def report(artifacts: Path = typer.Option(Path("artifacts"), help="the artifacts folder"),
           results: Path = typer.Option(Path("artifacts/results.json"), help="the results stage's details"),
           figure: Optional[Path] = typer.Option(None, "--figure", help="also draw the learning curve to this PNG")):
    """Print the results: per k, val and test top-1, gains over vision only with intervals, minimum
    detectable gains and verdicts per class group; generators, filter (also written to artifacts/report.md)."""
    import dataclasses

    from vida_core.shared.config import load_params
    from vida_core.views.report import build_report, learning_curve_figure

    if not results.exists():
        raise typer.BadParameter(f"{results} does not exist; run `dvc repro results` (or `dvc repro`) first")
    typer.echo(build_report(results, dataclasses.asdict(load_params()), artifacts / "report.md"))
    if figure is not None:
        typer.echo(f"learning curve -> {learning_curve_figure(results, figure)}")


@app.command()
def profile(name: str = typer.Argument("paper", help="the profile: paper"),
            table: bool = typer.Option(False, "--table", help="print what it sets and why, as a Markdown table"),
            replace: list[str] = typer.Option([], "--replace", help="KEY=VALUE: another value for one of its keys "
                                              "(a local model folder, say); repeatable")):
    """Print the `-S` flags that set every choice the profile makes:
    `dvc exp run -n paper $(vida profile paper)`."""
    from vida_core import profiles

    try:
        settings = profiles.profile(name)
        if table:
            typer.echo(profiles.markdown_table(settings))
            return
        overrides = dict(item.split("=", 1) for item in replace)
        typer.echo(" ".join(profiles.set_flags(settings, overrides)))
    except (KeyError, ValueError) as err:
        typer.echo(f"vida profile: {err}", err=True)
        raise typer.Exit(2)


@app.command()
def predict(clips: list[Path] = typer.Argument(..., help="video files (any container FFmpeg reads), usually without audio"),
            out: Path = typer.Option(Path("predictions"), "--out", help="where predictions.h5, the PNGs and the clips' stage files go"),
            project: Path = typer.Option(Path("."), "--project", help="the project folder (params.yaml, artifacts/)"),
            ids_from: Optional[Path] = typer.Option(None, "--ids-from", help="name clips by their path relative to this "
                                                    "folder, as the pipeline does with dataset.root (default: file names)"),
            top: int = typer.Option(5, "--top", help="actions shown per condition"),
            png: bool = typer.Option(True, "--png/--no-png", help="draw a PNG per clip")):
    """Recognise the action in video files with the trained chain: each condition's top actions,
    generated audio features in <out>/predictions.h5, a PNG per clip."""
    from vida_core.predict import PredictError, predict_clips
    from vida_core.views.predict import format_predictions, plot_prediction

    try:
        results = predict_clips(clips, out, root=project, ids_relative_to=ids_from, top_k=top,
                                log=lambda line: typer.echo(line, err=True))
    except PredictError as err:
        typer.echo(f"vida predict: {err}", err=True)
        raise typer.Exit(2)
    import h5py
    with h5py.File(out / "predictions.h5", "r") as f:
        classes = [c.decode() for c in f["class_names"][()]]
    typer.echo(f"The trained chain knows {len(classes)} actions: {', '.join(classes)}.\n")
    typer.echo(format_predictions(results))
    typer.echo(f"wrote {out / 'predictions.h5'} (probabilities per condition, generated and real log-mels)")
    if png:
        for result in results:
            if not result.rejected:
                target = plot_prediction(result, out / "artifacts", out / "predictions.h5",
                                         out / f"{result.clip_id.replace('/', '__')}.png")
                typer.echo(f"wrote {target}")
    if all(result.rejected for result in results):
        raise typer.Exit(1)


if __name__ == "__main__":
    app()
