"""Values as people read them in tables, markdown and csv: config values, metrics, deltas,
durations, times and sizes. Render-side only: the query modules return raw values."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import Any

from ednax.runs.values import MISSING

DIGITS = 4  # decimals a metric is shown with, at least
MAX_DIGITS = 8  # ... and at most, unless --digits asks for more


def format_value(value: Any) -> str:
    """A config value as a person reads it (YAML-like); MISSING as "(none)"."""
    if value is MISSING:
        return "(none)"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (list, dict)):
        return json.dumps(value, default=str)
    return str(value)


def format_cell(value: Any) -> str:
    """A config value in a table cell: empty where a run has no such key."""
    return "" if value is MISSING else format_value(value)


def format_metric(value: Any, digits: int = DIGITS) -> str:
    """0.9733, or 1.235e+05 for large values (`digits` decimals, or significant digits of
    a large value); "(none)" for MISSING, "" for None."""
    if value is MISSING or value is None:
        return "(none)" if value is MISSING else ""
    if abs(value) >= 1e5:
        return f"{value:.{digits}g}"
    return f"{value:.{digits}f}"


def metric_digits(values: Iterable[Any], digits: int | None = None) -> int:
    """The decimals a column of metrics is shown with: `digits` when the user chose
    (`--digits`), else the fewest from DIGITS at which values that differ print
    differently: runs at 0.97333 and 0.97334 do not both show 0.9733. Values the same to
    MAX_DIGITS places count as the same (float noise does not widen a column)."""
    if digits is not None:
        return digits
    numbers = {
        float(v)
        for v in values
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    }
    distinct = len({format_metric(v, MAX_DIGITS) for v in numbers})
    for candidate in range(DIGITS, MAX_DIGITS):
        if len({format_metric(v, candidate) for v in numbers}) == distinct:
            return candidate
    return MAX_DIGITS


def format_delta(value: float | None) -> str:
    if value is None:
        return ""
    return "0" if value == 0 else f"{value:+.4f}"


def mean_and_spread(value: float | None, spread: float | None = None) -> str:
    """0.9733, or 0.9733 ± 0.0120 for a k-fold mean and its standard deviation."""
    if value is None:
        return ""
    return f"{value:.4f}" if spread is None else f"{value:.4f} ± {spread:.4f}"


def local_time(iso: str | None) -> str:
    """An ISO time as "YYYY-MM-DD HH:MM" in the local time zone."""
    if not iso:
        return ""
    from datetime import datetime

    try:
        return datetime.fromisoformat(iso).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return iso


def format_duration(seconds: float | None) -> str:
    """0.04s, 12.3s, 4m05s, 2h07m."""
    if seconds is None:
        return ""
    if seconds < 1:
        return f"{seconds:.2f}s"  # a small estimator's run: 0.04s, not 0.0s
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def format_size(size: int | None) -> str:
    """Bytes as 512 B, 9.5 KiB, 2.9 MiB, 1.2 GiB."""
    if size is None:
        return "?"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"
