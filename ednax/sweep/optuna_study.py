"""The Optuna study as both sides of a sweep use it: the sweeper that asks for trials, and
the jobs that run them (possibly in other processes) and tell how they ended.

A job gets only the study's name, the storage URL and a trial number; it reaches the trial
through the storage (the documented `BaseStorage` lookups) as an ordinary
`optuna.trial.Trial`, so `report` and `should_prune` work with the study's pruner from any
process. What ednax knows of a trial (bundle, status, metrics, overrides, error) is kept
in the trial's user attributes, so sweep.json can always be rebuilt from the storage.
"""

from __future__ import annotations

import contextlib
import math
import os
import socket
from pathlib import Path
from typing import Any

from ednax.runs.provenance import process_alive

OWNER_ATTR = "ednax_owner"
RESULT_ATTR = "ednax"
INTERRUPTED_ATTR = "ednax_interrupted"
DEFAULT_DB = "optuna.db"
SQLITE_TIMEOUT_S = 60
SQLITE_SYNC = "OFF"

_STORAGES: dict[str, Any] = {}


def storage_url(configured: str | None, sweep_dir: Path) -> str:
    """The configured storage, else a SQLite file in the sweep folder."""
    return configured or f"sqlite:///{(Path(sweep_dir) / DEFAULT_DB).resolve()}"


def open_storage(url: str, *, existing: bool = False) -> Any:
    """An RDB storage, one per URL and process (a joblib worker runs many trials; the
    basic launcher runs them in the sweeper's process). `existing` skips creating and
    checking the tables: a job's storage, which the sweeper opened first."""
    import optuna

    quiet_optuna()
    if url in _STORAGES:
        return _STORAGES[url]
    skip = {"skip_table_creation": existing, "skip_compatibility_check": existing}
    if url.startswith("sqlite"):
        engine = {"creator": _sqlite_opener(url)}
        storage = optuna.storages.RDBStorage(url, engine_kwargs=engine, **skip)
    else:
        storage = optuna.storages.RDBStorage(url, **skip)
    _STORAGES[url] = storage
    return storage


def _sqlite_opener(url: str):
    """Connections to a SQLite storage that wait for the lock (parallel jobs write to one
    file) and do not sync to disk on every commit: a commit survives a killed process, as
    bundle files do, and a study of hundreds of trials is not slowed by fsync."""
    import sqlite3

    from sqlalchemy.engine import make_url

    database = make_url(url).database or ":memory:"

    def connect() -> sqlite3.Connection:
        connection = sqlite3.connect(database, timeout=SQLITE_TIMEOUT_S, check_same_thread=False)
        connection.execute(f"PRAGMA synchronous={SQLITE_SYNC}")
        return connection

    return connect


def quiet_optuna() -> None:
    """ednax prints one line per trial; Optuna's own INFO lines would repeat them."""
    import warnings

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


def job_storage_url(sweep_dir: Path) -> str:
    """The storage of the running sweep, as a job sees it: from the composed Hydra config
    (so a URL given through an interpolation such as ${oc.env:...} is never written to
    disk), else the default SQLite file."""
    configured = None
    with contextlib.suppress(Exception):
        from hydra.core.hydra_config import HydraConfig

        if HydraConfig.initialized():
            configured = HydraConfig.get().sweeper.get("storage")
    return storage_url(configured, sweep_dir)


def load_for_job(settings: dict[str, Any], sweep_dir: Path) -> tuple[Any, Any]:
    """The study (with its pruner) and its storage, as a job in any process opens them."""
    import optuna

    from ednax.sweep.settings import build_pruner

    storage = open_storage(job_storage_url(sweep_dir), existing=True)
    pruner = build_pruner(settings["pruner"], plain_problem)
    study = optuna.load_study(study_name=settings["study_name"], storage=storage, pruner=pruner)
    return study, storage


def trial_by_number(study: Any, storage: Any, number: int) -> Any:
    """Trial `number` of `study`, live: what it reports goes to the storage."""
    import optuna

    study_id = storage.get_study_id_from_name(study.study_name)
    trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, number)
    return optuna.trial.Trial(study, trial_id)


def objective_values(metrics: dict[str, dict[str, float]], objectives: list[str]) -> list:
    values = []
    for name in objectives:
        split, _, metric = name.partition("/")
        values.append(metrics.get(split, {}).get(metric))
    return values


def finish_trial(study: Any, trial: Any, outcome: Any, objectives: list[str]) -> Any:
    """Tell the study how the job ended: COMPLETE with the objective values, PRUNED, or
    FAIL (the run failed, or an objective is missing or not a finite number)."""
    from optuna.trial import TrialState

    values = None
    state = TrialState.FAIL
    if outcome.status == "pruned":
        state = TrialState.PRUNED
    elif outcome.status == "completed":
        values = objective_values(outcome.metrics, objectives)
        bad = [n for n, v in zip(objectives, values, strict=True) if not _finite(v)]
        if bad:
            outcome.error = f"objective {bad[0]} is {_text(values[objectives.index(bad[0])])}"
            values = None
        else:
            state = TrialState.COMPLETE
    trial.set_user_attr(RESULT_ATTR, result_attr(outcome))
    study.tell(trial, values=values if state == TrialState.COMPLETE else None, state=state)
    outcome.state = state.name
    return outcome


