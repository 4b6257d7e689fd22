"""No config names code to run: what ednax refuses in the `hydra:` section and in overrides.

ednax keeps a closed registry: a config builds registered classes and imports only the
modules its `imports:` names. Hydra, though, imports and calls whatever a `_target_` names
when it starts a sweep (`hydra.callbacks.*`, the sweeper, the launcher), the logging
configuration calls a handler's `class` or a `()` factory and imports an `ext://` module,
and a `pkg://` search path imports a package. So these are refused, before anything runs:

- in the `hydra:` section of the file and in any override (`+hydra.callbacks.x._target_=...`,
  `'+hydra={callbacks: ...}'`, `model._target_=...`): any `hydra.callbacks` entry, any
  `_target_` and `()` key, a logging `class` that is not the standard library's
  `logging.*`, an `ext://` value other than `ext://sys.stdout`/`ext://sys.stderr`, a
  `pkg://` search path (`file_problems`, `override_problems`);
- in the composed Hydra config (what config groups of the defaults list brought in): the
  same, except the `_target_` of Hydra's own sweeper and launcher options, which Hydra and
  its installed plugins define in their config groups (`hydra/sweeper=ednax_optuna`,
  `hydra/launcher=joblib`): those choose a plugin by name (`check_composed`).
"""

from __future__ import annotations

from typing import Any

from ednax.errors import ConfigError, Problem

TARGET = "_target_"
FACTORY = "()"
LOGGING = ("job_logging", "hydra_logging")
STANDARD_STREAMS = ("ext://sys.stdout", "ext://sys.stderr")
HINT = (
    "ednax calls only registered classes, from modules `imports:` names; Hydra's sweeper "
    "and launcher are chosen by name (hydra/sweeper=ednax_optuna, hydra/launcher=joblib) "
    "and set with hydra.sweeper.*, hydra.launcher.*"
)
CALLBACK_HINT = (
    "remove it: code that runs with an experiment is a registered class (a Lightning "
    "callback goes under the top-level callbacks:, see docs/plugins.md) in a module "
    "`imports:` names"
)

# (key path, message, hint)
Finding = tuple[str, str, str]


def file_problems(section: Any) -> list[Finding]:
    """What the `hydra:` section of a file may not hold; `section` is its content."""
    return _findings(section, ["hydra"], allowed=frozenset())


def override_problems(text: str, override: Any) -> list[Problem]:
    """What one parsed override (Hydra's `Override`) may not set, located on the command
    line: a `_target_` anywhere, and the `hydra:` section's refusals."""
    from hydra.core.override_parser.types import OverrideType

    if override.type == OverrideType.DEL:
        return []
    key = override.key_or_group
    origin = f"(set on the command line by '{text}')"
    if "/" in key:  # a config group: a Hydra callbacks group would be callbacks too
        if key.lstrip("/").startswith("hydra/callbacks"):
            message = "Hydra callbacks cannot be chosen: Hydra would import and call them"
            return [Problem(message, path=key, hint=f"{origin}; {CALLBACK_HINT}")]
        return []
    found: list[Finding] = []
    for value in _values(override):
        nested: Any = value
        for part in reversed(key.split(".")):
            nested = {part: nested}
        if key.split(".")[0] == "hydra":
            found += _findings(nested["hydra"], ["hydra"], allowed=frozenset())
        else:
            found += _targets(nested, [])
    unique = dict.fromkeys(found)
    return [Problem(message, path=path, hint=f"{origin}; {hint}") for path, message, hint in unique]


def check_overrides(texts: list[str]) -> None:
    """`override_problems` of overrides not parsed yet (a sweep's Hydra overrides); one
    Hydra cannot parse is left to Hydra, which reports it."""
    if not texts:
        return
    from hydra.errors import OverrideParseException

    from ednax.config.grammar import parse_override

    problems: list[Problem] = []
    for text in texts:
        try:
            override = parse_override(text)
        except OverrideParseException:
            continue
        problems += override_problems(text, override)
    if problems:
        raise ConfigError(problems)


def check_composed(hydra: Any, file: str, choices: dict[str, Any] | None = None) -> None:
    """The composed `hydra` node (a DictConfig or plain dict) checked: only the sweeper's
    and launcher's own `_target_`s (from Hydra's and its plugins' config groups) pass."""
    from omegaconf import DictConfig, OmegaConf

    if isinstance(hydra, DictConfig):
        hydra = OmegaConf.to_container(hydra, resolve=False)
    found = _findings(hydra, ["hydra"], allowed=frozenset(plugin_targets()))
    if not found:
        return
    picked = ", ".join(
        f"{group}={name}"
        for group, name in (choices or {}).items()
        if name not in (None, "default", "basic", "none")
    )
    where = "brought in by a config group of the defaults list or of an override" + (
        f" ({picked})" if picked else ""
    )
    raise ConfigError(
        [
            Problem(message, path=path, file=file, hint=f"{where}; {hint}")
            for path, message, hint in found
        ]
    )


