"""`ednax predict` and `ednax rerun`: reuse a finished run from its bundle alone."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from ednax.cli.output import command, console

RUN = typer.Argument(..., help="a bundle path, a run id (or unique prefix), latest")
RUNS_DIR = typer.Option(Path("runs"), "--runs-dir", help="where to look for run ids")
DEBUG = typer.Option(False, "--debug", help="show tracebacks")


def register(app: typer.Typer) -> None:
    app.command("predict")(command(predict))
    app.command("rerun")(command(rerun))


def predict(
    run: str = RUN,
    source: str = typer.Argument(
        ...,
        help="a csv or .parquet file (an image run: a folder of images or a csv of paths), "
        "or data:<split> for a split of the run's own data step",
    ),
    output: Path = typer.Option(None, "-o", "--output", help="csv to write (default: stdout)"),
    id_column: str = typer.Option(None, "--id-column", help="a column of the csv to use as id"),
    fold: str = typer.Option(None, "--fold", help="for a k-fold run: the fold's model to use"),
    trust: bool = typer.Option(
        False,
        "--trust",
        help="load the run's pickles even though this user's ednax did not sign them (a "
        "bundle from a colleague): only for a bundle whose origin you know; see "
        "docs/security.md",
    ),
    bundle_code: bool = typer.Option(
        False,
        "--bundle-code",
        help="import the bundle's copy of its own plugin modules (code/) instead of today's",
    ),
    runs_dir: Path = RUNS_DIR,
    debug: bool = DEBUG,
) -> int:
    """Predict with a run's fitted preprocessing and model (estimator or best checkpoint)."""
    from ednax.app.predicting import load

    loaded = load(run, runs_dir, fold, trust=trust, bundle_code=bundle_code)
    if loaded.trusted_warning:
        console(stderr=True).print(f"warning: {loaded.trusted_warning}", markup=False)
    if source.startswith("data:"):
        split = source.partition(":")[2]
        predictions = loaded.predict_split(split)
        _say_scores(loaded, predictions, split)
    else:
        predictions = loaded.predict_csv(source, id_column)
        _say_scores(loaded, predictions, None)
    text = predictions.to_csv()
    if output is None:
        sys.stdout.write(text)
        return 0
    from ednax.runs.atomic import write_text

    write_text(output, text)
    console(stderr=True).print(
        f"wrote {len(predictions.ids)} predictions to {output}", markup=False
    )
    return 0


def _say_scores(loaded, predictions, split: str | None) -> None:
    """The run's metrics of rows whose targets are known (a split of its data, or a file
    with its target column), to stderr: the predictions go to stdout. For a split, whether
    they are what training recorded for it."""
    scores = loaded.scores(predictions)
    if not scores:
        return
    shown = "  ".join(f"{k} {v:.4f}" for k, v in scores.items())
    verdict = ""
    same = loaded.as_recorded(scores, split) if split else None
    if same:
        verdict = "; as the run recorded"
    elif same is False:
        recorded = loaded.recorded_scores(split)
        verdict = "; the run recorded " + "  ".join(
            f"{k} {recorded[k]:.4f}" for k in scores if k in recorded
        )
    what = split or f"scored on column '{loaded.predictor.schema['target']}'"
    rows = len(predictions.ids)
    console(stderr=True).print(f"{what} ({rows} rows): {shown}{verdict}", markup=False)


def rerun(
    run: str = RUN,
    overrides: list[str] = typer.Argument(None, help="overrides on top of the run's config"),
    bundle_code: bool = typer.Option(
        False,
        "--bundle-code",
        help="import the config's own plugin modules from the bundle's copy (its code/), "
        "not from beside the original config as they are today",
    ),
    runs_dir: Path = RUNS_DIR,
    debug: bool = DEBUG,
) -> int:
    """Run a bundle's resolved config again into a new bundle (with optional overrides);
    says when today's plugin modules differ from the bundle's copy."""
    from ednax.app import running
    from ednax.cli.run_cmd import _options, _summary

    result = running.rerun(run, overrides or [], runs_dir, _options(), bundle_code=bundle_code)
    _summary(result)
    return 0
