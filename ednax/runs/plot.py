"""Learning curves from history.csv, several runs overlaid, written as a PNG.

One panel per metric. A metric named without a split (`loss`, `accuracy`) draws the
train curve dashed and the val curve solid, in the run's colour; a metric with a split
(`val/loss`) draws just that column. Without `--metric` the panels are `loss` and the
monitored metric. matplotlib is imported only here, and drawn through its Agg canvas
(`matplotlib.figure.Figure`, no pyplot, no display needed).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ednax.errors import UsageError, did_you_mean
from ednax.runs.compare import column_label, load_entries, varying_keys
from ednax.runs.format import format_value
from ednax.runs.record import RunRecord
from ednax.runs.values import MISSING

SPLITS = ("train", "val")
STYLE = {"train": "--", "val": "-"}


@dataclass
class Curves:
    """One run's history: column -> values per row, and the epoch of each row."""

    label: str
    columns: dict[str, list[float]]
    epochs: list[float]
    monitor: str | None = None


def read_history(record: RunRecord) -> Curves | None:
    """The bundle's history.csv as curves; None when it has none (an estimator run)."""
    rows = record.files.history_rows()
    if not rows:
        return None
    names = [n for n in rows[0] if n]
    columns = {name: [_float(row.get(name)) for row in rows] for name in names}
    epochs = columns.pop("epoch", None) or [float(i + 1) for i in range(len(rows))]
    return Curves(record.id, columns, epochs, record.monitor)


def labelled_histories(records: Sequence[RunRecord]) -> tuple[list[Curves], list[str]]:
    """The curves of the runs that have a history, each labelled with its run id and the
    values of up to three config keys that vary between them; and a line per run left
    out, saying why."""
    histories, skipped = [], []
    for record in records:
        history = read_history(record)
        if history is None:
            skipped.append(f"{record.id}: {_no_history_reason(record)}")
        else:
            histories.append((record, history))
    entries = load_entries([record for record, _ in histories])
    keys = varying_keys([e.params for e in entries])[:3]
    curves = []
    for entry, (_, history) in zip(entries, histories, strict=True):
        history.label = " ".join([history.label, *(_label_part(k, entry.params) for k in keys)])
        curves.append(history)
    return curves, skipped


def _label_part(key: str, params: dict) -> str:
    value = params.get(key, MISSING)
    return f"{column_label(key)}={format_value(value)}"


def _no_history_reason(record: RunRecord) -> str:
    if record.family == "sklearn":
        return (
            "a scikit-learn estimator run has no history.csv: it is fitted once, with no "
            "epochs to draw (its metrics: `ednax show`)"
        )
    if record.status != "completed":
        return f"no history.csv ({record.status} before its first epoch?)"
    return "no history.csv"


def panels(curves: Sequence[Curves], metrics: Sequence[str] | None) -> list[tuple[str, list[str]]]:
    """(title, columns) per panel; a UsageError naming the columns there are when a
    requested metric is in no run's history."""
    available = list(dict.fromkeys(name for c in curves for name in c.columns))
    if not metrics:
        monitor = next((c.monitor for c in curves if c.monitor), None)
        wanted = ["loss", monitor.rpartition("/")[2] if monitor else None]
        metrics = [m for m in dict.fromkeys(wanted) if m and _columns_of(m, available)]
        metrics = metrics or [n for n in available if n != "lr"][:1]
    out = []
    for metric in metrics:
        columns = _columns_of(metric, available)
        if not columns:
            bases = {n.rpartition("/")[2] for n in available}
            hint = did_you_mean(metric, [*available, *bases], "metric")
            raise UsageError(
                f"no '{metric}' in the runs' history.csv"
                + (f"; {hint}" if hint else "")
                + f" (columns: {', '.join(available)})"
            )
        out.append((metric, columns))
    return out


def _columns_of(metric: str, available: list[str]) -> list[str]:
    if metric in available:
        return [metric]
    return [f"{split}/{metric}" for split in SPLITS if f"{split}/{metric}" in available]


def plot(curves: Sequence[Curves], output: Path, metrics: Sequence[str] | None = None) -> Path:
    """Draw every run's curves into `output` (PNG); returns the path written.

    A run keeps its colour in every panel; one legend below the panels names the runs.
    """
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.ticker import MaxNLocator

    layout = panels(curves, metrics)
    figure = Figure(figsize=(max(6.4, 5.6 * len(layout)), 4.8), layout="constrained")
    axes = figure.subplots(1, len(layout), squeeze=False)[0]
    colours = [f"C{i % 10}" for i in range(len(curves))]
    for ax, (title, columns) in zip(axes, layout, strict=True):
        for run, colour in zip(curves, colours, strict=True):
            for column in columns:
                if column in run.columns:
                    ax.plot(
                        run.epochs,
                        run.columns[column],
                        STYLE.get(column.partition("/")[0], "-"),
                        color=colour,
                        marker="." if len(run.epochs) <= 30 else None,
                    )
        splits = [c.partition("/")[0] for c in columns]
        ax.set_title(title + ("  (train dashed, val solid)" if len(columns) > 1 else ""))
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(True, alpha=0.3)
        if len(columns) == 1 and splits[0] in STYLE:
            ax.set_ylabel(columns[0])
    handles = [Line2D([], [], color=c, marker=".") for c in colours]
    figure.legend(
        handles,
        [run.label for run in curves],
        loc="outside lower center",
        ncols=1 if len(curves) <= 4 else 2,
        fontsize="small",
        frameon=False,
    )
    output.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(output, dpi=110)
    return output


def _float(text: str | None) -> float:
    try:
        return float(text) if text not in (None, "") else math.nan
    except ValueError:
        return math.nan
