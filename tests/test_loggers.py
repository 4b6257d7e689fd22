"""trainer.logger: a user's registered logger and the built-in csv logger receive the
epoch metrics; a logger that cannot log is a setup problem before training."""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path

import pytest
from pytorch_lightning.loggers import Logger

from ednax.engine.lightning.loggers import logger_arguments
from ednax.errors import ConfigError
from ednax.registry import REGISTRY, Registry
from ednax.steps.loggers import MLflow
from tests.torch_helpers import fit, sections


class RecordingLogger(Logger):
    """A user's logger: keeps every metrics dict it is given.

    Parameters
    ----------
    tag : str
        The logger's own parameter, set in the config.
    save_dir : Path
        The run's artifacts folder (supplied by the engine).
    run_name : str
        The run id (supplied by the engine).
    """

    built: list[RecordingLogger] = []

    def __init__(self, *, tag: str = "", save_dir: Path, run_name: str = ""):
        super().__init__()
        self.tag = tag
        self.directory = save_dir  # Logger.save_dir is a read-only property
        self.run_name = run_name
        self.logged: list[dict[str, float]] = []
        RecordingLogger.built.append(self)

    @property
    def name(self) -> str:
        return "recording"

    @property
    def version(self) -> int:
        return 0

    def log_metrics(self, metrics, step=None) -> None:
        self.logged.append(dict(metrics))

    def log_hyperparams(self, params, *args, **kwargs) -> None:
        pass


class NotALogger:
    """Registered as a logger, but Lightning cannot log to it."""


@pytest.fixture
def registry() -> Registry:
    registry = Registry(entry_points=False)
    registry.register("logger", "my_logger")(RecordingLogger)
    registry.register("logger", "not_a_logger")(NotALogger)
    RecordingLogger.built.clear()
    return registry


def values(logged: list[dict[str, float]], key: str) -> list[float]:
    return [row[key] for row in logged if key in row]


def test_a_registered_logger_receives_each_epochs_metrics(tmp_path, registry):
    logger = {"type": "my_logger", "tag": "mine"}
    result = fit(tmp_path, sections(max_epochs=3, logger=logger), registry=registry)
    (built,) = RecordingLogger.built
    assert built.tag == "mine"
    assert built.directory == tmp_path / "artifacts"
    assert built.run_name == tmp_path.name  # the folder above artifacts/ (the bundle)
    accuracy = [row["val/accuracy"] for row in result.history]
    loss = [row["train/loss"] for row in result.history]
    assert values(built.logged, "val/accuracy") == pytest.approx(accuracy)
    assert values(built.logged, "train/loss") == pytest.approx(loss)


def test_the_csv_logger_writes_its_metrics_under_artifacts(tmp_path):
    result = fit(tmp_path, sections(max_epochs=2, logger="csv"))
    (metrics_file,) = (tmp_path / "artifacts" / "lightning_logs").glob("*/metrics.csv")
    with open(metrics_file, newline="") as handle:
        rows = list(csv.DictReader(handle))
    logged = [float(r["val/accuracy"]) for r in rows if r.get("val/accuracy")]
    assert logged == pytest.approx([row["val/accuracy"] for row in result.history])


def test_logger_none_logs_nothing(tmp_path):
    fit(tmp_path, sections(max_epochs=1, logger="none"))
    assert sorted(p.name for p in (tmp_path / "artifacts").iterdir()) == [
        "best.ckpt",
        "last.ckpt",
    ]


def test_a_class_that_is_no_logger_is_a_setup_problem(tmp_path, registry):
    with pytest.raises(ConfigError) as caught:
        fit(tmp_path, sections(logger="not_a_logger"), registry=registry)
    assert caught.value.problems[0].path == "trainer.logger.type"
    assert "not a Lightning logger" in caught.value.render()
    assert not (tmp_path / "artifacts").exists()


