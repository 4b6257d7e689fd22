"""`ednax run` on the torch samples end to end: the real CLI in a subprocess, the bundle it
leaves (history, checkpoints, predictions, complete config), determinism, weights from
another run, plugin models, early stopping, and resuming after Ctrl-C or a SIGKILL.

Runs are kept short with `trainer.max_epochs=` overrides, except where an assertion is
about the sample as written (the accuracy targets of iris-mlp and digits-cnn).
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import (
    SAMPLES,
    Result,
    bundle_files,
    bundle_of,
    bundles_in,
    read_json,
    read_yaml,
    run_cli,
    write,
)

IRIS_MLP = SAMPLES / "iris-mlp.yaml"
DIGITS_CNN = SAMPLES / "digits-cnn.yaml"
DIABETES_MLP = SAMPLES / "diabetes-mlp.yaml"
FINETUNE = SAMPLES / "breast-cancer-finetune.yaml"
IRIS_EPOCHS = 7
IRIS_TEST_ROWS = 30  # 150 rows, test: 0.2

# A user's own nn.Module, written beside the config and named in its `imports:`. ednax
# supplies in_features and out_features from the data; width is the plugin's own parameter.
TINY_NET_PLUGIN = '''
from torch import nn

from ednax.registry import register


@register("model", "tiny_net", family="torch")
class TinyNet(nn.Module):
    """One hidden layer of a chosen width.

    Parameters
    ----------
    width : int
        Units of the hidden layer.
    in_features : int
        Number of input columns (supplied by ednax).
    out_features : int
        Number of outputs (supplied by ednax).
    """

    def __init__(self, *, width: int = 8, in_features: int, out_features: int):
        super().__init__()
        self.width = width
        self.in_features = in_features
        self.out_features = out_features
        self.body = nn.Sequential(
            nn.Linear(in_features, width), nn.ReLU(), nn.Linear(width, out_features)
        )

    def forward(self, x):
        return self.body(x)
'''


# --- helpers ---------------------------------------------------------------------------


def succeeded(result: Result) -> Result:
    assert result.code == 0, result.text
    assert "Traceback" not in result.text, result.text
    return result


def history(bundle: Path) -> list[dict[str, str]]:
    with open(bundle / "history.csv", newline="") as file:
        return list(csv.DictReader(file))


def epochs(bundle: Path) -> list[int]:
    return [int(row["epoch"]) for row in history(bundle)]


def rows_in(path: Path) -> int:
    """Data rows in a CSV being written by another process (0 if not there yet)."""
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return 0
    return max(0, len(lines) - 1)


def checkpoints(bundle: Path) -> list[str]:
    return sorted(p.name for p in (bundle / "artifacts").glob("*.ckpt"))


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def start_run(cwd: Path, *args: str) -> subprocess.Popen:
    """`ednax run ...` in the background, as a user would start it from a shell."""
    return start_cli(cwd, "run", *args)


def start_cli(cwd: Path, *args: str) -> subprocess.Popen:
    """An ednax command in the background."""
    return subprocess.Popen(
        [sys.executable, "-m", "ednax", *map(str, args)],
        cwd=cwd,
        env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_epochs(runs: Path, proc: subprocess.Popen, count: int, timeout: float = 120) -> Path:
    """The bundle of the one run under `runs`, once its history.csv holds `count` epochs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the run ended early:\n" + "".join(proc.communicate())
        for found in bundle_files(runs, "*/*/history.csv"):
            if rows_in(found) >= count:
                return found.parent
        time.sleep(0.05)
    raise AssertionError(f"the run did not reach {count} epochs in {timeout} s")


def wait_for_lock(bundle: Path, proc: subprocess.Popen, timeout: float = 60) -> None:
    """Until `proc` holds the bundle's lock (its pid in the lock file)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the process ended early:\n" + "".join(proc.communicate())
        lock = bundle / ".lock"
        if lock.is_file() and f'"pid": {proc.pid},' in lock.read_text():
            return
        time.sleep(0.05)
    raise AssertionError(f"pid {proc.pid} did not take the lock of {bundle} in {timeout} s")


def stop(proc: subprocess.Popen | None) -> None:
    if proc is None:
        return
    if proc.poll() is None:
        proc.kill()
    proc.communicate()


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """One intra-op thread per run: these models are tiny, and on a shared machine two
    spinning threads per process make a run several times slower, not faster."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OMP_NUM_THREADS", "1")
        yield


