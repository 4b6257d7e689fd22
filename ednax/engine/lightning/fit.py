"""Train a torch model on a preprocessed dataset with PyTorch Lightning: `fit_torch`.

The experiment runner calls `fit_torch` with the resolved config sections; this module
builds the steps (model, weights, loss, optimizer, schedule), the batches and the Trainer,
runs the fit (or resumes it from a last.ckpt), evaluates every split with the best
weights and returns metrics, history and predictions. It knows nothing of the CLI, the
config files or the bundle layout beyond the artifacts directory it is given.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import math
import os
import shutil
import signal
import sys
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch

from ednax.engine.build import build
from ednax.engine.lightning import assemble
from ednax.engine.lightning.callbacks import EpochLines, EpochRecord, rich_progress_bar
from ednax.engine.lightning.loader import (
    TensorBatches,
    data_loader,
    fits_on_device,
    split_tensors,
)
from ednax.engine.lightning.module import (
    EdnaxModule,
    Schedule,
    Stepping,
    applies,
    metric_scores,
    predictions,
)
from ednax.errors import ConfigError, Problem, UsageError, did_you_mean
from ednax.registry import KINDS, REGISTRY, Registry, RegistryError
from ednax.steps.base import SPLITS, Dataset
from ednax.steps.trainers_torch import one_process_problem

MODULE_KIND = "module"

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


@dataclass
class TorchResult:
    """What a torch fit produced."""

    metrics: dict[str, dict[str, float]]
    history: list[dict]
    predictions: dict[str, tuple[np.ndarray, np.ndarray | None]]
    best_checkpoint: Path | None
    last_checkpoint: Path | None
    epochs_run: int
    is_global_zero: bool = True  # False in the other processes of a distributed fit

    @classmethod
    def of_other_rank(cls) -> TorchResult:
        """What a DDP process other than rank 0 returns: rank 0 alone evaluates and saves."""
        return cls({}, [], {}, None, None, 0, is_global_zero=False)


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped by Ctrl-C or SIGTERM; last.ckpt holds the last finished epoch."""


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
) -> TorchResult:
    """Fit the torch model of `sections` on `dataset`; see the module docstring.

    `on_epoch_end` receives each new history row (after the epoch's checkpoints are on
    disk). When resuming, the rows of the epochs already done come back in
    `TorchResult.history` (restored from the checkpoint) but are not passed to
    `on_epoch_end` again. Ctrl-C and SIGTERM raise `TrainingInterrupted`. `one_process`
    refuses a trainer that would start more processes (a sweep job's).
    """
    registry = registry or REGISTRY
    artifacts_dir = Path(artifacts_dir)
    options = build("trainer", sections["trainer"], path="trainer", registry=registry)
    metrics = {k: v for k, v in metrics.items() if applies(v, dataset.task)}
    _check_setup(options, dataset, sections, metrics, monitor, mode)
    if resume_from is not None and not Path(resume_from).is_file():
        raise UsageError(f"cannot resume: no checkpoint at {resume_from}")
    module_class = _module_class(options.module, registry)
    artifacts_dir.mkdir(parents=True, exist_ok=True)
    progress = _progress_mode(options.progress)
    with quiet_lightning(), _process_state_restored():
        pl.seed_everything(seed, workers=True, verbose=False)
        model = assemble.build_model(dataset, sections["model"], registry)
        if resume_from is None:
            _log_note(log, assemble.apply_weights(_section(sections, "weights"), model, registry))
        loss = assemble.build_loss(dataset, sections["loss"], registry)
        listeners = [on_epoch_end] if on_epoch_end else []
        if progress == "plain":
            listeners.append(EpochLines(options.max_epochs, log))
        record = EpochRecord(artifacts_dir, monitor=monitor, mode=mode, listeners=listeners)
        extra = [rich_progress_bar()] if progress == "rich" else []
        extra += _early_stopping(options, monitor, mode) + list(callbacks or [])
        extra += _configured_callbacks(sections.get("callbacks") or [], registry)
        manual = module_class.steps_its_optimizer()
        trainer = _make_trainer(options, artifacts_dir, [record, *extra], progress, dataset, manual)
        if one_process and trainer.world_size > 1:
            raise ConfigError(one_process_problem(trainer.world_size))
        _log_note(log, _distribution_note(trainer))
        train_batches, val_batches = _batches(dataset, options, trainer, seed)
        optimizer, schedule = _optimization(sections, model, options, len(train_batches), registry)
        module = module_class(
            model=model,
            loss=loss,
            optimizer=optimizer,
            schedule=schedule,
            metrics=metrics,
            task=dataset.task,
            **(options.module_args or {}),
        )
        module.stepping = _stepping(options)
        if resume_from is not None:
            log(f"resuming from {resume_from}")
        _run_fit(trainer, module, train_batches, val_batches, resume_from)
        if not trainer.is_global_zero:
            return TorchResult.of_other_rank()
        return _result(module, record, dataset, metrics, options, trainer, sections)


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
def _process_state_restored() -> Iterator[None]:
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


