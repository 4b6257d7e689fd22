"""The Optuna search loop, run by the ednax_optuna Hydra sweeper inside Hydra's multirun.

    open (or resume) the study -> fail trials a killed sweep left running
    until the study holds n_trials trials (or the timeout passes):
        ask n_jobs trials -> those beyond the budget are skipped
        -> launch one job per trial (+ednax_trial=<number>)
        -> each job runs, reports epochs, tells the study -> sweep.json rebuilt
    best trial(s), plots, sweep.json completed

The sweeper only asks; the jobs tell. So a trial that finished is in the storage even if
the sweep is killed a moment later, and a resumed sweep (same study name and storage)
counts it and runs only what is missing.

Several sweeps at once on one study (workers: `ednax run CONFIG -m` started more than once
with the same study name and storage) share it through the storage:

- *No trial runs twice.* The storage numbers trials one at a time; a worker runs only the
  trials it asked for, and its jobs reach them by number.
- *The budget is exact.* A worker counts the study's trials and asks for what is missing,
  but two workers can both count n_trials - 1 and both ask. So after asking, a trial runs
  only if fewer than n_trials counting trials have a smaller number
  (`optuna_study.over_budget`; each trial of an n_jobs batch alike); all workers see the
  same numbers, so exactly one of the two runs. The other is *skipped*: never launched,
  no bundle, and told FAIL with the user attribute `ednax_skipped` (Optuna has no way to
  withdraw a trial, and FAIL is the state samplers ignore). It does not count towards
  n_trials; sweep.json lists it with status `skipped` and the reason, so counts and
  listings stay true to the storage (which optuna-dashboard shows as a failed trial with
  that attribute).
- *Orphans.* Each trial records its owner (host, pid); a worker fails only the RUNNING
  trials whose owner is a dead process of its own host, at start and before each batch
  (a search worker: before asking, at most once a second), so a worker killed beside
  live ones leaves no trial counted as running forever.
- *Draws.* Trial n samples with a seed derived from the sweep's seed and n (`seeding`), so workers
  started together do not draw the same parameters, a resumed search does not replay the
  first session's draws, and a single worker's search is reproducible. The grid and qmc
  samplers keep one seed for all: it orders the grid (or scrambles the sequence) that
  every worker and session walks through the storage.
- *sweep.json.* Workers with the same runs folder share the sweep folder
  (sweep-<study_name>; on other machines each has its own); each lists itself under
  `workers`, and the sweep's `status` stays `running` while any live worker runs. `jobs`
  lists every trial of the study, whoever ran it (`owner`), and `best` is over the whole
  study. A worker that ends while another still runs trials records them as `running`;
  the last worker to end writes the complete record.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ednax.engine.signals import signals_held
from ednax.errors import UsageError
from ednax.sweep import optuna_study as studies
from ednax.sweep.hydra_run import quote
from ednax.sweep.optuna_worker import say_settled, skipped_line
from ednax.sweep.outcome import INTERRUPTED
from ednax.sweep.plots import import_meanwhile, param_importances, write_plots
from ednax.sweep.record import SweepRecord, launcher_message, now
from ednax.sweep.search_space import Param
from ednax.sweep.storage import open_storage, storage_url

PAYLOAD_KEY = "ednax_sweep"
# launchers that run jobs on this machine: the search runs in workers (`optuna_worker`)
WORKER_LAUNCHERS = ("basic", "joblib")


def run_search(arguments: list[str], launcher: Any, options: dict[str, Any]) -> dict[str, Any]:
    """Run the search of the sweep named in `arguments`; returns the final sweep.json."""
    record = SweepRecord(payload_path(arguments).parent)
    plan = record.read()
    settings = plan["optuna"]
    space = [Param.from_json(p) for p in settings["search_space"]]
    storage = open_storage(storage_url(options.get("storage"), record.dir))
    study = _open_study(settings, storage, space, plan)
    recovered, orphans = studies.settle_orphans(study, storage, record.dir, settings["objectives"])
    done = studies.counted(study)
    _announce(settings, plan, done, studies.owned_by_others(study), recovered, orphans)
    search = _Search(record, study, storage, space, settings, launcher, plan["launcher"])
    try:
        search.run()
    except KeyboardInterrupt:
        with signals_held():
            search.stop()
        raise
    return search.finish()


def payload_path(arguments: list[str]) -> Path:
    """The sweep.json named by the `+ednax_sweep=...` task override."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    for override in OverridesParser.create().parse_overrides(list(arguments)):
        if override.key_or_group == PAYLOAD_KEY:
            return Path(str(override.value()))
    raise UsageError(
        "the ednax_optuna sweeper runs ednax experiments: start it with "
        "`ednax run CONFIG -m`, not from another Hydra application"
    )


