"""The scikit-learn half of the engine: fit an estimator, score every split, save it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ednax.engine.metrics import build_metrics, predictions_csv, score
from ednax.engine.predict import estimator_outputs
from ednax.errors import ConfigError, Problem
from ednax.registry import REGISTRY, Registry
from ednax.steps.base import Dataset

if TYPE_CHECKING:
    from ednax.engine.context import RunContext
    from ednax.engine.spec import ResolvedConfig


def fit_estimator(
    experiment: RunContext, dataset: Dataset, prefix: str = ""
) -> dict[str, dict[str, float]]:
    cfg = experiment.config
    model_section = cfg["model"]
    metrics = build_metrics(cfg["metrics"]["names"], dataset.task)
    model, estimator, needs = _checked_estimator(model_section, dataset.task, metrics, REGISTRY)
    train = dataset.splits["train"]
    auto = getattr(model, "probability", False) is None
    why = f" (probabilities for {', '.join(needs)})" if needs and auto else ""
    experiment.say(f"model: {model_section['type']} -> {type(estimator).__name__}{why}")
    estimator.fit(train.X, train.y)
    outputs = {
        name: estimator_outputs(estimator, split.X) for name, split in dataset.splits.items()
    }
    trainer = REGISTRY.build("trainer", cfg["trainer"])
    if trainer.refit_on_train_val and "val" in dataset.splits:
        estimator = _refit_on_train_val(estimator, dataset)
        if "test" in dataset.splits:
            outputs["test"] = estimator_outputs(estimator, dataset.splits["test"].X)
    results = {name: score(metrics, dataset.splits[name].y, *outputs[name]) for name in outputs}
    _save(experiment, estimator, dataset, outputs.get("test"), prefix)
    for split, values in results.items():
        shown = ", ".join(f"{k} {v:.4f}" for k, v in values.items())
        experiment.note(f"{prefix}{split}: {shown}")
    return results


def estimator_problems(config: ResolvedConfig, registry: Registry = REGISTRY) -> list[Problem]:
    """What building an estimator config's estimator shows before any data is loaded: a
    value scikit-learn's own rules refuse (`max_depth: 0`), a model that does not serve
    the task, a metric needing probabilities the model does not give. Checked by
    `validate`, by a run before its bundle and by a sweep before its jobs, not by
    `load_config`, which stays clear of scikit-learn's imports (about a second). Nothing
    for a torch config, or one whose task the data must tell."""
    if config.family != "sklearn" or config.task is None:
        return []
    try:
        metrics = build_metrics(config["metrics"]["names"], config.task)
        _checked_estimator(config["model"], config.task, metrics, registry)
    except ConfigError as exc:
        return [config.locate(p) for p in exc.problems]
    except Exception:  # a plugin's own failure: its fit reports it, with the traceback
        return []
    return []


def _checked_estimator(
    model_section: dict[str, Any], task: str, metrics: dict[str, Any], registry: Registry
) -> tuple[Any, Any, list[str]]:
    """(the model step, its unfitted estimator, the metrics needing probabilities), the
    estimator giving probabilities where a metric needs them (else a ConfigError)."""
    needs = [name for name, m in metrics.items() if getattr(m, "needs_proba", False)]
    model = registry.build("model", model_section)
    estimator = _build_estimator(model, task, needs)
    _check_probabilities(estimator, needs, model_section["type"])
    return model, estimator, needs


def _build_estimator(model: Any, task: str, needs: list[str]) -> Any:
    """The model's estimator; a model whose `probability` is left to ednax (None) gives
    probabilities only when a metric needs them: they cost (an SVC's calibration fits it
    six times), and scikit-learn's `predict` does not use them."""
    if getattr(model, "probability", False) is None and hasattr(model, "get_params"):
        model = type(model)(**{**model.get_params(), "probability": bool(needs)})
    return model.build(task)


def _check_probabilities(estimator: Any, needs: list[str], model_name: str) -> None:
    if needs and not hasattr(estimator, "predict_proba"):
        raise ConfigError(
            Problem(
                f"metric(s) {', '.join(needs)} need class probabilities, which model "
                f"'{model_name}' does not give",
                path="metrics.names",
                hint="remove them, or choose a model with probabilities "
                "(for svm: model.probability=true)",
            )
        )


def _refit_on_train_val(estimator: Any, dataset: Dataset) -> Any:
    from sklearn.base import clone

    train, val = dataset.splits["train"], dataset.splits["val"]
    fresh = clone(estimator)
    fresh.fit(np.concatenate([train.X, val.X]), np.concatenate([train.y, val.y]))
    return fresh


def _save(
    experiment: RunContext,
    estimator: Any,
    dataset: Dataset,
    test_output: tuple | None,
    prefix: str,
) -> None:
    save = experiment.save
    bundle = experiment.bundle
    if save.model:
        bundle.save_artifact(f"{prefix}model.pkl", estimator)
    if save.predictions and test_output is not None:
        y_pred, proba = test_output
        bundle.write_artifact_text(
            f"{prefix}predictions.csv",
            predictions_csv(dataset.splits["test"], y_pred, proba, dataset.classes),
        )