def _log_note(log: Callable[[str], None], note: str | None) -> None:
    if note:
        log(note)


def _distribution_note(trainer: pl.Trainer) -> str | None:
    if trainer.world_size == 1:
        return None
    strategy = type(trainer.strategy).__name__
    return f"distributed: {trainer.world_size} processes ({strategy}, {trainer.num_nodes} node(s))"


def _optimization(
    sections: dict[str, dict],
    model: torch.nn.Module,
    options: Any,
    batches: int,
    registry: Registry,
) -> tuple[Any, Schedule | None]:
    optimizer = assemble.build_optimizer(sections["optimizer"], model.parameters(), registry)
    schedule = assemble.build_schedule(
        _section(sections, "scheduler"),
        optimizer,
        max_epochs=options.max_epochs,
        steps_per_epoch=math.ceil(batches / options.accumulate_grad_batches),
        registry=registry,
    )
    return optimizer, schedule


def _result(
    module: EdnaxModule,
    record: EpochRecord,
    dataset: Dataset,
    metrics: dict[str, object],
    options: Any,
    trainer: pl.Trainer,
    sections: dict[str, dict],
) -> TorchResult:
    """Evaluate every split with the best weights, then keep the checkpoints asked for."""
    best = record.best_path if record.best_epoch is not None else None
    if best is not None:
        _load_weights(module, best)
    device = trainer.strategy.root_device
    split_metrics, split_predictions = _evaluate(module, dataset, metrics, options, device)
    keep = _section(sections, "save").get("checkpoints", "both")
    best_kept, last_kept = _keep_checkpoints(keep, record, best)
    return TorchResult(
        metrics=split_metrics,
        history=[dict(row) for row in record.history],
        predictions=split_predictions,
        best_checkpoint=best_kept,
        last_checkpoint=last_kept,
        epochs_run=record.history[-1]["epoch"] if record.history else 0,
    )


def _section(sections: dict[str, dict], name: str) -> dict:
    defaults = {"weights": {"type": "none"}, "scheduler": {"type": "none"}, "save": {}}
    return sections.get(name) or defaults[name]


def _check_setup(
    options: Any,
    dataset: Dataset,
    sections: dict[str, dict],
    metrics: dict[str, object],
    monitor: str,
    mode: str,
) -> None:
    """Every problem of the run's setup that can be seen before training, reported at once."""
    has_val = dataset.split("val") is not None and len(dataset.splits["val"]) > 0
    logged = ["loss", *metrics]
    problems = list(options.problems())
    if mode not in ("min", "max"):
        problems.append(Problem(f"must be 'min' or 'max', got {mode!r}", path="metrics.mode"))
    problems += _monitor_problems(monitor, logged, has_val, "metrics.monitor", needs_value=False)
    scheduler = _section(sections, "scheduler")
    if "monitor" in scheduler:
        problems += _monitor_problems(scheduler["monitor"], logged, has_val, "scheduler.monitor")
    stopping = options.early_stopping_options(monitor, mode)
    if stopping is not None:
        problems += _monitor_problems(
            stopping["monitor"], logged, has_val, "trainer.early_stopping.monitor"
        )
    problems += _device_problems(options)
    problems += _logger_problems(options.logger)
    if problems:
        raise ConfigError(problems)


def _monitor_problems(
    name: str, logged: list[str], has_val: bool, path: str, *, needs_value: bool = True
) -> list[Problem]:
    known = [f"{split}/{metric}" for split in ("train", "val") for metric in logged]
    if name not in known:
        return [
            Problem(
                f"'{name}' is not logged by this run",
                path=path,
                hint=did_you_mean(name, known, "metric"),
            )
        ]
    if needs_value and name.startswith("val/") and not has_val:
        return [
            Problem(
                f"'{name}' needs a val split, and the data has none",
                path=path,
                hint="give the data step a val fraction, or watch a train/ metric",
            )
        ]
    return []


