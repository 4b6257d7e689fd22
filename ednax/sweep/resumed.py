"""A sweep's bundle resumed on its own (`ednax resume`): its sweep told how it ended, so
that sweep.json and the bundle's run.json say the same (the rule is `bundles`').

- A grid job takes the bundle's new outcome (status, monitored value, metrics, error,
  `resumed: true`); a grid whose own process is gone is settled as interrupted first
  (`record.settle_killed_sweep`), and its counts and best job are worked out again.
- An Optuna trial the study still has RUNNING (its sweep died before settling it) is told
  to the study, which learns from it as from any trial. A trial the study had finished (a
  resumed search settled it as interrupted and ran another in its place) cannot be
  reopened: the outcome is kept beside it (`optuna_study.record_resumed`), and sweep.json's
  entry, rebuilt from the study, shows it while `state` stays the study's. Either way
  sweep.json's jobs are rebuilt from the study at once.

A study in a storage whose URL sweep.json keeps masked (it had a password) cannot be
reached from here; the sweep is left as it was and the caller is told.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ednax.engine.signals import signals_held
from ednax.runs.bundle import Bundle
from ednax.sweep import bundles
from ednax.sweep import optuna_study as studies
from ednax.sweep.record import (
    SweepRecord,
    best_job,
    count_statuses,
    monitored_value,
    settle_killed_sweep,
)
from ednax.sweep.storage import MASK, open_storage, storage_url


def tell_sweep(bundle: Path) -> str | None:
    """Tell the sweep of `bundle` (if it is a sweep's) how the bundle's run ended; a note
    for the user when the sweep could not be told. It never raises: the resumed run's
    outcome is the command's, whatever becomes of the sweep's record."""
    try:
        with signals_held():  # a second Ctrl-C must not cut the record short
            return _tell(Path(bundle))
    except Exception as exc:
        return f"sweep.json not updated: {type(exc).__name__}: {exc}"


def _tell(bundle: Path) -> str | None:
    run = Bundle(bundle).read_run()
    outcome = bundles.outcome_of(bundle, run)
    sweep, trial = run.get("sweep") or {}, run.get("trial") or {}
    record = SweepRecord(bundle.parent)  # a sweep's bundles are in its folder
    if outcome.status == "running" or not sweep or not record.exists():
        return None
    if sweep.get("kind") == "grid" and isinstance(sweep.get("job"), int):
        record.update(lambda data: _tell_grid(data, record.dir, sweep["job"], outcome))
        return None
    if sweep.get("kind") == "optuna" and isinstance(trial.get("number"), int):
        return _tell_search(record, trial["number"], outcome)
    return None


def _tell_grid(data: dict[str, Any], sweep_dir: Path, index: int, outcome: Any) -> None:
    job = data["jobs"][index]
    job.update(outcome.fields(), resumed=True)
    job["value"] = monitored_value(outcome.metrics, data.get("monitor"))
    settle_killed_sweep(data, sweep_dir)
    data["counts"] = count_statuses(data["jobs"])
    if data.get("status") != "running":
        best = best_job(data["jobs"], data["mode"])
        data["best"] = [best] if best else []


def _tell_search(record: SweepRecord, number: int, outcome: Any) -> str | None:
    import optuna

    settings = record.read()["optuna"]
    configured = settings.get("storage")
    if configured and MASK in configured:
        return f"sweep.json not updated: its study's storage ({configured}) needs a password"
    storage = open_storage(storage_url(configured, record.dir), existing=True)
    study = optuna.load_study(study_name=settings["study_name"], storage=storage)
    objectives = settings["objectives"]
    [trial] = [t for t in study.get_trials(deepcopy=False) if t.number == number]
    if trial.state.is_finished():
        studies.record_resumed(study, number, outcome, objectives)
    elif studies.orphaned(trial.user_attrs.get(studies.OWNER_ATTR) or {}):
        studies.tell_ended(study, storage, number, outcome, objectives)
    multi = len(objectives) > 1
    record.update(lambda data: _rebuild_jobs(data, study, multi))
    return None


def _rebuild_jobs(data: dict[str, Any], study: Any, multi: bool) -> None:
    jobs = studies.job_entries(study, multi)
    data.update(jobs=jobs, counts=count_statuses(jobs))
