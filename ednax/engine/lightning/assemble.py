"""Build the torch steps of a run from their resolved config sections.

Sizes come from the data, not from the config: `in_features` is the number of feature
columns, `out_features` the number of classes (or 1 for regression), `input_shape` the
image shape of image data; text data adds its tokenizer's `vocab_size`, `pad_id` and
`max_length`, and `in_features` counts its extra numeric columns. A value that a
constructor or torch rejects becomes a ConfigError on the offending key (`optimizer.lr`),
found from the error's message.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np
from torch import nn

from ednax.engine.lightning.module import EdnaxModule, Schedule
from ednax.errors import ConfigError, Problem
from ednax.registry import KINDS, REGISTRY, Registry
from ednax.steps.base import Dataset

# Phrases torch uses in its error messages for a parameter, where the name itself is absent.
_PHRASES = {
    "learning rate": "lr",
    "dropout probability": "dropout",
    "epsilon": "eps",
    "beta parameter": "betas",
    "nesterov": "nesterov",
}


# What an optional section of a torch fit is when the config leaves it out.
def model_sizes(dataset: Dataset) -> dict[str, Any]:
    """The engine-supplied model arguments for `dataset`."""
    train = dataset.splits["train"]
    out_features = num_classes(dataset) if dataset.task == "classification" else 1
    if dataset.modality == "text":
        return text_sizes(dataset.vocabulary, len(train.extra_names), out_features, dataset.task)
    image = dataset.modality == "image"
    return {
        "in_features": int(np.prod(dataset.input_shape) if image else np.asarray(train.X).shape[1]),
        "out_features": out_features,
        "input_shape": tuple(dataset.input_shape) if dataset.input_shape else None,
        "task": dataset.task,
    }


def text_sizes(vocabulary: Any, extras: int, out_features: int, task: str) -> dict[str, Any]:
    """A text model's engine-supplied arguments: the tokenizer's `Vocabulary` (size, pad
    id, max length) and the number of extra numeric columns as `in_features`."""
    return {
        "in_features": extras,
        "out_features": out_features,
        "input_shape": None,
        "task": task,
        "vocab_size": int(vocabulary.size),
        "pad_id": int(vocabulary.pad_id),
        "max_length": None if vocabulary.max_length is None else int(vocabulary.max_length),
    }


def num_classes(dataset: Dataset) -> int:
    if dataset.num_classes is not None:
        return dataset.num_classes
    return int(max(int(np.max(s.y)) for s in dataset.splits.values() if len(s)) + 1)


def build_model(dataset: Dataset, section: dict, registry: Registry = REGISTRY) -> nn.Module:
    return model_for(model_sizes(dataset), section, registry)


def model_for(sizes: dict[str, Any], section: dict, registry: Registry = REGISTRY) -> nn.Module:
    """The model of `section`, built with the engine-supplied sizes (`model_sizes`)."""
    with rejected_values("model", section):
        model = registry.build("model", section, path="model", **sizes)
    if not isinstance(model, nn.Module):
        raise ConfigError(
            Problem(
                f"model '{section['type']}' is not a torch nn.Module and cannot be trained "
                "by the lightning trainer",
                path="model.type",
                hint="use trainer: {type: sklearn} for scikit-learn estimators",
            )
        )
    return model


def apply_weights(section: dict, model: nn.Module, registry: Registry = REGISTRY) -> str | None:
    """Apply the weights step to `model`; returns a note for the log."""
    with rejected_values("weights", section):
        spec = registry.build("weights", section, path="weights")
        return spec.apply(model)


def build_loss(dataset: Dataset, section: dict, registry: Registry = REGISTRY) -> Any:
    classes = num_classes(dataset) if dataset.task == "classification" else None
    return loss_for(dataset.task, classes, section, registry)


def loss_for(task: str, classes: int | None, section: dict, registry: Registry = REGISTRY) -> Any:
    """The loss of `section` for a `task` with `classes` classes (None for regression)."""
    injected: dict[str, Any] = {"task": task}
    if classes is not None:
        injected["num_classes"] = classes
    with rejected_values("loss", section):
        return registry.make("loss", section, path="loss", **injected)


def build_optimizer(section: dict, params: Iterable[Any], registry: Registry = REGISTRY) -> Any:
    with rejected_values("optimizer", section):
        return registry.make("optimizer", section, path="optimizer", params=list(params))


def build_schedule(
    section: dict,
    optimizer: Any,
    *,
    max_epochs: int,
    steps_per_epoch: int,
    registry: Registry = REGISTRY,
) -> Schedule | None:
    with rejected_values("scheduler", section):
        spec = registry.build(
            "scheduler",
            section,
            path="scheduler",
            optimizer=optimizer,
            max_epochs=max_epochs,
            steps_per_epoch=steps_per_epoch,
        )
        scheduler = KINDS["scheduler"].product(spec)
    if scheduler is None:
        return None
    return Schedule(
        scheduler,
        interval=getattr(spec, "interval", "epoch"),
        monitor=getattr(spec, "monitor", None),
    )


def build_optimization(
    sections: dict[str, dict],
    model: nn.Module,
    options: Any,
    batches: int,
    registry: Registry = REGISTRY,
) -> tuple[Any, Schedule | None]:
    """The optimizer of the model's parameters and its schedule (None without one);
    `batches` is the number of training batches per epoch (for per-step schedules)."""
    optimizer = build_optimizer(sections["optimizer"], model.parameters(), registry)
    schedule = build_schedule(
        section(sections, "scheduler"),
        optimizer,
        max_epochs=options.max_epochs,
        steps_per_epoch=math.ceil(batches / options.accumulate_grad_batches),
        registry=registry,
    )
    return optimizer, schedule


def train_loop(
    module_class: type[EdnaxModule],
    module_args: dict[str, Any] | None,
    *,
    model: nn.Module,
    loss: Any,
    task: str,
    optimizer: Any = None,
    schedule: Schedule | None = None,
    metrics: Mapping[str, Any] | None = None,
) -> EdnaxModule:
    """The train loop (`trainer.module`, or the built-in) around the built steps, with the
    config's `trainer.module_args`. Prediction needs no optimizer, schedule or metrics."""
    return module_class(
        model=model,
        loss=loss,
        optimizer=optimizer,
        schedule=schedule,
        metrics=metrics or {},
        task=task,
        **(module_args or {}),
    )


