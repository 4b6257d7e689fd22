"""`ednax run CONFIG -m ...`: plan a sweep, check every job, then hand it to Hydra.

    prepare_sweep   overrides split (hydra.* / hydra/... configure the sweep; the rest are
                    the jobs'), the composed hydra: section read for the sweeper and
                    launcher, then either
                      grid   (Hydra's basic sweeper): the grid expanded, every job's
                             config validated
                      optuna (hydra/sweeper=ednax_optuna): the search space parsed, its
                             corner points validated, the sweeper's settings checked
    start_sweep     sweep folder and sweep.json written, Hydra's multirun started; grid
                    jobs the launcher lost (a killed process, a cluster job that never
                    ran) recorded as failed with the launcher's reason

A bad config, override or search-space entry stops the sweep before any job runs (exit 2).
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ednax.config.plugins import import_source_plugins
from ednax.config.source import SourceFile, command_line_problem, read_source
from ednax.engine.signals import sigterm_raises
from ednax.engine.tracking import tracked_sweep
from ednax.errors import ConfigError, Problem, UsageError
from ednax.registry import REGISTRY
from ednax.sweep import grid, hydra_run, search_space, secrets
from ednax.sweep import overrides as sweep_overrides
from ednax.sweep import settings as optuna_settings
from ednax.sweep.jobs import run_job
from ednax.sweep.record import (
    SweepRecord,
    best_job,
    count_statuses,
    launcher_message,
    named_sweep_dir,
    new_sweep_dir,
    now,
    settle_unfinished,
)
from ednax.sweep.search_space import Param
from ednax.sweep.storage import mask_password
from ednax.vocabulary import STEP_SECTIONS

GRID, OPTUNA = "grid", "optuna"
PARAMS_PATH = sweep_overrides.PARAMS_PATH
_CLI_ORIGIN = re.compile(r"^\(set on the command line by '[^']*'\);?\s*")


@dataclass
class SweepPlan:
    """A checked sweep, ready to start."""

    kind: str
    source: SourceFile
    hydra_overrides: list[str]
    launcher: str
    experiment: dict[str, Any]
    metrics: dict[str, Any]
    jobs: list[list[str]] = field(default_factory=list)  # grid
    fixed: list[str] = field(default_factory=list)  # optuna: every trial's overrides
    params: list[Param] = field(default_factory=list)  # optuna
    settings: Any = None  # optuna: OptunaSettings
    family: str = "sklearn"
    submitit_folder: str | None = None  # hydra.launcher.submitit_folder, unresolved
    cache: bool = True  # whether the jobs' preprocessing may use the cache
    tracker: dict[str, Any] | None = None  # the first job's `tracker`: the sweep's parent run


def declares_search(config_file: str | Path, overrides: list[str]) -> bool:
    """Whether the config file (or an override) sets a sweep's parameters
    (`hydra.sweeper.params`): what `ednax validate` then checks as a sweep's plan."""
    hydra = read_source(config_file).content.get("hydra") or {}
    sweeper = hydra.get("sweeper") if isinstance(hydra, dict) else None
    in_file = isinstance(sweeper, dict) and bool(sweeper.get("params"))
    return in_file or any(o.lstrip("+~").startswith("hydra.sweeper.params") for o in overrides)


def prepare_sweep(
    config_file: str | Path, overrides: list[str], *, cache: bool = True
) -> SweepPlan:
    """The checked plan of `ednax run CONFIG -m OVERRIDES...`; `cache=False` (`--no-cache`)
    makes every job fit its preprocessing afresh, neither reading nor filling the cache."""
    source = read_source(config_file)
    overrides = [_search_entry_of(o) or o for o in overrides]
    hydra_overrides = [o for o in overrides if hydra_run.is_hydra_override(o)]
    job_overrides = [o for o in overrides if not hydra_run.is_hydra_override(o)]
    _import_plugins(source)  # the config's own classes, so that glob() sees them
    section = hydra_run.hydra_section(source, hydra_overrides)
    sweeper = section["sweeper"]
    target = sweeper.get("_target_")
    launcher = section["launcher_name"]
    hydra_run.check_launcher_settings(section["launcher"], hydra_overrides, source)
    if target == hydra_run.BASIC_SWEEPER:
        plan = _prepare_grid(source, hydra_overrides, job_overrides, sweeper, launcher)
    elif target == hydra_run.OPTUNA_SWEEPER:
        plan = _prepare_optuna(source, hydra_overrides, job_overrides, sweeper, launcher)
    else:
        raise UsageError(
            f"ednax sweeps with Hydra's basic sweeper (grids) or hydra/sweeper=ednax_optuna, "
            f"not {target}"
        )
    plan.submitit_folder = section["submitit_folder"]
    plan.cache = cache
    return plan


