"""An Optuna search space: each swept entry as an Optuna distribution.

A search space takes what a grid takes (lists, `choice(...)`, `range(...)`, `glob(...)`)
and also `interval(a, b)` (a float; `int(interval(a, b))` an integer) and `tag(log, ...)`
for a log scale; a `range` becomes an integer (or stepped float) distribution. An entry
with one value is not searched: it is set in every trial.

Every parameter keeps the exact override text of each value, so a trial's parameters turn
back into overrides that ednax composes like any command line (`model=svm` switches the
class, `model.C=0.5` needs no `+`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ednax.errors import ConfigError, Problem
from ednax.sweep.overrides import Entry, glob_values

CATEGORICAL, INT, FLOAT = "categorical", "int", "float"
KNOWN_TAGS = ("log",)


@dataclass
class Param:
    """One dimension of an Optuna search space, named by its override key."""

    key: str
    kind: str
    choices: list[Any] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    low: float | None = None
    high: float | None = None
    step: float | None = None
    log: bool = False

    def distribution(self) -> Any:
        from optuna.distributions import (
            CategoricalDistribution,
            FloatDistribution,
            IntDistribution,
        )

        if self.kind == CATEGORICAL:
            return CategoricalDistribution(self.choices)
        if self.kind == INT:
            step = int(self.step or 1)
            return IntDistribution(int(self.low), int(self.high), step=step, log=self.log)
        return FloatDistribution(self.low, self.high, step=self.step, log=self.log)

    def override(self, value: Any) -> str:
        """The override that sets this parameter to `value` (a value Optuna suggested)."""
        if self.kind == CATEGORICAL:
            return f"{self.key}={self.texts[self.choices.index(value)]}"
        if self.kind == INT:
            return f"{self.key}={int(value)}"
        return f"{self.key}={float(value)!r}"

    def grid_values(self) -> list[Any] | None:
        """Every value, when there are finitely many (for the grid sampler)."""
        if self.kind == CATEGORICAL:
            return list(self.choices)
        if self.step is None:
            return None
        count = round((self.high - self.low) / self.step) + 1
        values = [self.low + i * self.step for i in range(count)]
        if self.kind == INT:
            return [int(v) for v in values]
        return [round(v, 12) for v in values]  # 0.30000000000000004 -> 0.3

    def corner_values(self) -> list[Any]:
        """The values worth validating before a search: every choice, or both bounds."""
        if self.kind == CATEGORICAL:
            return list(self.choices)
        return [self.low, self.high] if self.low != self.high else [self.low]

    def describe(self) -> str:
        if self.kind == CATEGORICAL:
            return f"choice({', '.join(self.texts)})"
        extras = [f"step {self.step:g}"] if self.step is not None and self.step != 1 else []
        extras += ["log"] if self.log else []
        suffix = f" ({', '.join(extras)})" if extras else ""
        return f"{self.kind} in [{self.low:g}, {self.high:g}]{suffix}"

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "kind": self.kind,
            "choices": self.choices,
            "texts": self.texts,
            "low": self.low,
            "high": self.high,
            "step": self.step,
            "log": self.log,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Param:
        return cls(**data)


def search_space(
    entries: list[Entry], step_names: dict[str, list[str]]
) -> tuple[list[Param], list[str]]:
    """The Optuna parameters and the fixed overrides among `entries`."""
    problems: list[Problem] = []
    params: list[Param] = []
    fixed: list[str] = []
    for entry in entries:
        if not entry.is_sweep:
            fixed.append(entry.fixed_text())
            continue
        param = _param(entry, step_names, problems)
        if param is not None:
            params.append(param)
    if problems:
        raise ConfigError(problems)
    return params, fixed


def _param(entry: Entry, step_names: dict[str, list[str]], problems: list[Problem]):
    from hydra.core.override_parser.types import ChoiceSweep, Glob, IntervalSweep, RangeSweep

    value = entry.override.value()
    unknown = sorted(set(getattr(value, "tags", set()) or set()) - set(KNOWN_TAGS))
    if unknown:
        problems.append(
            entry.origin.problem(
                f"unknown tag '{unknown[0]}'", "the Optuna sweeper knows the tag 'log'"
            )
        )
        return None
    log = "log" in (getattr(value, "tags", None) or set())
    if isinstance(value, Glob):
        names = glob_values(entry, step_names, problems)
        return _categorical(entry, names, names) if names else None
    if isinstance(value, ChoiceSweep):
        if log:
            problems.append(entry.origin.problem("tag(log, ...) applies to range() or interval()"))
            return None
        return _choice_param(entry, value, problems)
    if isinstance(value, RangeSweep):
        return _range_param(entry, value, log, problems)
    if isinstance(value, IntervalSweep):
        return _interval_param(entry, value, log, problems)
    problems.append(entry.origin.problem(f"cannot search over {entry.override.input_line}"))
    return None


def _choice_param(entry: Entry, sweep: Any, problems: list[Problem]) -> Param | None:
    from hydra.core.override_parser.types import Transformer

    elements = list(sweep.list)
    if not elements:
        problems.append(entry.origin.problem("choice() has no values"))
        return None
    texts = [Transformer.str(e) for e in elements]
    choices = [_categorical_value(e, text) for e, text in zip(elements, texts, strict=True)]
    if len(set(map(repr, choices))) != len(choices):
        problems.append(entry.origin.problem("choice() lists a value twice"))
        return None
    return _categorical(entry, choices, texts)


def _categorical(entry: Entry, choices: list[Any], texts: list[str]) -> Param:
    return Param(entry.key, CATEGORICAL, choices=list(choices), texts=list(texts))


def _categorical_value(element: Any, text: str) -> Any:
    """What Optuna stores for a choice: the value itself when it is a scalar Optuna can
    store (None, bool, int, float, str), else the override text (lists, mappings)."""
    from hydra.core.override_parser.types import QuotedString

    if isinstance(element, QuotedString):
        return element.text
    if element is None or isinstance(element, (bool, int, float, str)):
        return element
    return text


def _range_param(entry: Entry, sweep: Any, log: bool, problems: list[Problem]) -> Param | None:
    values = list(sweep.range())
    if not values:
        problems.append(
            entry.origin.problem(
                f"range({sweep.start}, {sweep.stop}, {sweep.step}) is empty",
                "range(start, stop, step) stops before stop, as Python's range does",
            )
        )
        return None
    step = abs(sweep.step)
    low, high = min(values), max(values)
    is_int = all(isinstance(v, int) for v in (sweep.start, sweep.stop, sweep.step))
    if log and (step != 1 or not is_int):
        problems.append(
            entry.origin.problem(
                "a log-scaled range must be of integers with step 1",
                "use tag(log, interval(a, b)) for a log-scaled float",
            )
        )
        return None
    if log and low <= 0:
        problems.append(entry.origin.problem("a log scale needs values above 0"))
        return None
    if is_int:
        return Param(entry.key, INT, low=low, high=high, step=step, log=log)
    return Param(entry.key, FLOAT, low=float(low), high=float(high), step=float(step))


def _interval_param(entry: Entry, sweep: Any, log: bool, problems: list[Problem]):
    low, high = sweep.start, sweep.end
    if low is None or high is None or not (math.isfinite(low) and math.isfinite(high)):
        problems.append(entry.origin.problem("interval(low, high) needs two finite numbers"))
        return None
    if low >= high:
        problems.append(
            entry.origin.problem(
                f"interval({low:g}, {high:g}) is empty: the low bound must be below the high one"
            )
        )
        return None
    if log and low <= 0:
        problems.append(
            entry.origin.problem(
                f"a log scale needs a low bound above 0, got {low:g}",
                "e.g. tag(log, interval(1e-5, 1e-1))",
            )
        )
        return None
    if isinstance(low, int) and isinstance(high, int):
        return Param(entry.key, INT, low=low, high=high, step=1, log=log)
    return Param(entry.key, FLOAT, low=float(low), high=float(high), log=log)


def corner_points(params: list[Param]) -> list[list[str]]:
    """A few points that together use every choice and both bounds of every parameter:
    the first point takes each parameter's first value; each other point changes one
    parameter of it. Validating these catches a misspelt key or a class that does not take
    a parameter before any trial runs."""
    first = [p.corner_values()[0] for p in params]
    points = [[p.override(v) for p, v in zip(params, first, strict=True)]]
    for i, param in enumerate(params):
        for value in param.corner_values()[1:]:
            point = list(points[0])
            point[i] = param.override(value)
            points.append(point)
    return points