@pytest.fixture(scope="module")
def iris_mlp(tmp_path_factory) -> Path:
    """`ednax run sample-configs/iris-mlp.yaml trainer.max_epochs=7`, once for the module."""
    cwd = tmp_path_factory.mktemp("iris-mlp")
    result = succeeded(run_cli("run", IRIS_MLP, f"trainer.max_epochs={IRIS_EPOCHS}", cwd=cwd))
    return bundle_of(result, cwd)


# --- the iris-mlp bundle ---------------------------------------------------------------


def test_iris_mlp_completes_with_test_accuracy_of_0_9(iris_mlp):
    run = read_json(iris_mlp / "run.json")
    assert run["status"] == "completed"
    assert run["family"] == "torch"
    assert run["classes"]["model"]["class"] == "ednax.steps.nets:MLP"
    assert run["classes"]["trainer"]["class"] == "ednax.steps.trainers_torch:Lightning"
    metrics = read_json(iris_mlp / "metrics.json")
    assert set(metrics) == {"train", "val", "test"}
    assert {"loss", "accuracy", "f1_macro"} <= set(metrics["test"])
    assert metrics["test"]["accuracy"] >= 0.9


def test_history_has_one_row_per_epoch_of_max_epochs(iris_mlp):
    rows = history(iris_mlp)
    assert [int(row["epoch"]) for row in rows] == list(range(1, IRIS_EPOCHS + 1))
    for column in ("train/loss", "val/loss", "val/accuracy"):
        assert column in rows[0], list(rows[0])
        assert all(float(row[column]) >= 0 for row in rows), column
    assert "trained 7 epochs" in (iris_mlp / "log.txt").read_text()


def test_best_and_last_checkpoints_are_kept_with_their_hashes(iris_mlp):
    recorded = read_json(iris_mlp / "run.json")["artifacts"]
    for name in ("best.ckpt", "last.ckpt"):
        file = iris_mlp / "artifacts" / name
        assert file.stat().st_size > 0, name
        assert recorded[name]["sha256"] == sha256(file), name
        assert recorded[name]["size"] == file.stat().st_size, name


