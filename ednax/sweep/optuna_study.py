"""The Optuna study as both sides of a sweep use it: the sweeper that asks for trials, and
the jobs that run them (possibly in other processes) and tell how they ended.

A job gets only the study's name, the storage URL and a trial number; it reaches the trial
through the storage (the documented `BaseStorage` lookups) as an ordinary
`optuna.trial.Trial`, so `report` and `should_prune` work with the study's pruner from any
process. What ednax knows of a trial (bundle, status, metrics, overrides, error) is kept
in the trial's user attributes, so sweep.json can always be rebuilt from the storage. (Opening
the storage itself is `storage`'s.)

Several sweeps (workers) may share one study: every trial records its owner (the host and
pid of the sweep that asked for it), a worker settles only trials whose owner is a dead
process of its own host, and the trial budget is decided per trial by its number
(`over_budget`), which the storage hands out one at a time.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import socket
from pathlib import Path
from typing import Any

from ednax.runs.provenance import process_alive
from ednax.sweep.outcome import Outcome
from ednax.sweep.record import clean_json
from ednax.sweep.settings import build_pruner, plain_problem
from ednax.sweep.storage import job_storage_url, open_storage

OWNER_ATTR = "ednax_owner"
RESULT_ATTR = "ednax"
INTERRUPTED_ATTR = "ednax_interrupted"
SKIPPED_ATTR = "ednax_skipped"
LAUNCHER_JOB_ATTR = "ednax_launcher_job"  # set by a job run by submitit (jobs.py)


def load_for_job(settings: dict[str, Any], sweep_dir: Path) -> tuple[Any, Any]:
    """The study (with its pruner) and its storage, as a job in any process opens them."""
    import optuna

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


def finish_trial(study: Any, trial: Any, outcome: Outcome, objectives: list[str]) -> Outcome:
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


def result_attr(outcome: Outcome) -> dict[str, Any]:
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
    """This process as a trial's owner: its pid and where that pid means something (the
    host name; on Linux the boot and the pid namespace too, which tell apart containers
    that share the host's name, and machines that share a name)."""
    return {"host": socket.gethostname(), "pid": os.getpid(), **_pid_scope()}


@functools.cache
def _pid_scope() -> dict[str, str]:
    scope = {}
    with contextlib.suppress(OSError):
        scope["boot"] = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    with contextlib.suppress(OSError):
        scope["pid_ns"] = os.readlink("/proc/self/ns/pid")
    return scope


def settle_orphans(
    study: Any, storage: Any, sweep_dir: Path, objectives: list[str]
) -> tuple[list[int], list[int]]:
    """Trials left RUNNING by a sweep process of this host that is gone (killed). A trial
    whose bundle had already completed or been pruned (the process died before telling the
    study) is told so from its bundle; the others FAIL, marked interrupted. Trials of live
    processes (other sweeps of the same study), of other hosts (whose processes cannot be
    seen from here) and not yet claimed by an owner stay. A trial another sweep settles at
    the same moment is left to it. Returns (recovered, interrupted)."""
    from optuna.trial import TrialState

    recovered, interrupted = [], []
    orphans = [
        t
        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        if orphaned(t.user_attrs.get(OWNER_ATTR) or {})
    ]
    bundles = _bundles_by_trial(sweep_dir, study.study_name) if orphans else {}
    for frozen in orphans:
        outcome = bundles.get(frozen.number)
        ended = outcome is not None and outcome.status in ("completed", "pruned")
        if _settle(study, storage, frozen.number, outcome if ended else None, objectives):
            (recovered if ended else interrupted).append(frozen.number)
    return recovered, interrupted


def _settle(
    study: Any, storage: Any, number: int, outcome: Outcome | None, objectives: list[str]
) -> bool:
    """Tell the study how orphan `number` ended: as its bundle's `outcome` says, else
    interrupted. False when another sweep settled it a moment before."""
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    trial = trial_by_number(study, storage, number)
    try:
        if outcome is not None:
            finish_trial(study, trial, outcome, objectives)
        else:
            trial.set_user_attr(INTERRUPTED_ATTR, True)
            study.tell(trial, state=TrialState.FAIL)
    except (UpdateFinishedTrialError, ValueError):
        finished = {t.number for t in study.get_trials(deepcopy=False) if t.state.is_finished()}
        if number in finished:
            return False
        raise
    return True


