"""A comparison of N runs for people and for files: the table `ednax compare` prints (or
its plain text), csv, markdown and json. Drawn with rich; `print_comparison` prints onto
the console it is given."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ednax.runs.compare import Comparison, column_label
from ednax.runs.format import format_cell, format_metric, format_value, metric_digits
from ednax.runs.values import MISSING

SWEEP_LINE_SKIPS = {"dir", "pid", "host", "started_at", "ended_at", "cwd", "config_file"}


def text_rows(table: Comparison) -> list[list[str]]:
    """Each row's cells as text: config values as written, metrics to four places, or as
    many as tell the column's values apart (`table.digits` when the user chose)."""
    fixed = table.fixed_columns
    cells = [table.cells(entry) for entry in table.entries]
    places = {
        i: metric_digits((row[i] for row in cells), table.digits)
        for i in range(fixed, len(table.header()))
    }
    return [
        [
            format_cell(value)
            if i < fixed
            else ("" if value is MISSING else format_metric(value, places[i]))
            for i, value in enumerate(row)
        ]
        for row in cells
    ]


# --- the table ----------------------------------------------------------------------------


def print_comparison(out: Console, table: Comparison) -> None:
    """The sweep (if any), one row per run, then how it is sorted and what is missing."""
    if table.sweep:
        out.print(_sweep_line(table.sweep), markup=False)
    out.print(_comparison_grid(table))
    for note in _comparison_notes(table):
        out.print(note, markup=False, style="dim")


def comparison_text(table: Comparison) -> str:
    """`print_comparison` as plain text, as wide as it needs (for a file)."""
    out = Console(width=10_000, highlight=False, record=True, file=_Nowhere())
    print_comparison(out, table)
    return out.export_text()


def _comparison_grid(table: Comparison) -> Table:
    grid = Table(show_edge=False, pad_edge=False, header_style="bold")
    fixed = table.fixed_columns
    for i, name in enumerate(table.header()):
        grid.add_column(
            name + (" *" if name == table.sort else ""),
            justify="right" if i >= fixed else "left",
            no_wrap=True,
        )
    for row in text_rows(table):
        grid.add_row(*(_escape(cell) for cell in row))
    return grid


def _comparison_notes(table: Comparison) -> list[str]:
    notes = []
    if table.sort:
        direction = "largest" if table.descending else "smallest"
        notes.append(f"* sorted by {table.sort}, {direction} first")
    if not table.keys:
        notes.append("no config key varies between these runs (--all shows every key)")
    for entry in table.entries:
        problem = entry.problem or entry.record.problem
        if problem:
            notes.append(f"! {entry.record.id}: {problem}")
    return notes


def _sweep_line(sweep: dict[str, Any]) -> str:
    """The scalar fields of a sweep.json that say what the sweep is (not where it ran)."""
    fields = [
        f"{k}={v}"
        for k, v in sweep.items()
        if isinstance(v, (str, int, float, bool)) and k not in SWEEP_LINE_SKIPS
    ]
    return "sweep: " + "  ".join(fields[:8])


class _Nowhere:
    """A file that drops what is written: the recording console keeps the text."""

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


def _escape(text: Any) -> str:
    return escape(str(text))


# --- files ----------------------------------------------------------------------------------


def to_csv(table: Comparison) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*table.header(), "path"])
    for entry in table.entries:
        row = ["" if v is MISSING else _csv_value(v) for v in table.cells(entry)]
        writer.writerow([*row, str(entry.record.path)])
    return buffer.getvalue()


def to_markdown(table: Comparison) -> str:
    header = table.header()
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in text_rows(table):
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |")
    return "\n".join(lines) + "\n"


def to_json(table: Comparison) -> str:
    runs = []
    for entry in table.entries:
        record = entry.record
        runs.append(
            {
                "id": record.id,
                "experiment": record.experiment,
                "status": record.status,
                "path": str(record.path),
                "trial": record.trial,
                "params": {
                    column_label(k): entry.params[k] for k in table.keys if k in entry.params
                },
                "metrics": record.metrics,
                "problem": entry.problem or record.problem,
            }
        )
    data = {
        "sweep": table.sweep,
        "sort": table.sort,
        "descending": table.descending,
        "keys": [column_label(k) for k in table.keys],
        "metrics": table.metrics,
        "runs": runs,
    }
    return json.dumps(data, indent=2, default=str) + "\n"


def _csv_value(value: Any) -> Any:
    if isinstance(value, float):
        return repr(value)
    return format_value(value) if isinstance(value, (list, dict, bool)) or value is None else value
