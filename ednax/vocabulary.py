"""The words every layer shares, each defined once: sections, splits, families, experiment
names, monitors and their directions.

The config layer, the engine, sweeps and the run store all import these; this module
imports nothing of ednax but its errors, so any layer may.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ednax.errors import Problem, did_you_mean

SPLITS = ("train", "val", "test")
# The splits a train loop logs every epoch (what early stopping and schedules can watch).
FIT_SPLITS = ("train", "val")
FAMILIES = ("sklearn", "torch")
MODES = ("min", "max")
LOSS = "loss"


@dataclass(frozen=True)
class Section:
    """A top-level section of a config. `kind` is the registry kind of its steps (None for
    ednax's own sections); `many` sections hold a list of steps; `families` are the model
    families it applies to."""

    name: str
    kind: str | None = None
    many: bool = False
    families: tuple[str, ...] = FAMILIES


_TORCH = ("torch",)

# In the order a resolved config is written.
SECTIONS: tuple[Section, ...] = (
    Section("experiment"),
    Section("imports"),
    Section("data", "data"),
    Section("preprocess", "preprocess", many=True),
    Section("model", "model"),
    Section("weights", "weights", families=_TORCH),
    Section("loss", "loss", families=_TORCH),
    Section("optimizer", "optimizer", families=_TORCH),
    Section("scheduler", "scheduler", families=_TORCH),
    Section("trainer", "trainer"),
    Section("callbacks", "callback", many=True, families=_TORCH),
    Section("save", "save"),
    Section("tracker", "tracker"),
    Section("evaluation"),
    Section("metrics"),
)
SECTION_NAMES = tuple(s.name for s in SECTIONS)
# Sections holding one step, whose class a switch (`model=svm`) replaces.
STEP_SECTIONS = tuple(s.name for s in SECTIONS if s.kind and not s.many)
# Sections holding a list of steps, and the registry kind of each item.
LIST_SECTIONS = {s.name: s.kind for s in SECTIONS if s.many and s.kind}
# Sections that say where a run is reported, not what it is: they change neither the run's
# fingerprints nor its version (tracking is not part of the experiment).
REPORTING_SECTIONS = ("tracker",)


def section(name: str) -> Section:
    return next(s for s in SECTIONS if s.name == name)


# -- names that become folders: experiments, studies ---------------------------------------

NAME_MAX_LENGTH = 128
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
NAME_RULE = (
    "use letters, digits, '-', '_' and '.', starting with a letter or digit, "
    f"at most {NAME_MAX_LENGTH} characters"
)


def name_problem(name: str) -> str | None:
    """Why `name` cannot name a folder (an experiment's, a sweep's), or None if it can."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        return f"'{name}' cannot name a folder"
    if len(name) > NAME_MAX_LENGTH:
        return f"the name is {len(name)} characters long; at most {NAME_MAX_LENGTH} fit"
    return None


# -- monitors: `split/metric` --------------------------------------------------------------


@dataclass(frozen=True)
class Monitor:
    """A logged value: `val/accuracy` is the metric accuracy on the val split."""

    split: str
    metric: str

    @classmethod
    def parse(cls, text: str) -> Monitor:
        split, _, metric = str(text).partition("/")
        return cls(split, metric)

    def __str__(self) -> str:
        return f"{self.split}/{self.metric}"


def monitor_names(
    metrics: list[str], splits: tuple[str, ...] = FIT_SPLITS, *, with_loss: bool = True
) -> list[str]:
    """Every `split/metric` a run logs for these metric names (and the loss, if trained)."""
    names = [*metrics, LOSS] if with_loss else list(metrics)
    return [f"{split}/{name}" for split in splits for name in names]


def monitor_problems(
    name: str,
    metrics: list[str],
    *,
    path: str,
    purpose: str = "monitor",
    splits: tuple[str, ...] = FIT_SPLITS,
    with_loss: bool = True,
    has_val: bool | None = None,
) -> list[Problem]:
    """Whether `name` is a value the run logs, and (`has_val` known) one it will have: a
    `val/` monitor needs a val split. `purpose` words the message ("stop early on")."""
    known = monitor_names(metrics, splits, with_loss=with_loss)
    if name not in known:
        return [
            Problem(
                f"cannot {purpose} '{name}': it is not logged by this run",
                path=path,
                hint=did_you_mean(str(name), known, "monitor"),
            )
        ]
    if has_val is False and Monitor.parse(name).split == "val":
        return [
            Problem(
                f"cannot {purpose} '{name}': it needs a val split, and the data has none",
                path=path,
                hint="give the data step a val fraction, or watch a train/ metric",
            )
        ]
    return []


def optuna_direction(mode: str) -> str:
    """A monitor mode as Optuna names it."""
    return "maximize" if mode == "max" else "minimize"
