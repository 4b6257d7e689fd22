"""One sweep job: Hydra's task function, in whatever process the launcher chose.

`run_job` is module-level so that joblib's workers and submitit's jobs (another process,
or a SLURM job on another machine) unpickle it by name; a job needs nothing of the sweeping
process but sweep.json, the config file and the Optuna storage. It never raises for a job
that fails (the failure is recorded and the sweep goes on); Ctrl-C and SIGTERM still stop
the sweep, after the job's bundle and record say "interrupted".

A grid job reads its overrides from sweep.json and writes its outcome back there. An
Optuna trial reaches its trial through the study's storage (name, storage URL and trial
number are all it is given), so that `report`/`should_prune` work from any process; it
reads its parameters from the trial, runs, and tells the study how the trial ended.

Either way the job runs as the plan says (`cache`: whether preprocessing may use the
cache, `ednax run -m --no-cache`) and draws no progress bars: jobs share one output, and
each prints one line as it ends. A job in a child process of the sweep (joblib's workers)
ends with the sweep (`lifeline`); submitit's jobs belong to their scheduler.
"""

from __future__ import annotations

import contextlib
import math
import os
import socket
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ednax.engine.signals import signals_held
from ednax.errors import EdnaxError
from ednax.sweep import optuna_study, secrets
from ednax.sweep.hydra_run import outside_hydra
from ednax.sweep.lifeline import follow_sweep
from ednax.sweep.outcome import INTERRUPTED, Outcome
from ednax.sweep.record import SweepRecord, one_line
from ednax.sweep.search_space import Param

STOPPED = (
    "stopped by SystemExit in the job (submitit's way at a time limit or on preemption; "
    "it may run the job again)"
)


def run_job(cfg: Any) -> dict[str, Any]:
    """Hydra's task function for every ednax sweep job."""
    record = SweepRecord(Path(str(cfg.ednax_sweep)).parent)
    if "ednax_trial" in cfg:
        return run_trial(record, int(cfg.ednax_trial))
    return run_grid_job(record, int(cfg.ednax_job))


# --- grid jobs -----------------------------------------------------------------------


def run_grid_job(record: SweepRecord, index: int) -> dict[str, Any]:
    plan = record.read()
    job = plan["jobs"][index]
    where = {"pid": os.getpid(), "host": socket.gethostname()}
    launcher_job = _launcher_job()
    if launcher_job:
        where["launcher_job"] = launcher_job
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
    total = len(plan["jobs"])
    scores = [(plan["monitor"], outcome.value)]
    _say(f"job {index + 1}/{total} {_describe(outcome, scores)}")
    return outcome.fields()


# --- Optuna trials -------------------------------------------------------------------


def run_trial(record: SweepRecord, number: int) -> dict[str, Any]:
    plan = record.read()
    settings = plan["optuna"]
    study, storage = optuna_study.load_for_job(settings, record.dir)
    trial = optuna_study.trial_by_number(study, storage, number)
    launcher_job = _launcher_job()
    if launcher_job:  # where to look if the job dies before telling the study
        trial.set_user_attr(optuna_study.LAUNCHER_JOB_ATTR, launcher_job)
    else:
        follow_sweep((trial.user_attrs.get(optuna_study.OWNER_ATTR) or {}).get("pid"))
    space = [Param.from_json(p) for p in settings["search_space"]]
    overrides = secrets.unmasked(plan["overrides"]) + [
        p.override(trial.params[p.key]) for p in space if p.key in trial.params
    ]
    sweep = {"id": plan["id"], "kind": "optuna", "dir": str(record.dir)}
    trial_info = {"number": number, "study": study.study_name, "params": dict(trial.params)}
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
    _say(f"trial {number} {_describe(outcome, scores, status)}")
    return outcome.fields()


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


# --- running ------------------------------------------------------------------------


