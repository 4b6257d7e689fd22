"""Before a fit trains: every problem of its setup that can be seen without training.

`check_setup` gathers them all into one ConfigError: the trainer's own `problems()`, the
monitors (metrics.monitor, scheduler.monitor, trainer.early_stopping.monitor, each checked
by `ednax.vocabulary.monitor_problems`), a GPU asked for and absent, a logger's missing
package. It also finds the train loop's class (`trainer.module`) and the progress display.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import torch

from ednax.engine.lightning.assemble import section
from ednax.engine.lightning.loggers import logger_problems
from ednax.engine.lightning.module import EdnaxModule
from ednax.errors import ConfigError, Problem, UsageError
from ednax.registry import Registry, RegistryError
from ednax.steps.base import Dataset
from ednax.steps.trainers_torch import text_option_problems
from ednax.vocabulary import MODES, monitor_problems

MODULE_KIND = "module"


def check_setup(
    options: Any,
    dataset: Dataset,
    sections: dict[str, dict],
    metrics: dict[str, object],
    monitor: str,
    mode: str,
    resume_from: Path | None = None,
) -> None:
    """Every problem of the setup at once (a ConfigError); then the checkpoint to resume."""
    problems = list(options.problems())
    problems += monitor_checks(options, dataset, sections, list(metrics), monitor, mode)
    problems += device_problems(options.accelerator)
    problems += logger_problems(options.logger)
    problems += text_option_problems(vars(options), dataset.modality)
    if problems:
        raise ConfigError(problems)
    if resume_from is not None and not Path(resume_from).is_file():
        raise UsageError(f"cannot resume: no checkpoint at {resume_from}")


def monitor_checks(
    options: Any,
    dataset: Dataset,
    sections: dict[str, dict],
    metrics: list[str],
    monitor: str,
    mode: str,
) -> list[Problem]:
    """Each monitor is a value the run logs; those that act during training (a schedule's,
    early stopping's) need a val split to watch a val/ value."""
    has_val = dataset.split("val") is not None and len(dataset.splits["val"]) > 0
    found = []
    if mode not in MODES:
        found.append(Problem(f"must be 'min' or 'max', got {mode!r}", path="metrics.mode"))
    found += monitor_problems(monitor, metrics, path="metrics.monitor")
    scheduler = section(sections, "scheduler")
    if "monitor" in scheduler:
        found += monitor_problems(
            scheduler["monitor"],
            metrics,
            path="scheduler.monitor",
            purpose="schedule on",
            has_val=has_val,
        )
    if options.early_stopping is not None:
        found += monitor_problems(
            options.early_stopping.monitor or monitor,
            metrics,
            path="trainer.early_stopping.monitor",
            purpose="stop early on",
            has_val=has_val,
        )
    return found


def device_problems(accelerator: str | None) -> list[Problem]:
    """What this machine lacks for `trainer.accelerator`: a GPU asked for where torch
    finds none (said by `ednax run` before it makes a bundle; `validate` does not ask, as
    a config may be checked on one machine and trained on another)."""
    if accelerator == "gpu" and not _gpu_available():
        return [
            Problem(
                "a GPU was asked for, but torch finds no CUDA or MPS device",
                path="trainer.accelerator",
                hint="use accelerator: auto or cpu",
            )
        ]
    return []


def _gpu_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return torch.cuda.is_available() or bool(mps and mps.is_available())


def module_class(name: str | None, registry: Registry) -> type[EdnaxModule]:
    """The train loop `trainer.module` names (registered under "module"), or the built-in."""
    if name is None:
        return EdnaxModule
    try:
        cls = registry.get(MODULE_KIND, name).load()
    except RegistryError as exc:
        raise ConfigError(Problem(str(exc), path="trainer.module")) from exc
    if not (isinstance(cls, type) and issubclass(cls, EdnaxModule)):
        raise ConfigError(
            Problem(
                f"module '{name}' must subclass ednax.engine.lightning.module.EdnaxModule",
                path="trainer.module",
            )
        )
    return cls


def progress_mode(progress: str, interactive: bool | None = None) -> str:
    """rich, plain or none: auto is rich where the output is interactive (None: stdout is
    a terminal) and rich is installed, else plain."""
    if progress != "auto":
        return progress
    if interactive is None:
        interactive = sys.stdout.isatty()
    return "rich" if interactive and importlib.util.find_spec("rich") is not None else "plain"
