"""An index of the bundles in a runs directory: one SQLite row per bundle, so that listing
10,000 runs reads one small database instead of 30,000 files.

    <runs_dir>/.ednax-index.sqlite

The index is a cache, never the truth: every read first takes a cheap signature of each
bundle on disk (a `stat` of the bundle folder and of its run.json) and re-reads only the
bundles whose signature changed; rows of bundles that are gone are dropped. So the index
is built when missing, caught up when stale, and rebuilt from scratch when it is corrupt
or of an older schema. A folder's modification time changes whenever a file is renamed
into it (every bundle file is written that way) or deleted from it; run.json's inode,
time and size catch it being rewritten or truncated in place.

Bundles live in `<runs_dir>/<experiment>/<run-id>/`, or one level further down in a sweep
folder: `<runs_dir>/<experiment>/sweep-<id>/<run-id>/` (any folder of an experiment that
is not itself a bundle is looked into). Hidden folders (`.cache`) are skipped. A bundle
that cannot be read (no run.json, truncated JSON, a completed run without metrics.json)
is still a row: its status is "corrupt" or its `problem` says what is missing; it never
breaks a listing.

Concurrent readers and writers are safe: each catch-up is one `BEGIN IMMEDIATE`
transaction of idempotent upserts keyed by the bundle's path, computed from files read
before the transaction, and a signature is always taken before the files it describes are
read, so a row written from an older read is caught up by the next reader. When the index
cannot be written (a read-only runs directory, a lock held too long), the listing is still
computed, in memory, and the next reader writes it.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import sqlite3
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ednax.runs.bundle import CONFIG_FILE, METRICS_FILE, RUN_FILE, STATUSES

INDEX_FILE = ".ednax-index.sqlite"
SWEEP_FILE = "sweep.json"
# Bump when the schema or what `read_row` derives from a bundle changes: the index is rebuilt.
SCHEMA_VERSION = "3"
CORRUPT = "corrupt"
LIST_STATUSES = (*STATUSES, CORRUPT)
RUN_ID = re.compile(r"\d{8}-\d{6}-[0-9a-f]+")
LOCK_TIMEOUT_S = 5.0

# Metric names for which lower is better, when no monitor mode says otherwise.
_LOWER_IS_BETTER = re.compile(r"(loss|error|err|rmse|mse|mae|mape|nll|perplexity|time)$")

_COLUMNS = (
    ("path", "TEXT PRIMARY KEY"),
    ("folder", "TEXT NOT NULL"),
    ("sig", "TEXT NOT NULL"),
    ("id", "TEXT NOT NULL"),
    ("experiment", "TEXT NOT NULL"),
    ("sweep", "TEXT"),
    ("status", "TEXT NOT NULL"),
    ("problem", "TEXT"),
    ("has_run_file", "INTEGER NOT NULL"),
    ("started_at", "TEXT"),
    ("ended_at", "TEXT"),
    ("duration_s", "REAL"),
    ("seed", "INTEGER"),
    ("family", "TEXT"),
    ("task", "TEXT"),
    ("tags", "TEXT"),
    ("structure", "TEXT"),
    ("config_fp", "TEXT"),
    ("data_fp", "TEXT"),
    ("monitor", "TEXT"),
    ("mode", "TEXT"),
    ("metrics", "TEXT"),
    ("error", "TEXT"),
    ("trial", "TEXT"),
    ("pid", "INTEGER"),
    ("host", "TEXT"),
)
_NAMES = tuple(name for name, _ in _COLUMNS)
_SELECT = f"SELECT {', '.join(_NAMES)} FROM runs"
_UPSERT = (
    f"INSERT OR REPLACE INTO runs ({', '.join(_NAMES)}) VALUES ({', '.join('?' * len(_NAMES))})"
)


def _column(name: str) -> property:
    at = _NAMES.index(name)
    return property(lambda self: self._row[at], doc=f"the index's `{name}` column")


def _json_column(name: str, empty: Any) -> property:
    at = _NAMES.index(name)

    def parse(self: RunRecord) -> Any:
        cache = self._parsed
        if name not in cache:
            text = self._row[at]
            cache[name] = empty() if text in (None, "", "[]", "{}", "null") else json.loads(text)
        return cache[name]

    return property(parse, doc=f"the index's `{name}` column, parsed")


class RunRecord:
    """What a listing knows of one bundle, from run.json, metrics.json and config.yaml.

    A view of one index row; the JSON columns (metrics, tags, trial) are parsed when first
    read, so that listing 10,000 runs parses only what is shown. `version` numbers the
    structures of an experiment (v1 is the first set of classes per step it ran with); it
    is set when records are listed together.
    """

    __slots__ = ("_parsed", "_problem", "_row", "runs_dir", "version")

    def __init__(self, runs_dir: Path, row: tuple):
        self.runs_dir = runs_dir
        self._row = row
        self._parsed: dict[str, Any] = {}
        self._problem: str | None = None
        self.version = ""

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
    trial = _json_column("trial", lambda: None)

    @property
    def problem(self) -> str | None:
        """What is wrong with the bundle (a file missing or unreadable), if anything."""
        return self._problem or self._row[_NAMES.index("problem")]

    @problem.setter
    def problem(self, text: str | None) -> None:
        self._problem = text

    @property
    def path(self) -> Path:
        return self.runs_dir / self.rel

    @property
    def has_run_file(self) -> bool:
        return bool(self._row[_NAMES.index("has_run_file")])

    @property
    def monitored_value(self) -> float | None:
        return self.metrics.get(self.monitor) if self.monitor else None

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
            "error": self.error,
        }


def list_runs(runs_dir: str | os.PathLike[str], experiment: str | None = None) -> list[RunRecord]:
    """Every bundle under `runs_dir` (one experiment's when given), oldest first."""
    return RunIndex(runs_dir).records(experiment)


def lower_is_better(metric: str, mode: str | None = None) -> bool:
    """The direction of `metric`: its monitor mode if known, else guessed from its name."""
    if mode in ("min", "max"):
        return mode == "min"
    return bool(_LOWER_IS_BETTER.search(metric.rsplit("/", 1)[-1].lower()))


class RunIndex:
    """The index of one runs directory."""

    def __init__(self, runs_dir: str | os.PathLike[str]):
        self.runs_dir = Path(runs_dir)
        self.path = self.runs_dir / INDEX_FILE

    def records(self, experiment: str | None = None) -> list[RunRecord]:
        """Catch the index up with the bundles on disk and return their records, oldest
        first, with versions numbered per experiment."""
        folder = experiment if experiment and (self.runs_dir / experiment).is_dir() else None
        if experiment and folder is None:
            return []
        scanned = scan(self.runs_dir, folder)
        if not scanned and not self.path.exists():
            return []  # nothing to index: leave no index file behind
        rows = self._sync(scanned, folder)
        records = [record_from_row(self.runs_dir, row) for row in rows]
        if experiment:
            records = [r for r in records if r.experiment == experiment]
        records.sort(key=lambda r: (r.id, r.rel))
        number_versions(records)
        return records

    def lookup(self, run_id: str) -> list[RunRecord]:
        """The runs with exactly this id, from the index as it is (no catch-up), each
        checked against its bundle on disk. Empty when the index does not know the id
        (yet): then list with `records`."""
        try:
            con = self._open()
        except sqlite3.DatabaseError:
            return []
        try:
            rows = con.execute(_SELECT + " WHERE id = ?", (run_id,)).fetchall()
            found = []
            for row in rows:
                rel = row[0]
                sig = _signature(str(self.runs_dir / rel))
                if sig is None:
                    continue  # gone since it was indexed
                if sig != row[_NAMES.index("sig")]:
                    row = read_row(self.runs_dir, rel, sig)
                record = record_from_row(self.runs_dir, row)
                record.version = self._version_of(con, record)
                found.append(record)
            return found
        except sqlite3.DatabaseError:
            return []
        finally:
            con.close()

    @staticmethod
    def _version_of(con: sqlite3.Connection, record: RunRecord) -> str:
        if not record.structure:
            return ""
        firsts = con.execute(
            "SELECT structure, MIN(id) AS first FROM runs WHERE experiment = ? "
            "AND structure IS NOT NULL GROUP BY structure ORDER BY first",
            (record.experiment,),
        ).fetchall()
        structures = [structure for structure, _ in firsts]
        if record.structure not in structures:
            return ""
        return f"v{structures.index(record.structure) + 1}"

    def _sync(self, scanned: dict[str, str], folder: str | None) -> list[tuple]:
        for _attempt in range(2):
            try:
                con = self._open()
            except sqlite3.OperationalError:  # no runs dir, read-only, locked
                break
            except sqlite3.DatabaseError:  # not a database, malformed: a cache, start over
                self._remove()
                continue
            try:
                return self._catch_up(con, scanned, folder)
            except sqlite3.OperationalError:
                break
            except sqlite3.DatabaseError:
                self._remove()
            finally:
                con.close()
        # The index cannot be used: list from the bundles themselves.
        return [read_row(self.runs_dir, rel, sig) for rel, sig in scanned.items()]

    def _catch_up(
        self, con: sqlite3.Connection, scanned: dict[str, str], folder: str | None
    ) -> list[tuple]:
        if folder is None:
            rows = con.execute(_SELECT).fetchall()
        else:
            rows = con.execute(_SELECT + " WHERE folder = ?", (folder,)).fetchall()
        stored = {row[0]: row for row in rows}
        sig_at = _NAMES.index("sig")
        changed = [
            rel for rel, sig in scanned.items() if rel not in stored or stored[rel][sig_at] != sig
        ]
        removed = [rel for rel in stored if rel not in scanned]
        if not changed and not removed:
            return rows
        fresh = [read_row(self.runs_dir, rel, scanned[rel]) for rel in changed]
        with contextlib.suppress(sqlite3.OperationalError):  # locked or read-only: next time
            self._write(con, fresh, removed)
        for rel in removed:
            del stored[rel]
        stored.update((row[0], row) for row in fresh)
        return list(stored.values())

    @staticmethod
    def _write(con: sqlite3.Connection, fresh: list[tuple], removed: list[str]) -> None:
        con.execute("BEGIN IMMEDIATE")
        try:
            con.executemany("DELETE FROM runs WHERE path = ?", ((rel,) for rel in removed))
            con.executemany(_UPSERT, fresh)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise

    def _open(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, timeout=LOCK_TIMEOUT_S, isolation_level=None)
        try:
            # A cache: losing the last transactions to a power cut costs one rebuild,
            # cheaper than an fsync per listing. The rollback journal keeps it whole if a
            # process is killed mid-write.
            con.execute("PRAGMA synchronous = OFF")
            if _schema_version(con) != SCHEMA_VERSION:
                _create_schema(con)
        except BaseException:
            con.close()
            raise
        return con

    def _remove(self) -> None:
        for suffix in ("", "-journal", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f"{self.path}{suffix}")


def _schema_version(con: sqlite3.Connection) -> str | None:
    try:
        row = con.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return None
        raise
    return row[0] if row else None


def _create_schema(con: sqlite3.Connection) -> None:
    con.execute("BEGIN IMMEDIATE")
    try:
        if _schema_version(con) == SCHEMA_VERSION:  # another process just did it
            con.execute("COMMIT")
            return
        con.execute("DROP TABLE IF EXISTS runs")
        con.execute("DROP TABLE IF EXISTS meta")
        con.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
        columns = ", ".join(f"{name} {kind}" for name, kind in _COLUMNS)
        con.execute(f"CREATE TABLE runs ({columns})")
        con.execute("CREATE INDEX runs_folder ON runs (folder)")
        con.execute("CREATE INDEX runs_id ON runs (id)")
        con.execute("INSERT INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


# --- finding bundles --------------------------------------------------------------------


def scan(runs_dir: Path, folder: str | None = None) -> dict[str, str]:
    """Bundle folders under `runs_dir` (relative posix paths) and their signatures.

    Only stats, no file is read. A folder counts as a bundle when it has a run.json or is
    named like a run id (a run killed before writing run.json); any other folder of an
    experiment (a sweep's) is looked into one level down.
    """
    found: dict[str, str] = {}
    root = os.fspath(runs_dir)
    tops = [folder] if folder else [e.name for e in _subfolders(root)]
    for top in tops:
        for entry in _subfolders(f"{root}/{top}"):
            sig = _signature(entry)
            if sig is not None:
                found[f"{top}/{entry.name}"] = sig
                continue
            for inner in _subfolders(entry.path):
                inner_sig = _signature(inner)
                if inner_sig is not None:
                    found[f"{top}/{entry.name}/{inner.name}"] = inner_sig
    return found


def _subfolders(path: str) -> list[os.DirEntry]:
    try:
        with os.scandir(path) as entries:
            return [e for e in entries if not e.name.startswith(".") and e.is_dir()]
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return []


def _signature(entry: os.DirEntry | str) -> str | None:
    """ "<folder mtime>:<run.json inode:mtime:size>", or None if it is no bundle."""
    path = entry if isinstance(entry, str) else entry.path
    try:
        run = os.stat(f"{path}/{RUN_FILE}")
    except OSError:  # missing, or unreadable: then the folder decides
        run = None
    name = os.path.basename(path)
    if run is None and RUN_ID.fullmatch(name) is None:
        return None
    try:
        folder = os.stat(path).st_mtime_ns if isinstance(entry, str) else entry.stat().st_mtime_ns
    except OSError:  # removed while scanning
        return None
    if run is None:
        return f"{folder}:-"
    return f"{folder}:{run.st_ino}:{run.st_mtime_ns}:{run.st_size}"


# --- reading one bundle ------------------------------------------------------------------


def read_record(path: str | os.PathLike[str]) -> RunRecord:
    """The record of one bundle folder, read directly (not through an index)."""
    path = Path(path).resolve()
    depth = 3 if is_sweep_folder(path.parent) else 2
    runs_dir = path.parents[depth - 1]
    sig = _signature(str(path)) or ""
    record = record_from_row(
        runs_dir, read_row(runs_dir, path.relative_to(runs_dir).as_posix(), sig)
    )
    number_versions([record])
    return record


def is_sweep_folder(folder: Path) -> bool:
    """Whether a bundle's parent folder is a sweep's (sweep.json, or named sweep-*) rather
    than an experiment's."""
    return folder.name.startswith("sweep-") or (folder / SWEEP_FILE).is_file()


def read_row(runs_dir: Path, rel: str, sig: str) -> tuple:
    """The index row of the bundle at `runs_dir/rel`, whatever state its files are in."""
    path = runs_dir / rel
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
    run, problem = read_json(path / RUN_FILE)
    if run is None or not isinstance(run, dict):
        values["status"] = CORRUPT
        values["has_run_file"] = int(problem != "missing")
        values["problem"] = (
            "no run.json: killed while starting, or starting now"
            if problem == "missing"
            else f"run.json is {problem or 'not a JSON object'}"
        )
        return _row(values)
    values.update(_from_run(run))
    metrics, metrics_problem = read_json(path / METRICS_FILE)
    values["metrics"] = json.dumps(flat_metrics(metrics) if isinstance(metrics, dict) else {})
    if metrics_problem and (values["status"] == "completed" or metrics_problem != "missing"):
        values["problem"] = f"metrics.json is {metrics_problem}"
    values["monitor"], values["mode"] = monitor_of(path / CONFIG_FILE)
    return _row(values)


def _from_run(run: dict[str, Any]) -> dict[str, Any]:
    fingerprints = run.get("fingerprints") if isinstance(run.get("fingerprints"), dict) else {}
    status = run.get("status")
    values = {
        "status": status if status in STATUSES else CORRUPT,
        "started_at": _text(run.get("started_at")),
        "ended_at": _text(run.get("ended_at")),
        "duration_s": _number(run.get("duration_s")),
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
    }
    if run.get("experiment"):
        values["experiment"] = str(run["experiment"])
    if values["status"] == CORRUPT:
        values["problem"] = f"run.json has an unknown status {status!r}"
    return values


def _row(values: dict[str, Any]) -> tuple:
    return tuple(values.get(name) for name in _NAMES)


def record_from_row(runs_dir: Path, row: tuple) -> RunRecord:
    return RunRecord(runs_dir, row)


def read_json(path: Path) -> tuple[Any, str | None]:
    """The parsed file and None, or None and what is wrong ("missing", "truncated...")."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, "missing"
    except (OSError, UnicodeDecodeError) as exc:
        return None, f"unreadable ({exc.__class__.__name__})"
    if not text.strip():
        return None, "empty"
    try:
        return json.loads(text), None
    except ValueError:
        return None, "not valid JSON (truncated?)"


def flat_metrics(metrics: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """{"val": {"accuracy": 0.9}} -> {"val/accuracy": 0.9}; values that are not numbers
    (and NaN/inf, which JSON cannot carry) are left out."""
    out: dict[str, float] = {}
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flat_metrics(value, f"{name}/"))
        elif _is_number(value) and math.isfinite(value):
            out[name] = float(value)
    return out


def monitor_of(config_path: Path) -> tuple[str | None, str | None]:
    """`metrics.monitor` and `metrics.mode` of a resolved config.yaml.

    Parsing a whole config costs about a millisecond, so only its top-level `metrics:`
    block is parsed (the bundle writes block-style YAML); the whole file when that fails.
    """
    try:
        text = config_path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None, None
    section = _yaml(_top_level_block(text, "metrics"))
    if not isinstance(section, dict):
        whole = _yaml(text)
        section = whole.get("metrics") if isinstance(whole, dict) else None
    if isinstance(section, dict) and "metrics" in section:
        section = section["metrics"]
    if not isinstance(section, dict):
        return None, None
    monitor, mode = section.get("monitor"), section.get("mode")
    return (
        monitor if isinstance(monitor, str) else None,
        mode if mode in ("min", "max") else None,
    )


def _top_level_block(text: str, key: str) -> str:
    start = text.find(f"\n{key}:")
    if start < 0:
        return ""
    lines = text[start + 1 :].split("\n")
    block = [lines[0]]
    for line in lines[1:]:
        if line and not line[0].isspace() and not line.startswith(("-", "#")):
            break
        block.append(line)
    return "\n".join(block)


def _yaml(text: str) -> Any:
    if not text:
        return None
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return yaml.load(text, Loader=loader)
    except yaml.YAMLError:
        return None


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _number(value: Any) -> float | None:
    return float(value) if _is_number(value) else None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# --- versions -----------------------------------------------------------------------------


def number_versions(records: Iterable[RunRecord]) -> None:
    """Set `version` ("v1", "v2", ...): the structures of each experiment numbered in the
    order they first ran. Same experiment + same classes per step = same version."""
    seen: dict[str, dict[str, str]] = {}
    for record in sorted(records, key=lambda r: r.id):
        if not record.structure:
            continue
        versions = seen.setdefault(record.experiment, {})
        if record.structure not in versions:
            versions[record.structure] = f"v{len(versions) + 1}"
        record.version = versions[record.structure]


def metric_names(records: Iterable[RunRecord]) -> list[str]:
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


def group_versions(records: Iterable[RunRecord]) -> list[dict[str, Any]]:
    """One group per experiment and version, in version order: the classes per step, the
    number of runs, the best monitored value and its run, the latest run."""
    groups: dict[tuple[str, str], list[RunRecord]] = {}
    for record in sorted(records, key=lambda r: r.id):
        if record.version:
            groups.setdefault((record.experiment, record.version), []).append(record)
    out = []
    for (experiment, version), members in sorted(
        groups.items(), key=lambda item: (item[0][0], int(item[0][1][1:]))
    ):
        latest = members[-1]
        monitor = next((r.monitor for r in reversed(members) if r.monitor), None)
        scored = [r for r in members if monitor and monitor in r.metrics]
        best = None
        if scored:
            pick = min if lower_is_better(monitor, latest.mode) else max
            best = pick(scored, key=lambda r: r.metrics[monitor])
        out.append(
            {
                "experiment": experiment,
                "version": version,
                "structure": structure_text(latest.path / CONFIG_FILE),
                "fingerprint": latest.structure,
                "runs": len(members),
                "completed": sum(r.status == "completed" for r in members),
                "monitor": monitor,
                "best": best.metrics[monitor] if best else None,
                "best_run": best.id if best else None,
                "latest_run": latest.id,
            }
        )
    return out


def structure_text(config_path: Path) -> str:
    """ "model=random_forest preprocess=standard_scaler data=..." from a resolved config."""
    try:
        config = _yaml(config_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        config = None
    if not isinstance(config, dict):
        return "?"
    parts = []
    for section in ("model", "preprocess", "data", "loss", "optimizer", "scheduler", "weights"):
        value = config.get(section)
        if isinstance(value, dict) and "type" in value:
            parts.append(f"{section}={value['type']}")
        elif isinstance(value, list):
            types = ",".join(str(v.get("type")) for v in value if isinstance(v, dict))
            parts.append(f"{section}={types or '[]'}")
    return " ".join(parts)
