"""Checks the scikit-learn estimator steps share while building their estimator.

The task given to `build`, the options that suit only one task, scikit-learn's own
parameter validation turned into config errors on their keys, and logistic regression's
penalty in the terms of the installed scikit-learn.
"""

from __future__ import annotations

import re
from typing import Any

from ednax.errors import ConfigError, Problem
from ednax.steps.base import Step

TASKS = ("classification", "regression")


def check_sklearn_params(estimator: Any, path: str, params: dict[str, Any]) -> Any:
    """`estimator` once scikit-learn's own validation accepts its parameters.

    A rejected value becomes a ConfigError on `<path>.<parameter>` when the parameter is
    one of `params` (the config's keys), else on `path`.
    """
    validate = getattr(estimator, "_validate_params", None)  # scikit-learn >= 1.2
    if validate is None:
        return estimator
    try:
        validate()
    except (ValueError, TypeError) as exc:
        match = re.search(r"The '(\w+)' parameter", str(exc))
        name = match.group(1) if match else None
        key = f"{path}.{name}" if name in params else path
        raise ConfigError(Problem(str(exc), path=key)) from exc
    return estimator


def picked(step: Step, *names: str) -> dict[str, Any]:
    """The named parameters of `step`, as keyword arguments for an estimator."""
    return {name: getattr(step, name) for name in names}


def with_probabilities(svc: Any) -> Any:
    """`svc` with predict_proba: SVC(probability=True) is deprecated since scikit-learn 1.9;
    this is its replacement: Platt scaling fitted on cross-validated decisions, one SVC
    refitted on all rows."""
    from sklearn.calibration import CalibratedClassifierCV

    return CalibratedClassifierCV(svc, method="sigmoid", ensemble=False)


def check_task(task: str) -> None:
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")


def wrong_task(name: str, task: str, alternatives: str) -> ConfigError:
    needs = "regression" if task == "classification" else "classification"
    return ConfigError(
        Problem(
            f"{name} is for {needs}, but this dataset's task is {task}",
            path="model.type",
            hint=f"for {task} use one of: {alternatives}, random_forest, gradient_boosting, "
            "svm, knn",
        )
    )


def classification_only(step: Step, task: str, name: str) -> None:
    if getattr(step, name) is not None:
        raise ConfigError(
            Problem(
                f"{name} applies to classification only; this dataset's task is {task}",
                path=f"model.{name}",
                hint=f"remove model.{name}",
            )
        )


def check_logistic_solver(step: Any) -> None:
    """A ConfigError when a logistic regression step's solver cannot fit its penalty."""
    penalty, solver, l1_ratio = step.penalty, step.solver, step.l1_ratio
    allowed = {"l1": ("liblinear", "saga"), "elasticnet": ("saga",)}.get(penalty)
    if allowed and solver not in allowed:
        raise ConfigError(
            Problem(
                f"penalty {penalty} needs solver {' or '.join(allowed)}, not {solver}",
                path="model.solver",
                hint=f"set model.solver: {allowed[-1]}",
            )
        )
    if penalty == "elasticnet" and l1_ratio is None:
        raise ConfigError(
            Problem(
                "penalty elasticnet needs l1_ratio",
                path="model.l1_ratio",
                hint="set model.l1_ratio between 0 (l2) and 1 (l1), e.g. 0.5",
            )
        )


def logistic_regularization(step: Any, cls: type) -> dict[str, Any]:
    """A logistic regression step's C, penalty and l1_ratio as arguments of the installed
    scikit-learn's `cls` (1.8 replaced `penalty` by l1_ratio)."""
    C, penalty, l1_ratio = step.C, step.penalty, step.l1_ratio
    if not _penalty_is_deprecated(cls):
        ratio = l1_ratio if penalty == "elasticnet" else None
        return {"C": C, "penalty": penalty, "l1_ratio": ratio}
    if penalty is None:
        return {"C": float("inf"), "l1_ratio": 0.0}
    ratio = {"l2": 0.0, "l1": 1.0}.get(penalty, l1_ratio)
    return {"C": C, "l1_ratio": ratio}


def _penalty_is_deprecated(cls: type) -> bool:
    import inspect

    return inspect.signature(cls).parameters["penalty"].default == "deprecated"
