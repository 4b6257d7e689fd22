"""The Lightning Trainer of a fit and running it: options, fit or resume, interruptions.

`make_trainer` turns the `trainer` section's options into Lightning's Trainer (a value
Lightning rejects becomes a ConfigError on its key); `run_fit` fits, or resumes from a
last.ckpt, and turns Ctrl-C and SIGTERM into `TrainingInterrupted`. `quiet_lightning` and
`process_state_restored` keep Lightning's notices and process-wide switches out of the run.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.metadata
import logging
import math
import os
import signal
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch

from ednax import memory
from ednax.engine.lightning import assemble
from ednax.engine.lightning.callbacks import EpochRecord
from ednax.engine.lightning.loggers import lightning_logger
from ednax.engine.lightning.module import EdnaxModule, Stepping
from ednax.errors import ConfigError, Problem
from ednax.steps.base import Dataset

# Lightning's notices that say nothing about the run.
_NOISE = (
    r".*You defined a `validation_step` but have no `val_dataloader`.*",
    r".*is smaller than the logging interval.*",
    r".*Checkpoint directory .* exists and is not empty.*",
    r".*isinstance\(treespec, LeafSpec\)` is deprecated.*",  # torch 2.13 vs Lightning 2.6
    r".*when logging on epoch level in distributed setting.*",  # ednax gathers them itself
)
_LIGHTNING_LOGGERS = (
    "pytorch_lightning",
    "lightning_fabric",
    "lightning.pytorch",
    "lightning.fabric",
)
# Trainer options whose name a Lightning error message may give.
_NAMED_IN_ERRORS = ["strategy", "accelerator", "devices", "num_nodes", "precision"]


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped by Ctrl-C or SIGTERM; last.ckpt holds the last finished epoch."""


def make_trainer(
    options: Any,
    artifacts_dir: Path,
    callbacks: list,
    progress: str,
    dataset: Dataset,
    manual: bool,
) -> pl.Trainer:
    """Lightning's Trainer for these options; `manual`: the module steps its optimizer."""
    batches = max(1, math.ceil(len(dataset.splits["train"]) / options.batch_size))
    _look_up_callback_entry_points_once()
    try:
        return pl.Trainer(
            max_epochs=options.max_epochs,
            accelerator=options.accelerator,
            devices=options.devices,
            strategy=options.strategy,
            num_nodes=options.num_nodes,
            precision=options.precision,
            **_trainer_stepping(options, manual),
            deterministic=options.deterministic,
            check_val_every_n_epoch=options.check_val_every_n_epoch,
            logger=lightning_logger(options.logger),
            callbacks=callbacks,
            enable_progress_bar=progress == "rich",
            enable_model_summary=False,
            num_sanity_val_steps=0,
            log_every_n_steps=min(50, batches),
            default_root_dir=str(artifacts_dir),
        )
    except (ValueError, TypeError, RuntimeError) as exc:  # MisconfigurationException included
        key = assemble.key_named_in(str(exc), _NAMED_IN_ERRORS)
        raise ConfigError(
            Problem(
                f"Lightning rejected the trainer options: {exc}",
                path=f"trainer.{key}" if key else "trainer",
            )
        ) from exc


def _look_up_callback_entry_points_once() -> None:
    """Lightning adds the callbacks installed packages offer (entry points) to every
    Trainer, and finds them by reading the metadata of every installed distribution: 4 ms
    a Trainer with 140 of them, a twentieth of a small sweep trial. The installed packages
    do not change under a running process (and a sweep's trials should see the same ones),
    so Lightning's lookup keeps its first answer; each Trainer still gets callbacks of its
    own from the factories."""
    from lightning_fabric.utilities import registry

    if registry.entry_points is importlib.metadata.entry_points:  # else kept already
        registry.entry_points = functools.cache(importlib.metadata.entry_points)


def stepping(options: Any) -> Stepping:
    """Accumulation and clipping, for a module that steps its optimizer itself."""
    return Stepping(
        accumulate_grad_batches=options.accumulate_grad_batches,
        gradient_clip_val=options.gradient_clip_val,
        gradient_clip_algorithm=options.gradient_clip_algorithm,
    )


def _trainer_stepping(options: Any, manual: bool) -> dict[str, Any]:
    """Accumulation and clipping as Trainer arguments; none for a module that steps its
    optimizer itself (it does both, and Lightning refuses them for such a module)."""
    if manual:
        return {}
    clip = options.gradient_clip_val
    return {
        "gradient_clip_val": clip,
        "gradient_clip_algorithm": options.gradient_clip_algorithm if clip else None,
        "accumulate_grad_batches": options.accumulate_grad_batches,
    }


def distribution_note(trainer: pl.Trainer) -> str | None:
    """A line for the log when the fit runs in several processes."""
    if trainer.world_size == 1:
        return None
    strategy = type(trainer.strategy).__name__
    return f"distributed: {trainer.world_size} processes ({strategy}, {trainer.num_nodes} node(s))"


def run_fit(
    trainer: pl.Trainer,
    module: EdnaxModule,
    train: Any,
    val: Any,
    resume_from: Path | None,
) -> None:
    """Fit (or resume from `resume_from`); Ctrl-C and SIGTERM raise TrainingInterrupted."""
    from pytorch_lightning.utilities.exceptions import SIGTERMException

    sigint = signal.getsignal(signal.SIGINT)
    memory.started()  # training, maybe for hours: what is alive now dies later
    try:
        trainer.fit(
            module,
            train_dataloaders=train,
            val_dataloaders=val,
            ckpt_path=str(resume_from) if resume_from is not None else None,
            weights_only=True if resume_from is not None else None,
        )
    except SIGTERMException:
        raise TrainingInterrupted("training stopped by SIGTERM") from None
    except SystemExit:
        # Lightning answers Ctrl-C with a graceful shutdown and sys.exit(1).
        if trainer.interrupted:
            raise TrainingInterrupted("training interrupted (Ctrl-C)") from None
        raise
    finally:
        signal.signal(signal.SIGINT, sigint)  # Lightning ignores SIGINT while it shuts down


def checkpoint_history(path: Path) -> list[dict]:
    """The history rows stored in an ednax last.ckpt (to rewrite history.csv before resuming)."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    for key, value in state.get("callbacks", {}).items():
        if key.startswith(EpochRecord.__qualname__):
            return [dict(row) for row in value.get("history", [])]
    return []


@contextlib.contextmanager
def quiet_lightning() -> Iterator[None]:
    """Silence Lightning's banners, tips and notices (warnings and errors still show)."""
    loggers = [logging.getLogger(name) for name in _LIGHTNING_LOGGERS]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            for pattern in _NOISE:
                warnings.filterwarnings("ignore", message=pattern)
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


@contextlib.contextmanager
def process_state_restored() -> Iterator[None]:
    """Lightning's `deterministic=True` switches torch to deterministic algorithms for the
    whole process and sets CUBLAS_WORKSPACE_CONFIG; put both back after the fit, so that
    whatever runs next in the process (another trial of a sweep, say) starts as it was."""
    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    cublas = os.environ.get("CUBLAS_WORKSPACE_CONFIG")
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)
        if cublas is None:
            os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)
        else:
            os.environ["CUBLAS_WORKSPACE_CONFIG"] = cublas
