"""Sweep overrides in Hydra's grammar, parsed, each with where it was written.

Sweep entries come from the command line (`model.n_estimators=10,30`) and from the
config's `hydra.sweeper.params` (`model.max_depth: range(2, 8)`); both are parsed with
Hydra's own override parser into `Entry`s, a command-line entry replacing a config entry
of the same key. Each entry keeps its `Origin` (the file's line, or the override), so a
problem with it is reported where the user wrote it. `glob(...)` picks among a step's
registered classes and config-group options (`step_choices`). What the entries become is
`grid` (a grid's jobs) or `search_space` (an Optuna search space).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ednax.errors import ConfigError, Problem, did_you_mean

PARAMS_PATH = "hydra.sweeper.params"


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


def parse_entries(
    command_line: list[str],
    config_params: dict[str, Any] | None,
    *,
    params_path: str = PARAMS_PATH,
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
        origin = _config_origin(f"{params_path}.{key}", source)
        if isinstance(value, (list, dict)):
            problems.append(_not_a_string(origin, value))
            continue
        add(f"{key}={_element_text(value)}", origin)
    for text in command_line:
        key = text.split("=", 1)[0]
        add(text, Origin(path=key.lstrip("+~"), override=text))
    if problems:
        raise ConfigError(problems)
    return list(entries.values())


def _config_origin(path: str, source: Any) -> Origin:
    if source is None:
        return Origin(path=path)
    return Origin(path=path, file=source.name, line=source.line_of(path))


def _not_a_string(origin: Origin, value: Any) -> Problem:
    return origin.problem(
        "a search-space entry is a string in Hydra's override grammar, "
        f"not a YAML {'list' if isinstance(value, list) else 'mapping'}",
        "write 'choice(a, b)' or 'a,b'; quote a fixed list: '[64, 64]'",
    )


def glob_values(entry: Entry, step_names: dict[str, list[str]], problems: list[Problem]):
    """The classes and config-group options a `glob(...)` entry of a step matches (a
    problem added to `problems` when it is not a step's or matches none)."""
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
