"""What a listing knows of one bundle: the index's row (`read_row` derives it from the
bundle's files, whatever state they are in) and `RunRecord`, a view of one row.

A bundle that cannot be read (no run.json, truncated JSON, a completed run without
metrics.json) is still a row: its status is "corrupt" or its `problem` says what is
missing; it never breaks a listing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ednax.runs.bundle import STATUSES
from ednax.runs.reader import BundleFiles, is_number

CORRUPT = "corrupt"
LIST_STATUSES = (*STATUSES, CORRUPT)

# The first LISTED columns are what a listing reads of every run (to filter by status and
# tag, sort, number versions, resolve a prefix); a record holding only those fetches the
# rest when asked.
COLUMNS = (
    ("path", "TEXT PRIMARY KEY"),
    ("id", "TEXT NOT NULL"),
    ("experiment", "TEXT NOT NULL"),
    ("status", "TEXT NOT NULL"),
    ("has_run_file", "INTEGER NOT NULL"),
    ("structure", "TEXT"),
    ("tags", "TEXT"),
    ("folder", "TEXT NOT NULL"),
    ("sig", "TEXT NOT NULL"),
    ("sweep", "TEXT"),
    ("problem", "TEXT"),
    ("started_at", "TEXT"),
    ("ended_at", "TEXT"),
    ("duration_s", "REAL"),
    ("seed", "INTEGER"),
    ("family", "TEXT"),
    ("task", "TEXT"),
    ("config_fp", "TEXT"),
    ("data_fp", "TEXT"),
    ("monitor", "TEXT"),
    ("mode", "TEXT"),
    ("directions", "TEXT"),
    ("metrics", "TEXT"),
    ("error", "TEXT"),
    ("trial", "TEXT"),
    ("pid", "INTEGER"),
    ("host", "TEXT"),
    ("training", "TEXT"),
)
NAMES = tuple(name for name, _ in COLUMNS)
LISTED = NAMES.index("tags") + 1
PATH_AT, SIG_AT = NAMES.index("path"), NAMES.index("sig")
_PROBLEM_AT = NAMES.index("problem")


def _column(name: str) -> property:
    at = NAMES.index(name)
    if at < LISTED:
        return property(lambda self: self._row[at], doc=f"the index's `{name}` column")
    return property(
        lambda self: (self._row if len(self._row) > at else self.row)[at],
        doc=f"the index's `{name}` column",
    )


def _json_column(name: str, empty: Any) -> property:
    at = NAMES.index(name)

    def parse(self: RunRecord) -> Any:
        cache = self._parsed
        if name not in cache:
            text = (self._row if len(self._row) > at else self.row)[at]
            cache[name] = empty() if text in (None, "", "[]", "{}", "null") else json.loads(text)
        return cache[name]

    return property(parse, doc=f"the index's `{name}` column, parsed")


class RunRecord:
    """What a listing knows of one bundle, from run.json, metrics.json and config.yaml.

    A view of one index row; the JSON columns (metrics, tags, trial, directions) are
    parsed when first read, so that listing 10,000 runs parses only what is shown. A
    listing's records hold the first `LISTED` columns; `full_row` (given by the index)
    fetches the whole row when another column is first read.
    `version` numbers the structures of an experiment (v1 is the first set of classes per
    step it ran with); it is set when records are listed together. `files` reads the
    bundle itself, for what the index does not hold.
    """

    __slots__ = ("_files", "_full_row", "_parsed", "_problem", "_row", "runs_dir", "version")

    def __init__(self, runs_dir: Path, row: tuple, full_row: Callable[[str], tuple] | None = None):
        self.runs_dir = runs_dir
        self._row = row
        self._full_row = full_row
        self._parsed: dict[str, Any] = {}
        self._problem: str | None = None
        self._files: BundleFiles | None = None
        self.version = ""

    @property
    def row(self) -> tuple:
        """The whole index row (fetched on first use when the record holds the listed
        columns only; then every column is of that fetch)."""
        if len(self._row) < len(NAMES):
            assert self._full_row is not None, "a partial row needs a way to the rest"
            self._row = self._full_row(self._row[PATH_AT])
            self._parsed.clear()
        return self._row

    rel = _column("path")
    id = _column("id")
    experiment = _column("experiment")
    status = _column("status")
    sweep = _column("sweep")
    started_at = _column("started_at")
    ended_at = _column("ended_at")
    duration_s = _column("duration_s")
    seed = _column("seed")
    family = _column("family")
    task = _column("task")
    structure = _column("structure")
    config_fp = _column("config_fp")
    data_fp = _column("data_fp")
    monitor = _column("monitor")
    mode = _column("mode")
    error = _column("error")
    pid = _column("pid")
    host = _column("host")
    tags = _json_column("tags", list)
    metrics = _json_column("metrics", dict)
    directions = _json_column("directions", dict)
    trial = _json_column("trial", lambda: None)
    # How a torch fit ended (run.json's `training`: epochs, stopped early, best epoch);
    # a k-fold run's holds one entry a fold.
    training = _json_column("training", dict)

    @property
    def problem(self) -> str | None:
        """What is wrong with the bundle (a file missing or unreadable), if anything."""
        return self._problem or self.row[_PROBLEM_AT]

    @problem.setter
    def problem(self, text: str | None) -> None:
        self._problem = text

    @property
    def path(self) -> Path:
        return self.runs_dir / self.rel

    @property
    def files(self) -> BundleFiles:
        """The bundle's files, read on first use."""
        if self._files is None:
            self._files = BundleFiles(self.path)
        return self._files

    @property
    def has_run_file(self) -> bool:
        return bool(self._row[NAMES.index("has_run_file")])

    def __repr__(self) -> str:
        return f"RunRecord({self.rel!r}, {self.status!r})"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "experiment": self.experiment,
            "version": self.version,
            "status": self.status,
            "problem": self.problem,
            "path": str(self.path),
            "sweep": self.sweep,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "duration_s": self.duration_s,
            "seed": self.seed,
            "family": self.family,
            "task": self.task,
            "tags": self.tags,
            "monitor": self.monitor,
            "mode": self.mode,
            "metrics": self.metrics,
            "fingerprints": {
                "config": self.config_fp,
                "structure": self.structure,
                "data": self.data_fp,
            },
            "trial": self.trial,
            "training": self.training or None,
            "error": self.error,
        }