def _device_problems(options: Any) -> list[Problem]:
    problems = []
    if options.accelerator == "gpu" and not _gpu_available():
        problems.append(
            Problem(
                "a GPU was asked for, but torch finds no CUDA or MPS device",
                path="trainer.accelerator",
                hint="use accelerator: auto or cpu",
            )
        )
    return problems


def _logger_problems(logger: str) -> list[Problem]:
    needs = {"tensorboard": ("tensorboard", "tensorboardX"), "mlflow": ("mlflow",)}
    if logger not in needs or any(importlib.util.find_spec(p) for p in needs[logger]):
        return []
    return [
        Problem(
            f"logger '{logger}' needs the {needs[logger][0]} package, not installed",
            path="trainer.logger",
            hint=f"pip install {needs[logger][0]}, or use logger: csv",
        )
    ]


def _gpu_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return torch.cuda.is_available() or bool(mps and mps.is_available())


def _module_class(name: str | None, registry: Registry) -> type[EdnaxModule]:
    if name is None:
        return EdnaxModule
    if MODULE_KIND not in KINDS:
        raise ConfigError(
            Problem(
                f"cannot use module '{name}': this ednax has no '{MODULE_KIND}' registry kind",
                path="trainer.module",
            )
        )
    try:
        cls = registry.get(MODULE_KIND, name).load()
    except RegistryError as exc:
        raise ConfigError(Problem(str(exc), path="trainer.module")) from exc
    if not (isinstance(cls, type) and issubclass(cls, EdnaxModule)):
        raise ConfigError(
            Problem(
                f"module '{name}' must subclass ednax.engine.lightning.module.EdnaxModule",
                path="trainer.module",
            )
        )
    return cls


def _progress_mode(progress: str) -> str:
    if progress != "auto":
        return progress
    tty = sys.stdout.isatty() and importlib.util.find_spec("rich") is not None
    return "rich" if tty else "plain"


def _configured_callbacks(steps: list[dict], registry: Registry) -> list[pl.Callback]:
    """The config's `callbacks` section, built; each must be a Lightning callback."""
    built = []
    for i, step in enumerate(steps):
        callback = build("callback", step, path=f"callbacks[{i}]", registry=registry)
        if not isinstance(callback, pl.Callback):
            raise ConfigError(
                Problem(
                    f"callback '{step['type']}' is a {type(callback).__name__}, "
                    "not a Lightning callback",
                    path=f"callbacks[{i}].type",
                    hint="subclass pytorch_lightning.Callback",
                )
            )
        built.append(callback)
    return built


def _early_stopping(options: Any, monitor: str, mode: str) -> list[pl.Callback]:
    settings = options.early_stopping_options(monitor, mode)
    if settings is None:
        return []
    from pytorch_lightning.callbacks import EarlyStopping

    return [EarlyStopping(**settings, verbose=False)]


def _stepping(options: Any) -> Stepping:
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


def _make_trainer(
    options: Any,
    artifacts_dir: Path,
    callbacks: list,
    progress: str,
    dataset: Dataset,
    manual: bool,
) -> pl.Trainer:
    batches = max(1, math.ceil(len(dataset.splits["train"]) / options.batch_size))
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
            logger=_logger(options.logger, artifacts_dir),
            callbacks=callbacks,
            enable_progress_bar=progress == "rich",
            enable_model_summary=False,
            num_sanity_val_steps=0,
            log_every_n_steps=min(50, batches),
            default_root_dir=str(artifacts_dir),
        )
    except (ValueError, TypeError, RuntimeError) as exc:  # MisconfigurationException included
        key = assemble.key_named_in(
            str(exc), ["strategy", "accelerator", "devices", "num_nodes", "precision"]
        )
        raise ConfigError(
            Problem(
                f"Lightning rejected the trainer options: {exc}",
                path=f"trainer.{key}" if key else "trainer",
            )
        ) from exc


def _logger(name: str, artifacts_dir: Path) -> Any:
    if name == "none":
        return False
    if name == "csv":
        from pytorch_lightning.loggers import CSVLogger

        return CSVLogger(artifacts_dir, name="lightning_logs")
    if name == "tensorboard":
        from pytorch_lightning.loggers import TensorBoardLogger

        return TensorBoardLogger(artifacts_dir, name="tensorboard")
    from pytorch_lightning.loggers import MLFlowLogger

    bundle = artifacts_dir.parent
    return MLFlowLogger(
        experiment_name=bundle.parent.name or "ednax",
        run_name=bundle.name,
        tracking_uri=os.environ.get("MLFLOW_TRACKING_URI") or (artifacts_dir / "mlruns").as_uri(),
    )


