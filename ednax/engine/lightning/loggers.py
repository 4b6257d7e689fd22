"""The `trainer.logger` of a fit: what the engine tells a logger, and the Lightning logger.

A logger step is built with the `trainer` section (it is a nested section); the engine
supplies `save_dir` (the artifacts folder), `experiment` and `run_name`. The built step is
either a Lightning logger itself (a user's `@register("logger", ...)` class) or a recipe
whose `build()` makes one (the built-ins of `ednax.steps.loggers`, which report a missing
package with `problems()` before training).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ednax.errors import ConfigError, Problem
from ednax.registry import KINDS

PATH = "trainer.logger"


def logger_arguments(
    artifacts_dir: Path, experiment: str | None = None, run_name: str | None = None
) -> dict[str, Any]:
    """What the engine supplies to a logger. Without names, they come from the bundle's
    folders: runs/<experiment>/<run id>/artifacts."""
    bundle = Path(artifacts_dir).parent
    return {
        "save_dir": Path(artifacts_dir),
        "experiment": experiment or bundle.parent.name or "ednax",
        "run_name": run_name or bundle.name,
    }


def logger_problems(logger: Any) -> list[Problem]:
    """What keeps the built logger step from logging: a missing package, or not a logger."""
    if _is_none(logger):
        return []
    if not _is_logger(logger) and not callable(getattr(logger, "build", None)):
        return [_not_a_logger(logger)]
    problems = getattr(logger, "problems", None)
    return list(problems()) if callable(problems) else []


def lightning_logger(logger: Any) -> Any:
    """The Lightning logger of the built step, or False (no logger) for none."""
    if _is_none(logger):
        return False
    if not _is_logger(logger):
        logger = KINDS["logger"].product(logger)
    if not _is_logger(logger):
        raise ConfigError(_not_a_logger(logger))
    return logger


def _is_none(logger: Any) -> bool:
    return logger is None or logger is False or (isinstance(logger, str) and logger == "none")


def _is_logger(obj: Any) -> bool:
    from pytorch_lightning.loggers import Logger

    return isinstance(obj, Logger)


def _not_a_logger(obj: Any) -> Problem:
    return Problem(
        f"the logger is a {type(obj).__name__}, not a Lightning logger",
        path=f"{PATH}.type",
        hint="subclass pytorch_lightning.loggers.Logger (or give the class a build() "
        "that returns one)",
    )
