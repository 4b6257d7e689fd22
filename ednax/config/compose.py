"""Compose a config: the user's file + its defaults list + overrides, through Hydra.

The result is a plain dict with interpolations resolved and step sections normalised
(`model: random_forest` becomes `model: {type: random_forest}`), plus what is needed to
point errors at their origin: the source file's line map and the override plan.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ednax.config.grammar import parse_override
from ednax.config.overrides import (
    BUILTIN_CONFIGS,
    STEP_SECTIONS,
    OverridePlan,
    plan_overrides,
)
from ednax.config.source import (
    SourceFile,
    command_line_problem,
    defaults_choices,
    read_source,
    read_yaml,
)
from ednax.config.trust import check_composed
from ednax.errors import ConfigError, Problem
from ednax.vocabulary import LIST_SECTIONS


@dataclass
class Composed:
    """A composed config and where each part came from."""

    data: dict[str, Any]
    source: SourceFile
    plan: OverridePlan
    overrides: list[str] = field(default_factory=list)
    hydra: dict[str, Any] = field(default_factory=dict)

    def locate(self, problem: Problem) -> Problem:
        """`problem` with its origin filled in, when it has a key path but no file."""
        if problem.file or not problem.path:
            return problem
        return self.problem(problem.message, problem.path, problem.hint)

    def problem(self, message: str, path: str, hint: str | None = None) -> Problem:
        """A Problem located at `path`: on the command line, or at the file's line."""
        origin = self.plan.origin_of(path)
        if origin is not None:
            return command_line_problem(message, path, origin, hint)
        return self.source.problem(message, path, hint)


def compose(
    config_file: str | Path | SourceFile,
    overrides: list[str] | tuple[str, ...] = (),
    *,
    class_names: dict[str, list[str]] | None = None,
    multirun: bool = False,
) -> Composed:
    source = config_file if isinstance(config_file, SourceFile) else read_source(config_file)
    plan = plan_overrides(
        list(overrides),
        config_dir=source.path.parent,
        default_groups=source.default_groups,
        class_names=class_names or {},
        multirun=multirun,
    )
    raw = _hydra_compose(source, plan.hydra) if needs_hydra(source, plan) else _load_plain(source)
    raw.pop("defaults", None)
    hydra_section = raw.pop("hydra", {}) or {}
    composed = Composed(raw, source, plan, list(overrides), hydra_section)
    _apply_switches(composed)
    normalise_steps(composed.data)
    _apply_values(composed)
    composed.data = _resolve_interpolations(composed)
    return composed


def needs_hydra(source: SourceFile, plan: OverridePlan) -> bool:
    """Whether composing takes more than reading the file.

    A file whose defaults list brings in no config (none, or only `_self_` and choices of
    Hydra's own groups such as the sweeper), composed with no Hydra-bound overrides and no
    `${hydra:...}` interpolation, composes to exactly its own content; reading it directly
    saves Hydra's start-up (about a fifth of a second) on every run and every sweep job.
    """
    return bool(plan.hydra) or source.composes_configs or source.uses_hydra_resolver


def _load_plain(source: SourceFile) -> dict[str, Any]:
    return copy.deepcopy(source.content)


def _hydra_compose(source: SourceFile, hydra_overrides: list[str]) -> dict[str, Any]:
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf import OmegaConf, open_dict
    from omegaconf.errors import OmegaConfBaseException

    searchpath = f"hydra.searchpath=[file://{BUILTIN_CONFIGS}]"
    check_group_files(source, hydra_overrides)
    try:
        with initialize_config_dir(config_dir=str(source.path.parent), version_base="1.3"):
            cfg = hydra_compose(
                config_name=source.path.stem,
                overrides=[searchpath, *hydra_overrides],
                return_hydra_config=True,
            )
            check_composed(cfg.hydra, source.name, dict(cfg.hydra.runtime.choices))
    except (HydraException, OmegaConfBaseException) as exc:
        raise ConfigError(
            Problem(
                _first_paragraph(exc),
                file=source.name,
                hint="check the defaults list and config-group names "
                "(groups live beside the config file and in ednax's built-in configs)",
            )
        ) from None
    with open_dict(cfg):
        del cfg["hydra"]
    return OmegaConf.to_container(cfg, resolve=False)


def check_group_files(source: SourceFile, hydra_overrides: list[str]) -> None:
    """The config-group files of the user's folder that composition reads (chosen by the
    defaults list, by the defaults lists of those, or by a Hydra-bound override), read
    within the bounds of the config itself before Hydra reads them."""
    folder = source.path.parent
    pending = [*source.chosen_configs, *_override_choices(hydra_overrides)]
    seen: set[str] = set()
    while pending:
        name = pending.pop()
        file = folder / f"{name}.yaml"
        if name in seen or not file.is_file():
            continue
        seen.add(name)
        pending += defaults_choices(read_yaml(file), name.rpartition("/")[0])


