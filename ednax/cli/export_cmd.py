"""`ednax export mlflow [RUN...]`: existing bundles sent to MLflow (`app/exporting.py`).
Imports mlflow only when it runs."""

from __future__ import annotations

from pathlib import Path

import typer

from ednax.cli.options import DEBUG, RUN_HELP, RUNS_DIR
from ednax.cli.output import command


def register(app: typer.Typer) -> None:
    export = typer.Typer(
        name="export",
        help="Send run bundles to another tool's store.",
        no_args_is_help=True,
        rich_markup_mode=None,
    )
    export.command("mlflow")(command(mlflow))
    app.add_typer(export, name="export")


def mlflow(
    runs: list[str] = typer.Argument(
        None,
        metavar="RUN",
        help=f"runs to send ({RUN_HELP}); none: every bundle of the runs directory",
        show_default=False,
    ),
    tracking_uri: str = typer.Option(
        None,
        "--tracking-uri",
        help="the MLflow tracking store (default: sqlite:///<runs dir's parent>/mlflow.db)",
    ),
    experiment_name: str = typer.Option(
        None,
        "--experiment-name",
        help="the MLflow experiment (default: each run's ednax experiment)",
    ),
    runs_dir: Path = RUNS_DIR,
    debug: bool = DEBUG,
) -> int:
    """Send run bundles to MLflow: params, tags, per-epoch and final metrics, the bundle's
    files; a sweep's runs nested under the sweep's. A bundle already there is skipped."""
    from ednax.app.exporting import export_mlflow

    report = export_mlflow(
        list(runs or []),
        runs_dir=runs_dir,
        tracking_uri=tracking_uri,
        experiment_name=experiment_name,
        say=lambda line: print(line, flush=True),
    )
    print(report.summary, flush=True)
    return 0