def plugin_targets() -> set[str]:
    """The `_target_` of every option Hydra and its installed plugins store in the
    `hydra/...` config groups (sweepers and launchers, by name)."""
    from hydra.core.config_store import ConfigStore
    from omegaconf import DictConfig

    targets: set[str] = set()

    def walk(folder: dict) -> None:
        for entry in folder.values():
            if isinstance(entry, dict):
                walk(entry)
                continue
            node = getattr(entry, "node", None)
            if isinstance(node, DictConfig) and isinstance(node.get(TARGET), str):
                targets.add(node[TARGET])

    walk(ConfigStore.instance().repo.get("hydra", {}))
    return targets


def _values(override: Any) -> list[Any]:
    """The value(s) an override sets: each choice of a sweep."""
    value = override.value()
    items = getattr(value, "list", None)
    return list(items) if isinstance(items, list) else [value]


def _findings(value: Any, path: list[str], allowed: frozenset[str]) -> list[Finding]:
    """Refusals under `path` of the `hydra:` section; a `_target_` in `allowed` passes only
    as the sweeper's or launcher's own."""
    found: list[Finding] = []
    at = ".".join(path)
    if path == ["hydra", "callbacks"]:
        return _callbacks(value)
    if isinstance(value, dict):
        for key, item in value.items():
            key = str(key)
            where = [*path, key]
            if key == TARGET:
                own = path in (["hydra", "sweeper"], ["hydra", "launcher"]) and item in allowed
                if not own:
                    found.append(_target(where, item))
            elif key == FACTORY:
                found.append(_factory(where, item))
            elif key == "class" and _under(path, *LOGGING) and not _standard_class(item):
                found.append(
                    (
                        ".".join(where),
                        f"the logging configuration would import and call {item!r}",
                        "only the standard library's logging.* classes may be named here; " + HINT,
                    )
                )
            else:
                found += _findings(item, where, allowed)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found += _findings(item, [*path[:-1], f"{path[-1]}[{i}]"], allowed)
    elif isinstance(value, str):
        if _under(path, *LOGGING) and value.startswith("ext://") and value not in STANDARD_STREAMS:
            found.append(
                (
                    at,
                    f"the logging configuration would import {value!r}",
                    f"use {STANDARD_STREAMS[0]}; " + HINT,
                )
            )
        if _under(path, "searchpath") and value.startswith("pkg://"):
            found.append(
                (
                    at,
                    f"the search path {value!r} would make Hydra import a package",
                    "add config folders as file://<folder>; " + HINT,
                )
            )
    return found


def _targets(value: Any, path: list[str]) -> list[Finding]:
    """Every `_target_` under a value outside the `hydra:` section (an override's)."""
    found: list[Finding] = []
    if isinstance(value, dict):
        for key, item in value.items():
            where = [*path, str(key)]
            found += [_target(where, item)] if key == TARGET else _targets(item, where)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found += _targets(item, [*path[:-1], f"{path[-1]}[{i}]"] if path else [f"[{i}]"])
    return found


def _callbacks(value: Any) -> list[Finding]:
    if value is None or value == {}:
        return []
    refused = "Hydra callbacks are not allowed"
    if not isinstance(value, dict):
        return [("hydra.callbacks", f"{refused}: a config cannot name code to run", CALLBACK_HINT)]
    found = []
    for name, item in value.items():
        target = item.get(TARGET) if isinstance(item, dict) else None
        if target is None:
            found.append(
                (
                    f"hydra.callbacks.{name}",
                    f"{refused}: a config cannot name code to run",
                    CALLBACK_HINT,
                )
            )
        else:
            message = f"{refused}: Hydra would import and call {target!r}"
            found.append((f"hydra.callbacks.{name}.{TARGET}", message, CALLBACK_HINT))
    return found


def _target(where: list[str], value: Any) -> Finding:
    return (
        ".".join(where),
        f"'{TARGET}' would make Hydra import and call {value!r}; a config cannot name code to run",
        f"remove it; {HINT}",
    )


def _factory(where: list[str], value: Any) -> Finding:
    return (
        ".".join(where),
        f"'{FACTORY}' would make the logging configuration call {value!r}",
        f"remove it; {HINT}",
    )


def _under(path: list[str], *names: str) -> bool:
    """Whether `path` is under `hydra.<name>` for one of `names`."""
    return len(path) >= 2 and path[0] == "hydra" and path[1].split("[")[0] in names


def _standard_class(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("logging.")
