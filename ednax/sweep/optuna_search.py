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
  (so a worker killed beside live ones leaves no trial counted as running forever).
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
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ednax.engine.signals import signals_held
from ednax.errors import UsageError
from ednax.sweep import optuna_study as studies
from ednax.sweep.hydra_run import quote
from ednax.sweep.outcome import INTERRUPTED
from ednax.sweep.plots import param_importances, write_plots
from ednax.sweep.record import SweepRecord, count_statuses, launcher_message, now
from ednax.sweep.search_space import Param
from ednax.sweep.seeding import seeded_sampler
from ednax.sweep.settings import build_pruner, plain_problem
from ednax.sweep.storage import open_storage, storage_url

PAYLOAD_KEY = "ednax_sweep"


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
    search = _Search(record, study, storage, space, settings, launcher)
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

    seed = settings["seed"] if settings["seed"] is not None else plan["seed"]
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
    sampler = seeded_sampler(settings["sampler"], seed, space)
    pruner = build_pruner(settings["pruner"], plain_problem)
    return optuna.load_study(
        study_name=settings["study_name"], storage=storage, sampler=sampler, pruner=pruner
    )


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
    _say_settled(recovered, orphans)
    for note in settings.get("notes", []):
        print(f"note: {note}", flush=True)


def _say_settled(recovered: list[int], orphans: list[int]) -> None:
    if recovered:
        numbers = ", ".join(map(str, recovered))
        print(f"trial(s) {numbers} had ended when the sweep stopped: taken from their bundles")
    if orphans:
        numbers = ", ".join(map(str, orphans))
        print(f"trial(s) {numbers} were cut short by a stopped sweep: run again", flush=True)


class _Search:
    def __init__(self, record, study, storage, space, settings, launcher):
        self.record = record
        self.study = study
        self.storage = storage
        self.space = space
        self.settings = settings
        self.launcher = launcher
        self.multi = len(settings["objectives"]) > 1
        self.worker = {**studies.owner(), "started_at": now(), "ended_at": None}

    def run(self) -> None:
        distributions = {p.key: p.distribution() for p in self.space}
        payload = f"+{PAYLOAD_KEY}={quote(self.record.path)}"
        deadline = _deadline(self.settings["timeout"])
        n_trials = self.settings["n_trials"]
        self.refresh()
        while True:
            # another sweep of this host on the study may have been killed meanwhile
            _say_settled(
                *studies.settle_orphans(
                    self.study, self.storage, self.record.dir, self.settings["objectives"]
                )
            )
            remaining = n_trials - studies.counted(self.study)
            if remaining <= 0:
                return
            if deadline is not None and time.monotonic() >= deadline:
                print(f"timeout: {self.settings['timeout']:g} s passed, no new trials", flush=True)
                return
            batch = min(self.settings["n_jobs"], remaining)
            trials = self._within_budget([self._ask(distributions) for _ in range(batch)])
            self.refresh()
            if not trials:
                continue  # other sweeps asked for the rest: the count now says so
            jobs = [[payload, f"+ednax_trial={t.number}"] for t in trials]
            self._launch(jobs, trials)
            self.refresh()

    def _ask(self, distributions: dict[str, Any]) -> Any:
        trial = self.study.ask(distributions)
        trial.set_user_attr(studies.OWNER_ATTR, studies.owner())
        return trial

    def _within_budget(self, trials: list[Any]) -> list[Any]:
        """The asked trials that may run; the others are skipped (another sweep on the
        study asked for the last ones at the same moment)."""
        n_trials = self.settings["n_trials"]
        excess = set(studies.over_budget(self.study, [t.number for t in trials], n_trials))
        for trial in trials:
            if trial.number in excess:
                studies.finish_skipped(self.study, trial, n_trials)
                print(
                    f"trial {trial.number} skipped: the study already holds its "
                    f"{n_trials} trial(s) (another sweep asked at the same moment)",
                    flush=True,
                )
        return [t for t in trials if t.number not in excess]

    def _launch(self, jobs: list[list[str]], trials: list[Any]) -> None:
        try:
            returns = self.launcher.launch(jobs, initial_job_idx=trials[0].number)
        except Exception as exc:  # a launcher that lost its workers: those trials failed
            reason = launcher_message(f"{type(exc).__name__}: {exc}")
            self._close_unfinished(trials, f"the launcher failed: {reason}")
            return
        for trial, job_return in zip(trials, returns, strict=False):
            error = _job_error(job_return)
            if error:
                self._close_unfinished([trial], error)
        self._close_unfinished(trials, "the job ended without telling the study how")

    def _close_unfinished(self, trials: list[Any], reason: str) -> None:
        """The batch's trials still RUNNING once the launcher is done: failed for
        `reason`, bundles and study alike."""
        numbers = {t.number for t in trials}
        settled = self._settle([n for n in self._running_mine() if n in numbers], reason, "failed")
        for number, outcome in settled:
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
        return [t.number for t in running if t.user_attrs.get(studies.OWNER_ATTR) == me]

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
            jobs = studies.job_entries(self.study, self.multi)
            data.update(jobs=jobs, counts=count_statuses(jobs), **(final() if final else {}))
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


def _deadline(timeout: float | None) -> float | None:
    return None if timeout is None else time.monotonic() + timeout
