"""The Optuna search loop, run by the ednax_optuna Hydra sweeper inside Hydra's multirun.

    open (or resume) the study -> fail trials a killed sweep left running
    until the study holds n_trials trials (or the timeout passes):
        ask n_jobs trials -> launch one job per trial (+ednax_trial=<number>)
        -> each job runs, reports epochs, tells the study -> sweep.json rebuilt
    best trial(s), plots, sweep.json completed

The sweeper only asks; the jobs tell. So a trial that finished is in the storage even if
the sweep is killed a moment later, and a resumed sweep (same study name and storage)
counts it and runs only what is missing.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ednax.errors import UsageError
from ednax.sweep import optuna_study as studies
from ednax.sweep.record import SweepRecord, now
from ednax.sweep.space import Param

PAYLOAD_KEY = "ednax_sweep"


def run_search(arguments: list[str], launcher: Any, options: dict[str, Any]) -> dict[str, Any]:
    """Run the search of the sweep named in `arguments`; returns the final sweep.json."""
    record = SweepRecord(payload_path(arguments).parent)
    plan = record.read()
    settings = plan["optuna"]
    space = [Param.from_json(p) for p in settings["search_space"]]
    storage = studies.open_storage(studies.storage_url(options.get("storage"), record.dir))
    study = _open_study(settings, storage, space, plan)
    recovered, orphans = studies.settle_orphans(study, storage, record.dir, settings["objectives"])
    done = studies.counted(study)
    _announce(settings, plan, done, recovered, orphans)
    search = _Search(record, study, storage, space, settings, launcher)
    try:
        search.run()
    except KeyboardInterrupt:
        search.refresh(status="interrupted", ended_at=now())
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

    from ednax.sweep.settings import build_pruner, build_sampler

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
    # A resumed search must not replay the random draws of its first session.
    seed = None if seed is None else seed + len(study.get_trials(deepcopy=False))
    sampler = build_sampler(settings["sampler"], seed, space, studies.plain_problem)
    pruner = build_pruner(settings["pruner"], studies.plain_problem)
    return optuna.load_study(
        study_name=settings["study_name"], storage=storage, sampler=sampler, pruner=pruner
    )


def _announce(
    settings: dict[str, Any], plan: dict, done: int, recovered: list[int], orphans: list[int]
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
    print(line, flush=True)
    if recovered:
        numbers = ", ".join(map(str, recovered))
        print(f"trial(s) {numbers} had ended when the sweep stopped: taken from their bundles")
    if orphans:
        numbers = ", ".join(map(str, orphans))
        print(f"trial(s) {numbers} were cut short by a stopped sweep: run again", flush=True)
    for note in settings.get("notes", []):
        print(f"note: {note}", flush=True)


class _Search:
    def __init__(self, record, study, storage, space, settings, launcher):
        self.record = record
        self.study = study
        self.storage = storage
        self.space = space
        self.settings = settings
        self.launcher = launcher
        self.multi = len(settings["objectives"]) > 1

    def run(self) -> None:
        distributions = {p.key: p.distribution() for p in self.space}
        payload = f"+{PAYLOAD_KEY}={_quote(self.record.path)}"
        deadline = _deadline(self.settings["timeout"])
        while True:
            remaining = self.settings["n_trials"] - studies.counted(self.study)
            if remaining <= 0:
                return
            if deadline is not None and time.monotonic() >= deadline:
                print(f"timeout: {self.settings['timeout']:g} s passed, no new trials", flush=True)
                return
            batch = min(self.settings["n_jobs"], remaining)
            trials = [self._ask(distributions) for _ in range(batch)]
            self.refresh()
            jobs = [[payload, f"+ednax_trial={t.number}"] for t in trials]
            self._launch(jobs, trials)
            self.refresh()

    def _ask(self, distributions: dict[str, Any]) -> Any:
        trial = self.study.ask(distributions)
        trial.set_user_attr(studies.OWNER_ATTR, studies.owner())
        return trial

    def _launch(self, jobs: list[list[str]], trials: list[Any]) -> None:
        try:
            returns = self.launcher.launch(jobs, initial_job_idx=trials[0].number)
        except KeyboardInterrupt:
            self._close_unfinished(trials, None, interrupted=True)
            raise
        except Exception as exc:  # a launcher that lost its workers: those trials failed
            self._close_unfinished(trials, f"the launcher failed: {type(exc).__name__}: {exc}")
            return
        for trial, job_return in zip(trials, returns, strict=False):
            error = _job_error(job_return)
            if error:
                self._close_unfinished([trial], error)
        self._close_unfinished(trials, "the job ended without telling the study how")

    def _close_unfinished(self, trials: list[Any], reason: str | None, interrupted=False):
        from optuna.trial import TrialState

        states = {t.number: t.state for t in self.study.get_trials(deepcopy=False)}
        for trial in trials:
            if states.get(trial.number) != TrialState.RUNNING:
                continue
            if interrupted:
                studies.finish_interrupted(self.study, trial, [])
                continue
            trial.set_user_attr(studies.RESULT_ATTR, {"status": "failed", "error": reason})
            self.study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
            print(f"trial {trial.number} failed: {reason}", flush=True)

    def refresh(self, **fields: Any) -> dict[str, Any]:
        """Rebuild the jobs of sweep.json from the storage (the study is the truth)."""
        trials = self.study.get_trials(deepcopy=False)
        jobs = [studies.trial_entry(t, self.multi) for t in trials]
        counts: dict[str, int] = {}
        for job in jobs:
            counts[job["status"]] = counts.get(job["status"], 0) + 1

        def change(data: dict[str, Any]) -> None:
            data.update(jobs=jobs, counts=counts, **fields)

        return self.record.update(change)

    def finish(self) -> dict[str, Any]:
        from ednax.sweep.plots import write_plots

        best = self._best()
        plots, notes = write_plots(self.study, self.record.dir, self.settings["objectives"])
        return self.refresh(
            status="completed",
            ended_at=now(),
            best=best,
            plots=plots,
            notes=[*self.settings.get("notes", []), *notes],
        )

    def _best(self) -> list[dict[str, Any]]:
        from optuna.trial import TrialState

        if not self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            return []
        best = self.study.best_trials if self.multi else [self.study.best_trial]
        return [studies.trial_entry(t, self.multi) for t in best]


def _job_error(job_return: Any) -> str | None:
    """The error of a job whose task function raised (ednax's never does on purpose)."""
    try:
        _ = job_return.return_value
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def _deadline(timeout: float | None) -> float | None:
    return None if timeout is None else time.monotonic() + timeout


def _quote(path: Path) -> str:
    from ednax.sweep.hydra_run import quote

    return quote(path)
