"""The torch step classes: readable schemas, building from config sections, errors on keys."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from ednax.engine.lightning import assemble
from ednax.errors import ConfigError
from ednax.registry import KINDS
from ednax.registry.builtins import TORCH
from ednax.signature import read_signature_statically
from ednax.steps.base import Dataset, Split


def _dataset(task="classification", n_features=4, classes=3, input_shape=None) -> Dataset:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, n_features))
    y = rng.integers(0, classes, 30) if task == "classification" else rng.normal(size=30)
    split = Split(X, y, np.arange(30))
    return Dataset(
        {"train": split},
        task,
        [f"f{i}" for i in range(n_features)],
        "target",
        classes=list(range(classes)) if task == "classification" else None,
        input_shape=input_shape,
    )


def _problem(exc_info) -> tuple[str, str]:
    problem = exc_info.value.problems[0]
    return problem.path, problem.render()


# --- schemas -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind,name,target,tags", TORCH, ids=[f"{k}:{n}" for k, n, _, _ in TORCH])
def test_every_torch_entry_reads_statically_with_a_doc_line_per_parameter(kind, name, target, tags):
    signature = read_signature_statically(target)
    assert signature.doc, f"{target} has no one-line summary"
    undocumented = [p for p, param in signature.params.items() if not param.doc]
    assert undocumented == [], f"{target}: parameters without a doc line: {undocumented}"
    required = [p for p in signature.without(KINDS[kind].injected).params.values() if p.required]
    assert [p.name for p in required] in ([], ["path"]), "only file paths have no default"


def test_reading_the_torch_schemas_imports_no_torch():
    code = (
        "import sys\n"
        "from ednax.signature import read_signature_statically\n"
        "from ednax.registry.builtins import TORCH\n"
        "for entry in TORCH: read_signature_statically(entry[2])\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_models_and_the_trainer_are_in_the_torch_family():
    families = {(k, n): tags.get("family") for k, n, _, tags in TORCH}
    assert families[("model", "mlp")] == families[("trainer", "lightning")] == "torch"
    assert all(family == "torch" for (kind, _), family in families.items() if kind == "model")


def test_engine_supplied_sizes_are_not_config_keys():
    signature = read_signature_statically("ednax.steps.nets:CNN").without(KINDS["model"].injected)
    assert set(signature.params) == {
        "channels",
        "kernel_size",
        "pooling",
        "activation",
        "batch_norm",
        "dropout",
    }


# --- models --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "section",
    [
        {"type": "mlp", "hidden": [8, 8], "dropout": 0.1, "batch_norm": True},
        {"type": "mlp", "hidden": []},
        {"type": "linear"},
    ],
)
def test_tabular_models_take_their_sizes_from_the_data(section):
    model = assemble.build_model(_dataset(n_features=5, classes=4), section)
    assert model(torch.zeros(7, 5)).shape == (7, 4)


def test_a_regression_model_has_one_output():
    model = assemble.build_model(_dataset("regression"), {"type": "mlp"})
    assert model(torch.zeros(3, 4)).shape == (3, 1)


def test_cnn_reshapes_flat_rows_to_the_image_shape():
    data = _dataset(n_features=64, classes=10, input_shape=(1, 8, 8))
    model = assemble.build_model(data, {"type": "cnn", "channels": [4, 8, 8], "batch_norm": True})
    assert model(torch.zeros(2, 64)).shape == (2, 10)


def test_cnn_on_data_without_an_image_shape_is_a_config_error():
    with pytest.raises(ConfigError) as exc_info:
        assemble.build_model(_dataset(), {"type": "cnn"})
    path, text = _problem(exc_info)
    assert path == "model"
    assert "input_shape" in text


def test_a_dropout_torch_rejects_is_reported_on_its_key():
    with pytest.raises(ConfigError) as exc_info:
        assemble.build_model(_dataset(), {"type": "mlp", "dropout": 1.5})
    assert _problem(exc_info)[0] == "model.dropout"


# --- losses --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "section,task",
    [
        (
            {"type": "cross_entropy", "label_smoothing": 0.1, "class_weights": [1.0, 2.0, 1.0]},
            "classification",
        ),
        ({"type": "bce_with_logits"}, "classification"),
        ({"type": "mse"}, "regression"),
        ({"type": "l1"}, "regression"),
        ({"type": "huber", "delta": 0.5}, "regression"),
    ],
)
def test_each_loss_builds_for_its_task_and_scores_a_batch(section, task):
    loss = assemble.build_loss(_dataset(task), section)
    if task == "classification":
        value = loss(torch.randn(6, 3), torch.tensor([0, 1, 2, 0, 1, 2]))
    else:
        value = loss(torch.randn(6), torch.randn(6))
    assert value.ndim == 0 and float(value) > 0


def test_class_weights_change_cross_entropy():
    logits, target = torch.randn(6, 3), torch.tensor([0, 1, 2, 0, 1, 2])
    plain = assemble.build_loss(_dataset(), {"type": "cross_entropy"})
    weighted = assemble.build_loss(
        _dataset(), {"type": "cross_entropy", "class_weights": [10.0, 1.0, 1.0]}
    )
    assert float(plain(logits, target)) != pytest.approx(float(weighted(logits, target)))


def test_a_classification_loss_on_regression_data_says_which_losses_fit():
    with pytest.raises(ConfigError) as exc_info:
        assemble.build_loss(_dataset("regression"), {"type": "cross_entropy"})
    path, text = _problem(exc_info)
    assert path == "loss.type"
    assert "mse" in text


def test_class_weights_must_match_the_number_of_classes():
    with pytest.raises(ConfigError) as exc_info:
        assemble.build_loss(_dataset(), {"type": "cross_entropy", "class_weights": [1.0, 2.0]})
    path, text = _problem(exc_info)
    assert path == "loss.class_weights"
    assert "3 classes" in text


# --- optimizers ----------------------------------------------------------------------------


OPTIMIZERS = [
    {"type": "adam", "lr": 0.01, "weight_decay": 0.1},
    {"type": "adamw", "lr": 0.01},
    {"type": "sgd", "lr": 0.1, "momentum": 0.9, "nesterov": True},
    {"type": "rmsprop", "lr": 0.01},
]


@pytest.mark.parametrize("section", OPTIMIZERS, ids=[s["type"] for s in OPTIMIZERS])
def test_each_optimizer_builds_and_updates_the_parameters(section):
    weight = torch.nn.Parameter(torch.ones(3))
    optimizer = assemble.build_optimizer(section, [weight])
    assert optimizer.param_groups[0]["lr"] == section["lr"]
    (weight**2).sum().backward()
    optimizer.step()
    assert not torch.equal(weight.detach(), torch.ones(3))


@pytest.mark.parametrize("name", ["adam", "adamw", "sgd", "rmsprop"])
def test_a_negative_learning_rate_is_a_config_error_on_optimizer_lr(name):
    with pytest.raises(ConfigError) as exc_info:
        assemble.build_optimizer({"type": name, "lr": -0.1}, [torch.nn.Parameter(torch.ones(2))])
    path, text = _problem(exc_info)
    assert path == "optimizer.lr"
    assert "-0.1" in text


def test_nesterov_without_momentum_is_reported_on_nesterov():
    with pytest.raises(ConfigError) as exc_info:
        assemble.build_optimizer(
            {"type": "sgd", "lr": 0.1, "nesterov": True, "momentum": 0.0},
            [torch.nn.Parameter(torch.ones(2))],
        )
    assert _problem(exc_info)[0] == "optimizer.nesterov"


# --- schedulers ----------------------------------------------------------------------------


def _schedule(section, max_epochs=10, steps_per_epoch=5):
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.ones(2))], lr=0.1)
    schedule = assemble.build_schedule(
        section, optimizer, max_epochs=max_epochs, steps_per_epoch=steps_per_epoch
    )
    return schedule, optimizer


def test_no_schedule_builds_nothing():
    assert _schedule({"type": "none"})[0] is None


@pytest.mark.parametrize(
    "section,interval",
    [
        ({"type": "step", "step_size": 2, "gamma": 0.5}, "epoch"),
        ({"type": "cosine", "eta_min": 0.0}, "epoch"),
        ({"type": "onecycle"}, "step"),
        ({"type": "plateau", "monitor": "val/accuracy", "mode": "max"}, "epoch"),
    ],
)
def test_each_schedule_declares_when_it_steps(section, interval):
    schedule, _ = _schedule(section)
    assert schedule.interval == interval
    assert schedule.monitor == section.get("monitor")


def test_cosine_reaches_eta_min_after_max_epochs():
    schedule, optimizer = _schedule({"type": "cosine", "eta_min": 0.001}, max_epochs=4)
    for _ in range(4):
        optimizer.step()
        schedule.scheduler.step()
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.001)


def test_onecycle_spans_every_optimizer_step_of_the_run():
    schedule, optimizer = _schedule({"type": "onecycle"}, max_epochs=3, steps_per_epoch=4)
    assert schedule.scheduler.total_steps == 12
    peak = max(_lrs(schedule.scheduler, optimizer, 12))
    assert peak == pytest.approx(0.1, rel=0.05)  # max_lr defaults to the optimizer's lr


def _lrs(scheduler, optimizer, steps):
    out = []
    for _ in range(steps):
        out.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return out


def test_a_bad_schedule_value_is_reported_on_its_key():
    with pytest.raises(ConfigError) as exc_info:
        _schedule({"type": "plateau", "factor": 2.0})
    assert _problem(exc_info)[0] == "scheduler.factor"


# --- weights -------------------------------------------------------------------------------


def _mlp(classes=3):
    return assemble.build_model(_dataset(classes=classes), {"type": "mlp", "hidden": [8]})


def test_checkpoint_weights_load_a_plain_state_dict(tmp_path):
    source = _mlp()
    torch.save(source.state_dict(), tmp_path / "w.pt")
    target = _mlp()
    note = assemble.apply_weights({"type": "checkpoint", "path": str(tmp_path / "w.pt")}, target)
    assert torch.equal(target.net[0].weight, source.net[0].weight)
    assert "w.pt" in note


def test_checkpoint_weights_load_an_ednax_lightning_checkpoint(tmp_path):
    source = _mlp()
    state = {f"model.{k}": v for k, v in source.state_dict().items()}
    torch.save({"state_dict": state, "epoch": 3}, tmp_path / "best.ckpt")
    target = _mlp()
    assemble.apply_weights({"type": "checkpoint", "path": str(tmp_path / "best.ckpt")}, target)
    assert torch.equal(target.net[2].bias, source.net[2].bias)


def test_a_missing_checkpoint_file_is_a_config_error_naming_the_file(tmp_path):
    missing = tmp_path / "nowhere.ckpt"
    with pytest.raises(ConfigError) as exc_info:
        assemble.apply_weights({"type": "checkpoint", "path": str(missing)}, _mlp())
    path, text = _problem(exc_info)
    assert path == "weights.path"
    assert str(missing) in text


def test_a_shape_mismatch_names_the_file_and_the_layers(tmp_path):
    torch.save(_mlp(classes=2).state_dict(), tmp_path / "two.pt")
    with pytest.raises(ConfigError) as exc_info:
        assemble.apply_weights({"type": "checkpoint", "path": str(tmp_path / "two.pt")}, _mlp())
    path, text = _problem(exc_info)
    assert path == "weights.path"
    assert "two.pt" in text
    assert "net.2.weight (file [2, 8], model [3, 8])" in text
    assert "net.2.bias" in text
    assert "net.0.weight" not in text


def test_non_strict_loading_keeps_the_layers_that_do_not_fit_fresh(tmp_path):
    source = _mlp(classes=2)
    torch.save(source.state_dict(), tmp_path / "two.pt")
    target = _mlp()
    head = target.net[2].weight.clone()
    note = assemble.apply_weights(
        {"type": "checkpoint", "path": str(tmp_path / "two.pt"), "strict": False}, target
    )
    assert torch.equal(target.net[0].weight, source.net[0].weight)
    assert torch.equal(target.net[2].weight, head)
    assert "net.2.weight" in note


class _Payload:
    """Unpickling this would run code: weights_only loading must refuse it."""

    ran = False

    def __reduce__(self):
        return (_Payload._run, ())

    @staticmethod
    def _run():
        _Payload.ran = True
        return {}


def test_weights_are_loaded_with_weights_only_so_pickled_code_never_runs(tmp_path):
    torch.save({"state_dict": _mlp().state_dict(), "extra": _Payload()}, tmp_path / "evil.ckpt")
    with pytest.raises(ConfigError) as exc_info:
        assemble.apply_weights({"type": "checkpoint", "path": str(tmp_path / "evil.ckpt")}, _mlp())
    assert "weights_only" in _problem(exc_info)[1]
    assert not _Payload.ran


def test_run_weights_read_the_other_bundles_checkpoint(tmp_path):
    source = _mlp()
    (tmp_path / "run" / "artifacts").mkdir(parents=True)
    state = {f"model.{k}": v for k, v in source.state_dict().items()}
    torch.save({"state_dict": state}, tmp_path / "run" / "artifacts" / "last.ckpt")
    target = _mlp()
    assemble.apply_weights({"type": "run", "path": str(tmp_path / "run"), "which": "last"}, target)
    assert torch.equal(target.net[0].weight, source.net[0].weight)
    with pytest.raises(ConfigError) as exc_info:
        assemble.apply_weights({"type": "run", "path": str(tmp_path / "run")}, _mlp())
    path, text = _problem(exc_info)
    assert path == "weights.which"
    assert "best.ckpt" in text and "last" in text


@pytest.mark.parametrize(
    "section", [{"type": "xavier"}, {"type": "kaiming", "distribution": "normal"}]
)
def test_init_schemes_redraw_weights_and_zero_biases(section):
    model = _mlp()
    before = model.net[0].weight.clone()
    assemble.apply_weights(section, model)
    assert not torch.equal(model.net[0].weight, before)
    assert torch.count_nonzero(model.net[0].bias) == 0


# --- trainer -------------------------------------------------------------------------------


IRIS_MLP = (
    "experiment: {name: iris-mlp, seed: 0}\n"
    "data: {type: sklearn_toy, dataset: iris}\n"
    "model: {type: mlp}\n"
    "metrics: {names: [accuracy]}\n"
)


def _resolve(tmp_path, trainer: str):
    from ednax.config.resolve import load_config

    config = tmp_path / "iris-mlp.yaml"
    config.write_text(IRIS_MLP + f"trainer: {trainer}\n")
    return load_config(config)


def test_trainer_problems_are_reported_together_with_their_keys(tmp_path):
    with pytest.raises(ConfigError) as exc_info:
        _resolve(tmp_path, "{max_epochs: 0, batch_size: -1, early_stopping: {patiance: 3}}")
    problems = {p.path: p for p in exc_info.value.problems}
    assert set(problems) == {
        "trainer.max_epochs",
        "trainer.batch_size",
        "trainer.early_stopping.patiance",
    }
    assert "patience" in problems["trainer.early_stopping.patiance"].render()


def test_early_stopping_defaults_to_the_experiments_monitor(tmp_path):
    trainer = _resolve(tmp_path, "{early_stopping: {patience: 2}}")["trainer"]
    assert trainer["early_stopping"] == {
        "type": "plateau",
        "monitor": "val/accuracy",
        "mode": "max",
        "patience": 2,
        "min_delta": 0.0,
    }
    assert _resolve(tmp_path, "{max_epochs: 3}")["trainer"]["early_stopping"] is None