def _batches(dataset: Dataset, options: Any, trainer: pl.Trainer, seed: int):
    """Train and val batches (val is None without a val split)."""
    device = trainer.strategy.root_device
    how = _loader_kind(dataset, options, trainer, device)
    val = dataset.split("val")
    if val is not None and len(val) == 0:
        val = None
    if how == "memory":
        shards = {"world_size": trainer.world_size, "rank_of": lambda: trainer.global_rank}
        x, y = split_tensors(dataset.splits["train"], dataset.task, device)
        train = TensorBatches(
            x,
            y,
            batch_size=options.batch_size,
            shuffle=options.shuffle,
            seed=seed,
            epoch_of=lambda: trainer.current_epoch,
            **shards,
        )
        if val is not None:
            vx, vy = split_tensors(val, dataset.task, device)
            val = TensorBatches(vx, vy, batch_size=options.eval_rows, **shards)
        return train, val
    common = {"seed": seed, "num_workers": options.num_workers, "pin_memory": device.type == "cuda"}
    train = data_loader(
        dataset.splits["train"],
        dataset.task,
        batch_size=options.batch_size,
        shuffle=options.shuffle,
        **common,
    )
    if val is not None:
        val = data_loader(val, dataset.task, batch_size=options.eval_rows, shuffle=False, **common)
    return train, val


def _loader_kind(dataset: Dataset, options: Any, trainer: pl.Trainer, device: torch.device) -> str:
    if options.loader != "auto":
        return options.loader
    nbytes = sum(np.asarray(s.X).nbytes // 2 + len(s) * 8 for s in dataset.splits.values())
    return "memory" if fits_on_device(nbytes, device) else "dataloader"


def _run_fit(
    trainer: pl.Trainer,
    module: EdnaxModule,
    train: Any,
    val: Any,
    resume_from: Path | None,
) -> None:
    from pytorch_lightning.utilities.exceptions import SIGTERMException

    sigint = signal.getsignal(signal.SIGINT)
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


def _load_weights(module: EdnaxModule, path: Path) -> None:
    state = torch.load(path, map_location="cpu", weights_only=True)["state_dict"]
    module.load_state_dict(state)


def _evaluate(
    module: EdnaxModule,
    dataset: Dataset,
    metrics: dict[str, object],
    options: Any,
    device: torch.device,
) -> tuple[dict[str, dict[str, float]], dict[str, tuple[np.ndarray, np.ndarray | None]]]:
    module.to(device)
    scores: dict[str, dict[str, float]] = {}
    preds: dict[str, tuple[np.ndarray, np.ndarray | None]] = {}
    for name in SPLITS:
        split = dataset.split(name)
        if split is None or len(split) == 0:
            continue
        x, y = split_tensors(split, dataset.task, device)
        loss, outputs = module.evaluate(x, y, options.eval_rows)
        y_pred, y_proba = predictions(outputs, dataset.task)
        y_true = y.cpu().numpy()
        values = metric_scores(metrics, dataset.task, y_true, y_pred, y_proba)
        scores[name] = {"loss": loss, **values}
        preds[name] = (y_pred, y_proba)
    return scores, preds


def _keep_checkpoints(
    keep: str, record: EpochRecord, best: Path | None
) -> tuple[Path | None, Path | None]:
    """Delete the checkpoints `save.checkpoints` does not keep; return the kept paths.

    Both files are written while training (last.ckpt is what a resume needs; best.ckpt is
    what the final metrics come from). Without a monitored value (no val split) the final
    weights are the best ones, so best.ckpt is a copy of last.ckpt.
    """
    last = record.last_path if record.last_path.is_file() else None
    if best is None and last is not None and keep in ("best", "both"):
        temp = record.best_path.with_name(f".{record.best_path.name}.tmp")
        shutil.copyfile(last, temp)
        os.replace(temp, record.best_path)
        best = record.best_path
    if keep in ("last", "none") and best is not None:
        best.unlink(missing_ok=True)
        best = None
    if keep in ("best", "none") and last is not None:
        last.unlink(missing_ok=True)
        last = None
    return best, last
