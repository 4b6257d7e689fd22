"""Driving Hydra: the composed `hydra:` section, and a multirun whose jobs are opaque.

Hydra's launchers compose each job's config with Hydra's override rules, which cannot say
what ednax's can (`model=svm` switches a class; `model.C=1` needs no `+`). So ednax never
passes its overrides through Hydra's job composition. It writes them into sweep.json and
asks Hydra to multirun the user's config over job numbers only:

    +ednax_sweep=<sweep.json> +ednax_job=0,1,2,3        (a grid: Hydra's basic sweeper)
    +ednax_sweep=<sweep.json>                           (the ednax_optuna sweeper adds
                                                          +ednax_trial=<number> per job)

Each job's task function (`jobs.run_job`) reads its overrides back and composes them with
`load_config`. Launchers, and the user's `hydra.launcher.*` settings, work unchanged; a job
needs nothing of the sweeping process but the files (sweep.json, the Optuna storage), so
launchers that pickle the task into other processes or onto other machines (joblib,
submitit) run it too. Hydra's own outputs are kept out of the way: job logging is off, no
`.hydra/` per job, no change of working directory, the sweep's Hydra folder is
`<sweep>/.hydra` and submitit's job folders are `<sweep>/.submitit/<job id>/`.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ednax.config.compose import check_group_files
from ednax.config.overrides import BUILTIN_CONFIGS
from ednax.config.source import SourceFile
from ednax.config.trust import check_composed, check_overrides
from ednax.errors import ConfigError, Problem, Suggestions, UsageError

BASIC_SWEEPER = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"
OPTUNA_SWEEPER = "hydra_plugins.ednax_optuna.ednax_optuna_sweeper.EdnaxOptunaSweeper"
HYDRA_FOLDER = ".hydra"
SUBMITIT_FOLDER = ".submitit"
# submitit's own default (`hydra.launcher.submitit_folder`), beside Hydra's sweep folder
SUBMITIT_DEFAULT = "${hydra.sweep.dir}/.submitit/%j"
# Hydra plugins ednax runs with, by config-group option: the package that provides each
PLUGIN_PACKAGES = {
    "joblib": "hydra-joblib-launcher",
    "submitit_local": "hydra-submitit-launcher",
    "submitit_slurm": "hydra-submitit-launcher",
}
# launcher settings that would start a sweep job more than once
ONE_PROCESS = ("tasks_per_node", "nodes")
# what a launcher needs on this machine to submit jobs
LAUNCHER_COMMANDS = {"submitit_slurm": ("sbatch", "srun")}
GROUPS_HINT = (
    "check the hydra: section and the hydra.* and hydra/ overrides (sweepers: basic, "
    "ednax_optuna; launchers: basic, joblib, submitit_local, submitit_slurm)"
)


def is_hydra_override(text: str) -> bool:
    """Whether an override configures Hydra itself (sweeper, launcher, ...)."""
    key = text.split("=", 1)[0].lstrip("+~").strip()
    return key == "hydra" or key.startswith(("hydra.", "hydra/"))


def hydra_section(source: SourceFile, hydra_overrides: list[str]) -> dict[str, Any]:
    """The composed `hydra.sweeper` and `hydra.launcher` of the config (interpolations
    resolved), as plain dicts; `launcher_name`, the launcher's config-group option
    (basic, joblib, submitit_slurm...); `submitit_folder`, that setting unresolved.
    Nothing of it may name code for Hydra to call (`config/trust.py`): the overrides are
    checked before composing, what config groups brought in after."""
    check_overrides(hydra_overrides)
    check_group_files(source, hydra_overrides)
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
            check_composed(cfg.hydra, source.name, dict(cfg.hydra.runtime.choices))
            launcher = OmegaConf.to_container(cfg.hydra.launcher, resolve=True)
            return {
                "sweeper": OmegaConf.to_container(cfg.hydra.sweeper, resolve=True),
                "launcher": launcher,
                "launcher_name": cfg.hydra.runtime.choices.get("hydra/launcher")
                or launcher_name(launcher),
                "submitit_folder": OmegaConf.to_container(cfg.hydra.launcher).get(
                    "submitit_folder"
                ),
            }
    except (HydraException, OmegaConfBaseException) as exc:
        raise ConfigError(_composition_problem(exc, source, hydra_overrides)) from None


def launcher_name(launcher: dict[str, Any]) -> str:
    target = str(launcher.get("_target_", ""))
    if target.endswith("BasicLauncher"):
        return "basic"
    if target.endswith("JoblibLauncher"):
        return "joblib"
    return target


def check_launcher(name: str) -> None:
    """A launcher that submits to a scheduler, checked for the scheduler's commands before
    a sweep folder is made (submitit_slurm needs sbatch and srun)."""
    missing = [c for c in LAUNCHER_COMMANDS.get(name, ()) if shutil.which(c) is None]
    if missing:
        raise UsageError(
            f"hydra/launcher={name} submits SLURM jobs, but {' and '.join(missing)} "
            "cannot be found here: run the sweep on a machine of the SLURM cluster "
            "(a login node), or use hydra/launcher=submitit_local"
        )


def check_launcher_settings(
    launcher: dict[str, Any], hydra_overrides: list[str], source: SourceFile
) -> None:
    """A sweep job runs in one process: submitit runs the task once per task it starts, so
    several tasks or nodes per job would run every job several times."""
    problems = []
    for key in ONE_PROCESS:
        value = launcher.get(key)
        if not isinstance(value, int) or value <= 1:
            continue
        path = f"hydra.launcher.{key}"
        origin = _origins(hydra_overrides, path)
        message = f"must be 1 in a sweep: each job would run {value} times, once per task"
        hint = "a sweep job trains in one process (more cores for it: cpus_per_task)"
        file = None if origin else source.name
        problems.append(Problem(message, path, file, hint="; ".join([*origin, hint])))
    if problems:
        raise ConfigError(problems)


def launcher_settings(submitit_folder: str | None, sweep_dir: Path) -> list[str]:
    """Settings ednax gives the launcher: submitit's job folders (pickled job, stdout,
    stderr) inside the sweep folder, unless the user chose a folder."""
    if submitit_folder != SUBMITIT_DEFAULT:
        return []
    return [f"hydra.launcher.submitit_folder={quote(submitit_dir(sweep_dir) / '%j')}"]


def submitit_dir(sweep_dir: Path) -> Path:
    return Path(sweep_dir) / SUBMITIT_FOLDER


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
            ran = hydra.multirun(
                config_name=source.path.stem, task_function=task, overrides=overrides
            )
    except (HydraException, OmegaConfBaseException) as exc:
        raise ConfigError(_composition_problem(exc, source, hydra_overrides)) from None
    stop_idle_job_processes()
    return ran


def stop_idle_job_processes() -> None:
    """Stop the processes the joblib launcher keeps for more jobs, now that every job has
    returned. Left to the end of the command, each would be asked to exit and would tear
    its torch and Lightning down first: 1.3 s after the sweep itself had ended. They hold
    nothing unsaved: a job's bundle and trial are written before it returns."""
    reusable = sys.modules.get("joblib.externals.loky.reusable_executor")
    executor = getattr(reusable, "_executor", None)  # loky's one shared executor, if any
    if executor is not None:
        executor.shutdown(wait=True, kill_workers=True)


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


