"""Options shared by the commands that look at bundles: runs, show, diff, compare, plot."""

from __future__ import annotations

from pathlib import Path

import typer

RUNS_DIR = typer.Option(
    Path("runs"), "--runs-dir", help="the runs directory (an experiment's runs_dir)"
)
EXPERIMENT = typer.Option(
    None, "--experiment", "-e", help="only this experiment's runs (latest~N counts in it)"
)
DEBUG = typer.Option(False, "--debug", help="show tracebacks")
RUN_HELP = "a bundle path, a run id or unique prefix, latest, latest~N, EXPERIMENT/latest"
ASC = typer.Option(False, "--asc", help="sort ascending")
METRIC = typer.Option(None, "--metric", "-m", help="metric columns (repeat)")
DIGITS = typer.Option(
    None,
    "--digits",
    min=0,
    max=15,
    help="decimals of the metrics (default: 4, or as many as tell the runs apart)",
)
RUNS = typer.Argument(None, metavar="RUN", help=f"runs ({RUN_HELP})", show_default=False)
SWEEP = typer.Option(None, "--sweep", help="every run of this sweep folder")