def orphaned(who: dict[str, Any]) -> bool:
    """Whether a trial's owner is a process of this host (and boot and pid namespace,
    when both sides recorded them) that no longer exists. An owner this process cannot
    see is never taken for dead."""
    me = owner()
    if who.get("host") != me["host"]:
        return False
    if any(who.get(k) is not None and who.get(k) != me.get(k) for k in ("boot", "pid_ns")):
        return False
    return not process_alive(who.get("pid"))


def _bundles_by_trial(sweep_dir: Path, study_name: str) -> dict[int, Outcome]:
    """The outcome of each trial's bundle in the sweep folder, by trial number."""
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
    """Trials that count towards n_trials: all but those cut short by a stopped sweep and
    those asked beyond the budget (see `over_budget`)."""
    return sum(1 for t in study.get_trials(deepcopy=False) if counts(t))


def counts(trial: Any) -> bool:
    return not is_interrupted(trial) and not is_skipped(trial)


def over_budget(study: Any, numbers: list[int], n_trials: int) -> list[int]:
    """The just-asked trials among `numbers` that lie beyond the budget: n_trials trials
    that count come before them. The storage numbers a study's trials one at a time, so
    every trial with a smaller number exists already and all workers see the same order:
    of two workers that both counted n_trials - 1 and asked, the lower number runs. A
    trial still running counts; should it end interrupted, the study is left short,
    never over (a resumed sweep fills the gap)."""
    trials = [t for t in study.get_trials(deepcopy=False) if counts(t)]
    return [n for n in numbers if sum(1 for t in trials if t.number < n) >= n_trials]


def finish_skipped(study: Any, trial: Any, n_trials: int) -> None:
    """A trial asked beyond the budget (another sweep on the study asked for the last
    ones at the same moment): never run, no bundle; FAIL in the study, marked skipped so
    that it does not count and sweep.json says why."""
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    reason = (
        f"not run: the study already held its n_trials={n_trials} trials when this one "
        "was asked (another sweep on the study asked at the same moment)"
    )
    with contextlib.suppress(UpdateFinishedTrialError):
        trial.set_user_attr(SKIPPED_ATTR, True)
        trial.set_user_attr(RESULT_ATTR, {"status": "skipped", "error": reason})
        study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)


def is_interrupted(trial: Any) -> bool:
    return _failed_with(trial, INTERRUPTED_ATTR)


def is_skipped(trial: Any) -> bool:
    return _failed_with(trial, SKIPPED_ATTR)


def _failed_with(trial: Any, mark: str) -> bool:
    """A FAIL trial with `mark`. The mark is written just before the state, so a trial
    another process finished in between (two sweeps settling one orphan) keeps its own
    state and counts as what it is."""
    return trial.state.name == "FAIL" and bool(trial.user_attrs.get(mark))


def owned_by_others(study: Any) -> list[int]:
    """Numbers of the RUNNING trials another sweep process owns (live, or elsewhere)."""
    from optuna.trial import TrialState

    me = owner()
    return [
        t.number
        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        if (who := t.user_attrs.get(OWNER_ATTR)) and who != me and not orphaned(who)
    ]


def trial_entry(trial: Any, multi: bool) -> dict[str, Any]:
    """A trial as sweep.json lists it."""
    result = trial.user_attrs.get(RESULT_ATTR) or {}
    values = list(trial.values) if trial.values is not None else None
    status = result.get("status") or _status_of(trial.state.name)
    if is_interrupted(trial):
        status = "interrupted"
    if is_skipped(trial):
        status = "skipped"
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
        "launcher_job": trial.user_attrs.get(LAUNCHER_JOB_ATTR),
        "owner": trial.user_attrs.get(OWNER_ATTR),
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