def _open_study(settings: dict[str, Any], storage: Any, space: list[Param], plan: dict) -> Any:
    import optuna

    try:
        study = optuna.create_study(
            study_name=settings["study_name"],
            storage=storage,
            directions=settings["directions"],
            load_if_exists=True,
        )
    except ValueError as exc:
        raise UsageError(f"cannot continue the study '{settings['study_name']}': {exc}") from None
    if (
        list(study.directions)
        and [d.name.lower() for d in study.directions] != settings["directions"]
    ):
        raise UsageError(
            f"the study '{settings['study_name']}' was created with directions "
            f"{[d.name.lower() for d in study.directions]}, not {settings['directions']}: "
            "use another study name"
        )
    return studies.asking_study(settings, storage, space, plan["seed"])


def _announce(
    settings: dict[str, Any],
    plan: dict,
    done: int,
    elsewhere: list[int],
    recovered: list[int],
    orphans: list[int],
) -> None:
    sampler, pruner = settings["sampler"]["type"], settings["pruner"]["type"]
    todo = max(0, settings["n_trials"] - done)
    line = (
        f"optuna: study {settings['study_name']} ({sampler} sampler, {pruner} pruner, "
        f"{', '.join(settings['directions'])} {', '.join(settings['objectives'])}): "
        f"{todo} trial(s) to run"
    )
    if done:
        line += f", {done} already in the study"
    if elsewhere:
        line += f" ({len(elsewhere)} running in other sweeps on the study)"
    print(line, flush=True)
    say_settled(recovered, orphans)
    for note in settings.get("notes", []):
        print(f"note: {note}", flush=True)


class _Search:
    def __init__(self, record, study, storage, space, settings, launcher, launcher_name):
        self.record = record
        self.payload = f"+{PAYLOAD_KEY}={quote(record.path)}"
        self.launcher_name = launcher_name
        self.study = study
        self.storage = storage
        self.space = space
        self.settings = settings
        self.launcher = launcher
        self.multi = len(settings["objectives"]) > 1
        self.worker = {**studies.owner(), "started_at": now(), "ended_at": None}

    def run(self) -> None:
        self.refresh()
        if self.launcher_name != "basic":  # the trials run in other processes
            import_meanwhile()
        if self.launcher_name in WORKER_LAUNCHERS:
            self._run_workers()
        else:
            self._run_batches()

    def _run_workers(self) -> None:
        """Search workers (`optuna_worker`): each asks for its next trial as soon as its
        last one ended; one with the basic launcher, which runs jobs one after another."""
        remaining = self.settings["n_trials"] - studies.counted(self.study)
        if remaining <= 0:
            return
        count = 1 if self.launcher_name == "basic" else min(self.settings["n_jobs"], remaining)
        timeout = self.settings["timeout"]
        deadline = None if timeout is None else time.time() + timeout
        common = [self.payload, f"+ednax_sweeper={os.getpid()}"]
        if deadline is not None:
            common.append(f"+ednax_deadline={deadline!r}")
        jobs = [[*common, f"+ednax_worker={i}"] for i in range(count)]
        self._launch(jobs, len(self.study.get_trials(deepcopy=False)))
        short = studies.counted(self.study) < self.settings["n_trials"]
        if short and deadline is not None and time.time() >= deadline:
            _say_timeout(timeout)

    def _run_batches(self) -> None:
        """Batches of n_jobs trials, a job each (launchers that submit a job per trial to
        a scheduler, where each trial is a job with its own resources and time limit)."""
        distributions = {p.key: p.distribution() for p in self.space}
        deadline = _deadline(self.settings["timeout"])
        n_trials = self.settings["n_trials"]
        while True:
            # another sweep of this host on the study may have been killed meanwhile
            say_settled(
                *studies.settle_orphans(
                    self.study, self.storage, self.record.dir, self.settings["objectives"]
                )
            )
            remaining = n_trials - studies.counted(self.study)
            if remaining <= 0:
                return
            if deadline is not None and time.monotonic() >= deadline:
                _say_timeout(self.settings["timeout"])
                return
            batch = min(self.settings["n_jobs"], remaining)
            trials, skipped = studies.ask(
                self.study, self.storage, distributions, batch, n_trials, studies.owner()
            )
            for trial in skipped:
                print(skipped_line(trial.number, n_trials), flush=True)
            self.refresh()
            if not trials:
                continue  # other sweeps asked for the rest: the count now says so
            jobs = [[self.payload, f"+ednax_trial={t.number}"] for t in trials]
            self._launch(jobs, trials[0].number, trials)
            self.refresh()

    def _launch(self, jobs: list[list[str]], first: int, trials: list[Any] = ()) -> None:
        """Launch `jobs` (one per trial of `trials`, or search workers). Once the launcher
        is done no trial of this sweep runs, so those still RUNNING ended without telling
        the study: failed, with their job's error where the launcher gave one."""
        try:
            returns = self.launcher.launch(jobs, initial_job_idx=first)
        except Exception as exc:  # a launcher that lost its workers: those trials failed
            reason = launcher_message(f"{type(exc).__name__}: {exc}")
            self._close_unfinished(f"the launcher failed: {reason}")
            return
        errors = [_job_error(job_return) for job_return in returns]
        for trial, error in zip(trials, errors, strict=False):
            if error:
                self._close_unfinished(error, only={trial.number})
        if not trials and any(errors):
            self._close_unfinished(next(e for e in errors if e))
        self._close_unfinished("the job ended without telling the study how")

    def _close_unfinished(self, reason: str, only: set[int] | None = None) -> None:
        """This sweep's trials (or those of `only`) still RUNNING once the launcher is
        done: failed for `reason`, bundles and study alike."""
        numbers = [n for n in self._running_mine() if only is None or n in only]
        for number, outcome in self._settle(numbers, reason, "failed"):
            print(f"trial {number} {outcome.status}: {outcome.error}", flush=True)

    def stop(self) -> None:
        """After Ctrl-C or SIGTERM: this worker's trials still RUNNING (asked, or their job
        cut short before it told the study) interrupted, then sweep.json. Nothing of it
        may raise over the interrupt."""
        with contextlib.suppress(Exception):
            self._settle(self._running_mine(), INTERRUPTED, "interrupted")
        self.refresh(worker_status="interrupted")

    def _running_mine(self) -> list[int]:
        from optuna.trial import TrialState

        running = self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        me = studies.owner()
        return [
            t.number
            for t in running
            if studies.of_sweep(t.user_attrs.get(studies.OWNER_ATTR) or {}, me)
        ]

    def _settle(self, numbers: list[int], reason: str, status: str) -> list:
        objectives = self.settings["objectives"]
        return studies.settle_trials(
            self.study, self.storage, self.record.dir, numbers, reason, objectives, status
        )

    def refresh(
        self, worker_status: str = "running", final: Callable[[], dict] | None = None
    ) -> dict[str, Any]:
        """Rebuild the jobs of sweep.json from the storage (the study is the truth), and
        this worker's entry under `workers` (another worker starting on the same folder
        rewrites sweep.json; each puts itself back). The study is read under sweep.json's
        lock, so the last worker to write has seen every other worker's last trial end;
        `final()` (best trials, plots) is computed there too."""
        self.worker["status"] = worker_status

        def change(data: dict[str, Any]) -> None:
            data.update(studies.trial_fields(self.study, self.multi), **(final() if final else {}))
            if worker_status != "running":
                self.worker["ended_at"] = now()
            data["workers"] = _workers(data.get("workers") or [], self.worker)
            data["status"], data["ended_at"] = _sweep_status(data["workers"])

        return self.record.update(change)

    def finish(self) -> dict[str, Any]:
        def final() -> dict[str, Any]:
            objectives = self.settings["objectives"]
            plots, notes = write_plots(self.study, self.record.dir, objectives)
            notes = [*self.settings.get("notes", []), *notes]
            importances = param_importances(self.study, objectives)
            return {
                "best": self._best(),
                "plots": plots,
                "notes": notes,
                "importances": importances,
            }

        return self.refresh(worker_status="completed", final=final)

    def _best(self) -> list[dict[str, Any]]:
        from optuna.trial import TrialState

        if not self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            return []
        best = self.study.best_trials if self.multi else [self.study.best_trial]
        return [studies.trial_entry(t, self.multi) for t in best]


