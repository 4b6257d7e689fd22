"""`ednax plot`: the learning curves of runs, overlaid, as a PNG. Imports matplotlib, not
torch, scikit-learn, pandas, optuna or lightning."""

from __future__ import annotations

from pathlib import Path

import typer

from ednax.cli.options import DEBUG, EXPERIMENT, RUNS, RUNS_DIR, SWEEP
from ednax.cli.output import command, console, usage_error


def register(app: typer.Typer) -> None:
    app.command("plot")(command(plot))


def plot(
    runs: list[str] = RUNS,
    output: Path = typer.Option(
        Path("learning-curves.png"), "--output", "-o", help="the PNG to write"
    ),
    metric: list[str] = typer.Option(
        None,
        "--metric",
        "-m",
        help="a panel per metric: val/loss (that column) or loss (train and val); "
        "default: loss and the monitored metric",
    ),
    sweep: Path = SWEEP,
    experiment: str = EXPERIMENT,
    runs_dir: Path = RUNS_DIR,
    debug: bool = DEBUG,
) -> int:
    """Learning curves from the runs' history.csv, overlaid, as a PNG."""
    from ednax.runs import plot as plotting
    from ednax.runs.select import select_runs

    records = select_runs(runs or [], sweep, experiment, runs_dir)
    curves, skipped = plotting.labelled_histories(records)
    if not curves:
        raise usage_error("nothing to plot:\n  " + "\n  ".join(skipped))
    for line in skipped:
        console(stderr=True).print(f"skipped {line}", markup=False, style="yellow")
    written = plotting.plot(curves, output, metric or None)
    runs_drawn = f"{len(curves)} run{'s' if len(curves) > 1 else ''}"
    console().print(f"wrote {written} ({runs_drawn})", markup=False)
    return 0
