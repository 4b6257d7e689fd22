"""sweep.json: a sweep's plan and record, in the sweep folder beside its bundles.

    runs/<experiment>/sweep-<id>/sweep.json
      id, kind (grid | optuna), experiment, status (running, completed, interrupted,
      failed: the launcher failed, `error` says how),
      started_at, ended_at, command, config_file, overrides, hydra_overrides, launcher,
      monitor, mode, job_output (submitit), jobs: [{index or trial, overrides, status,
      run_id, bundle, value, metrics, error, pid, host, launcher_job, ...}], counts, best;
      optuna: settings, search space, plots, notes

Jobs run in other processes (joblib, submitit) or on other machines (SLURM, with the sweep
folder on a shared filesystem), so every change is a read-modify-write under an exclusive
lock on a file beside it, and every write goes through `ednax.runs.atomic`: a reader never
sees half a file, and two jobs finishing together do not lose each other's update.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import socket
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ednax.errors import masked
from ednax.runs import atomic
from ednax.runs.bundle import new_run_id
from ednax.runs.provenance import process_alive
from ednax.sweep import bundles
from ednax.vocabulary import Monitor

SWEEP_FILE = "sweep.json"
LOCK_FILE = ".sweep.lock"
PREFIX = "sweep-"
SWEEP_KILLED = "the sweep's process ended before the sweep did (killed? a lost machine?)"


def new_sweep_dir(runs_dir: Path, experiment: str) -> Path:
    """A new, empty `runs_dir/experiment/sweep-<id>` (created exclusively)."""
    home = Path(runs_dir) / experiment
    home.mkdir(parents=True, exist_ok=True)
    while True:
        path = home / f"{PREFIX}{new_run_id()}"
        try:
            path.mkdir()
        except FileExistsError:
            continue
        return path


def named_sweep_dir(runs_dir: Path, experiment: str, name: str) -> Path:
    """`runs_dir/experiment/sweep-<name>`: the same folder every time a study is run."""
    path = Path(runs_dir) / experiment / f"{PREFIX}{name}"
    path.mkdir(parents=True, exist_ok=True)
    return path


class SweepRecord:
    """The sweep.json of one sweep folder."""

    def __init__(self, directory: str | os.PathLike[str]):
        self.dir = Path(directory)
        self.path = self.dir / SWEEP_FILE

    def exists(self) -> bool:
        return self.path.is_file()

    def read(self) -> dict[str, Any]:
        with open(self.path, encoding="utf-8") as handle:
            return json.load(handle)

    def write(self, data: dict[str, Any]) -> None:
        with self.locked():
            atomic.write_json(self.path, masked(clean_json(data)))

    def update(self, change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        """Apply `change` to the current contents, under the lock; returns the result."""
        with self.locked():
            data = self.read()
            change(data)
            atomic.write_json(self.path, masked(clean_json(data)))
        return data

    def update_job(self, index: int, **fields: Any) -> dict[str, Any]:
        def change(data: dict[str, Any]) -> None:
            data["jobs"][index].update(fields)
            data["counts"] = count_statuses(data["jobs"])

        return self.update(change)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        try:
            import fcntl
        except ImportError:  # not POSIX: one writer at a time is the launcher's business
            yield
            return
        with open(self.dir / LOCK_FILE, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def count_statuses(jobs: list[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for job in jobs:
        counts[job.get("status", "pending")] = counts.get(job.get("status", "pending"), 0) + 1
    return counts


def settle_unfinished(
    jobs: list[dict[str, Any]],
    launcher_error: str | None,
    sweep_dir: Path | None = None,
    monitor: str | None = None,
) -> None:
    """Grid jobs still pending or running when the launcher is done never recorded how they
    ended (their process was killed: out of memory, a time limit, a cancelled cluster job;
    or they never ran): they failed, and `error` says why as far as the launcher knows. A
    job whose process is still alive on this machine is left running: it records its end
    itself (so does a cluster job that runs after all). With the sweep folder, each job's
    bundle is settled with it (`bundles`): one that had ended gives the job its outcome;
    one left running is closed as failed, for the same reason."""
    lost = [job for job in jobs if _unfinished(job) and not _still_running(job)]
    found = bundles.grid_bundles(sweep_dir) if lost and sweep_dir is not None else {}
    for job in lost:
        reason = _lost_reason(job, launcher_error)
        settle_job(job, found.get(job.get("index")), "failed", reason, monitor)


def settle_job(
    job: dict[str, Any], bundle: Path | None, status: str, reason: str, monitor: str | None
) -> None:
    """A job whose process is gone, and its bundle (if it made one), given one outcome."""
    if bundle is None:
        job.update(status=status, error=reason)
        return
    outcome = bundles.settle(bundle, status, reason)
    if outcome is not None:  # else a live process holds the bundle: it records its end
        job.update(outcome.fields(), value=monitored_value(outcome.metrics, monitor))


def settle_killed_sweep(data: dict[str, Any], sweep_dir: Path) -> None:
    """A grid whose own process is gone (SIGKILL, a lost machine) while sweep.json said
    running: the sweep is interrupted, and so is each job it was running in a process
    now gone, bundle and entry alike. Jobs that never started stay pending."""
    if data.get("status") != "running" or not _gone(data):
        return
    running = [job for job in data["jobs"] if job.get("status") == "running"]
    found = bundles.grid_bundles(sweep_dir) if running else {}
    for job in running:
        if not _still_running(job):
            bundle = found.get(job.get("index"))
            settle_job(job, bundle, "interrupted", SWEEP_KILLED, data.get("monitor"))
    data.update(status="interrupted", ended_at=now(), error=SWEEP_KILLED)
    data["counts"] = count_statuses(data["jobs"])


def monitored_value(metrics: dict[str, dict[str, float]], monitor: str | None) -> Any:
    """The value of a monitor (`split/metric`) among a run's metrics, if it is there."""
    if not monitor:
        return None
    logged = Monitor.parse(monitor)
    return metrics.get(logged.split, {}).get(logged.metric)


