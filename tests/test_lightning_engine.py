"""fit_torch end to end on small data: accuracy, exact epochs, determinism, resume, checkpoints."""

from __future__ import annotations

import copy
import signal

import numpy as np
import pytest
import pytorch_lightning as pl
import torch

from ednax.engine.lightning.fit import TrainingInterrupted, checkpoint_history
from ednax.engine.lightning.loader import TensorBatches
from ednax.engine.lightning.module import EdnaxModule
from ednax.errors import ConfigError
from ednax.registry import KINDS, Kind, Registry
from ednax.steps.base import Dataset, Split
from tests.torch_helpers import fit as _fit
from tests.torch_helpers import iris as _iris
from tests.torch_helpers import sections as _sections


def test_an_mlp_learns_iris(tmp_path):
    result = _fit(tmp_path, _sections(max_epochs=30))
    assert result.metrics["val"]["accuracy"] >= 0.9
    assert result.metrics["test"]["accuracy"] >= 0.9
    assert set(result.metrics["test"]) == {"loss", "accuracy"}  # mae is for regression
    y_pred, y_proba = result.predictions["test"]
    assert y_pred.shape == (30,) and y_proba.shape == (30, 3)
    assert np.allclose(y_proba.sum(axis=1), 1.0)
    assert result.best_checkpoint == tmp_path / "artifacts" / "best.ckpt"
    assert result.last_checkpoint.is_file()


def test_max_epochs_trains_exactly_that_many_epochs(tmp_path):
    rows = []
    result = _fit(tmp_path, _sections(max_epochs=3), on_epoch_end=rows.append)
    assert [row["epoch"] for row in result.history] == [1, 2, 3]
    assert rows == result.history
    assert result.epochs_run == 3
    assert list(rows[0]) == [
        "epoch",
        "train/loss",
        "train/accuracy",
        "val/loss",
        "val/accuracy",
        "lr",
    ]


def test_the_same_seed_gives_the_same_metrics(tmp_path):
    first = _fit(tmp_path / "a")
    second = _fit(tmp_path / "b")
    assert first.metrics == second.metrics
    assert first.history == second.history


def test_final_metrics_come_from_the_best_epoch(tmp_path):
    result = _fit(tmp_path, _sections(max_epochs=8))
    best = max(result.history, key=lambda row: row["val/accuracy"])
    assert result.metrics["val"]["accuracy"] == pytest.approx(best["val/accuracy"])


class _Stop(Exception):
    pass


def _stop_after(epoch):
    def listener(row):
        if row["epoch"] == epoch:
            raise _Stop

    return listener


def test_a_resumed_run_continues_to_max_epochs_like_an_uninterrupted_one(tmp_path):
    sections = _sections(max_epochs=6)
    sections["scheduler"] = {"type": "step", "step_size": 1, "gamma": 0.7}
    whole = _fit(tmp_path / "whole", sections)
    with pytest.raises(_Stop):
        _fit(tmp_path / "cut", sections, on_epoch_end=_stop_after(3))
    last = tmp_path / "cut" / "artifacts" / "last.ckpt"
    assert [row["epoch"] for row in checkpoint_history(last)] == [1, 2, 3]
    new_rows = []
    resumed = _fit(tmp_path / "cut", sections, resume_from=last, on_epoch_end=new_rows.append)
    assert [row["epoch"] for row in new_rows] == [4, 5, 6]
    assert [row["epoch"] for row in resumed.history] == [1, 2, 3, 4, 5, 6]
    assert resumed.history == whole.history
    assert resumed.metrics == whole.metrics


def test_ctrl_c_raises_training_interrupted_and_restores_the_sigint_handler(tmp_path):
    def interrupt(row):
        raise KeyboardInterrupt

    handler = signal.getsignal(signal.SIGINT)
    with pytest.raises(TrainingInterrupted):
        _fit(tmp_path, on_epoch_end=interrupt)
    assert signal.getsignal(signal.SIGINT) is handler
    assert (tmp_path / "artifacts" / "last.ckpt").is_file()


@pytest.mark.parametrize(
    "keep,files", [("none", set()), ("best", {"best.ckpt"}), ("last", {"last.ckpt"})]
)
def test_save_checkpoints_decides_which_files_stay(tmp_path, keep, files):
    sections = _sections(max_epochs=2)
    sections["save"]["checkpoints"] = keep
    result = _fit(tmp_path, sections)
    assert {p.name for p in (tmp_path / "artifacts").iterdir()} == files
    assert (result.best_checkpoint is not None) == ("best.ckpt" in files)
    assert (result.last_checkpoint is not None) == ("last.ckpt" in files)


