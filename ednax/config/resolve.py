"""Validate a composed config against the registry and write every default out.

`load_config` is the one entry point: compose (Hydra), import the config's plugin modules,
check every section against its class's signature, fill in defaults (the seed becomes the
`random_state` of every class that takes one), and return a `ResolvedConfig`. Every
problem of the config is collected and reported together.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from ednax.config.compose import Composed, compose
from ednax.config.overrides import STEP_SECTIONS
from ednax.config.schema import SAFE_NAME, check_fixed, check_params
from ednax.config.source import SourceFile, read_source
from ednax.engine.spec import LIST_SECTIONS, ResolvedConfig
from ednax.errors import ConfigError, Problem, Suggestions, UsageError
from ednax.registry import REGISTRY, Entry, Registry, RegistryError

SECTION_ORDER = (
    "experiment",
    "imports",
    "data",
    "preprocess",
    "model",
    "weights",
    "loss",
    "optimizer",
    "scheduler",
    "trainer",
    "callbacks",
    "save",
    "evaluation",
    "metrics",
)
TORCH_ONLY = ("weights", "loss", "optimizer", "scheduler", "callbacks")
DEFAULT_METRICS = {
    "classification": ["accuracy", "f1_macro"],
    "regression": ["rmse", "mae", "r2"],
}
DEFAULT_LOSS = {"classification": "cross_entropy", "regression": "mse"}
TORCH_DEFAULT_TYPES = {"weights": "none", "optimizer": "adam", "scheduler": "none"}


def load_config(
    config_file: str | Path,
    overrides: list[str] | tuple[str, ...] = (),
    *,
    multirun: bool = False,
    registry: Registry = REGISTRY,
) -> ResolvedConfig:
    source = read_source(config_file)
    import_plugins(source, registry)
    class_names = {s: registry.names(s) for s in STEP_SECTIONS}
    composed = compose(source, overrides, class_names=class_names, multirun=multirun)
    return Resolver(composed, registry).resolve()


def import_plugins(source: SourceFile, registry: Registry) -> None:
    """Import the config's `imports:` (beside the config file, or installed)."""
    folder = str(source.path.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    problems = []
    for i, name in enumerate(source.imports):
        try:
            registry.import_modules([name])
        except Exception as exc:
            message, hint = _import_failure(name, exc)
            problems.append(
                Problem(
                    message,
                    path=f"imports[{i}]",
                    file=source.name,
                    line=source.line_of(f"imports[{i}]"),
                    hint=hint,
                )
            )
    if problems:
        raise ConfigError(problems)


def _import_failure(name: str, exc: Exception) -> tuple[str, str | None]:
    """What to tell the user about a plugin module that did not import."""
    if isinstance(exc, RegistryError):
        return str(exc), None
    if isinstance(exc, ModuleNotFoundError):
        if exc.name is not None and name.startswith(exc.name):
            where = f"put {name.replace('.', '/')}.py beside the config file, or install it"
            return f"cannot import the module '{name}': {exc}", where
        return f"cannot import the module '{name}': {exc}", (
            f"'{name}' imports '{exc.name}', which is not installed"
        )
    if isinstance(exc, SyntaxError):
        return (
            f"the module '{name}' has a syntax error: {exc.msg} ({exc.filename}:{exc.lineno})",
            None,
        )
    return (
        f"importing the module '{name}' failed: {type(exc).__name__}: {exc}",
        "run with --debug for the traceback",
    )


class Resolver:
    """Checks one composed config section by section, collecting every problem."""

    def __init__(self, composed: Composed, registry: Registry):
        self.composed = composed
        self.registry = registry
        self.raw = composed.data
        self.problems: list[Problem] = []
        self.out: dict[str, Any] = {}
        self.classes: dict[str, str] = {}
        self.task: str | None = None
        self.family = "sklearn"

    def fail(self, path: str, message: str, hint: str | None = None) -> None:
        self.problems.append(self.composed.problem(message, path, hint))

    def resolve(self) -> ResolvedConfig:
        self._check_unknown_sections()
        self._resolve_experiment()
        self.out["imports"] = list(self.raw.get("imports") or [])
        self._require("data")
        self._require("model")
        self.family = self._model_family()
        self._resolve_step("data")
        self.task = self._infer_task()
        self._resolve_list("preprocess", "e.g. [standard_scaler]")
        self._resolve_step("model")
        self._resolve_family_steps()
        self._resolve_step("save", default_type="bundle")
        self._resolve_evaluation()
        self._resolve_metrics()
        self._resolve_early_stopping()
        if self.problems:
            raise ConfigError(self.problems)
        ordered = {k: self.out[k] for k in SECTION_ORDER if k in self.out}
        return ResolvedConfig(
            data=ordered,
            family=self.family,
            task=self.task,
            classes=self.classes,
            config_file=self.composed.source.path,
            overrides=self.composed.overrides,
            locate=self.composed.locate,
        )

    def _check_unknown_sections(self) -> None:
        valid = [*SECTION_ORDER, "defaults"]
        for key in self.raw:
            if key not in valid:
                self.fail(
                    str(key),
                    f"unknown section '{key}'",
                    Suggestions(list(SECTION_ORDER)).hint(str(key), "section"),
                )

    def _require(self, section: str) -> None:
        if section not in self.raw:
            self.problems.append(
                Problem(
                    f"the config has no '{section}' section",
                    file=self.composed.source.name,
                    hint=f"add '{section}: {{type: ...}}'; see `ednax registry {section}`",
                )
            )

    def _resolve_experiment(self) -> None:
        values, issues = check_fixed("experiment", self.raw.get("experiment"))
        for issue in issues:
            self.fail(_join("experiment", issue.loc), issue.message, issue.hint)
        if not values:
            return
        values["name"] = values["name"] or self.composed.source.path.stem
        if not SAFE_NAME.match(values["name"]):
            self.fail(
                "experiment.name",
                f"'{values['name']}' cannot name a folder",
                "use letters, digits, '-', '_' and '.'",
            )
        self.out["experiment"] = values

    @property
    def seed(self) -> int:
        return int(self.out.get("experiment", {}).get("seed", 0))

    def _model_family(self) -> str:
        model = self.raw.get("model")
        if not isinstance(model, dict) or "type" not in model:
            return "sklearn"
        try:
            entry = self.registry.get("model", str(model["type"]))
        except RegistryError:
            return "sklearn"
        return entry.family or _family_of_class(entry)

    def _resolve_family_steps(self) -> None:
        if self.family == "sklearn":
            for section in TORCH_ONLY:
                if section in self.raw:
                    self.fail(
                        section,
                        f"'{section}' does not apply to a scikit-learn estimator "
                        f"(model '{self.out.get('model', {}).get('type')}')",
                        f"remove the '{section}' section, or choose a torch model "
                        "(see `ednax registry model`)",
                    )
            self._resolve_step("trainer", default_type="sklearn")
            return
        self._resolve_step("weights", default_type="none")
        self._resolve_step("loss", default_type=DEFAULT_LOSS.get(self.task or ""))
        self._check_task_fit("loss")
        self._resolve_step("optimizer", default_type="adam")
        self._resolve_step("scheduler", default_type="none")
        self._resolve_step("trainer", default_type="lightning")
        self._resolve_list("callbacks", "e.g. [{type: time_limit, duration: '00:11:30:00'}]")

    def _resolve_step(self, section: str, default_type: str | None = None) -> None:
        raw = self.raw.get(section, {} if default_type else None)
        if raw is None:
            return
        resolved = self._resolve_section(section, section, raw, default_type)
        if resolved is not None:
            self.out[section] = resolved
            if section == "trainer":
                self._check_trainer_family(resolved["type"])
                self._check_trainer_values(resolved)

    def _check_trainer_family(self, name: str) -> None:
        entry = self.registry.get("trainer", name)
        if entry.family and entry.family != self.family:
            self.fail(
                "trainer.type",
                f"trainer '{name}' trains {entry.family} models, but model "
                f"'{self.out.get('model', {}).get('type')}' is a {self.family} model",
                f"use trainer '{'sklearn' if self.family == 'sklearn' else 'lightning'}'",
            )

    def _check_task_fit(self, kind: str) -> None:
        """A class that declares the `tasks` it serves (losses do) must serve this one."""
        section = self.out.get(kind)
        if section is None or self.task is None:
            return
        tasks = getattr(self.registry.get(kind, section["type"]).load(), "tasks", None)
        if tasks and self.task not in tasks:
            fitting = [
                e.name
                for e in self.registry.entries(kind)
                if self.task in getattr(e.load(), "tasks", (self.task,))
            ]
            self.fail(
                f"{kind}.type",
                f"{kind} '{section['type']}' is for {' or '.join(tasks)}; "
                f"the data is a {self.task} task",
                f"{self.task} {kind}es: {', '.join(fitting)}" if fitting else None,
            )

    def _check_trainer_values(self, section: dict[str, Any]) -> None:
        """A trainer may check values beyond their types (`problems()`): bounds, keys of a
        nested option such as early_stopping. Trainer classes are light to import."""
        cls = self.registry.get("trainer", section["type"]).load()
        if not hasattr(cls, "problems"):
            return
        instance = cls(**{k: v for k, v in section.items() if k != "type"})
        self.problems.extend(self.composed.locate(p) for p in instance.problems())
        module = section.get("module")
        if module in self.registry.names("module"):
            entry = self.registry.get("module", module)
            self.classes["trainer.module"] = entry.target
            section["module_args"] = self._module_args(entry, section.get("module_args") or {})
        elif module is None and section.get("module_args"):
            self.fail(
                "trainer.module_args",
                "module_args are the parameters of a custom train loop, and none is chosen",
                "set trainer.module to a registered module, or remove module_args",
            )
        elif module is not None:
            self.fail(
                "trainer.module",
                f"no train loop (module) named '{module}'",
                Suggestions(self.registry.names("module")).hint(module, "module")
                or "register a LightningModule with @register('module', name) "
                "and list its file in imports: (see docs/plugins.md)",
            )

    def _module_args(self, entry: Entry, args: dict[str, Any]) -> dict[str, Any] | None:
        """The custom train loop's own parameters, checked and with its defaults written."""
        values, issues = check_params(
            f"module:{entry.name}:{entry.target}", entry.signature(), args
        )
        for issue in issues:
            path = _join("trainer.module_args", issue.loc)
            self.fail(path, f"{issue.message} (module '{entry.name}')", issue.hint)
        return (values or None) if not issues else args

    def _resolve_list(self, section: str, example: str) -> None:
        """A list of steps (`preprocess`, `callbacks`), each checked as a section is."""
        raw = self.raw.get(section, [])
        if not isinstance(raw, list):
            self.fail(section, f"'{section}' must be a list of steps", example)
            return
        steps = []
        for i, item in enumerate(raw):
            resolved = self._resolve_section(LIST_SECTIONS[section], f"{section}[{i}]", item, None)
            if resolved is not None:
                steps.append(resolved)
        self.out[section] = steps

    def _resolve_section(
        self, kind: str, path: str, raw: Any, default_type: str | None
    ) -> dict[str, Any] | None:
        if not isinstance(raw, dict):
            self.fail(path, f"expected a mapping with a 'type' key, got {raw!r}")
            return None
        name = raw.get("type", default_type)
        if name is None:
            self.fail(
                path,
                "missing 'type'",
                Suggestions(self.registry.names(kind)).hint("", f"{kind} type"),
            )
            return None
        entry = self._entry(kind, path, str(name))
        if entry is None:
            return None
        params = {k: v for k, v in raw.items() if k != "type"}
        params = self._fill_seed(entry, params)
        params = self._absolute_paths(path, params)
        if params is None:
            return None
        values, issues = check_params(
            f"{kind}:{entry.name}:{entry.target}", entry.signature(), params
        )
        for issue in issues:
            hint = issue.hint
            self.fail(_join(path, issue.loc), f"{issue.message} ({kind} '{name}')", hint)
        if issues:
            return None
        self.classes[path] = entry.target
        return {"type": entry.name, **values}

    def _entry(self, kind: str, path: str, name: str) -> Entry | None:
        try:
            return self.registry.get(kind, name)
        except RegistryError:
            self.fail(
                f"{path}.type",
                f"unknown {kind} type '{name}'",
                Suggestions(self.registry.names(kind)).hint(name, f"{kind} type"),
            )
            return None

    def _fill_seed(self, entry: Entry, params: dict[str, Any]) -> dict[str, Any]:
        if "random_state" in entry.signature().params and params.get("random_state") is None:
            params = {**params, "random_state": self.seed}
        return params

    def _absolute_paths(self, path: str, params: dict[str, Any]) -> dict[str, Any] | None:
        """Relative `path` parameters resolve against the working directory, then the config's
        folder; a path that exists in neither is an error naming both (and None)."""
        value = params.get("path")
        if not isinstance(value, str) or not value:
            return params
        candidates = [Path(value).expanduser()]
        if not candidates[0].is_absolute():
            candidates = [Path.cwd() / value, self.composed.source.path.parent / value]
        found = next((c for c in candidates if c.exists()), None)
        if found is None and Path(value).name.startswith("latest"):
            found = self._latest_run(f"{path}.path", candidates)
            if found is None:
                return None
        if found is None:
            tried = " or ".join(str(c) for c in dict.fromkeys(candidates))
            self.fail(
                f"{path}.path",
                f"file not found: {value}",
                f"looked for {tried}; relative paths are taken from the working directory, "
                "then from the config file's folder",
            )
            return None
        return {**params, "path": os.path.abspath(found)}

    def _latest_run(self, key: str, candidates: list[Path]) -> Path | None:
        """`runs/<experiment>/latest` (or `latest~N`): that experiment's newest run."""
        from ednax.runs.store import find_run

        for candidate in candidates:
            experiment_dir = candidate.parent
            if experiment_dir.is_dir():
                try:
                    return find_run(candidate.name, experiment_dir.parent, experiment_dir.name)
                except UsageError as exc:
                    self.fail(key, str(exc))
                    return None
        self.fail(key, f"no runs folder for {candidates[0].parent}", "run that experiment first")
        return None

    def _infer_task(self) -> str | None:
        data = self.out.get("data")
        if data is None:
            return None
        entry = self.registry.get("data", data["type"])
        try:
            instance = entry.load()(**{k: v for k, v in data.items() if k != "type"})
        except Exception:
            return None
        infer = getattr(instance, "infer_task", None)
        if infer is None:
            return None
        try:
            return infer()
        except ConfigError as exc:
            self.problems.extend(self.composed.locate(p) for p in exc.problems)
            return None

    def _resolve_evaluation(self) -> None:
        values, issues = check_fixed("evaluation", self.raw.get("evaluation"))
        for issue in issues:
            self.fail(_join("evaluation", issue.loc), issue.message, issue.hint)
        if issues:
            return
        if values["random_state"] is None:
            values["random_state"] = self.seed
        if values["strategy"] == "stratified_kfold" and self.task == "regression":
            self.fail(
                "evaluation.strategy",
                "stratified_kfold needs class labels; this is a regression task",
                "use kfold or repeated_kfold",
            )
        self.out["evaluation"] = values

    def _resolve_metrics(self) -> None:
        values, issues = check_fixed("metrics", self.raw.get("metrics"))
        for issue in issues:
            self.fail(_join("metrics", issue.loc), issue.message, issue.hint)
        if issues:
            return
        names = values["names"] or DEFAULT_METRICS.get(self.task or "", [])
        valid = self.registry.names("metric")
        unknown = [(i, n) for i, n in enumerate(names) if n not in valid]
        for i, name in unknown:
            self.fail(
                f"metrics.names[{i}]",
                f"unknown metric '{name}'",
                Suggestions(valid).hint(name, "metric"),
            )
        if unknown:
            return
        for i, name in enumerate(names):
            if self.task:
                self._check_metric_task(i, name)
        values["names"] = names
        if names and not values["monitor"]:
            values["monitor"] = f"{self._monitor_split()}/{names[0]}"
        if values["monitor"]:
            self._check_monitor(values)
        self.out["metrics"] = values

    def _resolve_early_stopping(self) -> None:
        """Write early stopping out in full: its monitor defaults to the experiment's, and its
        mode to that monitor's direction (min for a loss, the metric's otherwise)."""
        trainer, metrics = self.out.get("trainer", {}), self.out.get("metrics")
        stopping = trainer.get("early_stopping")
        if not isinstance(stopping, dict) or not metrics or self.problems:
            return
        monitor = stopping.get("monitor") or metrics["monitor"]
        split, _, name = str(monitor).partition("/")
        allowed = [*metrics["names"], "loss"]
        if split not in ("train", "val") or name not in allowed:
            choices = [f"{s}/{n}" for s in ("val", "train") for n in allowed]
            self.fail(
                "trainer.early_stopping.monitor",
                f"cannot stop early on '{monitor}': it is not logged by this run",
                Suggestions(choices).hint(str(monitor), "monitor"),
            )
            return
        same = monitor == metrics["monitor"]
        mode = stopping.get("mode") or (metrics["mode"] if same else self._default_mode(name))
        trainer["early_stopping"] = {
            "monitor": monitor,
            "mode": mode,
            "patience": stopping.get("patience", 10),
            "min_delta": stopping.get("min_delta", 0.0),
        }

    def _check_metric_task(self, index: int, name: str) -> None:
        metric = self.registry.get("metric", name).load()
        tasks = getattr(metric, "tasks", None)
        if tasks and self.task not in tasks:
            fitting = [
                e.name
                for e in self.registry.entries("metric")
                if self.task in getattr(e.load(), "tasks", (self.task,))
            ]
            self.fail(
                f"metrics.names[{index}]",
                f"metric '{name}' does not apply to a {self.task} task",
                f"{self.task} metrics: {', '.join(fitting)}",
            )

    def _monitor_split(self) -> str:
        data = self.out.get("data", {})
        folds = self.out.get("evaluation", {}).get("strategy", "holdout") != "holdout"
        return "val" if folds or data.get("val", 0.2) else "train"

    def _check_monitor(self, values: dict[str, Any]) -> None:
        split, _, name = values["monitor"].partition("/")
        allowed = [*values["names"], *(["loss"] if self.family == "torch" else [])]
        if split not in ("train", "val", "test") or name not in allowed:
            choices = [f"{s}/{n}" for s in ("val", "train") for n in allowed]
            self.fail(
                "metrics.monitor",
                f"cannot monitor '{values['monitor']}'",
                Suggestions(choices).hint(values["monitor"], "monitor"),
            )
            return
        if values["mode"] is None:
            values["mode"] = self._default_mode(name)

    def _default_mode(self, name: str) -> str:
        if name == "loss":
            return "min"
        metric = self.registry.get("metric", name).load()
        return "max" if getattr(metric, "greater_is_better", True) else "min"


def _join(prefix: str, loc: str) -> str:
    if not loc:
        return prefix
    return f"{prefix}{loc}" if loc.startswith("[") else f"{prefix}.{loc}"


def _family_of_class(entry: Entry) -> str:
    cls = entry.load()
    is_torch = any(c.__module__.startswith("torch.nn") for c in getattr(cls, "__mro__", ()))
    return "torch" if is_torch else "sklearn"
