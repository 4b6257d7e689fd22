"""The torch train loop step: PyTorch Lightning's Trainer, configured from the `trainer` section.

The class only holds the options; `ednax.engine.lightning.fit` runs them. `problems()`
checks what the types alone cannot, so that a config reports every bad value at once.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from typing import Any, Literal

from ednax.errors import Problem
from ednax.steps.base import Step

Accelerator = Literal["auto", "cpu", "gpu"]
Precision = Literal["32-true", "16-mixed", "bf16-mixed", "16-true", "bf16-true", "64-true"]
Loader = Literal["auto", "memory", "dataloader"]
Progress = Literal["auto", "rich", "plain", "none"]
Padding = Literal["longest", "max_length"]
ClipAlgorithm = Literal["norm", "value"]
Strategy = Literal["auto", "ddp", "ddp_spawn", "fsdp", "deepspeed"]


class Lightning(Step):
    """Train a torch model with PyTorch Lightning: batches, forward, backward, update, evaluate.

    early_stopping's monitor and mode default to the experiment's (metrics.monitor and
    metrics.mode). loader auto keeps the data on the device when it takes at most half of
    the device's free memory; otherwise it uses a DataLoader. With several devices
    (strategy ddp), batch_size is per device: each step takes batch_size x devices x
    num_nodes rows of the epoch's order and gives each process its share, and epoch
    metrics are gathered from all processes.

    Parameters
    ----------
    max_epochs : int
        Number of training epochs; exactly this many run unless early stopping ends sooner.
    batch_size : int
        Rows per training batch.
    eval_batch_size : int | None
        Rows per batch when evaluating; None uses max(batch_size, 1024).
    accelerator : Literal["auto", "cpu", "gpu"]
        Device type; auto picks a GPU when there is one.
    devices : int | Literal["auto"]
        Number of devices (processes, on the CPU) to train on, per node.
    strategy : Literal["auto", "ddp", "ddp_spawn", "fsdp", "deepspeed"]
        Lightning's strategy: ddp (CPU or GPU), fsdp or deepspeed (GPUs); use ddp for ddp_spawn.
    num_nodes : int
        Number of machines training together (each with `devices` devices).
    precision : Literal["32-true", "16-mixed", "bf16-mixed", "16-true", "bf16-true", "64-true"]
        Numeric precision of training (Lightning's precision names).
    gradient_clip_val : float | None
        Clip gradients at this value (None = no clipping).
    gradient_clip_algorithm : Literal["norm", "value"]
        Clip the gradients' total norm or each value.
    accumulate_grad_batches : int
        Batches whose gradients are summed before each optimizer step.
    early_stopping : dict | None
        Stop on a plateau: {monitor, mode, patience (10), min_delta}; None trains all epochs.
    deterministic : bool | Literal["warn"]
        Use deterministic algorithms (same seed -> same result); warn only warns where none exist.
    check_val_every_n_epoch : int
        Evaluate the val split every this many epochs.
    logger : str | dict | None
        A tracker besides history.csv: a logger's name, {type: name, ...}, or none.
    loader : Literal["auto", "memory", "dataloader"]
        Batches as slices of tensors kept on the device (memory) or from a torch DataLoader.
        Text batches are always padded from the token arrays: kept on the device (auto,
        memory) or on the CPU (dataloader).
    num_workers : int
        DataLoader worker processes (loader: dataloader only).
    memory_budget_mb : int
        Image data decoded into memory when all its splits take at most this many MiB
        (loader: auto); larger image data streams from its files through a DataLoader.
    channels_last : bool
        Image batches and the model in channels-last memory layout (faster convolutions on
        recent GPUs, with mixed precision).
    compile : bool
        Compile the model with torch.compile (the first epoch is slower; later ones faster).
    shuffle : bool
        Shuffle the training rows every epoch (seeded).
    bucket_by_length : bool
        Text data: batches of texts of similar length (sorted within shuffled windows of
        50 batches, the batches then shuffled; seeded), so less padding; needs shuffle.
    padding : Literal["longest", "max_length"]
        Text data: pad each batch to its longest text, or every batch to the tokenizer's
        max_length (fixed shapes, e.g. for compile).
    module : str | None
        A registered LightningModule replacing the built-in train loop (None = built-in).
    module_args : dict | None
        The module's own constructor parameters (checked against its signature).
    progress : Literal["auto", "rich", "plain", "none"]
        A rich progress bar, one plain line per epoch, or nothing; auto = rich on a terminal.
    """

    def __init__(
        self,
        *,
        max_epochs: int = 10,
        batch_size: int = 32,
        eval_batch_size: int | None = None,
        accelerator: Accelerator = "auto",
        devices: int | Literal["auto"] = 1,
        strategy: Strategy = "auto",
        num_nodes: int = 1,
        precision: Precision = "32-true",
        gradient_clip_val: float | None = None,
        gradient_clip_algorithm: ClipAlgorithm = "norm",
        accumulate_grad_batches: int = 1,
        early_stopping: dict | None = None,
        deterministic: bool | Literal["warn"] = True,
        check_val_every_n_epoch: int = 1,
        logger: str | dict | None = "none",
        loader: Loader = "auto",
        num_workers: int = 0,
        memory_budget_mb: int = 4096,
        channels_last: bool = False,
        compile: bool = False,
        shuffle: bool = True,
        bucket_by_length: bool = False,
        padding: Padding = "longest",
        module: str | None = None,
        module_args: dict | None = None,
        progress: Progress = "auto",
    ):
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size
        self.accelerator = accelerator
        self.devices = devices
        self.strategy = strategy
        self.num_nodes = num_nodes
        self.precision = precision
        self.gradient_clip_val = gradient_clip_val
        self.gradient_clip_algorithm = gradient_clip_algorithm
        self.accumulate_grad_batches = accumulate_grad_batches
        self.early_stopping = early_stopping
        self.deterministic = deterministic
        self.check_val_every_n_epoch = check_val_every_n_epoch
        self.logger = logger
        self.loader = loader
        self.num_workers = num_workers
        self.memory_budget_mb = memory_budget_mb
        self.channels_last = channels_last
        self.compile = compile
        self.shuffle = shuffle
        self.bucket_by_length = bucket_by_length
        self.padding = padding
        self.module = module
        self.module_args = module_args
        self.progress = progress

    def problems(self) -> list[Problem]:
        """Values of the right type that still cannot work, one Problem each."""
        found = [
            _at_least(self, name, 1)
            for name in (
                "max_epochs",
                "batch_size",
                "accumulate_grad_batches",
                "check_val_every_n_epoch",
                "num_nodes",
            )
        ]
        found.append(_at_least(self, "num_workers", 0))
        found.append(_at_least(self, "memory_budget_mb", 0))
        if self.eval_batch_size is not None:
            found.append(_at_least(self, "eval_batch_size", 1))
        if isinstance(self.devices, int):
            found.append(_at_least(self, "devices", 1))
        if self.gradient_clip_val is not None and self.gradient_clip_val <= 0:
            found.append(
                Problem(
                    f"must be > 0 or null, got {self.gradient_clip_val}",
                    path="trainer.gradient_clip_val",
                )
            )
        if self.early_stopping is not None:
            found.extend(self.early_stopping.problems())
        found.append(_strategy_problem(self.strategy, self.accelerator))
        if self.bucket_by_length and not self.shuffle:
            found.append(
                Problem(
                    "bucket_by_length sorts texts within shuffled windows; with shuffle: "
                    "false there is nothing to bucket",
                    path="trainer.bucket_by_length",
                    hint="set shuffle: true, or bucket_by_length: false",
                )
            )
        return [p for p in found if p is not None]

    @property
    def eval_rows(self) -> int:
        return self.eval_batch_size or max(self.batch_size, 1024)


def one_process_problem(processes: int) -> Problem:
    """A sweep job's trainer asking for several processes: Lightning would start them by
    running the job's command again, that is the whole sweep."""
    return Problem(
        f"a sweep job trains in one process, and this trainer asks for {processes}",
        path="trainer.devices",
        hint="set trainer.devices=1 and trainer.num_nodes=1 for the sweep; to train the jobs "
        "in parallel, give each its own device or machine with a launcher (joblib, submitit)",
    )


def _at_least(step: Lightning, name: str, low: int) -> Problem | None:
    value = getattr(step, name)
    if value >= low:
        return None
    return Problem(f"must be >= {low}, got {value}", path=f"trainer.{name}")


def _strategy_problem(strategy: str, accelerator: str) -> Problem | None:
    if strategy == "ddp_spawn":
        return Problem(
            "strategy 'ddp_spawn' hands the run to new processes by pickling it in memory, "
            "which an ednax run (its bundle, sweep trial and listeners) does not survive",
            path="trainer.strategy",
            hint="use strategy: ddp, which starts each process by running the same command "
            "and trains the same way",
        )
    if strategy == "fsdp" and accelerator == "cpu":
        return Problem(
            "strategy 'fsdp' shards the model across GPUs; it does not run on the CPU",
            path="trainer.strategy",
            hint="use strategy: ddp on the CPU",
        )
    if strategy == "deepspeed" and importlib.util.find_spec("deepspeed") is None:
        return Problem(
            "strategy 'deepspeed' needs the deepspeed package, not installed",
            path="trainer.strategy",
            hint="pip install deepspeed, or use strategy: ddp",
        )
    return None


def text_option_problems(options: Mapping[str, Any], modality: str) -> list[Problem]:
    """The trainer's text-batch options (its parameters) on data that is not text: checked
    at validate time (`config/text.py`) and again by the fit."""
    if modality == "text":
        return []
    asked = {
        "bucket_by_length": bool(options.get("bucket_by_length", False)),
        "padding": options.get("padding", "longest") != "longest",
    }
    return [
        Problem(
            f"{name} applies to text data; this run's data is {modality}",
            path=f"trainer.{name}",
            hint=f"remove trainer.{name}",
        )
        for name, on in asked.items()
        if on
    ]