def _composition_problem(
    exc: BaseException, source: SourceFile, hydra_overrides: list[str]
) -> Problem:
    """Hydra's composition error as a problem: a launcher or sweeper whose plugin is not
    installed names the package; a setting the launcher or sweeper does not have is
    pointed at its key, with the nearest settings."""
    text = str(exc)
    missing = re.search(r"Could not find '(hydra/\w+)/([^']+)'", text)
    if missing and missing.group(2) in PLUGIN_PACKAGES:
        group, name = missing.groups()
        package = PLUGIN_PACKAGES[name]
        origin = _origins(hydra_overrides, group)
        return Problem(
            f"{group}={name} needs the {package} package, which is not installed",
            file=None if origin else source.name,
            hint="; ".join([*origin, f"pip install {package}"]),
        )
    unknown = _unknown_setting(exc, hydra_overrides)
    if unknown is not None:
        return unknown
    return Problem(_first_paragraph(exc), file=source.name, hint=GROUPS_HINT)


def _optuna_settings() -> list[str]:
    """The settings of `hydra/sweeper=ednax_optuna`, as its plugin stored them."""
    try:
        from hydra.core.config_store import ConfigStore

        node = ConfigStore.instance().load("hydra/sweeper/ednax_optuna.yaml").node
        return [str(k) for k in node if not str(k).startswith("_")]
    except Exception:  # the plugin not registered: no hint, the message stands
        return []


def _unknown_setting(exc: BaseException, hydra_overrides: list[str]) -> Problem | None:
    """`hydra.launcher.partitio=gpu`: Hydra says "To append to your config use +...", which
    a launcher's or sweeper's structured settings refuse too."""
    from omegaconf import DictConfig, OmegaConf
    from omegaconf.errors import ConfigAttributeError, ConfigKeyError

    cause = exc.__cause__
    override = re.match(r"Could not override '([^']+)'", str(exc))
    if not override or not isinstance(cause, (ConfigAttributeError, ConfigKeyError)):
        return None
    parent = getattr(cause, "parent_node", None)
    if not isinstance(parent, DictConfig):
        return None
    key = override.group(1)
    section, _, name = key.rpartition(".")
    kind = getattr(OmegaConf.get_type(parent), "__name__", "config")
    settings = sorted(str(k) for k in parent if not str(k).startswith("_"))
    near = Suggestions(settings).near(name)
    quoted = " or ".join(f"'{n}'" for n in near)
    which = f"did you mean {quoted}?" if near else f"settings: {', '.join(settings)}"
    if section == "hydra.sweeper" and not near and name in _optuna_settings():
        which = (
            f"'{name}' is a setting of ednax's Optuna sweeper: choose it with "
            "hydra/sweeper=ednax_optuna (or '- override hydra/sweeper: ednax_optuna' in the "
            "config's defaults)"
        )
    hint = "; ".join([*_origins(hydra_overrides, key), which])
    return Problem(f"{section} ({kind}) has no setting '{name}'", path=key, hint=hint or None)


def _origins(hydra_overrides: list[str], key: str) -> list[str]:
    """`(set on the command line by '...')` for the overrides that set `key`."""
    return [
        f"(set on the command line by '{text}')"
        for text in hydra_overrides
        if text.split("=", 1)[0].lstrip("+~").strip() == key
    ]


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