class JobRun:
    """One job composed and run into a bundle in the sweep folder; `callbacks` gives the
    Lightning callbacks for the job's resolved config. A job that fails is an Outcome;
    Ctrl-C, SIGTERM and SystemExit close its bundle as interrupted and go on up, and
    `stopped` says how the job ended, naming that bundle."""

    def __init__(
        self,
        plan: dict[str, Any],
        record: SweepRecord,
        overrides: list[str],
        sweep: dict[str, Any],
        trial: dict[str, Any] | None = None,
        callbacks: Callable[[Any], list] | None = None,
    ):
        self.plan = plan
        self.record = record
        self.overrides = overrides
        self.sweep = sweep
        self.trial = trial
        self.callbacks = callbacks
        self.experiment: Any = None

    def run(self) -> Outcome:
        from ednax.config.resolve import load_config
        from ednax.engine.experiment import Experiment

        plan = self.plan
        try:
            with outside_hydra():
                resolved = load_config(plan["config_file"], self.overrides)
        except EdnaxError as exc:
            return Outcome("failed", self.overrides, error=one_line(exc.render()))
        self.experiment = Experiment(
            resolved,
            command=["ednax", "run", plan["config_file"], *self.overrides],
            say=_quiet,
            parent_dir=self.record.dir,
            sweep=self.sweep,
            trial=self.trial,
            callbacks=self.callbacks(resolved) if self.callbacks else None,
            cache=plan.get("cache", True),
            interactive=False,  # jobs share one output: no progress bars fighting over it
        )
        return _run(self.experiment, self.overrides)

    def stopped(self, reason: str) -> Outcome:
        bundle = self.experiment.bundle if self.experiment is not None else None
        return Outcome(
            "interrupted",
            self.overrides,
            run_id=bundle.run_id if bundle is not None else None,
            bundle=str(bundle.path) if bundle is not None else None,
            error=reason,
        )


def _run(experiment: Any, overrides: list[str]) -> Outcome:
    try:
        result = experiment.run()
    except KeyboardInterrupt:
        with signals_held():  # a second signal may have cut the engine's own record short
            _close_bundle(experiment, INTERRUPTED)
        raise
    except SystemExit:
        # submitit ends a job it requeues (time limit, preemption) with sys.exit inside it
        with signals_held():
            _close_bundle(experiment, STOPPED)
        raise
    except EdnaxError as exc:
        return _failed(experiment, overrides, exc.render())
    except Exception as exc:  # an error of ednax itself: keep the sweep going, say why
        experiment.note(traceback.format_exc())
        return _failed(experiment, overrides, f"{type(exc).__name__}: {exc}")
    return Outcome(
        result.status,
        overrides,
        run_id=result.bundle.run_id,
        bundle=str(result.bundle.path),
        metrics=result.metrics,
        value=result.monitored_value,
        error=result.error,
    )


def _close_bundle(experiment: Any, reason: str) -> None:
    """The bundle of a stopped job: interrupted, not left running."""
    bundle = experiment.bundle
    with contextlib.suppress(Exception):
        if bundle is not None and bundle.read_run().get("status") == "running":
            bundle.log(traceback.format_exc())
            bundle.finish("interrupted", error=reason)


def _launcher_job() -> dict[str, str] | None:
    """A submitit job's id for the scheduler (`sacct -j`, `scancel`) and its output files
    (the traceback of a job that died is there); None outside submitit."""
    if "SUBMITIT_FOLDER" not in os.environ:
        return None
    try:
        import submitit

        env = submitit.JobEnvironment()
        paths = env.paths
        return {"id": env.job_id, "stdout": str(paths.stdout), "stderr": str(paths.stderr)}
    except Exception:  # not inside a submitit job after all
        return None


def _failed(experiment: Any, overrides: list[str], reason: str) -> Outcome:
    bundle = experiment.bundle
    return Outcome(
        "failed",
        overrides,
        run_id=bundle.run_id if bundle is not None else None,
        bundle=str(bundle.path) if bundle is not None else None,
        error=one_line(reason),
    )


def _describe(outcome: Outcome, scores: list[tuple[str, Any]], status: str | None = None) -> str:
    """`completed  val/accuracy 0.9667  [model.C=0.5]`, or the status and the reason."""
    text = status or outcome.status
    if text == "completed":
        text += "".join(f"  {name} {_number(v)}" for name, v in scores if v is not None)
    if outcome.error:
        text += f": {outcome.error}"
    return f"{text}  [{' '.join(outcome.overrides)}]"


def _number(value: float) -> str:
    return f"{value:.4f}" if math.isfinite(float(value)) else str(value)


def _say(line: str) -> None:
    print(line, flush=True)


def _quiet(line: str) -> None:
    """A job's step-by-step lines go to its log.txt only; the sweep prints one line."""
