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
import math
import os
import socket
from pathlib import Path
from typing import Any

from ednax.runs.provenance import process_alive
from ednax.sweep import bundles
from ednax.sweep import storage as storage_module
from ednax.sweep.outcome import Outcome
from ednax.sweep.record import SweepRecord, clean_json, count_statuses, monitored_value
from ednax.sweep.search_space import Param
from ednax.sweep.seeding import seeded_sampler
from ednax.sweep.settings import build_pruner, plain_problem
from ednax.sweep.storage import job_storage_url, open_storage

OWNER_ATTR = storage_module.OWNER_ATTR
RESULT_ATTR = "ednax"
INTERRUPTED_ATTR = "ednax_interrupted"
SKIPPED_ATTR = "ednax_skipped"
LAUNCHER_JOB_ATTR = "ednax_launcher_job"  # set by a job run by submitit (jobs.py)
RESUMED_ATTR = "ednax_resumed:"  # + a trial number: a study attribute (record_resumed)
CUT_SHORT = "interrupted: the sweep's process ended while the trial ran (killed?)"


def load_for_job(settings: dict[str, Any], sweep_dir: Path) -> tuple[Any, Any]:
    """The study (with its pruner) and its storage, as a job in any process opens them."""
    import optuna

    storage = open_storage(job_storage_url(sweep_dir), existing=True)
    pruner = build_pruner(settings["pruner"], plain_problem)
    study = optuna.load_study(study_name=settings["study_name"], storage=storage, pruner=pruner)
    return study, storage


def asking_study(settings: dict[str, Any], storage: Any, space: list[Param], seed: Any) -> Any:
    """The study with the search's sampler (seeded per trial, `seeding`) and pruner: as
    the sweeper or a search worker asks it for trials. `seed` is the experiment's, used
    when `hydra.sweeper.seed` is not set."""
    import optuna

    seed = settings["seed"] if settings["seed"] is not None else seed
    sampler = seeded_sampler(settings["sampler"], seed, space)
    pruner = build_pruner(settings["pruner"], plain_problem)
    return optuna.load_study(
        study_name=settings["study_name"], storage=storage, sampler=sampler, pruner=pruner
    )


def trial_by_number(study: Any, storage: Any, number: int) -> Any:
    """Trial `number` of `study`, live: what it reports goes to the storage."""
    import optuna

    study_id = storage.get_study_id_from_name(study.study_name)
    trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, number)
    return optuna.trial.Trial(study, trial_id)


def objective_values(metrics: dict[str, dict[str, float]], objectives: list[str]) -> list:
    return [monitored_value(metrics, name) for name in objectives]


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


def finish_interrupted(study: Any, trial: Any, outcome: Outcome) -> None:
    """A trial cut short by Ctrl-C or SIGTERM: FAIL, marked so that it does not count
    towards n_trials (a resumed sweep runs another in its place); `outcome` names its
    bundle, if it made one, and says why."""
    from optuna.trial import TrialState

    with contextlib.suppress(Exception):
        _mark_interrupted(trial, outcome)
        study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)


def _mark_interrupted(trial: Any, outcome: Outcome) -> None:
    trial.set_user_attr(INTERRUPTED_ATTR, True)
    trial.set_user_attr(RESULT_ATTR, result_attr(outcome))


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


def ask(
    study: Any,
    storage: Any,
    distributions: dict[str, Any],
    count: int,
    n_trials: int,
    who: dict[str, Any],
) -> tuple[list[Any], list[Any]]:
    """`count` new trials owned by `who` (written with each trial, `storage`), as (those
    that may run, those skipped: asked beyond the budget because another worker on the
    study asked for the last ones at the same moment, see `over_budget`)."""
    asked = []
    for _ in range(count):
        storage.owner = who
        try:
            trial = study.ask(distributions)
        finally:
            storage.owner = None
        if trial.user_attrs.get(OWNER_ATTR) != who:  # a storage ednax did not open
            trial.set_user_attr(OWNER_ATTR, who)
        asked.append(trial)
    excess = set(over_budget(study, [t.number for t in asked], n_trials))
    for trial in asked:
        if trial.number in excess:
            finish_skipped(study, trial, n_trials)
    return [t for t in asked if t.number not in excess], [t for t in asked if t.number in excess]


def worker_owner(sweep_pid: int) -> dict[str, Any]:
    """This process as the owner of the trials it asks as a search worker of the sweep
    process `sweep_pid` (itself, or its parent with joblib)."""
    return {**owner(), "sweep_pid": sweep_pid}


def same_process(who: dict[str, Any], other: dict[str, Any]) -> bool:
    return all(who.get(k) == other.get(k) for k in ("host", "pid", "boot", "pid_ns"))


