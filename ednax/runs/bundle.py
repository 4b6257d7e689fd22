"""The run bundle: one directory per run holding everything needed to explain it later.

    <runs_dir>/<experiment>/<run-id>/
      config.yaml     the resolved config          overrides.yaml  what the command line changed
      run.json        id, status, times, command, seed, fingerprints, classes, sweep, trial,
                      error, artifact checksums (sha256, and an hmac with this user's secret)
      env.json        interpreter, machine, packages, git state
      code.patch      `git diff HEAD` when the tree was dirty
      code/           the sources of the config's own plugin modules (`ednax.runs.code`)
      metrics.json    final metrics per split      history.csv     one row per epoch
      artifacts/      fitted estimators, preprocessing, checkpoints, predictions
      log.txt         what the run printed

Every file except log.txt is written through `ednax.runs.atomic`, so a run killed at any
moment leaves each file either complete or absent. No file keeps a password: the password of
a database URL (in the config, an override, the command, a log line or the error) is
written as `***` (`ednax.errors.masked`). The engine drives a bundle as

    bundle = Bundle.create(runs_dir, "iris-mlp")
    bundle.start(config=..., overrides=..., command=..., ...)
    bundle.append_history({"epoch": 0, "train/loss": 0.9})
    bundle.save_artifact("model.pkl", estimator)
    bundle.finish("completed", metrics={"val": {"accuracy": 0.97}})
"""

from __future__ import annotations

import contextlib
import copy
import csv
import json
import os
import secrets
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any

from ednax.errors import mask_password, masked
from ednax.runs import atomic, trust
from ednax.runs.code import CODE_DIR, Source, code_entries
from ednax.runs.journal import note_change
from ednax.runs.provenance import collect_env, git_patch, git_state
from ednax.vocabulary import NAME_RULE, name_problem

STATUSES = ("running", "completed", "failed", "interrupted", "pruned")
FINAL_STATUSES = STATUSES[1:]

RUN_FILE = "run.json"
CONFIG_FILE = "config.yaml"
OVERRIDES_FILE = "overrides.yaml"
ENV_FILE = "env.json"
PATCH_FILE = "code.patch"
METRICS_FILE = "metrics.json"
HISTORY_FILE = "history.csv"
LOG_FILE = "log.txt"
ARTIFACTS_DIR = "artifacts"

_CREATE_ATTEMPTS = 100

# One run is written by one process; this lock keeps its threads (a trainer callback and
# the main loop, say) from interleaving the read-modify-write of run.json or history.csv.
_LOCK = threading.RLock()


def new_run_id() -> str:
    """A run id such as "20261125-083000-4173fa": the UTC start second, its millisecond
    (417) and 12 random bits (3fa).

    Ids sort by start time to the millisecond, so `latest` is the last run started even
    when several start in one second. The random part comes from the OS (`secrets`), so
    processes forked from one parent do not repeat each other's ids; `Bundle.create`
    retries on the rare collision.
    """
    now = _now()
    millisecond = int(now * 1000) % 1000
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(now))
    return f"{stamp}-{millisecond:03d}{secrets.token_hex(2)[:3]}"


def validate_experiment_name(name: str) -> str:
    """Return `name` if it can name the experiment's folder, else raise ValueError saying
    why. The config layer checks the same rule (`ednax.vocabulary.name_problem`) first."""
    problem = name_problem(name)
    if problem:
        raise ValueError(f"invalid experiment name: {problem}; {NAME_RULE} (e.g. 'iris-mlp')")
    return name


