"""Built-in experiment trackers for `trainer.logger`: csv, tensorboard and mlflow.

Each class holds its settings and builds Lightning's logger when the train loop starts
(`build()`), so that a missing package is reported with the config's other problems before
training (`problems()`), not as an import error. The engine supplies `save_dir` (the run's
artifacts folder), `experiment` (the experiment's name) and `run_name` (the run id) to the
classes that declare them. A user's logger is any `pytorch_lightning.loggers.Logger`
registered with `@register("logger", name)`, used as it is built.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

from ednax.errors import Problem
from ednax.steps.base import Step


class _PackagedLogger(Step):
    """A logger whose Lightning class needs a package that ednax does not install."""

    requires: tuple[str, ...] = ()  # any one of these packages will do

    def problems(self, path: str = "trainer.logger") -> list[Problem]:
        return self.package_problems(path)

    @classmethod
    def package_problems(cls, path: str = "trainer.logger") -> list[Problem]:
        """The package missing, if it is (found without importing it): what validation
        reports before the logger is built."""
        if not cls.requires or any(importlib.util.find_spec(p) for p in cls.requires):
            return []
        package = cls.requires[0]
        return [
            Problem(
                f"logger '{cls.__name__.lower()}' needs the {package} package, not installed",
                path=path,
                hint=f"pip install {package}, or use logger: csv",
            )
        ]

    @property
    def name(self) -> str:
        return type(self).__name__.lower()


class Csv(_PackagedLogger):
    """Epoch metrics in a csv file: artifacts/lightning_logs/version_0/metrics.csv.

    Parameters
    ----------
    save_dir : Path
        The run's artifacts folder (supplied by the engine).
    """

    def __init__(self, *, save_dir: Path):
        self.save_dir = save_dir

    def build(self) -> Any:
        from pytorch_lightning.loggers import CSVLogger

        return CSVLogger(self.save_dir, name="lightning_logs")


class TensorBoard(_PackagedLogger):
    """TensorBoard event files under artifacts/tensorboard (needs the tensorboard package).

    Parameters
    ----------
    save_dir : Path
        The run's artifacts folder (supplied by the engine).
    """

    requires = ("tensorboard", "tensorboardX")

    def __init__(self, *, save_dir: Path):
        self.save_dir = save_dir

    def build(self) -> Any:
        from pytorch_lightning.loggers import TensorBoardLogger

        return TensorBoardLogger(self.save_dir, name="tensorboard")


class MLflow(_PackagedLogger):
    """An MLflow run named after the run id, in an MLflow experiment named after ednax's.

    Parameters
    ----------
    tracking_uri : str | None
        Where MLflow records runs; None uses $MLFLOW_TRACKING_URI, else artifacts/mlruns.
    save_dir : Path
        The run's artifacts folder (supplied by the engine).
    experiment : str
        The experiment's name (supplied by the engine).
    run_name : str | None
        The run id (supplied by the engine).
    """

    requires = ("mlflow",)

    def __init__(
        self,
        *,
        tracking_uri: str | None = None,
        save_dir: Path,
        experiment: str = "ednax",
        run_name: str | None = None,
    ):
        self.tracking_uri = tracking_uri
        self.save_dir = save_dir
        self.experiment = experiment
        self.run_name = run_name

    def build(self) -> Any:
        from pytorch_lightning.loggers import MLFlowLogger

        return MLFlowLogger(
            experiment_name=self.experiment or "ednax",
            run_name=self.run_name,
            tracking_uri=self.uri(),
        )

    def uri(self) -> str:
        """The tracking URI: the parameter, $MLFLOW_TRACKING_URI, or artifacts/mlruns."""
        default = (Path(self.save_dir).resolve() / "mlruns").as_uri()
        return self.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or default
