"""Command-line overrides: parsed with Hydra's grammar, then sorted by who applies them.

- `model=logistic_regression` *switches* a step: the section becomes that config-group
  option, or else that registered class with its defaults; keys of the old choice are
  dropped. A group option wins over a class of the same name (it is the more specific,
  hand-written choice); `model.type=NAME` always means the class.
- `model.C=0.5` is a *value* override, applied by ednax after composition, so any key the
  chosen class accepts may be set without Hydra's `+` (validation then rejects keys the
  class does not accept, and says they came from the command line).
- `+trainer=gpu` *lays* a group option (beside the file or built in) over the section:
  Hydra appends it to the defaults list, after the file's own keys, so the keys the option
  sets win and the file's others stay.
- Everything else (`hydra.*`, `group/option` paths such as `hydra/sweeper=ednax_optuna_tpe`,
  groups of the file's defaults list that are not steps) goes to Hydra unchanged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ednax.config.grammar import parse_override
from ednax.config.source import read_yaml
from ednax.config.trust import override_problems
from ednax.errors import ConfigError, Problem, Suggestions, UsageError
from ednax.vocabulary import STEP_SECTIONS


def _builtin_configs() -> Path:
    """ednax's own config groups: `ednax/configs/` inside an installed package (setup.py
    ships the repository's top-level configs/ there), else the repository's configs/ (a
    checkout, or an editable install of one)."""
    package = Path(__file__).resolve().parent.parent
    shipped = package / "configs"
    return shipped if shipped.is_dir() else package.parent / "configs"


BUILTIN_CONFIGS = _builtin_configs()


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
class Overlay:
    """A group option laid over its section (`+trainer=gpu`) and the keys it sets there."""

    section: str
    keys: tuple[str, ...]
    text: str


@dataclass
class OverridePlan:
    hydra: list[str] = field(default_factory=list)
    switches: dict[str, Switch] = field(default_factory=dict)
    values: list[ValueOverride] = field(default_factory=list)
    overlays: list[Overlay] = field(default_factory=list)

    def origin_of(self, key_path: str) -> str | None:
        """The override text that set `key_path` (or a section containing it)."""
        for v in reversed(self.values):
            if _within(key_path, v.key) or _within(v.key, key_path):
                return v.text
        for s in self.switches.values():
            if key_path == s.section or key_path.startswith(s.section + "."):
                return s.text
        for o in reversed(self.overlays):
            if any(_within(key_path, f"{o.section}.{key}") for key in o.keys):
                return o.text
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


def _adds_option(section: str, name: Any, config_dir: Path) -> bool:
    """Whether `+section=name` adds a config-group option: any of a group beside the file,
    a built-in one by name (`+trainer=gpu`; `+optimizer=sgd` stays the class)."""
    if (config_dir / section).is_dir():
        return True
    return isinstance(name, str) and find_group_option(section, name, config_dir) is not None


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
    from hydra.errors import OverrideParseException

    problems: list[Problem] = []
    for text in overrides:
        try:
            override = parse_override(_dotted_indices(text))
        except OverrideParseException as exc:
            problems.append(_parse_problem(text, exc))
            continue
        if override.is_sweep_override() and not multirun:
            raise UsageError(
                f"'{text}' is a sweep (several values): add -m, with which `ednax run` runs "
                "one job per value and `ednax validate` checks every job"
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
    adding = override.type == OverrideType.ADD and not rest
    if adding and _adds_option(section, override.value(), config_dir):
        if section in default_groups:
            raise ConfigError(_added_twice(section, text))
        plan.hydra.append(text)
        plan.overlays += _overlay(section, override.value(), text, config_dir)
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


def _overlay(section: str, name: Any, text: str, config_dir: Path) -> list[Overlay]:
    option = find_group_option(section, name, config_dir) if isinstance(name, str) else None
    root = read_yaml(option) if option is not None else None
    if not isinstance(root, yaml.MappingNode):
        return []  # Hydra reports a missing option
    keys = tuple(str(key.value) for key, _ in root.value if key.value != "defaults")
    return [Overlay(section, keys, text)]


def _added_twice(section: str, text: str) -> Problem:
    """`+trainer=gpu` where the defaults list already picks a trainer option: Hydra takes
    one option a group, so the override can only replace it."""
    return Problem(
        f"'{text}' adds a {section} option, but the config's defaults list already chooses one",
        path=section,
        hint=f"replace the choice with '{text.lstrip('+')}'",
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
    from hydra.errors import OverrideParseException

    try:
        value = parse_override(found).value()
    except OverrideParseException:
        return None  # plan_overrides reports it, with the other overrides' problems
    if isinstance(value, str):
        return [value], found
    return ([str(v) for v in value], found) if isinstance(value, list) else None