class Bundle:
    """A run's directory and the only writer of its files.

    Attributes
    ----------
    path : Path
        The run directory.
    run_id : str
        The directory's name.
    """

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        self.run_id = self.path.name
        self._history: list[dict[str, Any]] | None = None
        self._holding = 0  # depth of `held()` blocks
        self._unwritten: dict[str, Any] | None = None  # run.json as held, not yet written

    def __repr__(self) -> str:
        return f"Bundle({str(self.path)!r})"

    @classmethod
    def create(
        cls,
        runs_dir: str | os.PathLike[str],
        experiment: str,
        *,
        parent: str | os.PathLike[str] | None = None,
    ) -> Bundle:
        """Make a new, empty run directory `runs_dir/experiment/<run-id>`.

        With `parent` (a sweep's directory) the run goes to `parent/<run-id>` instead. The
        run directory is created exclusively, so concurrent runs never share one.
        """
        validate_experiment_name(experiment)
        home = Path(parent) if parent is not None else Path(runs_dir) / experiment
        os.makedirs(home, exist_ok=True)
        for _ in range(_CREATE_ATTEMPTS):
            path = home / new_run_id()
            try:
                os.mkdir(path)
            except FileExistsError:
                continue
            return cls(path)
        raise FileExistsError(f"could not find a free run id in {home}")

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> Bundle:
        """An existing bundle (one whose run.json was written by `start`)."""
        bundle = cls(path)
        if not (bundle.path / RUN_FILE).is_file():
            raise FileNotFoundError(f"{bundle.path} is not a run bundle: it has no {RUN_FILE}")
        return bundle

    @property
    def artifacts_dir(self) -> Path:
        """The artifacts/ directory, created on first use."""
        directory = self.path / ARTIFACTS_DIR
        directory.mkdir(exist_ok=True)
        return directory

    def start(
        self,
        *,
        config: Mapping[str, Any],
        overrides: Iterable[str],
        command: Iterable[str],
        experiment: str,
        seed: int,
        fingerprints: Mapping[str, Any],
        classes: Mapping[str, Any],
        packages: Iterable[str],
        cwd: str | os.PathLike[str],
        sweep: Mapping[str, Any] | None = None,
        trial: Mapping[str, Any] | None = None,
        extra: Mapping[str, Any] | None = None,
        code: Iterable[Source] = (),
    ) -> None:
        """Record what is about to run: config, overrides, environment, code and run.json.

        `code` are the config's own plugin modules: their sources are copied into code/
        and fingerprinted in run.json's "code".

        run.json is written last, with status "running", so a bundle that has one has all
        the files that describe its inputs. `extra` adds top-level keys to run.json; it may
        not replace the standard ones.
        """
        atomic.write_yaml(self.path / CONFIG_FILE, masked(dict(config)))
        atomic.write_yaml(self.path / OVERRIDES_FILE, masked(list(overrides)))
        self._write_env(packages, cwd)
        own_code = self._write_code(code)
        run = {
            "id": self.run_id,
            "experiment": experiment,
            "status": "running",
            "started_at": _isoformat(_now()),
            "ended_at": None,
            "duration_s": None,
            "command": masked(list(command)),
            "cwd": str(cwd),
            "seed": seed,
            "fingerprints": dict(fingerprints),
            "classes": dict(classes),
            **({"code": own_code} if own_code else {}),  # absent: no module of its own
            "sweep": None if sweep is None else dict(sweep),
            "trial": None if trial is None else dict(trial),
            "error": None,
            "artifacts": {},
        }
        with _LOCK:
            atomic.write_json(self.path / RUN_FILE, _with_extra(run, masked(dict(extra or {}))))
            note_change(self.path)  # the index looks at it again (runs/journal.py)

    def read_run(self) -> dict[str, Any]:
        """The current contents of run.json (with the changes `held()` keeps)."""
        with _LOCK:
            return copy.deepcopy(self._current())

    def _current(self) -> dict[str, Any]:
        """run.json's contents as they stand: the held changes themselves (no copy: this
        class's own use, under the lock), else read from the file."""
        if self._unwritten is not None:
            return self._unwritten
        with open(self.path / RUN_FILE, encoding="utf-8") as handle:
            return json.load(handle)

    def update(self, **fields: Any) -> None:
        """Set top-level fields of run.json (replacing, not merging, nested values)."""
        if "status" in fields and fields["status"] not in STATUSES:
            raise ValueError(f"unknown status {fields['status']!r}; expected one of {STATUSES}")
        with _LOCK:
            run = {**self._current(), **fields}
            if self._holding:
                self._unwritten = run
            else:
                self._write_run(run)

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """Keep the changes to run.json made inside the block (updates, artifact
        checksums, the final status) in memory, and write them once, when the outermost
        block ends, however it ends.

        Each rewrite of run.json renames a file over it, which makes ext4 (auto_da_alloc)
        write the new file's data out before the rename returns: tens of milliseconds a
        rewrite on a busy disk, about what a small estimator's whole fit takes. A process
        killed inside the block leaves run.json as last written (`write_held` writes it
        on the way, at a point worth keeping). If the last write fails while an exception
        is already leaving the block, the changes stay held and go out with the next
        update (the failed run's status).
        """
        with _LOCK:
            self._holding += 1
        try:
            yield
        except BaseException:
            self._release(quiet=True)
            raise
        self._release(quiet=False)

    def write_held(self) -> None:
        """Write the changes `held()` keeps now, and go on holding the later ones."""
        with _LOCK:
            if self._unwritten is not None:
                self._write_run(self._unwritten)

    def _release(self, *, quiet: bool) -> None:
        with _LOCK:
            self._holding -= 1
            if self._holding:
                return
            try:
                self.write_held()
            except OSError:
                if not quiet:
                    raise

    def _write_run(self, run: dict[str, Any]) -> None:
        atomic.write_json(self.path / RUN_FILE, run)
        note_change(self.path)
        self._unwritten = None

    def finish(
        self,
        status: str,
        *,
        error: str | None = None,
        metrics: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Close the run: write metrics.json if given, then the final status and times.

        `error` is a one-line reason ("CUDA out of memory", "KeyboardInterrupt"); put the
        traceback in log.txt with `log()`. Returns the final run.json contents.
        """
        if status not in FINAL_STATUSES:
            raise ValueError(f"a run finishes as one of {FINAL_STATUSES}, not {status!r}")
        if metrics is not None:
            self.write_metrics(metrics)
        ended = _now()
        with _LOCK:
            run = self._current()
            since = run.get("resumed_at") or run.get("started_at")
            before = run.get("duration_before_s") or 0.0
            duration = None if since is None else round(ended - _parse_time(since) + before, 3)
            self.update(
                status=status,
                error=None if error is None else mask_password(error),
                ended_at=_isoformat(ended),
                duration_s=duration,
            )
            return self.read_run()

    def restart(self, **fields: Any) -> None:
        """The run running again (a resume): its duration goes on from what its earlier
        attempts ran, without the time it lay stopped; `fields` are set as well."""
        with _LOCK:
            before = self._current().get("duration_s") or 0.0
            self.update(
                status="running",
                error=None,
                ended_at=None,
                resumed_at=_isoformat(_now()),
                duration_before_s=before,
                **fields,
            )

    def write_metrics(self, metrics: Mapping[str, Any]) -> None:
        """Write metrics.json, e.g. {"train": {"accuracy": 1.0}, "val": {...}}."""
        atomic.write_json(self.path / METRICS_FILE, dict(metrics))

    def append_history(self, row: Mapping[str, Any]) -> None:
        """Add one row (one epoch, say) to history.csv, keeping the rows already there."""
        with _LOCK:
            rows = self._history_rows()
            rows.append(dict(row))
            self._write_history_file(rows)

    def write_history(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Replace history.csv with `rows`."""
        with _LOCK:
            self._history = [dict(row) for row in rows]
            self._write_history_file(self._history)

    def log(self, line: str) -> None:
        """Append `line` to log.txt.

        The log is the one file appended to rather than replaced: it grows line by line
        for the whole run, rewriting it each time would cost time quadratic in its length,
        and an append can only ever lose the line being written, never earlier ones.
        """
        text = mask_password(line if line.endswith("\n") else line + "\n")
        with open(self.path / LOG_FILE, "a", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()

    def save_artifact(self, name: str, obj: Any) -> Path:
        """Pickle `obj` to artifacts/<name> and record its checksum.

        Plain pickle (protocol 5) rather than joblib: as fast for numpy arrays, and several
        times faster for the many small objects of a fitted forest or pipeline.
        """
        import pickle

        path = self._artifact_path(name)
        with atomic.open_atomic(path, "wb") as handle:
            pickle.dump(obj, handle, protocol=5)
        return self._record_artifact(name, path)

    def write_artifact_text(self, name: str, text: str) -> Path:
        """Write a text artifact (predictions.csv, a report) and record its checksum."""
        path = self._artifact_path(name)
        atomic.write_text(path, text)
        return self._record_artifact(name, path)

    def add_artifact_file(self, name: str) -> Path:
        """Record the checksum of artifacts/<name>, a file something else wrote there."""
        path = self._artifact_path(name)
        if not path.is_file():
            raise FileNotFoundError(f"no artifact file {path}")
        return self._record_artifact(name, path)

    def _artifact_path(self, name: str) -> Path:
        # Names may have subdirectories ("checkpoints/best.ckpt") but must stay inside
        # artifacts/; the run.json key is the name as given, with forward slashes.
        parts = PurePosixPath(name).parts
        if not parts or name.startswith("/") or any(p in ("", ".", "..") for p in parts):
            raise ValueError(f"artifact name {name!r} must be a relative path inside artifacts/")
        path = self.artifacts_dir.joinpath(*parts)
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def _record_artifact(self, name: str, path: Path) -> Path:
        # The sha256 says the file is whole; the hmac, made with this user's secret (kept
        # outside the runs folder), says this user's ednax wrote it: `ednax predict`
        # unpickles nothing without it (ednax.runs.trust, docs/security.md).
        sha256, signature = trust.artifact_digests(path)
        entry = {"sha256": sha256, "hmac": signature, "size": path.stat().st_size}
        with _LOCK:
            artifacts = self._current().get("artifacts") or {}
            self.update(artifacts={**artifacts, name: entry})
        return path

    def _write_env(self, packages: Iterable[str], cwd: str | os.PathLike[str]) -> None:
        """env.json, and code.patch when the git tree is dirty."""
        git = git_state(cwd)
        atomic.write_json(self.path / ENV_FILE, {**collect_env(packages), "git": git})
        if git and git["dirty"]:
            self._write_patch(cwd)

    def _write_code(self, sources: Iterable[Source]) -> dict[str, Any]:
        """code/<module path> for each own module; run.json's "code" entry."""
        entries, files = code_entries(sources)
        for path, data in files.items():
            target = self.path / CODE_DIR / PurePosixPath(path)
            target.parent.mkdir(parents=True, exist_ok=True)
            atomic.write_bytes(target, data)
        return entries

    def _write_patch(self, cwd: str | os.PathLike[str]) -> None:
        patch = git_patch(cwd)
        if patch:
            atomic.write_bytes(self.path / PATCH_FILE, patch.encode("utf-8", "surrogateescape"))

    def _history_rows(self) -> list[dict[str, Any]]:
        if self._history is None:
            self._history = _read_csv(self.path / HISTORY_FILE)
        return self._history

    def _write_history_file(self, rows: list[dict[str, Any]]) -> None:
        columns = list(dict.fromkeys(key for row in rows for key in row))
        with atomic.open_atomic(self.path / HISTORY_FILE, "w") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)


def _with_extra(run: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """run.json's standard fields and `extra` top-level ones, which may not replace them."""
    clashes = sorted(set(extra) & set(run))
    if clashes:
        raise ValueError(f"extra run.json fields would replace standard ones: {clashes}")
    return {**run, **extra}


def _read_csv(path: Path) -> list[dict[str, Any]]:
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            return list(csv.DictReader(handle))
    except FileNotFoundError:
        return []


def _now() -> float:
    return time.time()


def _isoformat(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, timezone.utc).isoformat(timespec="milliseconds")


def _parse_time(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()