def _search_entry_of(override: str) -> str | None:
    """A sweep entry written as a Hydra setting (`hydra.sweeper.params.model.lr=
    interval(1e-4, 1e-1)`) as the entry it sets (`model.lr=interval(1e-4, 1e-1)`), which
    replaces the config's entry of that key as any sweep override does. Composed as a
    setting of Hydra's own, its sweep would be refused ("requires --multirun")."""
    key = override.removeprefix("+")
    if override.startswith("~") or not key.startswith(f"{PARAMS_PATH}."):
        return None
    return key.removeprefix(f"{PARAMS_PATH}.") or None


def start_sweep(
    plan: SweepPlan, command: list[str], say: Callable[[str], None] = print
) -> dict[str, Any]:
    """Write the sweep folder and sweep.json, run Hydra's multirun; returns sweep.json."""
    hydra_run.check_launcher(plan.launcher)
    record = SweepRecord(_sweep_dir(plan))
    resumed = record.exists()
    launcher_settings = hydra_run.launcher_settings(plan.submitit_folder, record.dir)
    record.write(_record(plan, record, command, resumed, bool(launcher_settings)))
    payload = [f"+ednax_sweep={hydra_run.quote(record.path)}"]
    if plan.kind == GRID:
        payload.append(f"+ednax_job=range(0,{len(plan.jobs)})")
        say(f"grid: {len(plan.jobs)} job(s), {plan.launcher} launcher -> {record.dir}")
    else:
        say(f"optuna: {plan.launcher} launcher -> {record.dir}")
    if launcher_settings:
        say(f"job output (submitit): {hydra_run.submitit_dir(record.dir)}")
    secrets.hold([*plan.fixed, *(o for job in plan.jobs for o in job)])
    launcher_error = None
    try:
        # A scheduler stopping the sweep takes the Ctrl-C path; a tracked sweep (tracker:
        # mlflow) is a parent run, created before any job and ended with the sweep.
        with sigterm_raises(), tracked_sweep(plan.tracker, plan.experiment, record.read, say):
            hydra_run.multirun(
                plan.source,
                hydra_overrides=[*plan.hydra_overrides, *launcher_settings],
                payload=payload,
                sweep_dir=record.dir,
                job_name=plan.experiment["name"],
                task=run_job,
                basic_sweeper=plan.kind == GRID,
            )
    except KeyboardInterrupt:
        record.update(lambda data: data.update(status="interrupted", ended_at=now()))
        raise
    except Exception as exc:
        reason = f"{type(exc).__name__}: {exc}"
        if plan.kind != GRID or isinstance(exc, ConfigError):
            record.update(lambda data: data.update(status="failed", ended_at=now(), error=reason))
            raise
        # The launcher lost jobs (a killed process, a cluster job that failed or never
        # ran): those jobs failed, and sweep.json says so; the others keep their record.
        launcher_error = launcher_message(reason)
    if plan.kind == GRID:
        return record.update(lambda data: _finish_grid(data, record.dir, launcher_error))
    return record.read()


def _finish_grid(data: dict[str, Any], sweep_dir: Path, launcher_error: str | None) -> None:
    settle_unfinished(data["jobs"], launcher_error, sweep_dir, data["monitor"])
    data["counts"] = count_statuses(data["jobs"])
    best = best_job(data["jobs"], data["mode"])
    data.update(status="failed" if launcher_error else "completed", ended_at=now())
    data["best"] = [best] if best else []
    if launcher_error:
        data["error"] = f"the launcher failed: {launcher_error}"


