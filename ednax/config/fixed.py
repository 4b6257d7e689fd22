"""ednax's own sections, resolved: `experiment`, `evaluation`, `metrics`, and what follows
from the metrics: the monitor, its direction and every metric's, early stopping's monitor.

A metric's direction is decided here, once, from its class's `greater_is_better` (a loss
is always lower-is-better); the resolved config carries it to the engine, sweeps and the
bundle, so no later layer guesses it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ednax.config.schema import check_fixed, join_path
from ednax.errors import Suggestions
from ednax.registry import KINDS
from ednax.vocabulary import (
    FIT_SPLITS,
    LOSS,
    NAME_RULE,
    SPLITS,
    Monitor,
    monitor_problems,
    name_problem,
)

if TYPE_CHECKING:
    from ednax.config.context import Resolving
    from ednax.registry import Registry


def resolve_experiment(r: Resolving) -> None:
    values = _fixed(r, "experiment")
    if values is None:
        return
    values["name"] = values["name"] or r.composed.source.path.stem
    problem = name_problem(values["name"])
    if problem:
        r.fail("experiment.name", problem, NAME_RULE)
    problem = runs_dir_problem(values["runs_dir"])
    if problem:
        r.fail("experiment.runs_dir", problem, "choose a folder you can write to")
    r.out["experiment"] = values


def runs_dir_problem(runs_dir: str) -> str | None:
    """Why bundles could not be written under `runs_dir`: it, or the nearest part of it
    that exists, must be a folder this user can write to (the rest is created)."""
    existing = Path(runs_dir).expanduser()
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return f"'{existing}' is a file, so '{runs_dir}' cannot be a folder of runs"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"'{existing}' is not writable (read-only, or not yours)"
    return None


def resolve_evaluation(r: Resolving) -> None:
    values = _fixed(r, "evaluation")
    if values is None:
        return
    if values["random_state"] is None:
        values["random_state"] = r.seed
    if values["strategy"] == "stratified_kfold" and r.task == "regression":
        r.fail(
            "evaluation.strategy",
            "stratified_kfold needs class labels; this is a regression task",
            "use kfold or repeated_kfold",
        )
    r.out["evaluation"] = values


def resolve_metrics(r: Resolving) -> None:
    values = _fixed(r, "metrics")
    if values is None:
        return
    names = values["names"] or list(KINDS["metric"].default_for(r.task) or [])
    if not _known_metrics(r, names):
        return
    for i, name in enumerate(names):
        r.check_task_fit("metric", name, f"metrics.names[{i}]")
    values["names"] = names
    given = values["monitor"]
    if names and not given:
        values["monitor"] = f"{_monitor_split(r)}/{names[0]}"
    if values["monitor"] and _check_monitor(r, values):
        _note_monitor(r, values["monitor"], given)
    r.out["metrics"] = values


def _note_monitor(r: Resolving, monitor: str, given: str | None) -> None:
    """Without a validation split, a monitor chosen for the user is a train/ one, and a
    val/ one the user chose is never logged: either is said, not left silent."""
    if _monitor_split(r) != "train":
        return
    split = Monitor.parse(monitor).split
    if not given and split == "train":
        r.notes.append(
            f"metrics.monitor is {monitor}: there is no validation split (data.val is 0), "
            "so runs are ranked (and sweeps and checkpoints chosen) on the rows they were "
            "trained on; give the data a val fraction (or evaluation.strategy: kfold), or "
            f"set metrics.monitor: {monitor} to say it is meant"
        )
    elif given and split == "val" and r.family != "torch":  # torch refuses it before fitting
        r.notes.append(
            f"metrics.monitor is {monitor}, but there is no validation split (data.val is "
            f"0): the run will have no {monitor} to be ranked by; give the data a val "
            "fraction, or monitor a train/ or test/ metric"
        )


def resolve_early_stopping(r: Resolving) -> None:
    """Early stopping written out in full: its monitor defaults to the experiment's, and
    its mode to that monitor's direction."""
    trainer, metrics = r.out.get("trainer", {}), r.out.get("metrics")
    stopping = trainer.get("early_stopping")
    if not isinstance(stopping, dict) or not metrics or r.problems:
        return
    monitor = stopping.get("monitor") or metrics["monitor"]
    found = monitor_problems(
        monitor,
        metrics["names"],
        path="trainer.early_stopping.monitor",
        purpose="stop early on",
        has_val=_has_val(r),
    )
    if found:
        hint = unlisted_metric_hint(monitor, metrics["names"], r.registry)
        r.fail(found[0].path, found[0].message, hint or found[0].hint)
        return
    same = monitor == metrics["monitor"]
    default = metrics["mode"] if same else mode_of(Monitor.parse(monitor).metric, r.registry)
    stopping.update(monitor=monitor, mode=stopping.get("mode") or default)