def test_without_a_val_split_the_final_weights_are_the_best(tmp_path):
    result = _fit(tmp_path, _sections(max_epochs=2), dataset=_iris(val=False))
    assert set(result.metrics) == {"train", "test"}
    assert "val/loss" not in result.history[-1]
    assert result.best_checkpoint.read_bytes() == result.last_checkpoint.read_bytes()


def test_early_stopping_ends_training_when_the_monitor_stalls(tmp_path):
    sections = _sections(max_epochs=20, early_stopping={"monitor": "val/loss", "patience": 2})
    sections["optimizer"] = {"type": "sgd", "lr": 0.0}
    result = _fit(tmp_path, sections)
    assert result.epochs_run == 3


def test_a_regression_fit_predicts_values(tmp_path):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + 0.1 * rng.normal(size=200)
    rows = {"train": np.arange(150), "val": np.arange(150, 200)}
    split = {name: Split(X[r], y[r], r) for name, r in rows.items()}
    data = Dataset(split, "regression", ["a", "b", "c"], "y")
    sections = _sections(max_epochs=20)
    sections["loss"] = {"type": "mse"}
    result = _fit(tmp_path, sections, dataset=data, monitor="val/loss", mode="min")
    y_pred, y_proba = result.predictions["val"]
    assert y_pred.shape == (50,) and y_proba is None
    assert result.metrics["val"]["mae"] < 0.5
    assert set(result.metrics["val"]) == {"loss", "mae"}


def test_fit_prints_nothing_but_one_line_per_epoch(tmp_path, capfd):
    lines = []
    _fit(tmp_path, _sections(max_epochs=2, progress="plain"), log=lines.append)
    captured = capfd.readouterr()
    assert captured.out == "" and captured.err == ""
    assert [line.split()[:2] for line in lines] == [["epoch", "1/2"], ["epoch", "2/2"]]
    assert "val/accuracy" in lines[0]


@pytest.mark.parametrize(
    "change,path",
    [
        ({"monitor": "val/acuracy"}, "metrics.monitor"),
        (
            {"dataset": _iris(val=False), "sections": _sections(early_stopping={})},
            "trainer.early_stopping.monitor",
        ),
        ({"sections": _sections(max_epochs=0)}, "trainer.max_epochs"),
    ],
)
def test_setup_problems_are_config_errors_before_training(tmp_path, change, path):
    with pytest.raises(ConfigError) as exc_info:
        _fit(tmp_path, **change)
    assert exc_info.value.problems[0].path == path
    assert not (tmp_path / "artifacts").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present")
def test_asking_for_a_missing_gpu_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError) as exc_info:
        _fit(tmp_path, _sections(accelerator="gpu"))
    assert exc_info.value.problems[0].path == "trainer.accelerator"


def module_registry(monkeypatch) -> Registry:
    """A registry with the kind "module" (train loops), as ednax's catalog declares it."""
    monkeypatch.setitem(
        KINDS,
        "module",
        Kind(
            "module", "a train loop", ("model", "loss", "optimizer", "schedule", "metrics", "task")
        ),
    )
    return Registry()


class DoubleLossLoop(EdnaxModule):
    """A custom train loop: the training loss counted twice."""

    def training_step(self, batch, batch_idx):
        return 2 * super().training_step(batch, batch_idx)


def test_a_registered_module_replaces_the_train_loop(tmp_path, monkeypatch):
    registry = module_registry(monkeypatch)
    registry.register("module", "double_loss")(DoubleLossLoop)
    sgd = {"type": "sgd", "lr": 0.1}  # unlike Adam's, SGD's step grows with the loss
    custom = _fit(
        tmp_path / "custom",
        {**_sections(max_epochs=2, module="double_loss"), "optimizer": sgd},
        registry=registry,
    )
    plain = _fit(tmp_path / "plain", {**_sections(max_epochs=2), "optimizer": sgd})
    assert custom.history[1]["train/loss"] != plain.history[1]["train/loss"]
    with pytest.raises(ConfigError) as exc_info:
        _fit(tmp_path / "typo", _sections(module="double_los"), registry=registry)
    assert "double_loss" in exc_info.value.render()


class LightningStepsTheOptimizer(EdnaxModule):
    """The built-in loop, but overriding training_step leaves the optimizer to Lightning."""

    def training_step(self, batch, batch_idx):
        return super().training_step(batch, batch_idx)


def test_the_built_in_loop_steps_the_optimizer_as_lightning_would(tmp_path, monkeypatch):
    registry = module_registry(monkeypatch)
    registry.register("module", "automatic")(LightningStepsTheOptimizer)
    assert EdnaxModule.steps_its_optimizer()
    assert not LightningStepsTheOptimizer.steps_its_optimizer()
    # 6 batches an epoch: the last window of 4 is cut short by the epoch's end.
    stepping = {"accumulate_grad_batches": 4, "gradient_clip_val": 0.1, "max_epochs": 3}
    sections = {**_sections(**stepping), "scheduler": {"type": "onecycle", "max_lr": 0.05}}
    sections["optimizer"] = {"type": "sgd", "lr": 0.05}
    built_in = _fit(tmp_path / "built-in", sections)
    sections["trainer"]["module"] = "automatic"
    by_lightning = _fit(tmp_path / "lightning", sections, registry=registry)
    assert built_in.history == by_lightning.history
    assert built_in.metrics == by_lightning.metrics