def _sweep_dir(plan: SweepPlan) -> Path:
    runs_dir, name = Path(plan.experiment["runs_dir"]), plan.experiment["name"]
    if plan.kind == OPTUNA and plan.settings.study_name:
        return named_sweep_dir(runs_dir, name, plan.settings.study_name)
    return new_sweep_dir(runs_dir, name)


def _record(
    plan: SweepPlan, record: SweepRecord, command: list[str], resumed: bool, submitit: bool
):
    data: dict[str, Any] = {
        "id": record.dir.name,
        "dir": str(record.dir),
        "kind": plan.kind,
        "experiment": plan.experiment["name"],
        "status": "running",
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started_at": now(),
        "ended_at": None,
        "command": [mask_password(part) for part in command],
        "config_file": str(plan.source.path),
        "overrides": plan.fixed if plan.kind == OPTUNA else [],
        "hydra_overrides": [mask_password(o) for o in plan.hydra_overrides],
        "launcher": plan.launcher,
        "seed": plan.experiment["seed"],
        "monitor": plan.metrics["monitor"],
        "mode": plan.metrics["mode"],
        "cache": plan.cache,
    }
    if submitit:
        data["job_output"] = str(hydra_run.submitit_dir(record.dir))
    if plan.kind == GRID:
        data["jobs"] = [
            {"index": i, "overrides": job, "status": "pending"} for i, job in enumerate(plan.jobs)
        ]
        data["counts"] = count_statuses(data["jobs"])
        return data
    settings = plan.settings.to_json()
    settings["study_name"] = plan.settings.study_name or record.dir.name
    settings["search_space"] = [p.to_json() for p in plan.params]
    data["optuna"] = settings
    previous = record.read() if resumed else {}
    data["jobs"] = previous.get("jobs", [])
    data["workers"] = previous.get("workers", [])  # other workers on the study
    data["sessions"] = previous.get("sessions", 0) + 1
    return data


# --- grids ---------------------------------------------------------------------------


def _prepare_grid(source, hydra_overrides, job_overrides, sweeper, launcher) -> SweepPlan:
    entries = sweep_overrides.parse_entries(job_overrides, sweeper.get("params"), source=source)
    choices = sweep_overrides.step_choices(STEP_SECTIONS, source.path.parent)
    jobs = grid.grid_jobs(grid.grid_axes(entries, choices))
    first = _validate_jobs(source, jobs)
    return SweepPlan(
        kind=GRID,
        source=source,
        hydra_overrides=hydra_overrides,
        launcher=launcher,
        experiment=first.experiment,
        metrics=first["metrics"],
        jobs=jobs,
        family=first.family,
        tracker=first.get("tracker"),
    )


def _validate_jobs(source: SourceFile, jobs: list[list[str]]):
    """Every job's config, checked before any runs; the first job's resolved config."""
    from ednax.config.resolve import load_config

    first = None
    failures: list[tuple[int, ConfigError]] = []
    for index, job in enumerate(jobs):
        try:
            resolved = load_config(source.path, job)
            _check_job(resolved)
        except ConfigError as exc:
            failures.append((index, exc))
            continue
        first = first or resolved
    if not failures:
        return first
    index, exc = failures[0]
    where = f"in sweep job {index + 1} of {len(jobs)}: {' '.join(jobs[index]) or '(no overrides)'}"
    problems = [_with_hint(p, where) for p in exc.problems]
    if len(failures) > 1:
        problems.append(Problem(f"{len(failures) - 1} more job(s) of the sweep are invalid"))
    raise ConfigError(problems)


