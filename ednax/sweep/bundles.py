"""A sweep's bundles as its record sees them: one status for a job, in both places.

A job's bundle (run.json) is the record of its run; sweep.json's entry for the job (and,
for an Optuna trial, the trial's `ednax` attribute in the study, from which sweep.json is
rebuilt) says the same status and reason and names the bundle. A job records its own end
in both. When it cannot (its process was killed), whoever settles the job afterwards
settles both, the bundle first:

- a bundle that had ended is read back, and the job takes its status;
- a bundle still `running` whose process is gone (this host, its pid dead, its lock free)
  is closed with the job's status and reason; `ednax resume` continues it as any
  interrupted or failed run;
- a bundle held by a live process (a worker of the dead sweep that has not yet ended, an
  `ednax resume` of it) is left to that process, which tells the sweep when it ends.

The settling happens where a sweep notices the dead job (`record.settle_unfinished` for a
grid's lost jobs, `optuna_study.settle_orphans` when a search resumes) and when a
sweep's bundle is resumed (`resumed.tell_sweep`).
"""

from __future__ import annotations

import contextlib
import json
import socket
from pathlib import Path
from typing import Any

from ednax.runs.bundle import Bundle
from ednax.runs.lock import BundleBusy, bundle_lock
from ednax.runs.provenance import process_alive
from ednax.sweep.outcome import Outcome

RUN_FILE = "run.json"
METRICS_FILE = "metrics.json"


def sweep_runs(sweep_dir: Path) -> dict[Path, dict[str, Any]]:
    """Each readable run.json of the bundles in a sweep folder, by bundle folder."""
    found = {}
    for run_file in Path(sweep_dir).glob(f"*/{RUN_FILE}"):
        with contextlib.suppress(OSError, ValueError):
            found[run_file.parent] = Bundle(run_file.parent).read_run()
    return found


def grid_bundles(sweep_dir: Path) -> dict[int, Path]:
    """The bundle of each grid job that has one, by job index."""
    found = {}
    for path, run in sweep_runs(sweep_dir).items():
        index = (run.get("sweep") or {}).get("job")
        if isinstance(index, int):
            found[index] = path
    return found


def trial_bundles(sweep_dir: Path, study_name: str) -> dict[int, Path]:
    """The bundle of each trial of `study_name` that has one, by trial number."""
    found = {}
    for path, run in sweep_runs(sweep_dir).items():
        trial = run.get("trial") or {}
        if trial.get("study") == study_name and isinstance(trial.get("number"), int):
            found[trial["number"]] = path
    return found


def outcome_of(path: Path, run: dict[str, Any] | None = None) -> Outcome:
    """A bundle's run (its run.json, read unless given) as a job's outcome."""
    run = run if run is not None else Bundle(path).read_run()
    metrics_file = path / METRICS_FILE
    return Outcome(
        status=run.get("status"),
        overrides=list(run.get("command") or [])[3:],  # ["ednax", "run", CONFIG, *overrides]
        run_id=run.get("id"),
        bundle=str(path),
        metrics=_read(metrics_file) if metrics_file.is_file() else {},
        error=run.get("error"),
    )


def settle(path: Path, status: str, reason: str) -> Outcome | None:
    """The outcome of a job whose process died, from its bundle: as the bundle ended, or
    `status` and `reason` once a bundle its dead process left running is closed with
    them. None while a live process holds the bundle (it tells the sweep itself)."""
    try:
        with bundle_lock(path):
            bundle = Bundle(path)
            run = bundle.read_run()
            if run.get("status") == "running":
                if _alive(run):
                    return None
                run = bundle.finish(status, error=reason)
            return outcome_of(path, run)
    except BundleBusy:
        return None


def _read(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def _alive(run: dict[str, Any]) -> bool:
    """Whether the process that runs a bundle may still be running it: on another host
    it cannot be seen from here, so it may."""
    return run.get("host") != socket.gethostname() or process_alive(run.get("pid"))