def unlisted_metric_hint(monitor: str, names: list[str], registry: Registry) -> str | None:
    """For a monitor (or sweep objective) the run does not log because its metric is a
    known one missing from `metrics.names` (`val/roc_auc`): how to add it."""
    split, _, metric = str(monitor).rpartition("/")
    if split not in SPLITS or metric in names or metric == LOSS:
        return None
    if metric not in registry.names("metric"):
        return None
    listed = ", ".join([*names, metric])
    return (
        f"'{metric}' is a metric, but not one this run computes: add it to metrics.names "
        f"(metrics.names: [{listed}])"
    )


def directions(metrics: dict[str, Any] | None, family: str, registry: Registry) -> dict[str, str]:
    """Every value the run scores, by metric name: "max" if higher is better, else "min"."""
    if not metrics:
        return {}
    names = [*metrics["names"], *([LOSS] if family == "torch" else [])]
    return {name: mode_of(name, registry) for name in names}


def mode_of(metric: str, registry: Registry) -> str:
    """The direction of a metric: its class's `greater_is_better`; a loss is minimised."""
    if metric == LOSS:
        return "min"
    cls = registry.get("metric", metric).load()
    return "max" if getattr(cls, "greater_is_better", True) else "min"


def resolve_scheduler_monitor(r: Resolving) -> None:
    """A schedule that watches a value (plateau's `monitor`) watches one the train loop
    logs every epoch, as the fit would check it."""
    scheduler, metrics = r.out.get("scheduler") or {}, r.out.get("metrics")
    if not scheduler.get("monitor") or not metrics or r.problems:
        return
    monitor = scheduler["monitor"]
    found = monitor_problems(
        monitor,
        metrics["names"],
        path="scheduler.monitor",
        purpose="schedule on",
        has_val=_has_val(r),
    )
    if found:
        hint = unlisted_metric_hint(monitor, metrics["names"], r.registry)
        r.fail(found[0].path, found[0].message, hint or found[0].hint)


def _has_val(r: Resolving) -> bool | None:
    """Whether the run will have a val split, where the config says (a fraction, or
    folds); None where only the data knows (a folder with its own splits)."""
    if r.out.get("evaluation", {}).get("strategy", "holdout") != "holdout":
        return True
    val = r.out.get("data", {}).get("val")
    return bool(val) if isinstance(val, int | float) else None


def _fixed(r: Resolving, section: str) -> dict[str, Any] | None:
    values, issues = check_fixed(section, r.raw.get(section))
    for issue in issues:
        r.fail(join_path(section, issue.loc), issue.message, issue.hint)
    return None if issues else values


def _known_metrics(r: Resolving, names: list[str]) -> bool:
    valid = r.registry.names("metric")
    unknown = [(i, n) for i, n in enumerate(names) if n not in valid]
    for i, name in unknown:
        r.fail(
            f"metrics.names[{i}]",
            f"unknown metric '{name}'",
            Suggestions(valid).hint(name, "metric"),
        )
    return not unknown


def _monitor_split(r: Resolving) -> str:
    data = r.out.get("data", {})
    folds = r.out.get("evaluation", {}).get("strategy", "holdout") != "holdout"
    return "val" if folds or data.get("val", 0.2) else "train"


def _check_monitor(r: Resolving, values: dict[str, Any]) -> bool:
    found = monitor_problems(
        values["monitor"],
        values["names"],
        path="metrics.monitor",
        splits=FIT_SPLITS if r.family == "torch" else SPLITS,  # a fit picks its best epoch
        with_loss=r.family == "torch",
    )
    if found and r.family == "torch" and Monitor.parse(values["monitor"]).split == "test":
        r.fail(
            "metrics.monitor",
            f"a torch run cannot monitor '{values['monitor']}': it picks its best epoch on a "
            "value logged every epoch, and the test split is scored once, at the end",
            f"monitor val/{Monitor.parse(values['monitor']).metric} (test/ scores stay in "
            "metrics.json)",
        )
        return False
    if found:
        hint = unlisted_metric_hint(values["monitor"], values["names"], r.registry)
        r.fail(found[0].path, found[0].message, hint or found[0].hint)
        return False
    if values["mode"] is None:
        values["mode"] = mode_of(Monitor.parse(values["monitor"]).metric, r.registry)
    return True