def section(sections: dict[str, dict], name: str) -> dict:
    """An optional section of a torch fit; left out, its kind's default class."""
    return sections.get(name) or {"type": KINDS[name].default_for("torch")}


@contextlib.contextmanager
def rejected_values(path: str, section: dict) -> Iterator[None]:
    """Turn a ValueError/TypeError of building a step into a ConfigError on the key at fault."""
    try:
        yield
    except ConfigError as exc:
        cause = exc.__cause__
        generic = len(exc.problems) == 1 and exc.problems[0].path == path
        if not generic or not isinstance(cause, (ValueError, TypeError)):
            raise
        raise _rejected(path, section, cause) from cause
    except (ValueError, TypeError) as exc:
        raise _rejected(path, section, exc) from exc


def _rejected(path: str, section: dict, exc: BaseException) -> ConfigError:
    name = section.get("type", path)
    key = key_named_in(str(exc), [k for k in section if k != "type"])
    if key is None:
        return ConfigError(
            Problem(
                f"{name} rejected its arguments: {exc}",
                path=path,
                hint=f"check the values under '{path}'",
            )
        )
    return ConfigError(
        Problem(f"{name} rejected {key}={section[key]!r}: {exc}", path=f"{path}.{key}")
    )


def key_named_in(message: str, keys: list[str]) -> str | None:
    """The config key an error message is about, if it names one (or a phrase for one)."""
    lowered = message.lower()
    for phrase, key in _PHRASES.items():
        if phrase in lowered and key in keys:
            return key
    for key in sorted(keys, key=len, reverse=True):
        if re.search(rf"(?<![\w]){re.escape(key.lower())}(?![\w])", lowered):
            return key
    return None