def finish_interrupted(study: Any, trial: Any, overrides: list[str]) -> None:
    """A trial cut short by Ctrl-C or SIGTERM: FAIL, marked so that it does not count
    towards n_trials (a resumed sweep runs another in its place)."""
    from optuna.trial import TrialState

    with contextlib.suppress(Exception):
        trial.set_user_attr(INTERRUPTED_ATTR, True)
        trial.set_user_attr(
            RESULT_ATTR,
            {
                "status": "interrupted",
                "error": "interrupted (Ctrl-C or SIGTERM)",
                "overrides": overrides,
            },
        )
        study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)


def result_attr(outcome: Any) -> dict[str, Any]:
    from ednax.sweep.record import clean_json

    return clean_json(
        {
            "status": outcome.status,
            "run_id": outcome.run_id,
            "bundle": outcome.bundle,
            "metrics": outcome.metrics,
            "error": outcome.error,
            "overrides": outcome.overrides,
        }
    )


# --- the sweeper's side --------------------------------------------------------------


def owner() -> dict[str, Any]:
    return {"host": socket.gethostname(), "pid": os.getpid()}


def settle_orphans(
    study: Any, storage: Any, sweep_dir: Path, objectives: list[str]
) -> tuple[list[int], list[int]]:
    """Trials left RUNNING by a sweep process of this host that is gone (killed). A trial
    whose bundle had already completed or been pruned (the process died before telling the
    study) is told so from its bundle; the others FAIL, marked interrupted. Trials of live
    processes (another sweep of the same study) stay. Returns (recovered, interrupted)."""
    from optuna.trial import TrialState

    recovered, interrupted = [], []
    orphans = [
        t
        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        if _orphaned(t.user_attrs.get(OWNER_ATTR) or {})
    ]
    bundles = _bundles_by_trial(sweep_dir, study.study_name) if orphans else {}
    for frozen in orphans:
        trial = trial_by_number(study, storage, frozen.number)
        outcome = bundles.get(frozen.number)
        if outcome is not None and outcome.status in ("completed", "pruned"):
            finish_trial(study, trial, outcome, objectives)
            recovered.append(frozen.number)
            continue
        trial.set_user_attr(INTERRUPTED_ATTR, True)
        study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
        interrupted.append(frozen.number)
    return recovered, interrupted


def _orphaned(who: dict[str, Any]) -> bool:
    return who.get("host") == socket.gethostname() and not process_alive(who.get("pid"))


def _bundles_by_trial(sweep_dir: Path, study_name: str) -> dict[int, Any]:
    """The outcome of each trial's bundle in the sweep folder, by trial number."""
    import json

    from ednax.sweep.jobs import Outcome

    found = {}
    for run_file in Path(sweep_dir).glob("*/run.json"):
        try:
            run = json.loads(run_file.read_text(encoding="utf-8"))
            metrics_file = run_file.parent / "metrics.json"
            metrics = json.loads(metrics_file.read_text()) if metrics_file.is_file() else {}
        except (OSError, ValueError):
            continue
        trial = run.get("trial") or {}
        if trial.get("study") != study_name or not isinstance(trial.get("number"), int):
            continue
        found[trial["number"]] = Outcome(
            status=run.get("status"),
            overrides=list(run.get("command") or [])[3:],
            run_id=run.get("id"),
            bundle=str(run_file.parent),
            metrics=metrics,
            error=run.get("error"),
        )
    return found


def counted(study: Any) -> int:
    """Trials that count towards n_trials: all but those cut short by a stopped sweep."""
    return sum(1 for t in study.get_trials(deepcopy=False) if not is_interrupted(t))


def is_interrupted(trial: Any) -> bool:
    return bool(trial.user_attrs.get(INTERRUPTED_ATTR))


def trial_entry(trial: Any, multi: bool) -> dict[str, Any]:
    """A trial as sweep.json lists it."""
    result = trial.user_attrs.get(RESULT_ATTR) or {}
    values = list(trial.values) if trial.values is not None else None
    status = result.get("status") or _status_of(trial.state.name)
    if is_interrupted(trial):
        status = "interrupted"
    entry = {
        "trial": trial.number,
        "state": trial.state.name,
        "status": status,
        "params": dict(trial.params),
        "value": None if multi or not values else values[0],
        "values": values,
        "overrides": result.get("overrides"),
        "run_id": result.get("run_id"),
        "bundle": result.get("bundle"),
        "metrics": result.get("metrics") or {},
        "error": result.get("error"),
        "epochs_reported": len(trial.intermediate_values),
    }
    if trial.state.name == "FAIL" and status == "completed":
        entry["status"] = "failed"  # the run finished, but its objective was not a number
    return entry


def _status_of(state: str) -> str:
    return {"COMPLETE": "completed", "PRUNED": "pruned", "FAIL": "failed"}.get(state, state.lower())


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def _text(value: Any) -> str:
    return "missing" if value is None else str(value)


def plain_problem(path: str, message: str, hint: str | None):
    """A problem at a key path, for settings already checked once (by the CLI)."""
    from ednax.errors import Problem

    return Problem(message, path=path, hint=hint)
