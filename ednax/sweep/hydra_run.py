"""Driving Hydra: the composed `hydra:` section, and a multirun whose jobs are opaque.

Hydra's launchers compose each job's config with Hydra's override rules, which cannot say
what ednax's can (`model=svm` switches a class; `model.C=1` needs no `+`). So ednax never
passes its overrides through Hydra's job composition. It writes them into sweep.json and
asks Hydra to multirun the user's config over job numbers only:

    +ednax_sweep=<sweep.json> +ednax_job=0,1,2,3        (a grid: Hydra's basic sweeper)
    +ednax_sweep=<sweep.json>                           (the ednax_optuna sweeper adds
                                                          +ednax_trial=<number> per job)

Each job's task function (`jobs.run_job`) reads its overrides back and composes them with
`load_config`. Launchers, and the user's `hydra.launcher.*` settings, work unchanged.
Hydra's own outputs are kept out of the way: job logging is off, no `.hydra/` per job,
no change of working directory, and the sweep's Hydra folder is `<sweep>/.hydra`.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ednax.config.overrides import BUILTIN_CONFIGS
from ednax.config.source import SourceFile
from ednax.errors import ConfigError, Problem

BASIC_SWEEPER = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"
OPTUNA_SWEEPER = "hydra_plugins.ednax_optuna.ednax_optuna_sweeper.EdnaxOptunaSweeper"
HYDRA_FOLDER = ".hydra"


def is_hydra_override(text: str) -> bool:
    """Whether an override configures Hydra itself (sweeper, launcher, ...)."""
    key = text.split("=", 1)[0].lstrip("+~").strip()
    return key == "hydra" or key.startswith(("hydra.", "hydra/"))


def hydra_section(source: SourceFile, hydra_overrides: list[str]) -> dict[str, Any]:
    """The composed `hydra.sweeper` and `hydra.launcher` of the config (interpolations
    resolved), as plain dicts."""
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    try:
        with initialize_config_dir(config_dir=str(source.path.parent), version_base="1.3"):
            cfg = compose(
                config_name=source.path.stem,
                overrides=[_searchpath(), *hydra_overrides],
                return_hydra_config=True,
            )
            return {
                "sweeper": OmegaConf.to_container(cfg.hydra.sweeper, resolve=True),
                "launcher": OmegaConf.to_container(cfg.hydra.launcher, resolve=True),
            }
    except (HydraException, OmegaConfBaseException) as exc:
        raise ConfigError(
            Problem(
                _first_paragraph(exc),
                file=source.name,
                hint="check the hydra: section and the hydra.* and hydra/ overrides "
                "(sweepers: basic, ednax_optuna; launchers: basic, joblib)",
            )
        ) from None


def launcher_name(launcher: dict[str, Any]) -> str:
    target = str(launcher.get("_target_", ""))
    if target.endswith("BasicLauncher"):
        return "basic"
    if target.endswith("JoblibLauncher"):
        return "joblib"
    return target


def multirun(
    source: SourceFile,
    *,
    hydra_overrides: list[str],
    payload: list[str],
    sweep_dir: Path,
    job_name: str,
    task: Callable[[Any], Any],
    basic_sweeper: bool,
) -> Any:
    """Hydra's multirun of `source` with `payload` as the only task overrides."""
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    settings = [
        _searchpath(),
        f"hydra.sweep.dir={quote(sweep_dir / HYDRA_FOLDER)}",
        "hydra.sweep.subdir=.",
        "hydra.output_subdir=null",
        "hydra.job.chdir=false",
        "hydra/job_logging=none",
        "hydra/hydra_logging=none",
    ]
    if basic_sweeper:
        settings.append("hydra.sweeper.params=null")  # ednax expanded them already
    overrides = [*hydra_overrides, *settings, *payload]
    try:
        with initialize_config_dir(
            config_dir=str(source.path.parent), job_name=job_name, version_base="1.3"
        ):
            hydra = GlobalHydra.instance().hydra
            return hydra.multirun(
                config_name=source.path.stem, task_function=task, overrides=overrides
            )
    except (HydraException, OmegaConfBaseException) as exc:
        raise ConfigError(Problem(_first_paragraph(exc), file=source.name)) from None


@contextlib.contextmanager
def outside_hydra() -> Iterator[None]:
    """Leave Hydra's global state aside while ednax composes a job's config (ednax starts
    its own Hydra for configs with a defaults list; Hydra allows one at a time)."""
    try:
        from hydra.core.global_hydra import GlobalHydra
    except ImportError:
        yield
        return
    saved = GlobalHydra.instance().hydra
    GlobalHydra.instance().clear()
    try:
        yield
    finally:
        GlobalHydra.instance().hydra = saved


def quote(value: Any) -> str:
    """A value as a quoted string in Hydra's override grammar."""
    text = str(value).replace("'", "\\'")
    return f"'{text}'"


def _searchpath() -> str:
    return f"hydra.searchpath=[{quote(f'file://{BUILTIN_CONFIGS}')}]"


def _first_paragraph(exc: BaseException) -> str:
    """Hydra's message in one line: its first paragraph without indented details, the
    cause (why an override could not be merged) and the available options of a group."""
    text = str(exc).strip()
    lines = text.split("\n\n")[0].splitlines()
    message = ": ".join(line.strip() for line in lines if line.strip() and not line[0].isspace())
    if exc.__cause__ is not None and str(exc.__cause__).strip():
        message += ": " + str(exc.__cause__).strip().splitlines()[0]
    options = re.search(r"Available options in '[^']*':\n((?:\t.*\n?)+)", text)
    if options:
        names = [n.strip() for n in options.group(1).splitlines() if n.strip()]
        message += f" (available: {', '.join(names)})"
    return message
