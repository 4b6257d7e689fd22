"""The kinds of step: what each is for, which class it defaults to, which constructor
arguments the engine supplies, which parameters are nested sections of another kind, and
whether its classes are recipes that build the object the engine uses.

A kind is the unit of extension: a new kind is one entry here (and its built-in classes in
`builtins.py`); the config layer, the reference pages and `ednax registry` follow from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

ANY = "*"


@dataclass(frozen=True)
class Kind:
    """A kind of step.

    `defaults` maps a model family or a task (or `*`, any) to the class a section of this
    kind gets when it names none; for `metric`, to the default list of names. `injected`
    parameters are supplied by the engine, not the config. `nested` maps a parameter to the
    kind of the section it holds (`trainer.early_stopping` is an `early_stopping`). A
    `recipe` kind's classes may be recipes: their `build()` makes the object the engine
    uses (an optimizer from its settings); a class without one is that object itself. A
    `checked` kind's classes may check values beyond their types with `problems()`; they
    are built during validation, so they must be light to import.
    """

    name: str
    doc: str
    injected: tuple[str, ...] = ()
    defaults: Mapping[str, Any] = field(default_factory=dict)
    nested: Mapping[str, str] = field(default_factory=dict)
    recipe: bool = False
    checked: bool = False

    def default_for(self, *contexts: str | None) -> Any:
        """The default for the first context (family, task) this kind has one for."""
        for context in (*contexts, ANY):
            if context in self.defaults:
                return self.defaults[context]
        return None

    def nested_section(self, value: Any) -> Any:
        """A nested section as the config may write it, in full: a name is `{type: name}`,
        a mapping without `type` gets the default class, `none` (or null) is None.
        Anything else is returned as it is, for the caller to reject."""
        if value is None or value == "none":
            return None
        if isinstance(value, str):
            return {"type": value}
        if isinstance(value, dict) and "type" not in value:
            default = self.default_for()
            return {"type": default, **value} if default else value
        return value

    def product(self, instance: Any) -> Any:
        """What the engine uses of a built step: a recipe's product, or the step itself."""
        if self.recipe and callable(getattr(instance, "build", None)):
            return instance.build()
        return instance


KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind("data", "loads the raw data and splits it into train/val/test"),
        Kind("preprocess", "fitted on train only, applied to every split"),
        Kind(
            "model",
            "a torch nn.Module or a scikit-learn estimator",
            injected=(
                "in_features",
                "out_features",
                "input_shape",
                "task",
                "vocab_size",
                "pad_id",
                "max_length",
            ),
        ),
        Kind(
            "weights",
            "initial weights: a checkpoint, another run, or an init scheme",
            defaults={"torch": "none"},
        ),
        Kind(
            "loss",
            "the training loss",
            injected=("task", "num_classes"),
            defaults={"classification": "cross_entropy", "regression": "mse"},
            recipe=True,
        ),
        Kind(
            "optimizer",
            "the torch optimizer",
            injected=("params",),
            defaults={"torch": "adam"},
            recipe=True,
        ),
        Kind(
            "scheduler",
            "the learning-rate schedule",
            injected=("optimizer", "max_epochs", "steps_per_epoch"),
            defaults={"torch": "none"},
            recipe=True,
        ),
        Kind(
            "trainer",
            "the train loop",
            defaults={"sklearn": "sklearn", "torch": "lightning"},
            nested={"early_stopping": "early_stopping", "logger": "logger"},
            checked=True,
        ),
        Kind(
            "early_stopping",
            "when a torch train loop stops before max_epochs (trainer.early_stopping)",
            defaults={ANY: "plateau"},
            checked=True,
        ),
        Kind(
            "logger",
            "an experiment tracker the torch train loop logs to (trainer.logger)",
            injected=("save_dir", "experiment", "run_name"),
            recipe=True,
        ),
        Kind("save", "what the bundle keeps", defaults={ANY: "bundle"}),
        Kind(
            "tracker",
            "where every run (estimator or torch) is also recorded: an MLflow tracking store",
            injected=("runs_dir", "experiment"),
            defaults={ANY: "none"},
            checked=True,
        ),
        Kind("callback", "a Lightning callback added to the train loop (torch)"),
        Kind(
            "metric",
            "a score computed on each split",
            defaults={
                "classification": ("accuracy", "f1_macro"),
                "regression": ("rmse", "mae", "r2"),
            },
        ),
        Kind(
            "module",
            "a LightningModule replacing the built-in train loop (trainer.module)",
            injected=("model", "loss", "optimizer", "schedule", "metrics", "task"),
        ),
    )
}