def _unfinished(job: dict[str, Any]) -> bool:
    return job.get("status", "pending") in ("pending", "running")


def _lost_reason(job: dict[str, Any], launcher_error: str | None) -> str:
    said = f"the launcher failed: {launcher_error}" if launcher_error else None
    if job.get("status", "pending") == "pending":
        reason = f"never started ({said or 'the launcher did not run it'})"
    else:
        reason = "its process ended before the job recorded how it ended (killed?"
        reason += " out of memory? a time limit?)" + (f"; {said}" if said else "")
    output = (job.get("launcher_job") or {}).get("stderr")
    if output:
        reason += f"; see {output}"
    return reason


def _still_running(job: dict[str, Any]) -> bool:
    return (
        job.get("status") == "running"
        and job.get("host") == socket.gethostname()
        and process_alive(job.get("pid"))
    )


def _gone(entry: dict[str, Any]) -> bool:
    """Whether the process an entry names is known dead: one of this host that is gone."""
    return entry.get("host") == socket.gethostname() and not process_alive(entry.get("pid"))


def launcher_message(reason: str) -> str:
    """A launcher's error without the tail of a job's log it quotes (submitit puts it after
    a line of dashes; sweep.json gives the log's path)."""
    return one_line(re.split(r"\n-{5,}", reason)[0], limit=300)


def one_line(text: str, limit: int = 500) -> str:
    """A message (a rendered error, a launcher's multi-line report) on one line."""
    lines = [line.strip() for line in str(text).strip().splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith("(bundle:")]
    return " ".join(lines)[:limit]


def best_job(jobs: list[dict[str, Any]], mode: str) -> dict[str, Any] | None:
    """The completed job with the best monitored value."""
    scored = [j for j in jobs if j.get("status") == "completed" and _finite(j.get("value"))]
    if not scored:
        return None
    pick = max if mode == "max" else min
    return pick(scored, key=lambda j: j["value"])


def clean_json(value: Any) -> Any:
    """NaN and infinities become null: JSON has no such numbers."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: clean_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean_json(v) for v in value]
    return value


def now() -> str:
    return datetime.fromtimestamp(time.time(), timezone.utc).isoformat(timespec="milliseconds")


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)
