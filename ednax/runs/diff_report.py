"""A diff of two runs and a comparison of N runs as tables for people (their csv, json and
markdown forms are in diff.py and compare.py). Drawn with rich; the `print_*` functions
print onto the console they are given."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ednax.runs.compare import Comparison
from ednax.runs.diff import (
    CLASS,
    Change,
    Diff,
    format_delta,
    format_metric,
    format_value,
    side_title,
)

MARKS = {"changed": "~", "added": "+", "removed": "-", "same": " ", CLASS: "~"}
SWEEP_LINE_SKIPS = {"dir", "pid", "host", "started_at", "ended_at", "cwd", "config_file"}


# --- two runs -----------------------------------------------------------------------------


def print_diff(out: Console, result: Diff) -> None:
    """Who A and B are, then config, metrics and provenance, each a table or one line."""
    out.print(f"[bold]A[/]  {_escape(side_title(result.a))}")
    out.print(f"[bold]B[/]  {_escape(side_title(result.b))}")
    for name, side in (("A", result.a), ("B", result.b)):
        for problem in side.problems:
            out.print(f"{name}: {problem}", markup=False, style="yellow")
    out.print()
    if result.config:
        out.print(_config_table(result.config))
    else:
        out.print("config: the same")
    out.print()
    _print_metric_changes(out, result)
    out.print()
    if result.provenance:
        out.print(_changes_table("provenance", result.provenance))
    else:
        out.print("provenance: the same (seed, git, python, packages, data)")


def _config_table(changes: list[Change]) -> Table:
    """A step whose class changed is one row, followed by the parameters of both classes."""
    table = _diff_table("config")
    for change in changes:
        if change.change != CLASS:
            _add_change(table, change)
            continue
        table.add_row(
            "~",
            f"[bold]{change.key}[/] (class)",
            _escape(format_value(change.a)),
            _escape(f"-> {format_value(change.b)}"),
        )
        for p in change.params:
            short = p.key[len(change.key) + 1 :] if p.key.startswith(change.key) else p.key
            table.add_row(
                MARKS[p.change],
                _escape(f"  {short}"),
                _escape(format_value(p.a)),
                _escape(format_value(p.b)),
            )
    return table


def _changes_table(title: str, changes: list[Change]) -> Table:
    table = _diff_table(title)
    for change in changes:
        _add_change(table, change)
    return table


def _add_change(table: Table, change: Change) -> None:
    table.add_row(
        MARKS[change.change],
        _escape(change.key),
        _escape(format_value(change.a)),
        _escape(format_value(change.b)),
        style="dim" if change.change == "same" else None,
    )


def _diff_table(title: str) -> Table:
    table = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
    for name in ("", "key", "A", "B"):
        table.add_column(name, no_wrap=name == "")
    return table


def _print_metric_changes(out: Console, result: Diff) -> None:
    if result.metrics:
        out.print(_metrics_table(result))
        if result.monitor:
            out.print(f"* monitored ({result.monitor})", style="dim", markup=False)
    elif "config" in (result.a.kind, result.b.kind):
        out.print("metrics: a config file has none to compare")
    else:
        out.print("metrics: none")


def _metrics_table(result: Diff) -> Table:
    """Every metric of either run, with B - A; the monitored one starred."""
    table = Table(title="metrics", title_justify="left", show_edge=False, pad_edge=False)
    table.add_column("metric")
    for name in ("A", "B", "delta"):
        table.add_column(name, justify="right")
    for change in result.metrics:
        key = change.key + (" *" if change.key == result.monitor else "")
        table.add_row(
            _escape(key),
            format_metric(change.a),
            format_metric(change.b),
            format_delta(change.delta),
        )
    return table


# --- N runs -------------------------------------------------------------------------------


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
    fixed = 2 + len(table.extra_columns) + len(table.keys)
    for i, name in enumerate(table.header()):
        grid.add_column(
            name + (" *" if name == table.sort else ""),
            justify="right" if i >= fixed else "left",
            no_wrap=True,
        )
    for row in table.text_rows():
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
