"""An experiment: the fundamental steps in order, written into one run bundle.

    data -> preprocess -> model -> (weights -> loss -> optimizer -> scheduler) -> trainer -> save

The bundle is created before any work, so that a run that fails while loading data still
leaves a record saying why; every outcome ends in one of the final statuses.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import sys
import traceback
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ednax.engine.evaluation import aggregate, folds
from ednax.engine.preprocessing import IMAGE_PREPROCESS, PreprocessCache, prepare
from ednax.engine.signals import signals_held, sigterm_raises
from ednax.engine.spec import ResolvedConfig, digest
from ednax.engine.tracking import tracking_of
from ednax.errors import ConfigError, EdnaxError, RunError, fault_of
from ednax.registry import REGISTRY
from ednax.runs.atomic import remove_temp_files
from ednax.runs.bundle import Bundle
from ednax.runs.code import own_sources
from ednax.runs.latest import link_latest
from ednax.runs.lock import bundle_lock
from ednax.runs.provenance import class_versions
from ednax.steps.base import Dataset
from ednax.steps.images.files import fit_in_memory

PACKAGES = (
    "ednax",
    "numpy",
    "scikit-learn",
    "pandas",
    "torch",
    "pytorch-lightning",
    "hydra-core",
    "omegaconf",
    "optuna",
    "pydantic",
)


@dataclass
class RunResult:
    """A finished run: its bundle, final status, metrics per split and why it stopped."""

    bundle: Bundle
    status: str
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    monitor: str | None = None
    error: str | None = None

    @property
    def id(self) -> str:
        return self.bundle.run_id

    @property
    def path(self) -> Path:
        return self.bundle.path

    def __repr__(self) -> str:
        return f"RunResult(id={self.id!r}, status={self.status!r}, path='{self.path}')"

    @property
    def monitored_value(self) -> float | None:
        if not self.monitor:
            return None
        split, _, name = self.monitor.partition("/")
        return self.metrics.get(split, {}).get(name)


class Experiment:
    """Runs one resolved config into a new bundle."""

    def __init__(
        self,
        config: ResolvedConfig,
        *,
        command: list[str] | None = None,
        say: Callable[[str], None] = print,
        parent_dir: Path | None = None,
        sweep: dict | None = None,
        trial: dict | None = None,
        callbacks: list | None = None,
        bundle: Bundle | None = None,
        resume_from: Path | None = None,
        lineage: dict | None = None,
        cache: bool = True,
        interactive: bool | None = None,
    ):
        self.config = config
        self.command = command or sys.argv
        self._say = say
        self.parent_dir = parent_dir
        self.sweep = sweep
        self.trial = trial
        self.tracking = tracking_of(config)  # `tracker`: MLflow, or nothing
        self.callbacks = [*self.tracking.callbacks(config.family), *(callbacks or [])]
        self.bundle = bundle
        self.resume_from = resume_from
        self.lineage = lineage or {}
        self.interactive = interactive
        cache_root = Path(config.experiment["runs_dir"]) / ".cache" / "preprocess"
        self.cache = PreprocessCache(cache_root if cache else None)
        self.save = REGISTRY.build("save", config["save"])
        self.fitting = False  # whether a fit has begun (a config error after it keeps the bundle)

    def say(self, line: str) -> None:
        """Tell the user, and keep it in log.txt."""
        self._say(line)
        self.note(line)

    def note(self, line: str) -> None:
        """Keep a line in log.txt only."""
        if self.bundle is not None:
            self.bundle.log(line)

    def run(self) -> RunResult:
        """Run into a new bundle, or continue the one given (resume), holding its lock."""
        if self.bundle is None:
            self._check_before_bundle()
            self.bundle = self._create_bundle()
            try:
                with bundle_lock(self.bundle.path):
                    return self._run_locked()
            except ConfigError:
                if not self.fitting:
                    self._discard_bundle()
                raise
        with bundle_lock(self.bundle.path):  # a second resume of the bundle stops here
            self._restore_history()
            self.bundle.restart(**_whereabouts())
            return self._run_locked()

    def _check_before_bundle(self) -> None:
        """What validation leaves to the run, said before a bundle: an estimator that
        scikit-learn refuses, a GPU this machine lacks."""
        if self.config.family != "torch":
            from ednax.engine.sklearn import estimator_problems

            problems = estimator_problems(self.config)
        else:
            from ednax.engine.lightning.setup import device_problems

            accelerator = (self.config.get("trainer") or {}).get("accelerator")
            problems = [self.config.locate(p) for p in device_problems(accelerator)]
        if problems:
            raise ConfigError(problems)

    def _discard_bundle(self) -> None:
        """A config error that only the data could show (a preprocess step naming a column
        an earlier step renamed), before any fit: the error is the answer, as validate
        would give it, and no bundle is left. (Once a fit has begun, a config error, such
        as a GPU this machine lacks, is a failed run the bundle records.)"""
        shutil.rmtree(self.bundle.path, ignore_errors=True)
        self.bundle = None

    def _restore_history(self) -> None:
        """history.csv as the checkpoint left it: the epochs after it are trained again."""
        if self.config.family != "torch":
            return
        from ednax.engine.torch import history_before

        resumed = self.resume_from
        self.bundle.write_history(history_before(resumed) if resumed else [])

    def _run_locked(self) -> RunResult:
        """The run, tracked (`tracker`) from its start to its final status."""
        try:
            return self._run_recorded()
        finally:
            self.tracking.finish(self)

    def _run_recorded(self) -> RunResult:
        try:
            # run.json is written when the data is loaded, before each torch fit (what a
            # resume after a kill starts from) and at the end, not for every artifact
            with self.bundle.held(), sigterm_raises():
                metrics = self._run_steps()
                self.bundle.finish("completed", metrics=metrics)
            link_latest(self.bundle.path)
        except KeyboardInterrupt:
            with signals_held():
                if self._finish_failed("interrupted", "interrupted (Ctrl-C or SIGTERM)"):
                    self._say(
                        f"run {self.bundle.run_id} interrupted: `ednax resume "
                        f"{self.bundle.path}` continues it"
                    )
            raise
        except ConfigError as exc:
            exc.problems = [self.config.locate(p) for p in exc.problems]
            self._finish_failed("failed", exc.render())
            raise
        except EdnaxError as exc:
            self._finish_failed("failed", exc.render())
            raise
        except Exception as exc:
            return self._failed_by(exc)
        return RunResult(self.bundle, "completed", metrics, monitor=self._monitor())

    def _failed_by(self, exc: Exception) -> RunResult:
        """A run stopped by an exception that is not an ednax error: pruned by a sweep, a
        fault of the machine (a full disk: the run's temporary files are freed first, so
        that the failure can be recorded), or a bug, reported with its bundle."""
        if _is_pruned(exc):
            return self._finish_pruned(str(exc) or "pruned by Optuna")
        fault = fault_of(exc, where=self.bundle.path)
        if fault is not None:
            remove_temp_files(self.bundle.path)
            if not self._finish_failed("failed", fault.render()):
                fault = fault_of(exc, recorded=False, where=self.bundle.path)
            raise fault from exc
        reason = f"{type(exc).__name__}: {exc}"
        self._finish_failed("failed", reason)
        raise RunError(f"{reason}\n(bundle: {self.bundle.path})") from exc

    def _create_bundle(self) -> Bundle:
        experiment = self.config.experiment
        bundle = None
        try:
            bundle = Bundle.create(
                Path(experiment["runs_dir"]), experiment["name"], parent=self.parent_dir
            )
            self._start(bundle)
        except OSError as exc:  # no half-made bundle without run.json is left behind
            if bundle is not None:
                shutil.rmtree(bundle.path, ignore_errors=True)
            fault = fault_of(exc)
            if fault is None:
                raise
            raise fault from exc
        return bundle

    def _start(self, bundle: Bundle) -> None:
        experiment = self.config.experiment
        bundle.start(
            config=self.config.data,
            overrides=self.config.overrides,
            command=list(self.command),
            experiment=experiment["name"],
            seed=self.config.seed,
            fingerprints=self.config.fingerprints(),
            classes=class_versions(self.config.classes),
            packages=PACKAGES,
            cwd=Path.cwd(),
            sweep=self.sweep,
            trial=self.trial,
            code=own_sources(self.config.get("imports") or []),
            extra={
                "config_file": str(self.config.config_file),
                "family": self.config.family,
                "task": self.config.task,
                "tags": experiment["tags"],
                "notes": experiment["notes"],
                "monitor": self.config.monitor,
                "directions": self.config.directions,
                "defaults": self.config.defaults,
                **_whereabouts(),
                **self.lineage,
            },
        )

    def _finish_pruned(self, reason: str) -> RunResult:
        """A sweep's pruner stopped the run (an Optuna trial): not a failure."""
        self.note(reason)
        self.bundle.finish("pruned", error=reason)
        return RunResult(self.bundle, "pruned", monitor=self._monitor(), error=reason)

    def _monitor(self) -> str | None:
        return self.config["metrics"]["monitor"]

    def _finish_failed(self, status: str, reason: str) -> bool:
        """Record how the run ended; False if the bundle could not (a full disk, say)."""
        assert self.bundle is not None
        with contextlib.suppress(OSError):
            self.bundle.log(traceback.format_exc())
        try:
            self.bundle.finish(status, error=reason)
        except OSError:
            return False
        return True

    def _run_steps(self) -> dict[str, Any]:
        cfg = self.config
        self.tracking.start(self)  # a failure is said and recorded, never raised
        seed_everything(cfg.seed)
        self.say(f"run {self.bundle.run_id}: {cfg.experiment['name']} ({cfg.family})")
        for line in cfg.notes:
            self.say(f"note: {line}")
        dataset = self._load_data()
        per_fold = {}
        for fold, data in folds(dataset, cfg["evaluation"]):
            if fold:
                self.say(
                    f"{fold}: train {len(data.splits['train'])}, val {len(data.splits['val'])}"
                )
            per_fold[fold] = self._fit(self._preprocess(data, fold), fold)
        return aggregate(per_fold)

    def _fit(self, dataset: Dataset, fold: str) -> dict[str, dict[str, float]]:
        self.fitting = True
        self.tracking.fold = fold  # a fold's epochs are tracked under `epoch/fold-0/`
        prefix = f"{fold}/" if fold else ""
        if self.config.family == "torch":
            from ednax.engine.torch import fit_torch_model

            self.bundle.write_held()  # the fitted preprocessing, recorded before training
            resume_from = None if fold else self.resume_from
            return fit_torch_model(self, dataset, resume_from=resume_from, fold=fold)
        from ednax.engine.sklearn import fit_estimator

        return fit_estimator(self, dataset, prefix=prefix)

    def _load_data(self) -> Dataset:
        section = self.config["data"]
        dataset = REGISTRY.build("data", section).load()
        sizes = ", ".join(f"{k} {len(v)}" for k, v in dataset.splits.items())
        self.say(f"data: {section['type']} ({dataset.task}; {sizes})")
        fingerprints = {**self.config.fingerprints(), "data": dataset.fingerprint}
        self.bundle.update(fingerprints=fingerprints, task=dataset.task)
        self.bundle.write_artifact_text("data_schema.json", _data_schema(dataset))
        self.bundle.write_held()  # what the run fits on, recorded before the fit
        return dataset

    def _images_in_memory(self, dataset: Dataset) -> bool:
        return _images_in_memory_for(dataset, self.config.get("trainer") or {})

    def _preprocess(self, dataset: Dataset, fold: str = "") -> Dataset:
        """Fit the preprocessing on train only (or take it from the cache) and apply it to
        every split. An empty list still runs the pipeline: it turns features into a float64
        matrix and reports text columns that nothing encodes."""
        steps = self.config.get("preprocess") or []
        fold_key = f"{fold}:{digest(self.config['evaluation'])}" if fold else ""
        key = self.cache.key(self.config["data"], dataset.fingerprint, steps, fold_key)
        prepared = prepare(
            dataset, steps, self.cache, key, images_in_memory=self._images_in_memory(dataset)
        )
        if prepared.note:  # a cache entry refused (not signed by this user), say
            self.say(prepared.note)
        prefix = f"{fold}/" if fold else ""
        if dataset.modality == "image":
            state = json.dumps(prepared.pipeline.state(), indent=2) + "\n"
            self.bundle.write_artifact_text(f"{prefix}{IMAGE_PREPROCESS}", state)
        elif dataset.modality == "text":  # the fitted tokenizer as JSON (tokenizer.json)
            for name, text in prepared.pipeline.artifacts().items():
                self.bundle.write_artifact_text(f"{prefix}{name}", text)
        else:
            self.bundle.save_artifact(f"{prefix}preprocess.pkl", prepared.pipeline)
            self._record_unseen_accepted(dataset, prepared.pipeline)
        how = "from the cache" if prepared.cached else "fit on train"
        if prepared.dataset.vocabulary is not None:
            how += f"; vocabulary {prepared.dataset.vocabulary.size}"
        if steps:
            self.say("preprocess: " + " -> ".join(s["type"] for s in steps) + f" ({how})")
        return prepared.dataset

    def _record_unseen_accepted(self, raw: Dataset, pipeline: Any) -> None:
        """Mark in data_schema.json the categorical columns whose fitted encoder takes a
        category unseen in training (one_hot's `handle_unknown: ignore`), so that predict
        follows the fitted step instead of refusing such rows."""
        from ednax.steps.preprocess import accepts_unseen

        accepted = accepts_unseen(pipeline)
        if accepted:
            self.bundle.write_artifact_text("data_schema.json", _data_schema(raw, accepted))


