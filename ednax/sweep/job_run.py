"""One sweep job composed and run into a bundle in the sweep folder, whatever started it
(a grid job, a trial launched on its own, or a search worker's trial).

A job that fails is an Outcome, never an exception: the failure is recorded and the sweep
goes on. Ctrl-C, SIGTERM and SystemExit close the job's bundle as interrupted and go on up.
A job draws no progress bars (jobs share one output) and prints one line as it ends.
"""

from __future__ import annotations

import contextlib
import math
import os
import traceback
from collections.abc import Callable
from typing import Any

from ednax.engine.signals import signals_held
from ednax.errors import EdnaxError
from ednax.sweep.hydra_run import outside_hydra
from ednax.sweep.outcome import INTERRUPTED, Outcome
from ednax.sweep.record import SweepRecord, one_line

STOPPED = (
    "stopped by SystemExit in the job (submitit's way at a time limit or on preemption; "
    "it may run the job again)"
)


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


def launcher_job() -> dict[str, str] | None:
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


def describe(outcome: Outcome, scores: list[tuple[str, Any]], status: str | None = None) -> str:
    """`completed  val/accuracy 0.9667  [model.C=0.5]`, or the status and the reason."""
    text = status or outcome.status
    if text == "completed":
        text += "".join(f"  {name} {_number(v)}" for name, v in scores if v is not None)
    if outcome.error:
        text += f": {outcome.error}"
    return f"{text}  [{' '.join(outcome.overrides)}]"


def _number(value: float) -> str:
    return f"{value:.4f}" if math.isfinite(float(value)) else str(value)


def say(line: str) -> None:
    print(line, flush=True)


def _quiet(line: str) -> None:
    """A job's step-by-step lines go to its log.txt only; the sweep prints one line."""