def _check_job(resolved: Any) -> None:
    """What a job needs beyond its config's validation: an estimator scikit-learn accepts;
    one process to train in (a trainer that says it needs more is refused here, one whose
    devices are 'auto' when the job starts, if it turns out to)."""
    if resolved.family != "torch":
        from ednax.engine.sklearn import estimator_problems

        problems = estimator_problems(resolved)
        if problems:
            raise ConfigError(problems)
        return
    from ednax.steps.trainers_torch import one_process_problem

    trainer = resolved["trainer"]
    devices, nodes = trainer.get("devices", 1), trainer.get("num_nodes", 1)
    if isinstance(devices, int) and isinstance(nodes, int) and devices * nodes > 1:
        raise ConfigError(resolved.locate(one_process_problem(devices * nodes)))


# --- Optuna --------------------------------------------------------------------------


def _prepare_optuna(source, hydra_overrides, job_overrides, sweeper, launcher) -> SweepPlan:
    locate = _locator(source, hydra_overrides)
    entries = sweep_overrides.parse_entries(job_overrides, sweeper.get("params"), source=source)
    choices = sweep_overrides.step_choices(STEP_SECTIONS, source.path.parent)
    params, fixed = search_space.search_space(entries, choices)
    if not params:
        raise ConfigError(
            locate(
                PARAMS_PATH,
                "the search space is empty",
                "give hydra.sweeper.params in the config (model.max_depth: range(2, 10)) "
                "or sweep overrides on the command line (model.C='interval(0.01, 10)')",
            )
        )
    first = _validate_points(source, fixed, params, entries)
    settings = optuna_settings.read_settings(sweeper, first, locate)
    settings.notes.extend(first.notes)  # a train/ monitor for want of a val split, say
    optuna_settings.build_sampler(settings.sampler, settings.seed, params, locate)
    optuna_settings.build_pruner(settings.pruner, locate)
    if settings.sampler["type"] == "grid":
        size = optuna_settings.grid_size(params)
        if settings.n_trials > size:
            settings.notes.append(f"n_trials is {size}: the grid has {size} points")
            settings.n_trials = size
    return SweepPlan(
        kind=OPTUNA,
        source=source,
        hydra_overrides=hydra_overrides,
        launcher=launcher,
        experiment=first.experiment,
        metrics=first["metrics"],
        fixed=fixed,
        params=params,
        settings=settings,
        family=first.family,
        tracker=first.get("tracker"),
    )


def _validate_points(source, fixed, params, entries):
    """The search space's corner points, checked before any trial runs (a misspelt key, a
    class that does not take a parameter); the first point's resolved config."""
    from ednax.config.resolve import load_config

    origins = {e.key: e.origin for e in entries}
    first = None
    problems: dict[tuple[str, str], Problem] = {}
    for point in search_space.corner_points(params):
        try:
            resolved = load_config(source.path, [*fixed, *point])
            _check_job(resolved)
        except ConfigError as exc:
            for problem in exc.problems:
                located = _relocate(problem, point, params, origins)
                problems.setdefault((located.path, problem.message), located)
            continue
        first = first or resolved
    if problems:
        raise ConfigError(list(problems.values()))
    return first


def _relocate(problem: Problem, point: list[str], params, origins) -> Problem:
    """A problem with a search-space key, pointed at that key's entry."""
    for param in params:
        key = param.key.lstrip("+~")
        if problem.path == key or problem.path.startswith((key + ".", key + "[")):
            hint = _CLI_ORIGIN.sub("", problem.hint or "") or None
            message = f"{problem.message} (search-space point: {' '.join(point)})"
            return origins[param.key].problem(message, hint)
    return problem


def _locator(source: SourceFile, hydra_overrides: list[str]):
    def locate(path: str, message: str, hint: str | None = None) -> Problem:
        for text in hydra_overrides:
            key = text.split("=", 1)[0].lstrip("+~")
            if path == key or path.startswith((key + ".", key + "[")) or key.startswith(path + "."):
                return command_line_problem(message, path, text, hint)
        return source.problem(message, path, hint)

    return locate


def _with_hint(problem: Problem, note: str) -> Problem:
    hint = f"{problem.hint}; {note}" if problem.hint else note
    return Problem(problem.message, problem.path, problem.file, problem.line, hint)


def _import_plugins(source: SourceFile) -> None:
    """The config's `imports:`, a module that does not import located at its line."""

    import_source_plugins(source, REGISTRY)