def test_predictions_have_one_row_per_test_sample(iris_mlp):
    with open(iris_mlp / "artifacts" / "predictions.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == IRIS_TEST_ROWS
    assert len({row["id"] for row in rows}) == IRIS_TEST_ROWS
    assert {"target", "prediction", "proba_setosa", "proba_virginica"} <= set(rows[0])
    accuracy = sum(row["target"] == row["prediction"] for row in rows) / len(rows)
    assert accuracy == pytest.approx(read_json(iris_mlp / "metrics.json")["test"]["accuracy"])


def test_bundle_config_records_every_default(iris_mlp):
    config = read_yaml(iris_mlp / "config.yaml")
    sample = IRIS_MLP.read_text()
    for unset in ("gradient_clip_val", "weight_decay", "label_smoothing", "early_stopping"):
        assert unset not in sample, unset
    assert config["trainer"]["max_epochs"] == IRIS_EPOCHS
    assert config["trainer"]["gradient_clip_val"] is None
    assert config["trainer"]["early_stopping"] is None
    assert config["trainer"]["accumulate_grad_batches"] == 1
    assert config["trainer"]["deterministic"] is True
    assert config["optimizer"]["weight_decay"] == 0.0
    assert config["optimizer"]["betas"] == [0.9, 0.999]
    assert config["loss"]["label_smoothing"] == 0.0
    assert config["scheduler"]["eta_min"] == 0.0
    assert config["weights"] == {"type": "none"}
    assert config["save"]["checkpoints"] == "both"
    assert config["model"]["activation"] == "relu"
    assert "in_features" not in config["model"]  # sizes come from the data


def test_same_config_twice_gives_identical_metrics(cli, workdir, iris_mlp):
    again = bundle_of(succeeded(cli("run", IRIS_MLP, f"trainer.max_epochs={IRIS_EPOCHS}")), workdir)
    assert again.name != iris_mlp.name
    assert read_json(again / "metrics.json") == read_json(iris_mlp / "metrics.json")
    assert history(again) == history(iris_mlp)


def test_resuming_a_completed_run_is_refused(cli, iris_mlp):
    before = (iris_mlp / "run.json").read_text()
    result = cli("resume", iris_mlp)
    assert result.code == 2, result.text
    assert f"run {iris_mlp.name} is completed: there is nothing to resume" in result.text
    assert "Traceback" not in result.text
    assert (iris_mlp / "run.json").read_text() == before


# --- the other samples -----------------------------------------------------------------


def test_digits_cnn_reaches_test_accuracy_of_0_95(cli, workdir):
    bundle = bundle_of(succeeded(cli("run", DIGITS_CNN)), workdir)
    assert read_json(bundle / "metrics.json")["test"]["accuracy"] >= 0.95
    assert read_json(bundle / "run.json")["classes"]["model"]["class"] == "ednax.steps.nets:CNN"
    max_epochs = read_yaml(DIGITS_CNN)["trainer"]["max_epochs"]
    assert epochs(bundle) == list(range(1, max_epochs + 1))


def test_diabetes_mlp_is_regression_with_mse_and_rmse_mae_r2(cli, workdir):
    bundle = bundle_of(succeeded(cli("run", DIABETES_MLP, "trainer.max_epochs=5")), workdir)
    assert "loss:" not in DIABETES_MLP.read_text()
    config = read_yaml(bundle / "config.yaml")
    assert config["loss"]["type"] == "mse"
    assert config["metrics"]["names"] == ["rmse", "mae", "r2"]
    assert read_json(bundle / "run.json")["task"] == "regression"
    metrics = read_json(bundle / "metrics.json")
    for split in ("train", "val", "test"):
        assert {"rmse", "mae", "r2"} <= set(metrics[split]), split
    assert 0 < metrics["test"]["mae"] <= metrics["test"]["rmse"]
    assert "val/rmse" in history(bundle)[0]
    # predict scores the split as training did (training's float32, to its precision)
    predicted = succeeded(cli("predict", bundle, "data:test"))
    assert f"rmse {metrics['test']['rmse']:.4f}" in predicted.err
    assert "; as the run recorded" in predicted.err, predicted.err


def test_finetune_starts_from_the_latest_base_run(cli, workdir):
    base_result = cli(
        "run",
        FINETUNE,
        "weights=none",
        "experiment.name=breast-cancer-base",
        "trainer.max_epochs=3",
    )
    base = bundle_of(succeeded(base_result), workdir)
    assert base.parent.name == "breast-cancer-base"

    tuned = bundle_of(succeeded(cli("run", FINETUNE, "trainer.max_epochs=2")), workdir)
    weights = read_yaml(tuned / "config.yaml")["weights"]
    assert weights["type"] == "run"
    assert weights["which"] == "best"
    assert Path(weights["path"]).is_absolute()
    assert Path(weights["path"]).resolve() == base.resolve()  # not ".../latest"
    log = (tuned / "log.txt").read_text()
    assert re.search(r"weights: loaded \d+ tensors from .*best\.ckpt", log), log
    assert base.name in log
    assert read_json(tuned / "run.json")["status"] == "completed"


# --- checkpoints and early stopping ------------------------------------------------------


@pytest.mark.parametrize(
    ("keep", "kept"),
    [("none", []), ("best", ["best.ckpt"])],
)
def test_save_checkpoints_decides_which_files_stay(cli, workdir, keep, kept):
    args = (IRIS_MLP, "trainer.max_epochs=2", f"save.checkpoints={keep}")
    bundle = bundle_of(succeeded(cli("run", *args)), workdir)
    assert checkpoints(bundle) == kept
    recorded = read_json(bundle / "run.json")["artifacts"]
    assert sorted(name for name in recorded if name.endswith(".ckpt")) == kept
    assert read_json(bundle / "metrics.json")["test"]["accuracy"] > 0


def assert_stopped_after_patience(bundle: Path, patience: int, max_epochs: int) -> None:
    """Training ended `patience` epochs after the lowest val/loss, before max_epochs."""
    losses = [float(row["val/loss"]) for row in history(bundle)]
    best_epoch = losses.index(min(losses)) + 1
    assert len(losses) < max_epochs, losses
    assert len(losses) == best_epoch + patience, losses


EARLY_STOP = "trainer.early_stopping={monitor: val/loss, patience: 2, mode: min}"


def test_early_stopping_ends_training_when_val_loss_stalls(cli, workdir):
    bundle = bundle_of(
        succeeded(cli("run", IRIS_MLP, EARLY_STOP, "trainer.max_epochs=60")), workdir
    )
    assert_stopped_after_patience(bundle, patience=2, max_epochs=60)


def test_early_stopping_on_a_loss_minimises_it_by_default(cli, workdir):
    no_mode = "trainer.early_stopping={monitor: val/loss, patience: 2}"
    bundle = bundle_of(succeeded(cli("run", IRIS_MLP, no_mode, "trainer.max_epochs=60")), workdir)
    assert_stopped_after_patience(bundle, patience=2, max_epochs=60)


# --- plugins ---------------------------------------------------------------------------


def test_a_plugin_nn_module_trains_with_sizes_from_the_data(cli, workdir):
    write(workdir / "tiny_plugin.py", TINY_NET_PLUGIN)
    sample = IRIS_MLP.read_text()
    model_line = "model: {type: mlp, hidden: [64, 64], dropout: 0.1}"
    assert model_line in sample
    text = "imports: [tiny_plugin]\n" + sample.replace(
        model_line, "model: {type: tiny_net, width: 16}"
    )
    config = write(workdir / "tiny.yaml", text)

    bundle = bundle_of(succeeded(cli("run", config, "trainer.max_epochs=10")), workdir)
    assert read_yaml(bundle / "config.yaml")["model"] == {"type": "tiny_net", "width": 16}
    run = read_json(bundle / "run.json")
    assert run["status"] == "completed"
    assert run["classes"]["model"]["class"] == "tiny_plugin:TinyNet"
    assert epochs(bundle) == list(range(1, 11))
    assert read_json(bundle / "metrics.json")["test"]["accuracy"] >= 0.8


# --- interruptions and resume ----------------------------------------------------------

KILL_EPOCHS = 150
KILL_AFTER = 20


def test_a_run_killed_with_sigkill_resumes_to_the_metrics_of_an_uninterrupted_run(workdir):
    """The acceptance test: kill -9 mid-training, `ednax resume`, same result as never killed."""
    args = (IRIS_MLP, f"trainer.max_epochs={KILL_EPOCHS}", "trainer.progress=plain")
    reference_dir = workdir / "reference"
    reference_dir.mkdir()
    reference = start_run(reference_dir, *args)  # the same command, trained alongside
    killed = start_run(workdir, *args)
    resuming = None
    try:
        bundle = wait_for_epochs(workdir / "runs", killed, KILL_AFTER)
        live = run_cli("resume", bundle, cwd=workdir)  # too early: the run is alive
        assert live.code == 2, live.text
        assert f"run {bundle.name} is still running (pid {killed.pid})" in live.text
        assert killed.poll() is None, "the run finished before it could be killed"
        killed.send_signal(signal.SIGKILL)
        killed.wait(timeout=30)
        assert rows_in(bundle / "history.csv") < KILL_EPOCHS
        assert read_json(bundle / "run.json")["status"] == "running"

        resuming = start_cli(workdir, "resume", bundle)
        wait_for_lock(bundle, resuming)
        second = run_cli("resume", bundle, cwd=workdir)  # one process per bundle
        assert second.code == 2, second.text
        assert f"(pid {resuming.pid}" in second.text
        out, err = resuming.communicate(timeout=300)
        assert resuming.returncode == 0, out + err
        assert "(running) from last.ckpt" in out + err
        out, err = reference.communicate(timeout=300)
        assert reference.returncode == 0, out + err
    finally:
        stop(killed)
        stop(reference)
        stop(resuming)

    assert bundles_in(workdir / "runs" / "iris-mlp") == [bundle]  # resumed in place
    assert read_json(bundle / "run.json")["status"] == "completed"
    assert epochs(bundle) == list(range(1, KILL_EPOCHS + 1))
    (uninterrupted,) = bundles_in(reference_dir / "runs" / "iris-mlp")
    assert read_json(bundle / "metrics.json") == read_json(uninterrupted / "metrics.json")
    assert history(bundle) == history(uninterrupted)


def test_ctrl_c_interrupts_and_resume_latest_completes(cli, workdir):
    max_epochs = 40
    proc = start_run(
        workdir, IRIS_MLP, f"trainer.max_epochs={max_epochs}", "trainer.progress=plain"
    )
    try:
        bundle = wait_for_epochs(workdir / "runs", proc, 3)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        stop(proc)
    assert proc.returncode != 0, out + err
    assert "interrupted" in err
    assert "Traceback" not in out + err
    run = read_json(bundle / "run.json")
    assert run["status"] == "interrupted"
    assert run["error"]
    assert len(epochs(bundle)) < max_epochs

    resumed = succeeded(cli("resume", "latest"))
    assert f"resuming runs/iris-mlp/{bundle.name} (interrupted) from last.ckpt" in resumed.text
    assert bundle_of(resumed, workdir) == bundle
    run = read_json(bundle / "run.json")
    assert run["status"] == "completed"
    assert run["error"] is None
    assert epochs(bundle) == list(range(1, max_epochs + 1))