def _workers(workers: list[dict[str, Any]], me: dict[str, Any]) -> list[dict[str, Any]]:
    """The sweep's workers with `me` updated (or added); a worker of this host whose
    process is gone while it said running was killed: interrupted."""
    others = []
    for worker in workers:
        if (worker.get("host"), worker.get("pid")) == (me["host"], me["pid"]):
            continue
        if worker.get("status") == "running" and not _may_run(worker):
            worker = {**worker, "status": "interrupted"}
        others.append(worker)
    return [*others, dict(me)]


def _sweep_status(workers: list[dict[str, Any]]) -> tuple[str, str | None]:
    """`running` (no end) while a worker may still run; else the last one's status."""
    if any(w.get("status") == "running" and _may_run(w) for w in workers):
        return "running", None
    ended = [w for w in workers if w.get("ended_at")]
    last = max(ended, key=lambda w: w["ended_at"]) if ended else workers[-1]
    return last["status"], last.get("ended_at") or now()


def _may_run(worker: dict[str, Any]) -> bool:
    """A worker on another host (a shared file system) cannot be checked: it may run."""
    return not studies.orphaned(worker)


def _job_error(job_return: Any) -> str | None:
    """The error of a job whose task function raised (ednax's never does on purpose)."""
    try:
        _ = job_return.return_value
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def _say_timeout(timeout: float) -> None:
    print(f"timeout: {timeout:g} s passed, no new trials", flush=True)


def _deadline(timeout: float | None) -> float | None:
    return None if timeout is None else time.monotonic() + timeout
