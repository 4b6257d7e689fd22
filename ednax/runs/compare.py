"""N runs side by side: the config keys that vary between them, and their metrics.

    entries = load_entries(records)              # records from the index or find_record
    table = compare(entries)                     # varying keys only, best run first
    print(compare_report.to_csv(table))          # or to_markdown / to_json / print_comparison

A column is a dotted config key (`optimizer.lr`, `model.hidden[1]`); a step's class is
the column named after the step (`model`). Two kinds of keys are left out as noise, unless
`all_keys`: parameters that only some runs have because their step's class differs (the
step's column says so already) unless they vary among the runs that have them, and keys
named `random_state` that only follow `experiment.seed` (the config layer fills them from
it). Rows are sorted by the monitored metric in its direction (`ednax.runs.ranking`), runs
without it last.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ednax.runs.bundle import CONFIG_FILE
from ednax.runs.ranking import best_first, common_monitor, metric_names
from ednax.runs.record import RunRecord
from ednax.runs.values import MISSING, flatten, same_value

SEED_KEY = "experiment.seed"


@dataclass
class Entry:
    """One run: its record and its flattened config."""

    record: RunRecord
    params: dict[str, Any]
    problem: str | None = None


@dataclass
class Comparison:
    entries: list[Entry]
    keys: list[str]
    metrics: list[str]
    sort: str | None = None
    descending: bool = True
    sweep: dict[str, Any] | None = None
    extra_columns: list[str] = field(default_factory=list)
    digits: int | None = None  # decimals of the metrics (None: enough to tell runs apart)

    def header(self) -> list[str]:
        return ["run", "status", *self.extra_columns, *map(column_label, self.keys), *self.metrics]

    @property
    def fixed_columns(self) -> int:
        """How many columns come before the metrics."""
        return 2 + len(self.extra_columns) + len(self.keys)

    def cells(self, entry: Entry) -> list[Any]:
        """Raw values of one row (MISSING where a run has no such key)."""
        record = entry.record
        extra = [trial_number(record) for _ in self.extra_columns]
        params = [entry.params.get(key, MISSING) for key in self.keys]
        metrics = [record.metrics.get(name, MISSING) for name in self.metrics]
        return [record.id, record.status, *extra, *params, *metrics]


def load_entries(records: Sequence[RunRecord]) -> list[Entry]:
    entries = []
    for record in records:
        config = record.files.config
        if config is not None:
            entries.append(Entry(record, flatten(config)))
        else:
            entries.append(Entry(record, {}, f"{CONFIG_FILE} is missing or unreadable"))
    return entries


def compare(
    entries: Sequence[Entry],
    *,
    all_keys: bool = False,
    metrics: Sequence[str] | None = None,
    sort: str | None = None,
    descending: bool | None = None,
) -> Comparison:
    """The N-way table. `sort` defaults to the most common monitored metric, best first;
    `descending` overrides the direction."""
    entries = list(entries)
    records = [e.record for e in entries]
    keys = varying_keys([e.params for e in entries if e.params], all_keys=all_keys)
    columns = list(metrics) if metrics else default_metrics(records)
    sort = sort or common_monitor(records)
    if descending is None:
        descending = best_first(sort, records) if sort else True
    if sort:
        entries = sort_entries(entries, sort, descending)
    extra = ["trial"] if any(trial_number(r) is not MISSING for r in records) else []
    return Comparison(entries, keys, columns, sort, descending, extra_columns=extra)


def varying_keys(params: Sequence[dict[str, Any]], *, all_keys: bool = False) -> list[str]:
    """Keys whose value is not the same in every run (all keys with `all_keys`).

    A parameter that only some runs have because their step has another class is
    explained by the step's column: it is shown only when its value varies among the runs
    that have it.
    """
    keys = list(dict.fromkeys(key for p in params for key in p))
    if all_keys:
        return keys
    switched = {k for k in keys if k.endswith(".type") and _varies(params, k)}
    varying = []
    for key in keys:
        values = [p.get(key, MISSING) for p in params]
        if _all_same(values):
            continue
        present = [v for v in values if v is not MISSING]
        step_type = f"{key.split('.', 1)[0]}.type"
        if key != step_type and step_type in switched and _all_same(present):
            continue
        varying.append(key)
    if SEED_KEY in varying:
        varying = [k for k in varying if not _follows_seed(k, params)]
    return varying


def _varies(params: Sequence[dict[str, Any]], key: str) -> bool:
    return not _all_same([p.get(key, MISSING) for p in params])


def default_metrics(records: Sequence[RunRecord]) -> list[str]:
    """Monitored metrics, then val/ and test/ ones; train/ metrics only when there is
    nothing else."""
    names = metric_names(records)
    shown = [n for n in names if not n.startswith("train/")]
    return shown or names


def sort_entries(entries: list[Entry], metric: str, descending: bool) -> list[Entry]:
    have = [e for e in entries if isinstance(e.record.metrics.get(metric), (int, float))]
    rest = [e for e in entries if e not in have]
    have.sort(key=lambda e: e.record.metrics[metric], reverse=descending)
    return have + rest


def column_label(key: str) -> str:
    """`model.type` -> `model`: a step's class is named by the step."""
    return key[: -len(".type")] if key.endswith(".type") else key


def trial_number(record: RunRecord) -> Any:
    """The number of the sweep trial a run was, or MISSING."""
    trial = record.trial
    if isinstance(trial, dict):
        for key in ("number", "trial", "id", "index"):
            if key in trial:
                return trial[key]
    return MISSING


def _follows_seed(key: str, params: Sequence[dict[str, Any]]) -> bool:
    return key.rsplit(".", 1)[-1] == "random_state" and all(
        p.get(key, MISSING) == p.get(SEED_KEY) for p in params
    )


def _all_same(values: list[Any]) -> bool:
    return all(same_value(values[0], v) for v in values[1:])
