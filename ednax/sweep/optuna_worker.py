"""A search worker: one launcher job that asks the study for a trial as soon as its last
trial ended, and runs it in its own process, until the study holds `n_trials` trials that
count or the search's timeout has passed.

With `hydra.sweeper.n_jobs=K` and a launcher that runs jobs on this machine (basic,
joblib), the sweeper launches K workers once instead of batches of K trials: no worker
waits for the slowest trial of a batch, and a worker pays the launcher's start, Hydra's
job set-up, its imports and the data it holds in memory once for all its trials, not once
a trial. Each trial is still composed from its own overrides with `load_config` and run
by an `Experiment` into its own bundle, the one a single run of those overrides makes.

The workers share the study through its storage as separate sweeps do (`optuna_search`):
trial numbers come from the storage, the budget is decided by number (`over_budget`), and
a trial records its worker as owner, with the sweep's pid, so that the sweep settles the
trials of a worker that died and a worker in a child process ends with the sweep
(`lifeline`). The workers of one sweep count and ask under the sweep record's lock, so
they never ask beyond the budget between them; only sweeps beside each other on one study
can, and the trial asked last is then skipped.
"""

from __future__ import annotations

import math
import time
from typing import Any

from ednax import memory
from ednax.sweep import optuna_study as studies
from ednax.sweep.job_run import say
from ednax.sweep.lifeline import follow_sweep
from ednax.sweep.record import SweepRecord
from ednax.sweep.search_space import Param
from ednax.sweep.storage import job_storage_url, open_storage
from ednax.sweep.trials import run_asked

# sweep.json is rebuilt from the study at most this often while trials end (the study is
# the truth; the sweep rebuilds it at the end): short trials would spend more on the record
RECORD_EVERY_S = 1.0
# Trials a killed sweep beside this one left running are looked for at most this often (a
# read of the study's running trials, 3 ms a trial of small trials otherwise)
SETTLE_EVERY_S = 1.0


def run_worker(record: SweepRecord, sweep_pid: int, deadline: float | None) -> dict[str, Any]:
    """Run trials until the budget is spent or the wall-clock `deadline` (time.time())
    has passed; returns the numbers of the trials this worker ran."""
    follow_sweep(sweep_pid)
    plan = record.read()
    settings = plan["optuna"]
    space = [Param.from_json(p) for p in settings["search_space"]]
    storage = open_storage(job_storage_url(record.dir), existing=True)
    study = studies.asking_study(settings, storage, space, plan["seed"])
    distributions = {p.key: p.distribution() for p in space}
    who = studies.worker_owner(sweep_pid)
    multi = len(settings["objectives"]) > 1
    ran: list[int] = []
    recorded = time.monotonic()
    settled = -math.inf  # at the start, then at most every SETTLE_EVERY_S
    while True:
        if time.monotonic() - settled >= SETTLE_EVERY_S:
            # another sweep of this host on the study may have been killed meanwhile
            say_settled(*studies.settle_orphans(study, storage, record.dir, settings["objectives"]))
            settled = time.monotonic()
        # one worker of this sweep at a time counts and asks, so that two of them never
        # both ask for the last trial; a sweep beside this one on the study still may
        with record.locked():
            if not _budget_left(study, settings) or _past(deadline):
                break
            trials, skipped = studies.ask(
                study, storage, distributions, 1, settings["n_trials"], who
            )
        for trial in skipped:
            say(skipped_line(trial.number, settings["n_trials"]))
        for trial in trials:
            run_asked(record, plan, study, trial)
            ran.append(trial.number)
            memory.after_job()
        if time.monotonic() - recorded >= RECORD_EVERY_S:
            studies.record_trials(record, study, multi)
            recorded = time.monotonic()
    studies.record_trials(record, study, multi)
    return {"trials": ran}


def say_settled(recovered: list[int], orphans: list[int]) -> None:
    if recovered:
        numbers = ", ".join(map(str, recovered))
        say(f"trial(s) {numbers} had ended when the sweep stopped: taken from their bundles")
    if orphans:
        numbers = ", ".join(map(str, orphans))
        say(f"trial(s) {numbers} were cut short by a stopped sweep: run again")


def skipped_line(number: int, n_trials: int) -> str:
    return (
        f"trial {number} skipped: the study already holds its {n_trials} trial(s) "
        "(another sweep asked at the same moment)"
    )


def _budget_left(study: Any, settings: dict[str, Any]) -> bool:
    return studies.counted(study) < settings["n_trials"]


def _past(deadline: float | None) -> bool:
    return deadline is not None and time.time() >= deadline
