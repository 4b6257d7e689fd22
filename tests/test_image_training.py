"""Image runs: preprocessing on batches (augmentations on train only, seeded), the two
loaders giving the same run, predict equal to training's predictions, resume after a kill,
and a sweep over an augmentation parameter."""

from __future__ import annotations

import csv
import shutil
import signal
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from ednax.engine.lightning.inputs import Inputs
from ednax.engine.lightning.loader import EpochOrder, TensorBatches
from ednax.engine.preprocessing import image_pipeline, image_pipeline_from_state
from ednax.errors import ConfigError
from ednax.steps.images.files import ImageSplit
from tests.conftest import SAMPLES, bundle_of, bundles_in, read_json, run_cli, write
from tests.test_torch_e2e import history, rows_in, start_run, stop, wait_for_epochs

DIGITS = SAMPLES / "data" / "digits-images"
AUGMENTED = [
    {"type": "random_crop", "size": None, "padding": 2, "padding_mode": "constant"},
    {"type": "horizontal_flip", "p": 0.5},
    {"type": "normalize", "mean": None, "std": None},
]


def uint8_images(n: int = 16, shape=(1, 16, 16), seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, *shape), dtype=torch.uint8, generator=generator)


def fitted(steps: list[dict], shape=(1, 16, 16)):
    pipeline = image_pipeline(steps, shape)
    images = uint8_images(64, shape).numpy()
    split = ImageSplit(
        [Path(f"{i}.png") for i in range(64)],
        np.zeros(64),
        np.arange(64),
        channels=shape[0],
        size=shape[1:],
    )
    split._decoded = images
    return pipeline.fit(split)


# --- the pipeline ---------------------------------------------------------------------


def test_normalize_statistics_are_computed_on_train_and_applied_to_every_split():
    pipeline = fitted([{"type": "normalize", "mean": None, "std": None}])
    stats = pipeline.state()["fitted"]["0"]
    pixels = uint8_images(64).double() / 255
    assert stats["mean"][0] == pytest.approx(float(pixels.mean()), abs=1e-5)
    assert stats["std"][0] == pytest.approx(float(pixels.std(unbiased=False)), abs=1e-5)
    x = uint8_images(8, seed=1)
    out = pipeline.batches().eval(x)
    expected = (x.float() / 255 - stats["mean"][0]) / stats["std"][0]
    assert torch.allclose(out, expected, atol=1e-5)


def test_augmentations_change_training_batches_only():
    inputs = Inputs(fitted(AUGMENTED), classes=3, seed=0)
    x, y = uint8_images(32, seed=2), torch.arange(32) % 3
    first, second = inputs.eval(x), inputs.eval(x)
    assert torch.equal(first, second)  # val, test and predict: deterministic
    inputs.reseed(0)
    trained, target = inputs.train(x, y)
    assert not torch.allclose(trained, first)
    assert torch.equal(target, y)  # no mixing: the labels themselves


def test_augmentations_are_the_same_for_the_same_seed_and_epoch():
    inputs = Inputs(fitted(AUGMENTED), classes=3, seed=7)
    x, y = uint8_images(32, seed=3), torch.arange(32) % 3

    def epoch(number: int) -> torch.Tensor:
        inputs.reseed(number)
        return inputs.train(x, y)[0]

    assert torch.equal(epoch(4), epoch(4))  # a resumed run's epoch 4 is the same epoch 4
    assert not torch.equal(epoch(4), epoch(5))


def test_mixup_gives_soft_targets_that_sum_to_one():
    inputs = Inputs(
        fitted([{"type": "mixup", "strength": [0.2, 0.5], "p": 1.0}]), classes=4, seed=0
    )
    inputs.reseed(0)
    x, y = uint8_images(16, seed=4), torch.arange(16) % 4
    _mixed, target = inputs.train(x, y)
    assert target.shape == (16, 4)
    assert torch.allclose(target.sum(dim=1), torch.ones(16))
    assert (target.max(dim=1).values < 1).any()  # some image took another's label in part


def test_a_pipeline_is_rebuilt_from_its_saved_state():
    pipeline = fitted(AUGMENTED)
    again = image_pipeline_from_state(pipeline.state())
    x = uint8_images(8, seed=5)
    assert torch.equal(pipeline.batches().eval(x), again.batches().eval(x))


@pytest.mark.parametrize(
    ("steps", "words"),
    [
        ([{"type": "random_resized_crop", "size": 12}], "[1, 12, 12]"),
        ([{"type": "mixup"}, {"type": "cutmix"}], "mixes images twice"),
        ([{"type": "normalize", "mean": [0.5, 0.5, 0.5], "std": [0.2, 0.2, 0.2]}], "3 values"),
    ],
)
def test_a_pipeline_that_cannot_work_is_a_config_error(steps, words):
    with pytest.raises(ConfigError) as caught:
        image_pipeline(steps, (1, 16, 16))
    assert words in caught.value.render()


def test_streamed_batches_come_in_the_in_memory_order():
    epoch = {"n": 3}
    memory = TensorBatches(
        torch.arange(50), batch_size=8, shuffle=True, seed=11, epoch_of=lambda: epoch["n"]
    )
    streamed = EpochOrder(50, seed=11, epoch_of=lambda: epoch["n"])
    assert list(streamed) == memory.order(3).tolist()


# --- runs -----------------------------------------------------------------------------

CONFIG = f"""
experiment: {{name: digits, seed: 0}}
data: {{type: image_folder, path: {DIGITS}, channels: 1, val: 0.2, test: 0.2}}
preprocess:
  - {{type: random_crop, padding: 2}}
  - {{type: normalize}}
model: {{type: cnn, channels: [8, 16]}}
optimizer: {{type: adam, lr: 3.0e-3}}
trainer: {{type: lightning, max_epochs: 3, batch_size: 64, progress: none}}
metrics: {{names: [accuracy], monitor: val/accuracy}}
"""


