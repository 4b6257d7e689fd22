"""Sweep overrides in Hydra's grammar: a grid's axes, and an Optuna search space.

Both come from the command line (`model.n_estimators=10,30`) and from the config's
`hydra.sweeper.params` (`model.max_depth: range(2, 8)`), parsed with Hydra's own override
parser. A grid takes what can be enumerated: lists and `choice(...)`, `range(...)`, and
`glob(...)` over a step's classes (`model=glob(*forest*)`). A search space also takes
`interval(a, b)` (a float; `int(interval(a, b))` an integer) and `tag(log, ...)` for a
log scale; a `range` becomes an integer (or stepped float) distribution.

Every parameter keeps the exact override text of each value, so a trial's parameters turn
back into overrides that ednax composes like any command line (`model=svm` switches the
class, `model.C=0.5` needs no `+`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ednax.errors import ConfigError, Problem, did_you_mean

CATEGORICAL, INT, FLOAT = "categorical", "int", "float"
KNOWN_TAGS = ("log",)


@dataclass(frozen=True)
class Origin:
    """Where a sweep entry was written: a key of `hydra.sweeper.params` in the file, or an
    override on the command line."""

    path: str
    file: str | None = None
    line: int | None = None
    override: str | None = None

    def problem(self, message: str, hint: str | None = None) -> Problem:
        if self.override is not None:
            where = f"(in the override '{self.override}')"
            return Problem(message, path=self.path, hint=f"{where}; {hint}" if hint else where)
        return Problem(message, path=self.path, file=self.file, line=self.line, hint=hint)


@dataclass
class Entry:
    """One parsed override with where it came from."""

    override: Any  # hydra.core.override_parser.types.Override
    origin: Origin

    @property
    def key(self) -> str:
        return self.override.get_key_element()

    @property
    def is_sweep(self) -> bool:
        return self.override.is_sweep_override()

    def fixed_text(self) -> str:
        """The override as written (a fixed value: the same in every job)."""
        return self.override.input_line


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


def parse_entries(
    command_line: list[str],
    config_params: dict[str, Any] | None,
    *,
    params_path: str = "hydra.sweeper.params",
    source: Any = None,
) -> list[Entry]:
    """Parse `hydra.sweeper.params` (read from `source`, a `SourceFile`, for lines) and
    then the command line; a command-line entry replaces a config entry of the same key.
    Every unparseable entry is reported at once."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException

    parser = OverridesParser.create()
    problems: list[Problem] = []
    entries: dict[str, Entry] = {}

    def add(text: str, origin: Origin) -> None:
        try:
            override = parser.parse_overrides([text])[0]
        except OverrideParseException as exc:
            problems.append(origin.problem(f"cannot parse '{text}': {_reason(exc)}", _GRAMMAR))
            return
        entry = Entry(override, origin)
        entries.pop(entry.key, None)
        entries[entry.key] = entry

    for key, value in (config_params or {}).items():
        path = f"{params_path}.{key}"
        origin = Origin(
            path=path,
            file=source.name if source is not None else None,
            line=source.line_of(path) if source is not None else None,
        )
        if isinstance(value, (list, dict)):
            problems.append(
                origin.problem(
                    "a search-space entry is a string in Hydra's override grammar, "
                    f"not a YAML {'list' if isinstance(value, list) else 'mapping'}",
                    "write 'choice(a, b)' or 'a,b'; quote a fixed list: '[64, 64]'",
                )
            )
            continue
        add(f"{key}={_element_text(value)}", origin)
    for text in command_line:
        key = text.split("=", 1)[0]
        add(text, Origin(path=key.lstrip("+~"), override=text))
    if problems:
        raise ConfigError(problems)
    return list(entries.values())


# --- grids ---------------------------------------------------------------------------


def grid_axes(entries: list[Entry], step_names: dict[str, list[str]]) -> list[list[str]]:
    """For each entry, the overrides of its values (one for a fixed entry)."""
    from hydra.core.override_parser.types import Glob

    problems: list[Problem] = []
    axes: list[list[str]] = []
    for entry in entries:
        override = entry.override
        if not entry.is_sweep:
            axes.append([entry.fixed_text()])
            continue
        if override.is_interval_sweep():
            problems.append(
                entry.origin.problem(
                    "interval() has no list of values to run: a grid takes lists, "
                    "choice(), range() or glob()",
                    "search intervals with the Optuna sweeper: hydra/sweeper=ednax_optuna",
                )
            )
            continue
        if isinstance(override.value(), Glob):
            values = _glob_values(entry, step_names, problems)
        else:
            values = list(override.sweep_string_iterator())
        if not values:
            problems.append(entry.origin.problem("the sweep has no values"))
            continue
        axes.append([f"{entry.key}={value}" for value in values])
    if problems:
        raise ConfigError(problems)
    return axes


def grid_jobs(axes: list[list[str]]) -> list[list[str]]:
    """Every combination of the axes' values, the last axis varying fastest."""
    import itertools

    return [list(combination) for combination in itertools.product(*axes)]


def _glob_values(entry: Entry, step_names: dict[str, list[str]], problems: list[Problem]):
    section = entry.override.key_or_group
    if section not in step_names:
        problems.append(
            entry.origin.problem(
                f"glob() picks classes of a step, and '{section}' is not a step section",
                "use it on a step: model=glob(*forest*)",
            )
        )
        return []
    values = entry.override.value().filter(step_names[section])
    if not values:
        problems.append(
            entry.origin.problem(
                f"glob() matches no {section} class or config-group option",
                did_you_mean("", step_names[section], f"{section} choice"),
            )
        )
    return values


# --- search spaces -------------------------------------------------------------------


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
        names = _glob_values(entry, step_names, problems)
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


def step_choices(sections: tuple[str, ...], config_dir: Path) -> dict[str, list[str]]:
    """Per step section: registered classes and config-group options (for glob())."""
    from ednax.config.overrides import group_options
    from ednax.registry import REGISTRY

    return {s: sorted(set(REGISTRY.names(s)) | set(group_options(s, config_dir))) for s in sections}


def _element_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    from hydra.core.override_parser.types import Transformer

    return Transformer.str(value)


def _reason(exc: Exception) -> str:
    """Hydra's parse error without its first line (which repeats the override) and its
    link to the docs."""
    lines = [line for line in str(exc).strip().splitlines() if not line.startswith("See http")]
    if len(lines) > 1 and lines[0].startswith("Error parsing override"):
        lines = lines[1:]
    return " ".join(lines) or type(exc).__name__


_GRAMMAR = (
    "write a list (a,b), choice(a, b), range(start, stop[, step]), interval(low, high), "
    "int(interval(low, high)) or tag(log, interval(low, high))"
)