def _images_in_memory_for(dataset: Dataset, trainer: dict[str, Any]) -> bool:
    """Whether an image run's splits are decoded into memory (`trainer.loader`)."""
    loader = trainer.get("loader", "auto")
    if dataset.modality != "image" or loader == "dataloader":
        return False
    return loader == "memory" or fit_in_memory(dataset.splits.values(), trainer["memory_budget_mb"])


def _data_schema(dataset: Dataset, accepts_unseen: Collection[str] = ()) -> str:
    """What the model was trained on, for checking inputs at prediction time: each raw
    feature column, numeric or categorical (with the categories seen in train, and
    `"unseen": "encoded"` where the fitted preprocessing takes others)."""
    train = dataset.splits["train"]
    schema = {
        "task": dataset.task,
        "target": dataset.target,
        "features": [
            _column_schema(name, train.X[:, j], name in accepts_unseen)
            for j, name in enumerate(dataset.feature_names)
        ],
        "classes": dataset.classes,
        "input_shape": list(dataset.input_shape) if dataset.input_shape else None,
        "sources": dataset.sources,
        "modality": dataset.modality,
    }
    if dataset.id_column is not None:  # predict reads new rows' ids from it
        schema["id"] = dataset.id_column
    if dataset.dropped:  # columns predict lets new rows carry
        schema["dropped"] = list(dataset.dropped)
    if dataset.modality == "image":
        schema["image"] = {"channels": train.channels, "size": list(train.size)}
    if dataset.modality == "text":
        schema["text"] = {"extras": list(train.extra_names)}
    return json.dumps(schema, indent=2, default=str) + "\n"


def _column_schema(name: str, values: np.ndarray, accepts_unseen: bool) -> dict[str, Any]:
    texts = sorted({v for v in values if isinstance(v, str)})
    if values.dtype != object or not texts:
        return {"name": name, "kind": "numeric"}
    column = {"name": name, "kind": "categorical", "categories": texts}
    return {**column, "unseen": "encoded"} if accepts_unseen else column


def _is_pruned(exc: BaseException) -> bool:
    """optuna.TrialPruned, raised by a sweep's pruning callback (optuna is imported only
    when a sweep runs, so it is looked up rather than imported here)."""
    optuna = sys.modules.get("optuna")
    return optuna is not None and isinstance(exc, optuna.TrialPruned)


def _whereabouts() -> dict[str, Any]:
    """Which process runs the bundle, so resume can tell a dead run from a live one."""
    import socket

    return {"pid": os.getpid(), "host": socket.gethostname()}


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    os.environ.setdefault("PYTHONHASHSEED", str(seed))