@pytest.fixture
def config(workdir: Path) -> Path:
    return write(workdir / "digits.yaml", CONFIG)


def succeeded(result):
    assert result.code == 0, result.text
    return result


def predictions(path: Path) -> dict[str, list[str]]:
    with path.open() as handle:
        rows = list(csv.reader(handle))
    return {row[0]: row[-10:] for row in rows[1:]}


@pytest.mark.slow
def test_in_memory_and_streamed_loading_give_the_same_run_and_predict_matches(cli, config):
    workdir = config.parent
    memory = bundle_of(succeeded(cli("run", config, "trainer.loader=memory")), workdir)
    streamed = bundle_of(
        succeeded(cli("run", config, "trainer.loader=dataloader", "trainer.num_workers=1")),
        workdir,
    )
    assert read_json(memory / "metrics.json") == read_json(streamed / "metrics.json")
    assert read_json(memory / "metrics.json")["test"]["accuracy"] > 0.5
    assert history(memory) == history(streamed)

    out = memory.parent / "all.csv"
    succeeded(cli("predict", memory, DIGITS, "-o", out))
    everything = predictions(out)
    assert len(everything) == 1000
    trained = predictions(memory / "artifacts" / "predictions.csv")
    assert trained and all(everything[path] == probas for path, probas in trained.items())


def test_tabular_preprocessing_on_images_is_refused_by_validate(cli, config):
    result = cli("validate", config, "preprocess=[standard_scaler]")
    assert result.code == 2, result.text
    assert "preprocess[0].type" in result.text and "image preprocess steps" in result.text
    assert "Traceback" not in result.text


@pytest.mark.slow
def test_a_killed_image_run_resumes_to_the_metrics_of_an_uninterrupted_one(workdir, config):
    args = (config, "trainer.max_epochs=8", "trainer.progress=plain")
    reference_dir = workdir / "reference"
    reference_dir.mkdir()
    reference = start_run(reference_dir, *args)
    killed = start_run(workdir, *args)
    try:
        bundle = wait_for_epochs(workdir / "runs", killed, 2)
        killed.send_signal(signal.SIGKILL)
        killed.wait(timeout=30)
        assert rows_in(bundle / "history.csv") < 8
        resumed = run_cli("resume", bundle, cwd=workdir)
        assert resumed.code == 0, resumed.text
        out, err = reference.communicate(timeout=300)
        assert reference.returncode == 0, out + err
    finally:
        stop(killed)
        stop(reference)
    (uninterrupted,) = bundles_in(reference_dir / "runs" / "digits")
    assert read_json(bundle / "metrics.json") == read_json(uninterrupted / "metrics.json")
    assert history(bundle) == history(uninterrupted)


@pytest.mark.slow
def test_a_sweep_over_an_augmentation_parameter(cli, config):
    result = succeeded(cli("run", config, "-m", "preprocess.0.padding=0,3", "trainer.max_epochs=1"))
    trials = [p.parent for p in (config.parent / "runs").rglob("run.json")]
    assert sorted(read_json(t / "run.json")["status"] for t in trials) == ["completed"] * 2
    assert sorted(_padding(t) for t in trials) == [0, 3], result.text


def _padding(bundle: Path) -> int:
    return yaml.safe_load((bundle / "config.yaml").read_text())["preprocess"][0]["padding"]


@pytest.mark.slow
def test_the_digits_images_sample_reaches_test_accuracy_of_0_9(cli, workdir):
    bundle = bundle_of(succeeded(cli("run", SAMPLES / "digits-images.yaml")), workdir)
    assert read_json(bundle / "metrics.json")["test"]["accuracy"] >= 0.9
    config = yaml.safe_load((bundle / "config.yaml").read_text())
    assert [step["splits"] for step in config["preprocess"]] == ["train", "all", "train"]
    assert set(read_json(bundle / "run.json")["artifacts"]) >= {"preprocess.json", "best.ckpt"}


@pytest.mark.slow
def test_a_backbone_saved_by_one_run_is_fine_tuned_by_another(cli, workdir):
    sample = SAMPLES / "digits-images-finetune.yaml"
    base = bundle_of(
        succeeded(
            cli(
                "run",
                sample,
                "experiment.name=digits-images-resnet",
                "model.pretrained=null",
                "callbacks=[]",
                "trainer.max_epochs=2",
            )
        ),
        workdir,
    )
    exported = base / "artifacts" / "pretrained"
    assert {p.name for p in exported.iterdir()} == {"config.json", "model.safetensors"}

    tuned = bundle_of(succeeded(cli("run", sample, "trainer.max_epochs=3")), workdir)
    config = yaml.safe_load((tuned / "config.yaml").read_text())
    assert Path(config["model"]["pretrained"]).resolve() == exported.resolve()  # not latest
    log = (tuned / "log.txt").read_text()
    assert f"model: resnet from {exported.resolve()}" in log and "tensors loaded" in log
    frozen = [float(row["frozen_params"]) for row in history(tuned)]
    assert frozen[0] == frozen[1] > 0 and frozen[2] == 0  # the backbone for 2 epochs

    # Predicting needs neither the folder the run started from nor anything outside it:
    # the model is built from the run's own export, the checkpoint loaded over it.
    before = succeeded(cli("predict", tuned.name, "data:test")).out
    shutil.rmtree(exported)
    assert succeeded(cli("predict", tuned.name, "data:test")).out == before
