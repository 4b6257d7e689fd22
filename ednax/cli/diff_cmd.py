"""`ednax diff` (two runs or config files) and `ednax compare` (N runs side by side). Neither
imports torch, scikit-learn, pandas, optuna or lightning; `diff` of a config file imports
the config layer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from ednax.cli.options import (
    ASC,
    DEBUG,
    DIGITS,
    EXPERIMENT,
    METRIC,
    RUN_HELP,
    RUNS,
    RUNS_DIR,
    SWEEP,
)
from ednax.cli.output import (
    choice,
    comma_choices,
    command,
    console,
    table_console,
    usage_error,
    write_json,
    write_text,
)

DIFF_FORMATS = ("table", "json", "md")
COMPARE_FORMATS = ("table", "csv", "json", "md")
FORMAT_OF_SUFFIX = {".csv": "csv", ".json": "json", ".md": "md"}


def register(app: typer.Typer) -> None:
    app.command("diff")(command(diff))
    app.command("compare")(command(compare))


def diff(
    a: str = typer.Argument(..., metavar="A", help=f"run A ({RUN_HELP}) or a config file"),
    b: str = typer.Argument(..., metavar="B", help="run B, or a config file"),
    overrides_a: list[str] = typer.Option(
        None, "--overrides-a", "-a", help="an override for config file A (repeat)"
    ),
    overrides_b: list[str] = typer.Option(
        None, "--overrides-b", "-b", help="an override for config file B (repeat)"
    ),
    show_all: bool = typer.Option(False, "--all", help="include unchanged keys"),
    fmt: str = typer.Option("table", "--format", "-f", help="table, json or md"),
    exit_code: bool = typer.Option(
        False, "--exit-code", help="exit 1 when they differ, 0 when they do not (as git diff)"
    ),
    experiment: str = EXPERIMENT,
    runs_dir: Path = RUNS_DIR,
    debug: bool = DEBUG,
) -> int:
    """What differs between two runs (or config files): config keys, classes, metrics
    with deltas, provenance."""
    from ednax.runs.diff import diff_sides

    fmt = choice(fmt, DIFF_FORMATS, "--format")
    refs = {"A": (a, overrides_a or []), "B": (b, overrides_b or [])}
    sides = _sides(refs, runs_dir, experiment)
    result = diff_sides(sides["A"], sides["B"], include_same=show_all)
    if fmt == "json":
        write_json(result.to_json())
    elif fmt == "md":
        from ednax.runs.diff_report import diff_markdown

        write_text(diff_markdown(result))
    else:
        from ednax.runs.diff_report import print_diff

        print_diff(table_console(), result)
    return 1 if exit_code and result.differs else 0


def _sides(
    refs: dict[str, tuple[str, list[str]]], runs_dir: Path, experiment: str | None
) -> dict[str, Any]:
    """A side per reference; runs first, so that a config file's side can show the
    installed versions of the packages the runs recorded."""
    from ednax.runs.sides import side_from_bundle
    from ednax.runs.store import RunFinder

    finder = RunFinder(runs_dir, experiment)
    sides: dict[str, Any] = {}
    for name, (ref, overrides) in refs.items():
        if not _is_config_file(ref):
            if overrides:
                flag = f"--overrides-{name.lower()}"
                raise usage_error(f"{flag} applies to a config file, but {name} ('{ref}') is a run")
            sides[name] = side_from_bundle(finder.find(ref).files)
    packages = _recorded_packages(sides.values())
    for name, (ref, overrides) in refs.items():
        if name not in sides:
            sides[name] = _config_side(ref, overrides, packages)
    return sides


def _is_config_file(ref: str) -> bool:
    path = Path(ref).expanduser()
    return path.suffix in (".yaml", ".yml") and not path.is_dir()


def _recorded_packages(sides) -> list[str]:
    names = [
        key.partition(".")[2]
        for side in sides
        for key in side.provenance
        if key.startswith("packages.")
    ]
    return list(dict.fromkeys(names))


def _config_side(ref: str, overrides: list[str], packages: list[str]):
    from ednax.config.resolve import load_config
    from ednax.runs.code import own_sources
    from ednax.runs.sides import side_from_config

    if not Path(ref).expanduser().is_file():
        raise usage_error(f"no config file '{ref}'")
    resolved = load_config(Path(ref).expanduser(), overrides)
    return side_from_config(
        resolved.data,
        file=ref,
        overrides=overrides,
        classes=resolved.classes,
        packages=packages,
        code=own_sources(resolved.get("imports") or []),
    )


def compare(
    runs: list[str] = RUNS,
    sweep: Path = SWEEP,
    experiment: str = typer.Option(
        None, "--experiment", "-e", help="every run of this experiment (with no RUN given)"
    ),
    status: list[str] = typer.Option(None, "--status", "-s", help="only runs with this status"),
    show_all: bool = typer.Option(
        False, "--all", help="every config key, not only those that vary"
    ),
    metric: list[str] = METRIC,
    sort: str = typer.Option(None, "--sort", help="a metric; default: the monitored one"),
    asc: bool = ASC,
    limit: int = typer.Option(None, "--limit", "-n", help="at most N rows (after sorting)"),
    fmt: str = typer.Option(None, "--format", "-f", help="table, csv, json or md"),
    output: Path = typer.Option(None, "--output", "-o", help="write to FILE"),
    digits: int = DIGITS,
    runs_dir: Path = RUNS_DIR,
    debug: bool = DEBUG,
) -> int:
    """Runs side by side: the config keys that vary between them and their metrics,
    best first by the monitored metric."""
    from ednax.runs import compare as comparing
    from ednax.runs.reader import read_sweep
    from ednax.runs.select import check_sort_metric

    fmt = _output_format(fmt, output)
    records = _compared_records(runs or [], sweep, experiment, status, runs_dir)
    metric_name, descending = _sort_spec(sort, asc)
    if metric_name:
        check_sort_metric(metric_name, records)
    table = comparing.compare(
        comparing.load_entries(records),
        all_keys=show_all,
        metrics=metric or None,
        sort=metric_name,
        descending=descending,
    )
    table.sweep = read_sweep(sweep) if sweep else None
    table.digits = digits
    if limit:
        table.entries = table.entries[:limit]
    _emit_comparison(table, fmt, output)
    return 0


def _compared_records(
    refs: list[str], sweep: Path | None, experiment: str | None, status: list[str], runs_dir: Path
) -> list:
    """The runs named, of the sweep or of the experiment, with one of the statuses asked."""
    from ednax.runs.record import LIST_STATUSES
    from ednax.runs.select import filter_records, select_runs

    records = select_runs(refs, sweep, experiment, runs_dir)
    statuses = comma_choices(status, LIST_STATUSES, "--status")
    records = filter_records(records, statuses, [])
    if not records:
        with_status = f" with status {', '.join(sorted(statuses))}" if statuses else ""
        raise usage_error(f"no runs to compare{with_status}")
    return records


def _output_format(fmt: str | None, output: Path | None) -> str:
    """--format, else the one the --output file's suffix names, else a table."""
    if fmt is None and output is not None:
        fmt = FORMAT_OF_SUFFIX.get(output.suffix.lower(), "table")
    return choice(fmt or "table", COMPARE_FORMATS, "--format")


def _sort_spec(sort: str | None, asc: bool) -> tuple[str | None, bool | None]:
    """ "-M" largest first, "+M" (or --asc) smallest first, "M" best first (None)."""
    if not sort:
        return None, (False if asc else None)
    name = sort.lstrip("+-")
    if asc or sort.startswith("+"):
        return name, False
    return name, (True if sort.startswith("-") else None)


def _emit_comparison(table, fmt: str, output: Path | None) -> None:
    """Onto the terminal, or into the --output file."""
    from ednax.runs.compare_report import print_comparison

    if output is None and fmt == "table":
        print_comparison(table_console(), table)
        return
    text = _comparison_as(table, fmt)
    if output is None:
        write_text(text)
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    console(stderr=True).print(f"wrote {len(table.entries)} runs to {output}", markup=False)


def _comparison_as(table, fmt: str) -> str:
    from ednax.runs import compare_report

    exports = {
        "table": compare_report.comparison_text,
        "csv": compare_report.to_csv,
        "json": compare_report.to_json,
        "md": compare_report.to_markdown,
    }
    return exports[fmt](table)
