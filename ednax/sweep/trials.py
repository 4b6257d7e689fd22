"""One Optuna trial run as a sweep job: its parameters read from the trial, its epochs
reported to it (pruning), and the study told how it ended.

A trial is run either as a job of its own (`run_trial`: a launcher that starts one job
per trial, such as submitit's, gives the job a trial number and the job reaches the trial
through the storage) or by a search worker that asked for it (`run_asked`,
`optuna_worker`). Either way its bundle is the one a single run of the same overrides
makes.
"""

from __future__ import annotations

from typing import Any

from ednax.engine.signals import signals_held
from ednax.sweep import optuna_study, secrets
from ednax.sweep.job_run import JobRun, describe, launcher_job, say
from ednax.sweep.lifeline import follow_sweep
from ednax.sweep.outcome import INTERRUPTED, Outcome
from ednax.sweep.record import SweepRecord
from ednax.sweep.search_space import Param


def run_trial(record: SweepRecord, number: int) -> dict[str, Any]:
    """The job of trial `number`, which the sweeper asked for."""
    plan = record.read()
    study, storage = optuna_study.load_for_job(plan["optuna"], record.dir)
    trial = optuna_study.trial_by_number(study, storage, number)
    where = launcher_job()
    if where:  # where to look if the job dies before telling the study
        trial.set_user_attr(optuna_study.LAUNCHER_JOB_ATTR, where)
    else:
        follow_sweep((trial.user_attrs.get(optuna_study.OWNER_ATTR) or {}).get("pid"))
    return run_asked(record, plan, study, trial).fields()


def run_asked(record: SweepRecord, plan: dict[str, Any], study: Any, trial: Any) -> Outcome:
    """Run `trial` of `study` into a bundle of the sweep and tell the study how it ended."""
    settings = plan["optuna"]
    space = [Param.from_json(p) for p in settings["search_space"]]
    overrides = secrets.unmasked(plan["overrides"]) + [
        p.override(trial.params[p.key]) for p in space if p.key in trial.params
    ]
    sweep = {"id": plan["id"], "kind": "optuna", "dir": str(record.dir)}
    trial_info = {"number": trial.number, "study": study.study_name, "params": dict(trial.params)}
    job_run = JobRun(
        plan, record, overrides, sweep, trial_info, lambda cfg: _callbacks(cfg, trial, settings)
    )
    try:
        outcome = job_run.run()
    except KeyboardInterrupt:
        with signals_held():
            optuna_study.finish_interrupted(study, trial, job_run.stopped(INTERRUPTED))
        raise
    objectives = settings["objectives"]
    outcome = optuna_study.finish_trial(study, trial, outcome, objectives)
    status = "failed" if outcome.state == "FAIL" else outcome.status
    values = optuna_study.objective_values(outcome.metrics, objectives)
    scores = list(zip(objectives, values, strict=True))
    say(f"trial {trial.number} {describe(outcome, scores, status)}")
    return outcome


def _callbacks(resolved: Any, trial: Any, settings: dict[str, Any]) -> list:
    """The pruning callback of a torch trial of a single-objective study (Optuna prunes
    only those); estimators have no epochs to report."""
    objectives = settings["objectives"]
    if resolved.family != "torch" or len(objectives) != 1:
        return []
    if objectives[0].split("/", 1)[0] not in ("train", "val"):
        return []  # test/ metrics are computed once, after training
    from ednax.sweep.pruning import TrialPruning

    return [TrialPruning(trial, objectives[0], prune=settings["pruner"]["type"] != "none")]
