"""The runs under a folder as one pandas DataFrame (`ednax.runs(...)`): a row per bundle,
oldest first, with the columns `ednax runs --format json` gives and one column per
`split/metric`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ednax.runs.index import list_runs
from ednax.runs.ranking import metric_names
from ednax.runs.report import note_dead_processes, record_json
from ednax.runs.store import check_experiment, check_runs_dir

FIELDS = (
    "id",
    "experiment",
    "version",
    "status",
    "problem",
    "started_at",
    "ended_at",
    "duration_s",
    "seed",
    "family",
    "task",
    "tags",
    "monitor",
    "mode",
    "error",
    "path",
)


def runs_frame(runs_dir: str | os.PathLike[str] = "runs", experiment: str | None = None) -> Any:
    """Every bundle under `runs_dir` (one experiment's when given) as a DataFrame."""

    import pandas as pd

    check_runs_dir(Path(runs_dir))
    check_experiment(Path(runs_dir), experiment)
    records = list_runs(runs_dir, experiment)
    note_dead_processes(records)
    metrics = metric_names(records)
    rows = [_row(record_json(r), r.metrics, metrics) for r in records]
    return pd.DataFrame(rows, columns=[*FIELDS, *metrics])


def _row(record: dict[str, Any], values: dict[str, float], metrics: list[str]) -> dict:
    return {**{f: record.get(f) for f in FIELDS}, **{m: values.get(m) for m in metrics}}