def _override_choices(hydra_overrides: list[str]) -> list[str]:
    """`group=option` (`+`, `++`, sweeps of options) of Hydra-bound overrides as paths."""
    from hydra.core.override_parser.types import OverrideType
    from hydra.errors import OverrideParseException

    chosen = []
    for text in hydra_overrides:
        try:
            override = parse_override(text)
        except OverrideParseException:
            continue  # Hydra reports it
        if override.type == OverrideType.DEL:
            continue
        value = override.value()
        options = getattr(value, "list", value)
        for option in options if isinstance(options, list) else [options]:
            if isinstance(option, str):
                chosen.append(f"{override.key_or_group.strip('/')}/{option}")
    return chosen


def _first_paragraph(exc: Exception) -> str:
    return str(exc).strip().split("\n\n")[0]


def _apply_switches(composed: Composed) -> None:
    for section, switch in composed.plan.switches.items():
        if switch.option_file is None:
            composed.data[section] = {"type": switch.name}
            continue
        from omegaconf import OmegaConf

        read_yaml(switch.option_file)  # within the bounds of the config itself
        content = OmegaConf.to_container(OmegaConf.load(switch.option_file), resolve=False)
        if not isinstance(content, dict) or "type" not in content:
            raise ConfigError(
                Problem(
                    f"config-group option {switch.option_file} has no 'type' key",
                    path=section,
                    hint=f"a {section} option names its class: 'type: <name>'",
                )
            )
        content.pop("defaults", None)
        composed.data[section] = content


def normalise_steps(data: dict[str, Any]) -> None:
    """Bare strings become `{type: name}`; a `null` step section means "not set"."""
    for section in STEP_SECTIONS:
        if section in data and data[section] is None:
            del data[section]
        elif isinstance(data.get(section), str):
            data[section] = {"type": data[section]}
    for section in LIST_SECTIONS:
        if isinstance(data.get(section), list):
            data[section] = [
                {"type": item} if isinstance(item, str) else item for item in data[section]
            ]
        elif isinstance(data.get(section), str):
            data[section] = [{"type": data[section]}]
        elif section in data and data[section] is None:
            data[section] = []


def _apply_values(composed: Composed) -> None:
    if not composed.plan.values:
        return
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    cfg = OmegaConf.create(composed.data)
    problems = []
    for override in composed.plan.values:
        try:
            if override.delete:
                _delete(cfg, override.key)
            else:
                value = copy.deepcopy(override.value)
                OmegaConf.update(cfg, override.key, value, merge=True, force_add=True)
        except (OmegaConfBaseException, KeyError, IndexError, ValueError) as exc:
            problems.append(
                Problem(
                    f"cannot apply the override '{override.text}': {_first_line(exc)}",
                    path=override.key,
                )
            )
    if problems:
        raise ConfigError(problems)
    composed.data = OmegaConf.to_container(cfg, resolve=False)
    normalise_steps(composed.data)


def _delete(cfg, key: str) -> None:
    from omegaconf import OmegaConf

    parent_key, _, leaf = key.rpartition(".")
    parent = OmegaConf.select(cfg, parent_key) if parent_key else cfg
    if parent is None or leaf not in parent:
        raise KeyError(f"there is no key '{key}' to delete")
    del parent[leaf]


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _resolve_interpolations(composed: Composed) -> dict[str, Any]:
    if not _interpolated_paths(composed.data):
        return composed.data
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    cfg = OmegaConf.create(composed.data)
    problems = []
    for path in _interpolated_paths(composed.data):
        try:
            OmegaConf.select(cfg, path, throw_on_resolution_failure=True)
        except OmegaConfBaseException as exc:
            problems.append(
                composed.problem(
                    f"cannot resolve the interpolation: {_first_line(exc)}",
                    path,
                    hint="an interpolation looks like ${section.key} and must name a key "
                    "that exists in the composed config",
                )
            )
    if problems:
        raise ConfigError(problems)
    return OmegaConf.to_container(cfg, resolve=True)


def _interpolated_paths(node: Any, prefix: str = "") -> list[str]:
    if isinstance(node, dict):
        out = []
        for k, v in node.items():
            out += _interpolated_paths(v, f"{prefix}.{k}" if prefix else str(k))
        return out
    if isinstance(node, list):
        out = []
        for i, v in enumerate(node):
            out += _interpolated_paths(v, f"{prefix}[{i}]")
        return out
    return [prefix] if isinstance(node, str) and "${" in node else []
