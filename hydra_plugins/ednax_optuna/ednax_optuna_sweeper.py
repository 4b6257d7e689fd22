"""`hydra/sweeper=ednax_optuna`: ednax's Optuna sweeper, as Hydra sees it.

The plugin is deliberately thin: it declares the sweeper's settings (the structured config
under `hydra.sweeper`) and, when Hydra calls `sweep`, hands over to `ednax.sweep`, which
owns the study, the search loop and the record. It imports nothing heavy, because Hydra
imports every plugin whenever it starts. (No `from __future__ import annotations`: Hydra
executes plugin modules before registering them in sys.modules, where dataclasses would
look string annotations up.)
"""

from dataclasses import dataclass
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.plugins.sweeper import Sweeper


@dataclass
class EdnaxOptunaSweeperConf:
    """The settings of `hydra.sweeper` (documented in docs/sweeps.md)."""

    _target_: str = "hydra_plugins.ednax_optuna.ednax_optuna_sweeper.EdnaxOptunaSweeper"
    sampler: Any = "tpe"
    pruner: Any = "median"
    direction: Any = None
    objective: Any = None
    n_trials: int = 20
    n_jobs: int = 1
    timeout: Any = None
    study_name: Any = None
    storage: Any = None
    seed: Any = None
    params: Any = None


ConfigStore.instance().store(
    group="hydra/sweeper", name="ednax_optuna", node=EdnaxOptunaSweeperConf, provider="ednax"
)


class EdnaxOptunaSweeper(Sweeper):
    """Runs an ednax Optuna search with whichever Hydra launcher is configured."""

    def __init__(self, **settings: Any) -> None:
        self.settings = settings
        self.launcher = None

    def setup(self, *, hydra_context: Any, task_function: Any, config: Any) -> None:
        from hydra.core.plugins import Plugins

        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def sweep(self, arguments: list[str]) -> Any:
        from omegaconf import DictConfig, ListConfig, OmegaConf

        from ednax.sweep.optuna_search import run_search

        settings = {
            key: OmegaConf.to_container(value, resolve=True)
            if isinstance(value, (DictConfig, ListConfig))
            else value
            for key, value in self.settings.items()
        }
        return run_search(arguments, self.launcher, settings)
