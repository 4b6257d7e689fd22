"""Hydra's task function for every ednax sweep job, in whatever process the launcher chose.

`run_job` is module-level so that joblib's workers and submitit's jobs (another process,
or a SLURM job on another machine) unpickle it by name; a job needs nothing of the sweeping
process but sweep.json, the config file and the Optuna storage. It is one of:

- a grid job (`+ednax_job=<index>`): reads its overrides from sweep.json and writes its
  outcome back there;
- an Optuna trial launched on its own (`+ednax_trial=<number>`, `trials`): reaches its
  trial through the study's storage, reports every epoch to it, tells it how it ended;
- a search worker (`+ednax_worker=<i>`, `optuna_worker`): asks the study for trials and
  runs them one after another until the budget is spent.

Either way a job runs as the plan says (`cache`: whether preprocessing may use the cache,
`ednax run -m --no-cache`), never raises for a job that fails (`job_run`), and a job in a
child process of the sweep (joblib's workers) ends with the sweep (`lifeline`); submitit's
jobs belong to their scheduler.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

from ednax import memory
from ednax.engine.signals import signals_held
from ednax.sweep import secrets
from ednax.sweep.job_run import STOPPED, JobRun, describe, launcher_job, say
from ednax.sweep.lifeline import follow_sweep
from ednax.sweep.optuna_worker import run_worker
from ednax.sweep.outcome import INTERRUPTED
from ednax.sweep.record import SweepRecord
from ednax.sweep.trials import run_trial


def run_job(cfg: Any) -> dict[str, Any]:
    """Hydra's task function for every ednax sweep job."""
    memory.freeze_while_starting()  # a fresh worker process: its imports are ahead
    record = SweepRecord(Path(str(cfg.ednax_sweep)).parent)
    if "ednax_worker" in cfg:
        deadline = float(cfg.ednax_deadline) if "ednax_deadline" in cfg else None
        return run_worker(record, int(cfg.ednax_sweeper), deadline)
    if "ednax_trial" in cfg:
        return run_trial(record, int(cfg.ednax_trial))
    return run_grid_job(record, int(cfg.ednax_job))


# --- grid jobs -----------------------------------------------------------------------


def run_grid_job(record: SweepRecord, index: int) -> dict[str, Any]:
    plan = record.read()
    job = plan["jobs"][index]
    where = {"pid": os.getpid(), "host": socket.gethostname()}
    scheduled = launcher_job()
    if scheduled:
        where["launcher_job"] = scheduled
    else:
        follow_sweep(plan.get("pid"))
    record.update_job(index, status="running", **where)
    sweep = {"id": plan["id"], "kind": "grid", "dir": str(record.dir), "job": index}
    job_run = JobRun(plan, record, secrets.unmasked(job["overrides"]), sweep)
    try:
        outcome = job_run.run()
    except KeyboardInterrupt:
        with signals_held():
            record.update_job(index, **job_run.stopped(INTERRUPTED).fields())
        raise
    except SystemExit:
        with signals_held():
            record.update_job(index, **job_run.stopped(STOPPED).fields())
        raise
    record.update_job(index, **outcome.fields())
    del job_run
    memory.after_job()
    total = len(plan["jobs"])
    scores = [(plan["monitor"], outcome.value)]
    say(f"job {index + 1}/{total} {describe(outcome, scores)}")
    return outcome.fields()