def of_sweep(who: dict[str, Any], me: dict[str, Any]) -> bool:
    """Whether a trial's owner `who` is the sweep process `me` or one of its workers."""
    if same_process(who, me):
        return True
    return who.get("sweep_pid") == me["pid"] and same_process({**who, "pid": me["pid"]}, me)


def settle_orphans(
    study: Any, storage: Any, sweep_dir: Path, objectives: list[str]
) -> tuple[list[int], list[int]]:
    """Trials left RUNNING by a sweep process of this host that is gone (killed), settled
    as interrupted (`settle_trials`). Trials of live processes (other sweeps of the same
    study), of other hosts (whose processes cannot be seen from here) and not yet claimed
    by an owner stay. Returns (recovered: taken from their ended bundles, interrupted)."""
    from optuna.trial import TrialState

    orphans = [
        t.number
        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        if orphaned(t.user_attrs.get(OWNER_ATTR) or {})
    ]
    settled = settle_trials(study, storage, sweep_dir, orphans, CUT_SHORT, objectives)
    recovered = [number for number, outcome in settled if outcome.status != "interrupted"]
    interrupted = [number for number, outcome in settled if outcome.status == "interrupted"]
    return recovered, interrupted


def settle_trials(
    study: Any,
    storage: Any,
    sweep_dir: Path,
    numbers: list[int],
    reason: str,
    objectives: list[str],
    status: str = "interrupted",
) -> list[tuple[int, Outcome]]:
    """RUNNING trials whose job is gone, settled with their bundles (`bundles`): a trial
    whose bundle had ended (the job died before telling the study) is told so from its
    bundle; the others end as `status` (interrupted: FAIL, not counted; failed) for
    `reason`, and a bundle they left running says the same. A trial whose bundle a live
    process holds is left to it (it tells the study itself), and one another sweep
    settles at the same moment to that sweep. Returns each settled trial's outcome."""
    found = bundles.trial_bundles(sweep_dir, study.study_name) if numbers else {}
    settled = []
    for number in numbers:
        bundle = found.get(number)
        if bundle is None:
            outcome = Outcome(status, [], error=reason)
        else:
            outcome = bundles.settle(bundle, status, reason)
        if outcome is not None and tell_ended(study, storage, number, outcome, objectives):
            settled.append((number, outcome))
    return settled


def tell_ended(
    study: Any, storage: Any, number: int, outcome: Outcome, objectives: list[str]
) -> bool:
    """Tell the study how RUNNING trial `number`, whose job is gone, ended; False when
    another sweep settled it a moment before."""
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    trial = trial_by_number(study, storage, number)
    try:
        if outcome.status == "interrupted":
            _mark_interrupted(trial, outcome)
            study.tell(trial, state=TrialState.FAIL)
        else:
            finish_trial(study, trial, outcome, objectives)
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
        if (who := t.user_attrs.get(OWNER_ATTR)) and not of_sweep(who, me) and not orphaned(who)
    ]


def job_entries(study: Any, multi: bool) -> list[dict[str, Any]]:
    """sweep.json's jobs: every trial of the study, each as its bundle ended when that was
    resumed after the study had finished the trial (`record_resumed`)."""
    resumed = study.user_attrs
    return [
        _as_resumed(trial_entry(t, multi), resumed.get(f"{RESUMED_ATTR}{t.number}"), multi)
        for t in study.get_trials(deepcopy=False)
    ]


def record_trials(record: SweepRecord, study: Any, multi: bool) -> None:
    """sweep.json's jobs rebuilt from the study (the study is the truth), under its lock."""
    record.update(lambda data: data.update(trial_fields(study, multi)))


def trial_fields(study: Any, multi: bool) -> dict[str, Any]:
    """sweep.json's `jobs` (every trial of the study) and their `counts`."""
    jobs = job_entries(study, multi)
    return {"jobs": jobs, "counts": count_statuses(jobs)}


def record_resumed(study: Any, number: int, outcome: Outcome, objectives: list[str]) -> None:
    """How the bundle of finished trial `number` ended when it was resumed on its own
    (`ednax resume`). Optuna cannot reopen a finished trial, so this is kept beside it,
    in a user attribute of the study; the trial keeps its state, and the sampler,
    `n_trials` and the best trials go by that state."""
    values = objective_values(outcome.metrics, objectives)
    resumed = clean_json({**result_attr(outcome), "values": values})
    study.set_user_attr(f"{RESUMED_ATTR}{number}", resumed)


def _as_resumed(entry: dict[str, Any], resumed: dict | None, multi: bool) -> dict[str, Any]:
    if resumed is None:
        return entry
    values = resumed.get("values")
    entry.update({key: value for key, value in resumed.items() if key != "values"})
    entry.update(values=values, value=None if multi or not values else values[0], resumed=True)
    return entry


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
