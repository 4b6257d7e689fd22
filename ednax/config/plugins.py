"""A config's `imports:`: the user's modules that register plugin classes.

The one place that makes a config's folder importable and imports its modules, for a run,
a validation, a sweep's plan and its jobs, a rerun or a prediction from a bundle (whose
modules live beside the original config, recorded in run.json). A module that does not
import is a problem located at its `imports[i]` entry.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from pathlib import Path

from ednax.config.source import SourceFile
from ednax.errors import ConfigError, Problem
from ednax.registry import Registry, RegistryError

Locate = Callable[[str, str, str | None], Problem]


def add_to_path(folders: Iterable[str | Path]) -> None:
    """Make modules in `folders` importable (first on sys.path, once each)."""
    for folder in reversed([str(f) for f in folders]):
        if folder not in sys.path:
            sys.path.insert(0, folder)


def import_plugins(
    names: list[str],
    *,
    folders: Iterable[str | Path],
    registry: Registry,
    locate: Locate,
    first_index: int = 0,
) -> None:
    """Import each module of `names` (found in `folders` or installed); every failure is
    reported at once, each located by `locate(message, "imports[i]", hint)`."""
    add_to_path(folders)
    problems = []
    for i, name in enumerate(names, start=first_index):
        try:
            registry.import_modules([name])
        except Exception as exc:
            message, hint = _import_failure(name, exc)
            problems.append(locate(message, f"imports[{i}]", hint))
    if problems:
        raise ConfigError(problems)


def import_source_plugins(
    source: SourceFile, registry: Registry, folders: Iterable[str | Path] = ()
) -> None:
    """The `imports:` of a config file (beside it, in `folders`, or installed), each
    failure located at its line."""
    folders = [source.path.parent, *folders]
    import_plugins(source.imports, folders=folders, registry=registry, locate=source.problem)


def _import_failure(name: str, exc: Exception) -> tuple[str, str | None]:
    """What to tell the user about a plugin module that did not import."""
    if isinstance(exc, RegistryError):
        return str(exc), None
    if isinstance(exc, ModuleNotFoundError):
        if exc.name is not None and name.startswith(exc.name):
            where = f"put {name.replace('.', '/')}.py beside the config file, or install it"
            return f"cannot import the module '{name}': {exc}", where
        return f"cannot import the module '{name}': {exc}", (
            f"'{name}' imports '{exc.name}', which is not installed"
        )
    if isinstance(exc, SyntaxError):
        return (
            f"the module '{name}' has a syntax error: {exc.msg} ({exc.filename}:{exc.lineno})",
            None,
        )
    return (
        f"importing the module '{name}' failed: {type(exc).__name__}: {exc}",
        "run with --debug for the traceback",
    )
