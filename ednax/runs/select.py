"""Which runs a command looks at, and in what order.

    records = select_runs(["latest", "20261125-0843"], None, None, Path("runs"))
    records = filter_records(records, statuses={"completed"}, tags=["smoke"])
    records = sort_by_metric(records, "val/loss")  # best first: the lowest loss

What a person can fix (no such sweep folder, no run with the metric) is a UsageError.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from ednax.errors import UsageError, did_you_mean
from ednax.runs.bundle import RUN_FILE
from ednax.runs.index import list_runs, read_record
from ednax.runs.layout import RUN_ID
from ednax.runs.ranking import best_first, metric_names
from ednax.runs.record import RunRecord
from ednax.runs.store import check_experiment, find_records


def select_runs(
    refs: list[str], sweep: Path | None, experiment: str | None, runs_dir: Path
) -> list[RunRecord]:
    """The runs named by reference, every run of a sweep folder, or (with no reference)
    every run of an experiment; each run once."""
    records: list[RunRecord] = []
    if sweep is not None:
        records += sweep_records(sweep)
    if refs:
        records += find_records(refs, runs_dir, experiment)
    elif experiment and sweep is None:
        check_experiment(runs_dir, experiment)
        records += list_runs(runs_dir, experiment)
    if not refs and sweep is None and not experiment:
        raise UsageError("name the runs: RUN..., --sweep DIR or --experiment NAME")
    unique: dict[Path, RunRecord] = {}
    for record in records:
        unique.setdefault(record.path.resolve(), record)
    return list(unique.values())


def sweep_records(folder: Path) -> list[RunRecord]:
    """The bundles in a sweep folder, in folder order."""
    if not folder.is_dir():
        raise UsageError(f"no sweep folder '{folder}'")
    found = [
        read_record(p)
        for p in sorted(folder.iterdir())
        if p.is_dir() and ((p / RUN_FILE).is_file() or RUN_ID.fullmatch(p.name))
    ]
    if not found:
        raise UsageError(
            f"'{folder}' holds no run bundles (expected <run-id>/ folders with run.json)"
        )
    return found


def filter_records(
    records: Iterable[RunRecord], statuses: set[str], tags: Sequence[str]
) -> list[RunRecord]:
    """Runs with one of `statuses` (any, when empty) and every one of `tags`."""
    return [
        r
        for r in records
        if (not statuses or r.status in statuses) and all(t in r.tags for t in tags)
    ]


def sort_by_field(records: Iterable[RunRecord], name: str, descending: bool) -> list[RunRecord]:
    """By started (= id), id, duration, version or another record field."""
    return sorted(records, key=_field_key(name), reverse=descending)


def _field_key(name: str):
    if name in ("started", "id"):
        return lambda r: r.id
    if name == "duration":
        return lambda r: r.duration_s if r.duration_s is not None else -1.0
    if name == "version":
        return lambda r: (r.experiment, int(r.version[1:] or 0) if r.version else 0)
    return lambda r: (getattr(r, name) or "", r.id)


def sort_by_metric(
    records: Sequence[RunRecord], name: str, descending: bool | None = None
) -> list[RunRecord]:
    """Runs with the metric first, best first (in the direction `ranking.direction_of`
    gives) unless `descending` says; the rest after, in their order."""
    if descending is None:
        descending = best_first(name, records)
    have = [r for r in records if name in r.metrics]
    have.sort(key=lambda r: r.metrics[name], reverse=descending)
    return have + [r for r in records if name not in r.metrics]


def check_sort_metric(name: str, records: Sequence[RunRecord], others: Sequence[str] = ()) -> None:
    """A usage error when no run has the metric; the hint also offers `others`."""
    if any(name in r.metrics for r in records):  # the sort reads every run's metrics anyway
        return
    known = metric_names(records)
    where = did_you_mean(name, [*known, *others], "metric") if known else None
    raise UsageError(
        f"cannot sort by '{name}': no run has that metric; "
        + (where or "these runs have no metrics")
    )
