"""Command-line overrides: parsed with Hydra's grammar, then sorted by who applies them.

- `model=logistic_regression` *switches* a step: the section becomes that config-group
  option, or else that registered class with its defaults; keys of the old choice are
  dropped. A group option wins over a class of the same name (it is the more specific,
  hand-written choice); `model.type=NAME` always means the class.
- `model.C=0.5` is a *value* override, applied by ednax after composition, so any key the
  chosen class accepts may be set without Hydra's `+` (validation then rejects keys the
  class does not accept, and says they came from the command line).
- Everything else (`hydra.*`, `group/option` paths, `+group=option` of non-step groups,
  groups of the file's defaults list that are not steps) goes to Hydra unchanged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ednax.config.trust import override_problems
from ednax.errors import ConfigError, Problem, Suggestions, UsageError
from ednax.vocabulary import STEP_SECTIONS

BUILTIN_CONFIGS = Path(__file__).resolve().parent.parent / "configs"


@dataclass
class Switch:
    """A step whose class (or group option) the command line changed."""

    section: str
    name: str
    text: str
    option_file: Path | None = None


@dataclass
class ValueOverride:
    key: str
    value: Any
    delete: bool
    text: str


@dataclass
class OverridePlan:
    hydra: list[str] = field(default_factory=list)
    switches: dict[str, Switch] = field(default_factory=dict)
    values: list[ValueOverride] = field(default_factory=list)

    def origin_of(self, key_path: str) -> str | None:
        """The override text that set `key_path` (or a section containing it)."""
        for v in reversed(self.values):
            if _within(key_path, v.key) or _within(v.key, key_path):
                return v.text
        for s in self.switches.values():
            if key_path == s.section or key_path.startswith(s.section + "."):
                return s.text
        return None


def _within(path: str, prefix: str) -> bool:
    path, prefix = _bracketed(path), _bracketed(prefix)
    return path == prefix or path.startswith((prefix + ".", prefix + "["))


def _bracketed(path: str) -> str:
    """`preprocess.0.columns` as error messages print it: `preprocess[0].columns`."""
    return re.sub(r"\.(\d+)(?=\.|$)", r"[\1]", path)


def group_dirs(config_dir: Path) -> list[Path]:
    """Where config groups are looked up: beside the user's file first, then built-ins."""
    return [config_dir, BUILTIN_CONFIGS]


def find_group_option(group: str, name: str, config_dir: Path) -> Path | None:
    for root in group_dirs(config_dir):
        candidate = root / group / f"{name}.yaml"
        if candidate.is_file():
            return candidate
    return None


def group_options(group: str, config_dir: Path) -> list[str]:
    names: set[str] = set()
    for root in group_dirs(config_dir):
        if (root / group).is_dir():
            names.update(p.stem for p in (root / group).glob("*.yaml"))
    return sorted(names)


def plan_overrides(
    overrides: list[str],
    *,
    config_dir: Path,
    default_groups: set[str],
    class_names: dict[str, list[str]],
    multirun: bool = False,
) -> OverridePlan:
    """Sort `overrides` into a plan; every unparseable or unknown one is reported at once."""
    plan = OverridePlan()
    if not overrides:
        return plan
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException

    parser = OverridesParser.create()
    problems: list[Problem] = []
    for text in overrides:
        try:
            override = parser.parse_overrides([_dotted_indices(text)])[0]
        except OverrideParseException as exc:
            problems.append(_parse_problem(text, exc))
            continue
        if override.is_sweep_override() and not multirun:
            raise UsageError(
                f"'{text}' is a sweep (several values); add -m to run one job per value"
            )
        refused = override_problems(text, override)
        if refused:
            problems.extend(refused)
            continue
        try:
            _place(override, text, plan, config_dir, default_groups, class_names)
        except ConfigError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ConfigError(problems)
    return plan


def _place(override, text, plan, config_dir, default_groups, class_names) -> None:
    from hydra.core.override_parser.types import OverrideType

    key = override.key_or_group
    is_plain_change = override.type == OverrideType.CHANGE and override.package is None
    if key.startswith("hydra") or "/" in key:
        plan.hydra.append(text)
        return
    section, _, rest = key.partition(".")
    switching = section in STEP_SECTIONS and rest in ("", "type") and is_plain_change
    if switching and isinstance(override.value(), str):
        plan.switches[section] = _switch(
            section, override.value(), text, rest == "type", config_dir, class_names
        )
        if section in default_groups:
            plan.hydra.append(f"~{section}")
        return
    if override.type == OverrideType.ADD and not rest and (config_dir / section).is_dir():
        plan.hydra.append(text)
        return
    if section in default_groups and not rest and section not in STEP_SECTIONS:
        plan.hydra.append(text)
        return
    plan.values.append(
        ValueOverride(
            key=key,
            value=None if override.type == OverrideType.DEL else override.value(),
            delete=override.type == OverrideType.DEL,
            text=text,
        )
    )


def _switch(section, name, text, class_only, config_dir, class_names) -> Switch:
    option = None if class_only else find_group_option(section, name, config_dir)
    if option is not None or name in class_names.get(section, []):
        return Switch(section, name, text, option)
    choices = class_names.get(section, []) + (
        [] if class_only else group_options(section, config_dir)
    )
    raise ConfigError(
        Problem(
            f"no {section} class or config-group option named '{name}' (in the override '{text}')",
            path=section,
            hint=Suggestions(sorted(set(choices))).hint(name, f"{section} choice"),
        )
    )


def _dotted_indices(text: str) -> str:
    """`preprocess[0].with_mean=x` (how errors print key paths) as Hydra spells it,
    `preprocess.0.with_mean=x`."""
    key, sep, value = text.partition("=")
    return re.sub(r"\[(\d+)\]", r".\1", key) + sep + value


def _parse_problem(text: str, exc: Exception) -> Problem:
    reason = str(exc).splitlines()[0]
    return Problem(
        f"cannot parse the override '{text}': {reason}",
        hint="overrides look like key=value, section.key=value, +key=value or ~key; "
        "quote lists and strings with spaces: 'model.hidden=[64,64]'",
    )


def imports_override(overrides: list[str]) -> tuple[list[str], str] | None:
    """The module list an `imports=[...]` override sets, with the override's text (the last
    such override wins), or None.
    Read before composing, because the modules may register classes the other overrides
    switch to (`model=my_net`)."""
    found = None
    for text in overrides:
        key, sep, _ = text.partition("=")
        if sep and key.lstrip("+") == "imports":
            found = text
    if found is None:
        return None
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException

    try:
        value = OverridesParser.create().parse_overrides([found])[0].value()
    except OverrideParseException:
        return None  # plan_overrides reports it, with the other overrides' problems
    if isinstance(value, str):
        return [value], found
    return ([str(v) for v in value], found) if isinstance(value, list) else None
