"""`ednax runs` and `ednax show`: listing runs, and one run at a glance. Neither imports
torch, scikit-learn, pandas, optuna or lightning."""

from __future__ import annotations

from pathlib import Path

import typer

from ednax.cli.options import ASC, DEBUG, DIGITS, EXPERIMENT, METRIC, RUN_HELP, RUNS_DIR
from ednax.cli.output import (
    choice,
    comma_choices,
    command,
    table_console,
    write_json,
    write_text,
)

LIST_FORMATS = ("table", "json", "csv")
SHOW_FORMATS = ("table", "json")
TABLE_LIMIT = 50
SORT_FIELDS = ("started", "id", "duration", "experiment", "status", "version")
NEWEST_FIRST_FIELDS = ("started", "id", "duration")


def register(app: typer.Typer) -> None:
    app.command("runs")(command(runs))
    app.command("show")(command(show))


STATUS = typer.Option(None, "--status", "-s", help="only runs with this status (repeat, or a,b)")
TAG = typer.Option(None, "--tag", "-t", help="only runs with this tag (repeat)")
SORT = typer.Option(
    None,
    "--sort",
    help="a metric (val/accuracy: best first; -M largest first, +M smallest first) "
    f"or one of {', '.join(SORT_FIELDS)}; default: newest first",
)
LIMIT = typer.Option(
    None, "--limit", "-n", help=f"at most N rows (table default {TABLE_LIMIT}; 0: all)"
)
BY_VERSION = typer.Option(
    False, "--by-version", help="one row per version (experiment + classes per step)"
)


def runs(
    experiment: str = EXPERIMENT,
    status: list[str] = STATUS,
    tag: list[str] = TAG,
    sort: str = SORT,
    asc: bool = ASC,
    limit: int = LIMIT,
    fmt: str = typer.Option("table", "--format", "-f", help="table, json or csv"),
    metric: list[str] = METRIC,
    by_version: bool = BY_VERSION,
    digits: int = DIGITS,
    runs_dir: Path = RUNS_DIR,
    debug: bool = DEBUG,
) -> int:
    """List runs: id, experiment, version, status, start, duration and key metrics."""
    from ednax.runs.index import list_runs
    from ednax.runs.record import LIST_STATUSES
    from ednax.runs.select import filter_records
    from ednax.runs.store import check_experiment, check_runs_dir

    fmt = choice(fmt, LIST_FORMATS, "--format")
    statuses = comma_choices(status, LIST_STATUSES, "--status")
    check_runs_dir(runs_dir)
    check_experiment(runs_dir, experiment)
    every = list_runs(runs_dir, experiment)
    records = filter_records(every, statuses, tag or [])
    if by_version:
        return _print_versions(records, fmt, runs_dir, digits)
    ordered, sorted_by = _sorted(records, sort, asc)
    shown = _limited(ordered, limit, fmt)
    listing = {"matching": len(records), "total": len(every), "custom_order": bool(sort)}
    _print_runs(shown, fmt, metric or None, sorted_by, runs_dir, listing, digits)
    return 0


def _print_runs(
    shown: list,
    fmt: str,
    metrics: list[str] | None,
    sorted_by: str | None,
    runs_dir: Path,
    listing: dict,
    digits: int | None = None,
) -> None:
    """The listed runs as json, csv or a table (with how many matched of how many)."""
    from ednax.runs import report

    report.note_dead_processes(shown)
    if fmt == "json":
        write_json([report.record_json(r) for r in shown])
    elif fmt == "csv":
        write_text(report.records_csv(shown, metrics))
    else:
        columns = report.key_metrics(shown, metrics, sorted_by)
        report.print_runs(
            table_console(), shown, columns, runs_dir=runs_dir, digits=digits, **listing
        )


def _sorted(records: list, spec: str | None, asc: bool) -> tuple[list, str | None]:
    """Records in the order --sort asks for, and the metric sorted by (None for a field)."""
    from ednax.runs.select import check_sort_metric, sort_by_field, sort_by_metric

    if not spec:
        return sort_by_field(records, "id", descending=not asc), None
    sign, name = (spec[0], spec[1:]) if spec[0] in "+-" else ("", spec)
    if name in SORT_FIELDS:
        descending = sign == "-" or (not sign and name in NEWEST_FIRST_FIELDS)
        return sort_by_field(records, name, descending=descending and not asc), None
    check_sort_metric(name, records, others=SORT_FIELDS)
    return sort_by_metric(records, name, _metric_descending(sign, asc)), name


def _metric_descending(sign: str, asc: bool) -> bool | None:
    """-M largest first, +M (or --asc) smallest first, M best first (None)."""
    if asc or sign == "+":
        return False
    return True if sign == "-" else None


def _limited(records: list, limit: int | None, fmt: str) -> list:
    """At most --limit rows (0: all); by default 50 in a table and all otherwise."""
    if limit is None:
        limit = TABLE_LIMIT if fmt == "table" else 0
    return records[:limit] if limit > 0 else records


def _print_versions(records: list, fmt: str, runs_dir: Path, digits: int | None = None) -> int:
    from ednax.runs.report import print_versions, versions_csv
    from ednax.runs.versions import group_versions

    groups = group_versions(records)
    if fmt == "json":
        write_json(groups)
    elif fmt == "csv":
        write_text(versions_csv(groups))
    else:
        print_versions(table_console(), groups, runs_dir, digits)
    return 0


def show(
    run: str = typer.Argument(..., metavar="RUN", help=RUN_HELP),
    experiment: str = EXPERIMENT,
    fmt: str = typer.Option("table", "--format", "-f", help="table or json"),
    runs_dir: Path = RUNS_DIR,
    debug: bool = DEBUG,
) -> int:
    """One run at a glance: classes per step, changed parameters, metrics, provenance,
    artifacts."""
    from ednax.runs.describe import run_details
    from ednax.runs.details import print_details
    from ednax.runs.report import note_dead_processes
    from ednax.runs.store import find_record

    fmt = choice(fmt, SHOW_FORMATS, "--format")
    record = find_record(run, runs_dir, experiment, incomplete=True)
    note_dead_processes([record])
    details = run_details(record)
    if fmt == "json":
        write_json(details)
    else:
        print_details(table_console(), details)
    return 0
