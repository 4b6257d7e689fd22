"""Runs for people: the runs table (or its csv and json) and the versions table. Tables
are drawn with rich, imported only when one is drawn; `print_*` functions print onto the
console they are given. The records come from `ednax.runs.index`, the versions from
`ednax.runs.versions`."""

from __future__ import annotations

import csv
import io
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ednax.runs.format import format_duration, format_metric, local_time, metric_digits
from ednax.runs.provenance import process_alive
from ednax.runs.ranking import metric_names
from ednax.runs.record import RunRecord
from ednax.runs.training import epochs_cell

KEY_METRICS = 6
REASON_WIDTH = 60  # characters of a failed run's reason in the listing
RECORD_FIELDS = ("id", "experiment", "version", "status", "problem", "started_at", "ended_at")
VERSION_FIELDS = ("experiment", "version", "structure", "runs", "completed", "monitor")


# --- runs ---------------------------------------------------------------------------------


def note_dead_processes(records: Sequence[RunRecord]) -> None:
    """A "running" run whose process is gone (killed, the machine lost) says so."""
    host = socket.gethostname()
    for record in records:
        mine = record.status == "running" and record.pid and record.host == host
        if mine and not record.problem and not process_alive(record.pid):
            record.problem = f"its process {record.pid} is gone: killed? `ednax resume {record.id}`"


def key_metrics(
    records: Sequence[RunRecord], asked: Sequence[str] | None, sorted_by: str | None
) -> list[str]:
    """The metric columns: those asked for, else the first few that are not train/ ones,
    the metric sorted by first."""
    if asked:
        return list(asked)
    names = [n for n in metric_names(records) if not n.startswith("train/")]
    if sorted_by:
        names = [sorted_by, *[n for n in names if n != sorted_by]]
    return names[:KEY_METRICS]


def record_json(record: RunRecord) -> dict[str, Any]:
    data = record.to_json()
    data["problem"] = record.problem
    return data


def records_csv(records: Sequence[RunRecord], metrics: Sequence[str] | None) -> str:
    """One row per run; as columns the `metrics` given, else every metric of the runs."""
    columns = metrics or metric_names(records)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*RECORD_FIELDS, "duration_s", "seed", "tags", "sweep", "path", *columns])
    for r in records:
        values = [getattr(r, name) for name in RECORD_FIELDS]
        writer.writerow(
            [
                *("" if v is None else v for v in values),
                "" if r.duration_s is None else r.duration_s,
                "" if r.seed is None else r.seed,
                ";".join(r.tags),
                r.sweep or "",
                str(r.path),
                *(repr(r.metrics[c]) if c in r.metrics else "" for c in columns),
            ]
        )
    return buffer.getvalue()


def print_runs(
    out,
    records: Sequence[RunRecord],
    metrics: Sequence[str],
    *,
    matching: int,
    total: int,
    runs_dir: Path,
    custom_order: bool,
    digits: int | None = None,
) -> None:
    """The runs table, what is wrong with any of them, and whether some of the `matching`
    runs were left out; `total` counts the runs before filtering."""
    if not records:
        _print_no_runs(out, total, runs_dir)
        return
    out.print(runs_table(records, metrics, digits))
    for r in records:
        if r.problem:
            out.print(f"! {r.id}: {r.problem}", markup=False, style="yellow")
    if len(records) < matching:
        order = "first in this order" if custom_order else "newest"
        out.print(
            f"{len(records)} of {matching} runs shown ({order}); --limit 0 shows all",
            markup=False,
            style="dim",
        )


def _print_no_runs(out, total: int, runs_dir: Path) -> None:
    what = "no runs" if total == 0 else f"no runs match (of {total})"
    out.print(f"{what} under {runs_dir}", markup=False)
    if total == 0 and any(runs_dir.glob("*/run.json")):
        out.print(
            f"{runs_dir} holds bundles itself: it is an experiment's folder; pass its "
            f"parent: --runs-dir {runs_dir.parent} -e {runs_dir.name}",
            markup=False,
        )


def runs_table(records: Sequence[RunRecord], metrics: Sequence[str], digits: int | None = None):
    """id, experiment, version, sweep (when any run is in one), status, start, duration
    and the `metrics`, each with `digits` decimals, or enough to tell its values apart
    (`format.metric_digits`), then why a run did not complete (when any did not); a run
    with a problem has its status marked "!"."""
    from rich.table import Table

    places = {m: metric_digits((r.metrics.get(m) for r in records), digits) for m in metrics}
    table = Table(show_edge=False, pad_edge=False, header_style="bold")
    sweeps = any(r.sweep for r in records)
    columns = ("id", "experiment", "version", *(("sweep",) if sweeps else ()), "status")
    epochs = any(r.training for r in records)  # torch runs: "8/60 early"
    for name in (*columns, "started", "duration", *(("epochs",) if epochs else ())):
        table.add_column(name, no_wrap=True)
    for name in metrics:
        table.add_column(name, justify="right", no_wrap=True)
    reasons = any(_reason(r) for r in records)
    if reasons:
        table.add_column("why", no_wrap=True)
    for r in records:
        sweep = [(r.sweep or "").rpartition("/")[2]] if sweeps else []
        table.add_row(
            r.id,
            r.experiment,
            r.version,
            *sweep,
            r.status + ("!" if r.problem else ""),
            local_time(r.started_at),
            format_duration(r.duration_s),
            *((epochs_cell(r.training),) if epochs else ()),
            *(format_metric(r.metrics[m], places[m]) if m in r.metrics else "" for m in metrics),
            *((_reason(r),) if reasons else ()),
        )
    return table


def _reason(record: RunRecord) -> str:
    """The first line of why a run did not complete, cut to a column's width."""
    lines = (record.error or "").strip().splitlines()
    if record.status == "completed" or not lines:
        return ""
    return lines[0] if len(lines[0]) <= REASON_WIDTH else lines[0][: REASON_WIDTH - 3] + "..."


def versions_csv(groups: Sequence[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*VERSION_FIELDS, "best", "best_run", "latest_run"])
    for g in groups:
        writer.writerow(
            [g[c] for c in VERSION_FIELDS] + [g["best"], g["best_run"], g["latest_run"]]
        )
    return buffer.getvalue()


def print_versions(
    out, groups: Sequence[dict[str, Any]], runs_dir: Path, digits: int | None = None
) -> None:
    """One row per version of an experiment (from `index.group_versions`)."""
    if not groups:
        out.print(f"no runs under {runs_dir}", markup=False)
        return
    out.print(versions_table(groups, digits))


def versions_table(groups: Sequence[dict[str, Any]], digits: int | None = None):
    from rich.table import Table

    places = metric_digits((g["best"] for g in groups), digits)
    table = Table(show_edge=False, pad_edge=False, header_style="bold")
    for name in ("experiment", "version", "classes per step", "runs", "completed", "best"):
        table.add_column(name, justify="right" if name in ("runs", "completed") else "left")
    table.add_column("best run")
    table.add_column("latest run")
    for g in groups:
        best = "" if g["best"] is None else f"{g['monitor']} {format_metric(g['best'], places)}"
        table.add_row(
            g["experiment"],
            g["version"],
            g["structure"],
            str(g["runs"]),
            str(g["completed"]),
            best,
            g["best_run"] or "",
            g["latest_run"],
        )
    return table