def test_the_in_memory_batcher_yields_every_row_once_per_epoch():
    ids = torch.arange(103)
    batches = TensorBatches(ids, ids * 2, batch_size=10, shuffle=True, seed=0)
    assert len(batches) == 11
    epochs = [[b for b in batches] for _ in range(2)]
    for epoch in epochs:
        seen = torch.cat([rows for rows, _ in epoch])
        assert torch.equal(seen.sort().values, ids)
        assert all(torch.equal(doubled, rows * 2) for rows, doubled in epoch)
    assert not torch.equal(epochs[0][0][0], epochs[1][0][0])


def test_the_batch_order_depends_only_on_seed_and_epoch():
    ids = torch.arange(50)
    counted = TensorBatches(ids, batch_size=50, shuffle=True, seed=3)
    first_two = [next(iter(counted))[0] for _ in range(2)]
    told = TensorBatches(ids, batch_size=50, shuffle=True, seed=3, epoch_of=lambda: 1)
    assert torch.equal(next(iter(told))[0], first_two[1])


def test_unshuffled_batches_are_slices_in_order():
    ids = torch.arange(25)
    batches = list(TensorBatches(ids, batch_size=10))
    assert [b[0].tolist() for b in batches] == [
        list(range(10)),
        list(range(10, 20)),
        list(range(20, 25)),
    ]
    assert batches[0][0].data_ptr() == ids.data_ptr()  # a view, not a copy


def test_deep_copies_of_sections_are_not_mutated(tmp_path):
    sections = _sections(max_epochs=1)
    before = copy.deepcopy(sections)
    _fit(tmp_path, sections)
    assert sections == before


OFFERED = """
import pytorch_lightning as pl

started = []


class Offered(pl.Callback):
    def on_fit_start(self, trainer, pl_module):
        started.append(self)


def factory():
    return [Offered()]
"""


def test_callbacks_an_installed_package_offers_join_every_fit(tmp_path, monkeypatch):
    """Lightning's entry points (`pytorch_lightning.callbacks_factory`), looked up once a
    process: every fit gets callbacks of its own from the package's factory."""
    import importlib
    import importlib.metadata

    from lightning_fabric.utilities import registry

    from tests.conftest import write

    write(tmp_path / "site" / "offered_callbacks.py", OFFERED)
    info = tmp_path / "site" / "offered_callbacks-1.0.dist-info"
    write(info / "METADATA", "Metadata-Version: 2.1\nName: offered-callbacks\nVersion: 1.0\n")
    factory = "[pytorch_lightning.callbacks_factory]\noffered = offered_callbacks:factory\n"
    write(info / "entry_points.txt", factory)
    monkeypatch.syspath_prepend(tmp_path / "site")
    lookups = []

    def entry_points(**selection):
        lookups.append(selection)
        return original(**selection)

    original = importlib.metadata.entry_points
    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    monkeypatch.setattr(registry, "entry_points", entry_points)  # as in a new process

    _fit(tmp_path / "a", _sections(max_epochs=1))
    _fit(tmp_path / "b", _sections(max_epochs=1))

    started = importlib.import_module("offered_callbacks").started
    assert len(started) == 2 and started[0] is not started[1]
    assert lookups.count({"group": "pytorch_lightning.callbacks_factory"}) == 1


class _Metrics(pl.Callback):
    """Lightning's logged metrics at the end of the fit; `reads`: whether it says so."""

    def __init__(self, reads: bool):
        self.reads_logged_metrics = reads
        self.seen: dict = {}

    def on_fit_end(self, trainer, pl_module):
        self.seen = {k: float(v) for k, v in trainer.callback_metrics.items()}


def test_metrics_go_to_lightning_where_something_reads_them(tmp_path):
    silent, reader = _Metrics(reads=False), _Metrics(reads=True)
    alone = _fit(tmp_path / "alone", callbacks=[silent])
    read = _fit(tmp_path / "read", callbacks=[reader])

    assert silent.seen == {}  # nothing asked for them: not logged
    last = read.history[-1]
    assert reader.seen == {k: pytest.approx(last[k]) for k in reader.seen}
    assert {"train/loss", "val/loss", "val/accuracy"} <= set(reader.seen)
    assert alone.history == read.history and alone.metrics == read.metrics
