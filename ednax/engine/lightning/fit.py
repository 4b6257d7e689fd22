"""Train a torch model on a preprocessed dataset with PyTorch Lightning: `fit_torch`.

The experiment runner calls `fit_torch` with the resolved config sections. Like
Lightning's trainer, the fit is split by concern, and this module only puts the parts
together:

- `setup`: every problem visible before training (monitors, devices, a logger's package),
  and the train loop's class;
- `assemble`: the steps (model, weights, loss, optimizer, schedule, the train loop);
- `loggers` and `callbacks`: the tracker and every callback of the fit;
- `trainer`: Lightning's Trainer, the fit or its resumption from a last.ckpt, interruptions;
- `batches`: the train and val batches; `epochs`: a whole epoch in one Lightning step
  where nothing watches single batches;
- `evaluation`: every split evaluated with the best weights, the checkpoints kept.

It knows nothing of the CLI, the config files or the bundle layout beyond the artifacts
directory it is given.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from torch import nn

from ednax.engine.lightning import assemble
from ednax.engine.lightning.batches import fit_batches
from ednax.engine.lightning.callbacks import EpochLines, EpochRecord, fit_callbacks
from ednax.engine.lightning.epochs import one_step_epochs
from ednax.engine.lightning.evaluation import TorchResult, result
from ednax.engine.lightning.inputs import Inputs
from ednax.engine.lightning.loggers import logger_arguments
from ednax.engine.lightning.module import EdnaxModule, applies
from ednax.engine.lightning.setup import check_setup, module_class, progress_mode
from ednax.engine.lightning.stopping import training_summary
from ednax.engine.lightning.trainer import (
    TrainingInterrupted,
    checkpoint_history,
    distribution_note,
    make_trainer,
    process_state_restored,
    quiet_lightning,
    run_fit,
    stepping,
)
from ednax.errors import ConfigError
from ednax.registry import REGISTRY, Registry
from ednax.steps.base import Dataset
from ednax.steps.pretrained import EXPORT_FOLDER
from ednax.steps.trainers_torch import one_process_problem

__all__ = [
    "TorchResult",
    "TrainingInterrupted",
    "checkpoint_history",
    "fit_torch",
    "quiet_lightning",
]


def fit_torch(
    *,
    dataset: Dataset,
    sections: dict[str, dict],
    metrics: dict[str, object],
    monitor: str,
    mode: str,
    seed: int,
    artifacts_dir: Path,
    on_epoch_end: Callable[[dict], None] | None = None,
    resume_from: Path | None = None,
    callbacks: list | None = None,
    log: Callable[[str], None] = print,
    registry: Registry | None = None,
    one_process: bool = False,
    experiment: str | None = None,
    run_name: str | None = None,
    interactive: bool | None = None,
) -> TorchResult:
    """Fit the torch model of `sections` on `dataset`; see the module docstring.
    `on_epoch_end` gets each new history row once its checkpoints are on disk (a resumed
    run's earlier rows are in `TorchResult.history` only); Ctrl-C and SIGTERM raise
    `TrainingInterrupted`; `one_process` refuses a trainer that would start more processes
    (a sweep job's); `experiment`/`run_name` name the run to a logger (default: the folders
    above `artifacts_dir`); `interactive` lets `progress: auto` draw a bar (None: a tty)."""
    registry = registry or REGISTRY
    artifacts_dir = Path(artifacts_dir)
    names = logger_arguments(artifacts_dir, experiment, run_name)
    options = registry.build("trainer", sections["trainer"], path="trainer", **names)
    metrics = {k: v for k, v in metrics.items() if applies(v, dataset.task)}
    check_setup(options, dataset, sections, metrics, monitor, mode, resume_from)
    loop = module_class(options.module, registry)
    artifacts_dir.mkdir(parents=True, exist_ok=True)
    progress = progress_mode(options.progress, interactive)
    fit = _Fit(
        dataset,
        sections,
        metrics,
        monitor,
        mode,
        options,
        registry,
        artifacts_dir,
        log,
        progress,
        seed,
    )
    record = fit.record(on_epoch_end)
    with quiet_lightning(), process_state_restored():
        pl.seed_everything(seed, workers=True, verbose=False)
        model, loss = fit.steps(weights=resume_from is None)
        trainer = fit.trainer(record, callbacks, loop.steps_its_optimizer(), one_process)
        train, val = fit_batches(dataset, options, trainer, seed)
        module = fit.module(loop, model, loss, batches=len(train))
        if resume_from is not None:
            log(f"resuming from {resume_from}")
        run_fit(trainer, module, one_step_epochs(train, trainer, module), val, resume_from)
        if not trainer.is_global_zero:
            return TorchResult.of_other_rank()
        return fit.result(module, record, trainer)


@dataclass
class _Fit:
    """One fit's checked inputs, and the parts of `fit_torch` that read them."""

    dataset: Dataset
    sections: dict[str, dict]
    metrics: dict[str, object]
    monitor: str
    mode: str
    options: Any
    registry: Registry
    artifacts_dir: Path
    log: Callable[[str], None]
    progress: str
    seed: int

    def record(self, on_epoch_end: Callable[[dict], None] | None) -> EpochRecord:
        """The epoch record, handing each row to `on_epoch_end` (and the plain progress)."""
        listeners = [on_epoch_end] if on_epoch_end else []
        if self.progress == "plain":
            listeners.append(EpochLines(self.options.max_epochs, self.log))
        return EpochRecord(
            self.artifacts_dir, monitor=self.monitor, mode=self.mode, listeners=listeners
        )

    def steps(self, *, weights: bool) -> tuple[nn.Module, Any]:
        """The model (with its initial weights unless resuming) and the loss."""
        model = assemble.build_model(self.dataset, self.sections["model"], self.registry)
        _log_note(self.log, getattr(model, "load_report", None))
        if weights:
            section = assemble.section(self.sections, "weights")
            _log_note(self.log, assemble.apply_weights(section, model, self.registry))
        if self.options.channels_last:
            model = model.to(memory_format=torch.channels_last)
        if self.options.compile:
            model.compile()  # in place: the state dict keeps its keys
        return model, assemble.build_loss(self.dataset, self.sections["loss"], self.registry)

    def trainer(
        self, record: EpochRecord, given: list | None, manual: bool, one_process: bool
    ) -> pl.Trainer:
        """Lightning's Trainer with every callback; `one_process` refuses more processes."""
        found = fit_callbacks(
            record,
            self.options,
            progress=self.progress,
            monitor=self.monitor,
            mode=self.mode,
            given=given,
            steps=self.sections.get("callbacks"),
            registry=self.registry,
        )
        trainer = make_trainer(
            self.options, self.artifacts_dir, found, self.progress, self.dataset, manual
        )
        if one_process and trainer.world_size > 1:
            raise ConfigError(one_process_problem(trainer.world_size))
        _log_note(self.log, distribution_note(trainer))
        return trainer

    def module(
        self, loop: type[EdnaxModule], model: nn.Module, loss: Any, *, batches: int
    ) -> EdnaxModule:
        """The train loop around the steps, with the optimizer and its schedule."""
        optimizer, schedule = assemble.build_optimization(
            self.sections, model, self.options, batches, self.registry
        )
        module = assemble.train_loop(
            loop,
            self.options.module_args,
            model=model,
            loss=loss,
            task=self.dataset.task,
            optimizer=optimizer,
            schedule=schedule,
            metrics=self.metrics,
        )
        module.stepping = stepping(self.options)
        module.inputs = self.inputs()
        return module

    def inputs(self) -> Inputs | None:
        """An image run's batch preprocessing (None for tabular data)."""
        pipeline = self.dataset.batch_pipeline
        if pipeline is None:
            return None
        classification = self.dataset.task == "classification"
        classes = assemble.num_classes(self.dataset) if classification else None
        return Inputs(
            pipeline, classes=classes, seed=self.seed, channels_last=self.options.channels_last
        )

    def result(self, module: EdnaxModule, record: EpochRecord, trainer: pl.Trainer) -> TorchResult:
        """Every split evaluated with the best weights; the checkpoints asked for kept."""
        save = self.registry.build("save", assemble.section(self.sections, "save"))
        done = result(
            module, record, self.dataset, self.metrics, self.options, trainer, save.checkpoints
        )
        done.training = training_summary(record, trainer, self.options.max_epochs)
        export = getattr(module.model, "export_pretrained", None)
        if save.pretrained and export is not None:  # the best weights are loaded now
            done.pretrained = export(self.artifacts_dir / EXPORT_FOLDER)
        return done


def _log_note(log: Callable[[str], None], note: str | None) -> None:
    if note:
        log(note)
