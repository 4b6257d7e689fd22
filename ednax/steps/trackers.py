"""Built-in trackers for the `tracker` section: where every run is also recorded.

A tracker is not part of the experiment: switching it on changes neither the run's
fingerprints nor its version. `none` (the default) records nothing beyond the bundle;
`mlflow` records each run in an MLflow tracking store as it goes (params, tags, per-epoch
and final metrics, the bundle's files), a sweep as a parent run with a nested run per
trial. The step only holds the settings and reports a missing package at validate time
(`problems()`); `ednax.engine.tracking` does the MLflow work, so that this module imports
nothing heavy. The engine supplies `runs_dir` and `experiment` (the experiment's name).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from ednax.errors import Problem
from ednax.steps.base import Step

EXTRA = "pip install 'ednax[mlflow]'"
DATABASE = "mlflow.db"


class NoTracker(Step):
    """No tracking: the run bundle is the only record."""

    def __init__(self):
        pass


class MLflowTracker(Step):
    """Record every run in MLflow as it goes; a sweep as a parent run with nested trials.

    Each run logs its params (the resolved config, one key a row), tags (run id, version,
    structure fingerprint, git commit, status), per-epoch and final metrics and the
    bundle's files. Needs the mlflow extra: `pip install 'ednax[mlflow]'`.

    Parameters
    ----------
    tracking_uri : str | None
        The MLflow tracking store, e.g. sqlite:///path/mlflow.db or http://host:5000; None
        uses a SQLite database beside the runs directory (<runs_dir>/../mlflow.db).
    experiment_name : str | None
        The MLflow experiment runs go to; None uses the ednax experiment's name.
    runs_dir : Path | None
        The runs directory (supplied by the engine).
    experiment : str | None
        The ednax experiment's name (supplied by the engine).
    """

    def __init__(
        self,
        *,
        tracking_uri: str | None = None,
        experiment_name: str | None = None,
        runs_dir: Path | None = None,
        experiment: str | None = None,
    ):
        self.tracking_uri = tracking_uri
        self.experiment_name = experiment_name
        self.runs_dir = runs_dir
        self.experiment = experiment

    def problems(self) -> list[Problem]:
        if importlib.util.find_spec("mlflow") is not None:
            return []
        return [
            Problem(
                "tracker 'mlflow' needs the mlflow package, not installed",
                path="tracker.type",
                hint=f"{EXTRA}, or use tracker: none",
            )
        ]

    def uri(self) -> str:
        """The tracking URI: the parameter, else a SQLite file beside the runs directory."""
        if self.tracking_uri:
            return self.tracking_uri
        return default_uri(Path(self.runs_dir or "runs"))

    def experiment_title(self) -> str:
        """The MLflow experiment's name: the parameter, else the ednax experiment's."""
        return self.experiment_name or self.experiment or "ednax"


def default_uri(runs_dir: Path) -> str:
    """sqlite:///<runs_dir's parent>/mlflow.db: a real database, not MLflow's file store."""
    return f"sqlite:///{(Path(runs_dir).resolve().parent / DATABASE).as_posix()}"
