"""Which metrics a listing shows first, and which way each metric is better.

    direction_of("val/rmse", records)    # "min": the newest record that says so decides
    best_first("val/rmse", records)      # False: smallest first

A direction is never guessed from a metric's name. A record states one for a metric
through run.json's `monitor` (the monitored metric and its mode; for a bundle written
before run.json recorded it, config.yaml's `metrics.monitor` and `metrics.mode`) and its
`directions` (every metric the run computed, without split prefix). Among the records
considered, the newest one that states a direction for the metric decides.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Protocol

# The one fallback: a metric no record considered states a direction for (bundles written
# before run.json recorded "directions", a metric the engine did not compute) is taken to
# be better when higher. Nothing else decides a direction.
FALLBACK_DIRECTION = "max"


class Ranked(Protocol):
    """What deciding a direction needs of a run (`RunRecord` has it)."""

    id: str
    monitor: str | None
    mode: str | None
    directions: dict[str, str]


def base_name(metric: str) -> str:
    """ "val/accuracy" -> "accuracy": the metric without its split."""
    return metric.rsplit("/", 1)[-1]


def stated_direction(record: Ranked, metric: str) -> str | None:
    """ "min" or "max" when the record states which way `metric` is better, else None.

    The monitor's mode speaks for the monitored metric first, then `directions` for the
    metric's name, then the monitor's mode for the same metric of another split (a run
    monitoring val/rmse in min mode says test/rmse is better low, too).
    """
    monitor, mode = record.monitor, record.mode
    if monitor == metric and mode:
        return mode
    base = base_name(metric)
    recorded = record.directions.get(base)
    if recorded:
        return recorded
    if monitor and mode and base_name(monitor) == base:
        return mode
    return None


def direction_of(metric: str, records: Iterable[Ranked]) -> str:
    """The direction of `metric` the newest record stating one gives; the fallback
    (higher is better) when none does."""
    for record in sorted(records, key=lambda r: r.id, reverse=True):
        stated = stated_direction(record, metric)
        if stated:
            return stated
    return FALLBACK_DIRECTION


def best_first(metric: str, records: Iterable[Ranked]) -> bool:
    """Whether sorting best first means largest first (descending)."""
    return direction_of(metric, records) == "max"


def metric_names(records: Iterable) -> list[str]:
    """Metric names of `records`, most common first: monitored ones, then val/, test/,
    train/ and others."""
    records = list(records)
    counts = Counter(name for r in records for name in r.metrics)
    monitors = Counter(r.monitor for r in records if r.monitor)
    order = {"val": 1, "test": 2, "train": 3}

    def rank(name: str) -> tuple:
        split = name.split("/", 1)[0] if "/" in name else ""
        return (
            0 if name in monitors else 1,
            -monitors[name],
            order.get(split, 4),
            -counts[name],
            name,
        )

    return sorted(counts, key=rank)


def common_monitor(records: Sequence) -> str | None:
    """The metric most of `records` monitor."""
    monitors = Counter(r.monitor for r in records if r.monitor)
    return monitors.most_common(1)[0][0] if monitors else None