@pytest.mark.parametrize("name", ["tensorboard", "mlflow"])
def test_a_logger_whose_package_is_missing_is_reported_before_training(tmp_path, name):
    package = {"tensorboard": "tensorboard", "mlflow": "mlflow"}[name]
    if importlib.util.find_spec(package) is not None:
        pytest.skip(f"{package} is installed")
    with pytest.raises(ConfigError) as caught:
        fit(tmp_path, sections(logger=name))
    problem = caught.value.problems[0]
    assert problem.path == "trainer.logger"
    assert f"needs the {package} package" in problem.message
    assert problem.hint == f"pip install {package}, or use logger: csv"
    assert not (tmp_path / "artifacts").exists()


def test_the_engine_names_the_run_from_the_bundles_folders(tmp_path):
    artifacts = tmp_path / "runs" / "iris" / "20240101-abc" / "artifacts"
    assert logger_arguments(artifacts) == {
        "save_dir": artifacts,
        "experiment": "iris",
        "run_name": "20240101-abc",
    }
    named = logger_arguments(artifacts / "fold0", "iris", "20240101-abc/fold0")
    assert named["run_name"] == "20240101-abc/fold0" and named["experiment"] == "iris"


def test_mlflow_tracks_where_it_is_told_else_beside_the_artifacts(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert MLflow(save_dir=tmp_path).uri() == (tmp_path / "mlruns").as_uri()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://tracker:5000")
    assert MLflow(save_dir=tmp_path).uri() == "http://tracker:5000"
    assert MLflow(save_dir=tmp_path, tracking_uri="file:///x").uri() == "file:///x"


def test_the_built_in_loggers_schemas_leave_out_what_the_engine_supplies():
    params = {n: list(REGISTRY.get("logger", n).signature().params) for n in ("csv", "mlflow")}
    assert params == {"csv": [], "mlflow": ["tracking_uri"]}


FILE_LOGGER = '''
import json
from pathlib import Path

from pytorch_lightning.loggers import Logger

from ednax.registry import register


@register("logger", "jsonl")
class JsonLines(Logger):
    """Every metrics dict Lightning logs, one JSON line each.

    Parameters
    ----------
    file : str
        File name inside the run's artifacts folder.
    save_dir : str
        The run's artifacts folder (supplied by the engine).
    """

    def __init__(self, *, file: str = "metrics.jsonl", save_dir: str = "."):
        super().__init__()
        self.path = Path(save_dir) / file

    @property
    def name(self):
        return "jsonl"

    @property
    def version(self):
        return 0

    def log_metrics(self, metrics, step=None):
        with open(self.path, "a") as out:
            out.write(json.dumps({k: float(v) for k, v in metrics.items()}) + "\\n")

    def log_hyperparams(self, params, *args, **kwargs):
        pass
'''


@pytest.mark.slow
def test_a_logger_chosen_by_name_in_the_config_receives_the_epoch_metrics(cli, workdir):
    import json

    from tests.conftest import SAMPLES, bundle_of, write

    write(workdir / "my_logger.py", FILE_LOGGER)
    config = write(
        workdir / "iris.yaml",
        (SAMPLES / "iris-mlp.yaml").read_text() + "\nimports: [my_logger]\n",
    )
    result = cli(
        "run", config, "trainer.max_epochs=3", "trainer.logger={type: jsonl, file: m.jsonl}"
    )
    assert result.code == 0, result.text
    bundle = bundle_of(result, workdir)
    rows = [
        json.loads(line) for line in (bundle / "artifacts" / "m.jsonl").read_text().splitlines()
    ]
    for name in ("val/accuracy", "train/loss", "val/loss"):
        assert len([row for row in rows if name in row]) == 3, name

    wrong = cli("validate", config, "trainer.logger=jsonll")
    assert wrong.code == 2
    assert "trainer.logger: unknown logger type 'jsonll'" in wrong.err
    assert "did you mean 'jsonl'" in wrong.err
