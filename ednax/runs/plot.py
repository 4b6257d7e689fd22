"""Learning curves from history.csv, several runs overlaid, written as a PNG.

One panel per metric. A metric named without a split (`loss`, `accuracy`) draws the
train curve dashed and the val curve solid, in the run's colour; a metric with a split
(`val/loss`) draws just that column. Without `--metric` the panels are `loss` and the
monitored metric. matplotlib is imported only here, and drawn through its Agg canvas
(`matplotlib.figure.Figure`, no pyplot, no display needed).

The legend labels each run with the config keys that vary between the runs; for a sweep
whose study recorded parameter importances (sweep.json `importances`), the most important
first. Labels are wrapped, and every figure, the sweep's Optuna plots included, is grown
until each of its texts lies inside the image (`keep_texts_inside`).
"""

from __future__ import annotations

import math
import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ednax.errors import UsageError, did_you_mean
from ednax.runs.compare import column_label, load_entries, varying_keys
from ednax.runs.format import format_value
from ednax.runs.reader import read_sweep
from ednax.runs.record import RunRecord
from ednax.runs.values import MISSING

SPLITS = ("train", "val")
STYLE = {"train": "--", "val": "-"}
LABEL_WIDTH = 60  # characters per legend line
_INDEX = re.compile(r"\[\d+\].*$")


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
    values of the config keys that vary between them (`legend_keys`); and a line per run
    left out, saying why."""
    histories, skipped = [], []
    for record in records:
        history = read_history(record)
        if history is None:
            skipped.append(f"{record.id}: {_no_history_reason(record)}")
        else:
            histories.append((record, history))
    drawn = [record for record, _ in histories]
    entries = load_entries(drawn)
    configs = [record.files.config or {} for record in drawn]
    keys = legend_keys([e.params for e in entries], configs, sweep_importances(drawn))
    curves = []
    for config, (_, history) in zip(configs, histories, strict=True):
        parts = [history.label, *(_label_part(k, config) for k in keys)]
        history.label = "\n".join(textwrap.wrap(" ".join(parts), LABEL_WIDTH))
        curves.append(history)
    return curves, skipped


def legend_keys(
    params: Sequence[dict[str, Any]],
    configs: Sequence[dict[str, Any]],
    importances: dict[str, float] | None = None,
) -> list[str]:
    """Every config key that varies between the runs, a list as one key (`model.hidden`,
    not `model.hidden[0]`); with `importances` (a study's), the most important first."""
    keys = list(dict.fromkeys(_list_key(k, configs) for k in varying_keys(params)))
    if importances:
        keys.sort(key=lambda k: -importances.get(k, -1.0))
    return keys


def sweep_importances(records: Sequence[RunRecord]) -> dict[str, float]:
    """Parameter importances recorded by the sweeps the runs belong to (sweep.json
    `importances`, per objective: the sweep's monitor's, else the first); a key's highest
    when the runs come from several sweeps."""
    out: dict[str, float] = {}
    for folder in dict.fromkeys(record.path.parent for record in records):
        sweep = read_sweep(folder) or {}
        per_objective = sweep.get("importances")
        if not isinstance(per_objective, dict) or not per_objective:
            continue
        chosen = per_objective.get(sweep.get("monitor")) or next(iter(per_objective.values()))
        for key, value in (chosen or {}).items():
            if isinstance(value, (int, float)):
                out[key] = max(out.get(key, -1.0), float(value))
    return out


def _list_key(key: str, configs: Sequence[dict[str, Any]]) -> str:
    """`model.hidden[1]` -> `model.hidden` when that is a list of plain values (not of
    sections, as `preprocess` is) in the runs' configs."""
    base = _INDEX.sub("", key)
    if base == key:
        return key
    values = [_value_at(c, base) for c in configs]
    lists = [v for v in values if isinstance(v, list)]
    plain = all(not isinstance(i, (dict, list)) for v in lists for i in v)
    return base if lists and plain else key


def _value_at(config: dict[str, Any], key: str) -> Any:
    value: Any = config
    for part in re.split(r"\.|(?=\[)", key):
        if part.startswith("[") and isinstance(value, list):
            index = int(part[1:-1])
            value = value[index] if index < len(value) else MISSING
        elif isinstance(value, dict) and part in value:
            value = value[part]
        else:
            return MISSING
    return value


def _label_part(key: str, config: dict[str, Any]) -> str:
    value = _value_at(config, key)
    if isinstance(value, float):
        text = f"{value:.4g}"
    elif isinstance(value, list):
        text = "[" + ",".join(format_value(v) for v in value) + "]"
    else:
        text = format_value(value)
    return f"{column_label(key)}={text}"


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
    """Draw every run's curves into `output` (PNG); returns the path written."""
    figure = curves_figure(curves, metrics)
    output.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(output, dpi=110)
    return output


def curves_figure(curves: Sequence[Curves], metrics: Sequence[str] | None = None) -> Any:
    """The figure `plot` writes: a panel per metric; a run keeps its colour in every
    panel; one legend below the panels names the runs. Every text lies inside it."""
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
    legend = figure.legend(
        handles,
        [run.label for run in curves],
        loc="outside lower center",
        ncols=1 if len(curves) <= 4 else 2 if len(curves) <= 16 else 3,
        fontsize="small",
        frameon=False,
    )
    _room_for(legend, figure)
    return keep_texts_inside(figure)


def _room_for(legend: Any, figure: Any, panels_height: float = 3.6) -> None:
    """A figure tall (and wide) enough for the legend below panels of `panels_height`
    inches: many runs make a legend taller than the default figure, and constrained
    layout would squeeze the panels to nothing under it."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = (
        figure.canvas if isinstance(figure.canvas, FigureCanvasAgg) else FigureCanvasAgg(figure)
    )
    extent = legend.get_window_extent(canvas.get_renderer())
    width, height = figure.get_size_inches()
    figure.set_size_inches(
        max(width, extent.width / figure.dpi + 0.4),
        max(height, panels_height + extent.height / figure.dpi + 0.4),
    )


def keep_texts_inside(figure: Any, attempts: int = 4) -> Any:
    """Grow `figure` (laid out by matplotlib's constrained layout) until every visible
    text lies inside it: a legend wider than the panels, tick labels longer than the
    margin. Returns the figure, drawn."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    if not isinstance(figure.canvas, FigureCanvasAgg):
        FigureCanvasAgg(figure)
    if figure.get_layout_engine() is None:
        figure.set_layout_engine("constrained")
    for _ in range(attempts):
        figure.canvas.draw()
        outside = texts_outside(figure)
        if not outside:
            return figure
        box = figure.bbox
        x0 = min(b.x0 for _, b in outside)
        x1 = max(b.x1 for _, b in outside)
        y0 = min(b.y0 for _, b in outside)
        y1 = max(b.y1 for _, b in outside)
        grow_x = max(0.0, box.x0 - x0) + max(0.0, x1 - box.x1)
        grow_y = max(0.0, box.y0 - y0) + max(0.0, y1 - box.y1)
        width, height = figure.get_size_inches()
        pad = 0.2 * figure.dpi
        figure.set_size_inches(
            width + (grow_x + pad) / figure.dpi if grow_x else width,
            height + (grow_y + pad) / figure.dpi if grow_y else height,
        )
    figure.canvas.draw()  # at the size of the last attempt
    return figure


def write_drawn_png(figure: Any, handle: Any) -> None:
    """Write a figure `keep_texts_inside` drew as a PNG of its pixels, at its own dpi:
    what `savefig` would write, without drawing every artist again (half the time of a
    small plot)."""
    from PIL import Image

    width, height = figure.canvas.get_width_height(physical=True)
    pixels = figure.canvas.buffer_rgba()
    Image.frombuffer("RGBA", (width, height), pixels, "raw", "RGBA", 0, 1).save(handle, "png")


def texts_outside(figure: Any) -> list[tuple[Any, Any]]:
    """(text, its extent in pixels) for every visible, non-empty text of a drawn figure
    that does not lie inside the figure. Tick labels the axis does not draw (ticks beyond
    its limits, which matplotlib keeps around) are not looked at."""
    from matplotlib.text import Text

    renderer = figure.canvas.get_renderer()
    box = figure.bbox
    undrawn = _undrawn_tick_labels(figure)
    out = []
    for text in figure.findobj(Text):
        if id(text) in undrawn or not text.get_visible() or not text.get_text().strip():
            continue
        extent = text.get_window_extent(renderer)
        inside = (
            extent.x0 >= box.x0 - 0.5
            and extent.y0 >= box.y0 - 0.5
            and extent.x1 <= box.x1 + 0.5
            and extent.y1 <= box.y1 + 0.5
        )
        if not inside:
            out.append((text, extent))
    return out


def _float(text: str | None) -> float:
    try:
        return float(text) if text not in (None, "") else math.nan
    except ValueError:
        return math.nan


def _undrawn_tick_labels(figure: Any) -> set[int]:
    skipped: set[int] = set()
    for ax in figure.axes:
        for axis in (ax.xaxis, ax.yaxis):
            low, high = sorted(axis.get_view_interval())
            eps = 1e-9 * max(high - low, 1e-300)
            for tick in [*axis.get_major_ticks(), *axis.get_minor_ticks()]:
                loc = tick.get_loc()
                if loc is None or not low - eps <= loc <= high + eps:
                    skipped.update(id(label) for label in (tick.label1, tick.label2))
    return skipped
