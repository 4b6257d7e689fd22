"""A diff of two runs (or config files) for people: the table `ednax diff` prints, and its
markdown form (the json form is `Diff.to_json`). Drawn with rich; `print_diff` prints onto
the console it is given."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ednax.runs.diff import CLASS, Change, Diff, Side
from ednax.runs.format import format_delta, format_metric, format_value

MARKS = {"changed": "~", "added": "+", "removed": "-", "same": " ", CLASS: "~"}


# --- the table -----------------------------------------------------------------------------


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
        _print_code_diffs(out, result.provenance)
    else:
        out.print("provenance: the same (seed, git, python, packages, data, own code)")


def _print_code_diffs(out: Console, changes: list[Change]) -> None:
    """The unified diff of each changed module of the runs' own code, under the table."""
    for change in changes:
        if change.diff:
            out.print()
            out.print(f"[bold]{_escape(change.key)}[/] (A -> B)")
            for line in change.diff.splitlines():
                out.print(line, markup=False, highlight=False, style=_diff_style(line))


def _diff_style(line: str) -> str | None:
    if line.startswith(("+++", "---")):
        return "bold"
    if line.startswith("@@"):
        return "cyan"
    return {"+": "green", "-": "red"}.get(line[:1])


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


def _escape(text: Any) -> str:
    return escape(str(text))


# --- markdown -----------------------------------------------------------------------------


def side_title(side: Side) -> str:
    if side.kind == "config":
        return side.label
    info = side.info
    parts = [str(info.get("id")), str(info.get("experiment") or ""), str(info.get("status") or "")]
    return "  ".join(p for p in parts if p) + f"  ({info.get('path')})"


def diff_markdown(result: Diff) -> str:
    lines = [
        "| | run |",
        "|---|---|",
        f"| A | {_md(side_title(result.a))} |",
        f"| B | {_md(side_title(result.b))} |",
        "",
        "## config",
        "",
    ]
    if result.config:
        lines += ["| key | A | B |", "|---|---|---|"]
        for change in result.config:
            if change.change == CLASS:
                cells = (f"**{change.key}** (class)", change.a, change.b)
                lines.append(_md_row(*cells))
                lines += [_md_row(p.key, p.a, p.b) for p in change.params]
            else:
                lines.append(_md_row(change.key, change.a, change.b))
    else:
        lines.append("no differences")
    lines += ["", "## metrics", ""]
    if result.metrics:
        lines += ["| metric | A | B | delta |", "|---|---:|---:|---:|"]
        for change in result.metrics:
            name = f"**{change.key}**" if change.key == result.monitor else change.key
            lines.append(
                f"| {name} | {format_metric(change.a)} | {format_metric(change.b)} "
                f"| {format_delta(change.delta)} |"
            )
    else:
        lines.append("no metrics")
    lines += ["", "## provenance", ""]
    if result.provenance:
        lines += ["| key | A | B |", "|---|---|---|"]
        lines += [_md_row(c.key, c.a, c.b) for c in result.provenance]
        for change in result.provenance:
            if change.diff:
                lines += ["", f"### {change.key}", "", "```diff", change.diff.rstrip("\n"), "```"]
    else:
        lines.append("no differences")
    return "\n".join(lines) + "\n"


def _md_row(key: str, a: Any, b: Any) -> str:
    return f"| {_md(key)} | {_md(format_value(a))} | {_md(format_value(b))} |"


def _md(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")