def read_row(runs_dir: Path, rel: str, sig: str) -> tuple:
    """The index row of the bundle at `runs_dir/rel`, whatever state its files are in."""
    return row_from_files(BundleFiles(runs_dir / rel), rel, sig)


def row_from_files(files: BundleFiles, rel: str, sig: str) -> tuple:
    parts = rel.split("/")
    folder = parts[0]
    values: dict[str, Any] = {
        "path": rel,
        "folder": folder,
        "sig": sig,
        "id": parts[-1],  # the folder's name is the run's id (Bundle.run_id)
        "experiment": folder,
        "sweep": "/".join(parts[:-1]) if len(parts) > 2 else None,
        "has_run_file": 1,
    }
    problem = files.run_problem
    if problem is not None:
        values["status"] = CORRUPT
        values["has_run_file"] = int(problem != "missing")
        values["problem"] = (
            "no run.json: killed while starting, or starting now"
            if problem == "missing"
            else f"run.json is {problem}"
        )
        return _row(values)
    values.update(_from_run(files))
    values["metrics"] = json.dumps(files.metrics)
    values["problem"] = files.metrics_trouble(values["status"]) or values.get("problem")
    monitor = files.monitor
    values["monitor"], values["mode"] = monitor.name, monitor.mode
    values["directions"] = json.dumps(files.directions)
    return _row(values)


def _from_run(files: BundleFiles) -> dict[str, Any]:
    run = files.run
    fingerprints = files.run_dict("fingerprints")
    status = run.get("status")
    values = {
        "status": status if status in STATUSES else CORRUPT,
        "started_at": _text(run.get("started_at")),
        "ended_at": _text(run.get("ended_at")),
        "duration_s": float(run["duration_s"]) if is_number(run.get("duration_s")) else None,
        "seed": run.get("seed") if isinstance(run.get("seed"), int) else None,
        "family": _text(run.get("family")),
        "task": _text(run.get("task")),
        "tags": json.dumps([str(t) for t in run.get("tags") or [] if t is not None]),
        "structure": _text(fingerprints.get("structure")),
        "config_fp": _text(fingerprints.get("config")),
        "data_fp": _text(fingerprints.get("data")),
        "error": _text(run.get("error")),
        "trial": json.dumps(run.get("trial"), default=str),
        "pid": run.get("pid") if isinstance(run.get("pid"), int) else None,
        "host": _text(run.get("host")),
        "training": json.dumps(run.get("training"), default=str),
    }
    if run.get("experiment"):
        values["experiment"] = str(run["experiment"])
    if values["status"] == CORRUPT:
        values["problem"] = f"run.json has an unknown status {status!r}"
    return values


def _row(values: dict[str, Any]) -> tuple:
    return tuple(values.get(name) for name in NAMES)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
