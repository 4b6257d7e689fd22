"""Validate a composed config against the registry and write every default out.

`load_config` is the one entry point: read the file, import the config's plugin modules,
compose (Hydra), check every section against its class's signature, fill in defaults (the
seed becomes the `random_state` of every class that takes one), and return a
`ResolvedConfig`. Every problem of the config is collected and reported together.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from ednax.config import fixed
from ednax.config.compose import Composed, compose
from ednax.config.images import check_preprocess
from ednax.config.overrides import imports_override
from ednax.config.paths import absolute_paths
from ednax.config.plugins import import_plugins, import_source_plugins
from ednax.config.schema import check_params, fixed_fields, join_path
from ednax.config.source import SourceFile, command_line_problem, read_source
from ednax.config.text import check_text_model, check_text_preprocess, check_text_trainer
from ednax.config.trainer import check_trainer
from ednax.engine.spec import ResolvedConfig
from ednax.errors import ConfigError, Problem, Suggestions
from ednax.registry import KINDS, REGISTRY, Entry, Registry, RegistryError
from ednax.vocabulary import SECTION_NAMES, SECTIONS, STEP_SECTIONS, Section

REQUIRED = ("data", "model")
EXAMPLES = {
    "preprocess": "e.g. [standard_scaler]",
    "callbacks": "e.g. [{type: time_limit, duration: '00:11:30:00'}]",
}


def load_config(
    config_file: str | Path,
    overrides: list[str] | tuple[str, ...] = (),
    *,
    multirun: bool = False,
    registry: Registry = REGISTRY,
    plugin_dirs: Iterable[str | Path] = (),
) -> ResolvedConfig:
    """The resolved config of a file and its overrides. `plugin_dirs` are further folders
    where the config's `imports:` may live (a bundle's: the original config's folder)."""
    source = read_source(config_file)
    given = imports_override(list(overrides))
    if given is None:
        import_source_plugins(source, registry, plugin_dirs)
    else:  # `imports=[...]` on the command line: honoured, as the bundle records it
        names, text = given
        folders = [source.path.parent, *plugin_dirs]
        import_plugins(names, folders=folders, registry=registry, locate=_on_command_line(text))
    composed = _compose(source, overrides, multirun, registry)
    return Resolver(composed, registry).resolve()


def _compose(source: SourceFile, overrides, multirun: bool, registry: Registry) -> Composed:
    class_names = {s: registry.names(s) for s in STEP_SECTIONS}
    return compose(source, overrides, class_names=class_names, multirun=multirun)


def _on_command_line(text: str):
    def locate(message: str, path: str, hint: str | None) -> Problem:
        return command_line_problem(message, path, text, hint)

    return locate


class Resolver:
    """Checks one composed config section by section, collecting every problem."""

    def __init__(self, composed: Composed, registry: Registry):
        self.composed = composed
        self.registry = registry
        self.raw = composed.data
        self.problems: list[Problem] = []
        self.notes: list[str] = []  # said to the user: ResolvedConfig.notes
        self.out: dict[str, Any] = {}
        self.classes: dict[str, str] = {}
        self.defaults: dict[str, dict[str, Any]] = {}
        self.task: str | None = None
        self.data_step: Any = None  # the data section's step, once it checked its data
        self.family = "sklearn"

    def fail(self, path: str, message: str, hint: str | None = None) -> None:
        self.problems.append(self.composed.problem(message, path, hint))

    @property
    def seed(self) -> int:
        return int(self.out.get("experiment", {}).get("seed", 0))

    def default_type(self, kind: str) -> Any:
        return KINDS[kind].default_for(self.family, self.task)

    def resolve(self) -> ResolvedConfig:
        self._check_unknown_sections()
        fixed.resolve_experiment(self)
        self.out["imports"] = list(self.raw.get("imports") or [])
        for name in REQUIRED:
            self._require(name)
        self.family = self._model_family()
        for section in SECTIONS:
            if section.kind is not None:
                self._resolve_steps(section)
        fixed.resolve_evaluation(self)
        fixed.resolve_metrics(self)
        fixed.resolve_early_stopping(self)
        fixed.resolve_scheduler_monitor(self)
        if self.problems:
            raise ConfigError(self.problems)
        return self._resolved()

    def _resolved(self) -> ResolvedConfig:
        metrics = self.out.get("metrics")
        return ResolvedConfig(
            data={k: self.out[k] for k in SECTION_NAMES if k in self.out},
            family=self.family,
            task=self.task,
            classes=self.classes,
            config_file=self.composed.source.path,
            overrides=self.composed.overrides,
            directions=fixed.directions(metrics, self.family, self.registry),
            defaults=self.defaults,
            notes=self.notes,
            locate=self.composed.locate,
        )

    def _check_unknown_sections(self) -> None:
        for key in self.raw:
            if key not in (*SECTION_NAMES, "defaults"):
                self.fail(
                    str(key),
                    f"unknown section '{key}'",
                    Suggestions(list(SECTION_NAMES)).hint(str(key), "section"),
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

    def _model_family(self) -> str:
        model = self.raw.get("model")
        if not isinstance(model, dict) or "type" not in model:
            return "sklearn"
        try:
            entry = self.registry.get("model", str(model["type"]))
        except RegistryError:
            return "sklearn"
        return entry.family or _family_of_class(entry)

    def _resolve_steps(self, section: Section) -> None:
        if self.family not in section.families:
            if section.name in self.raw:
                self._not_for_family(section.name)
            return
        if section.many:
            self._resolve_list(section.name, section.kind)
        else:
            self._resolve_step(section.name)
        if section.name == "data":
            self.task = self._infer_task()
        if section.name == "trainer" and "trainer" in self.out:
            check_trainer(self, self.out["trainer"])
        if section.name == "loss" and "loss" in self.out:
            self.check_task_fit("loss", self.out["loss"]["type"], "loss.type")

    def _not_for_family(self, name: str) -> None:
        self.fail(
            name,
            f"'{name}' does not apply to a scikit-learn estimator "
            f"(model '{self.out.get('model', {}).get('type')}')",
            f"remove the '{name}' section, or choose a torch model (see `ednax registry model`)",
        )

    def _resolve_step(self, name: str) -> None:
        default = self.default_type(name) if name not in REQUIRED else None
        raw = self.raw.get(name, {} if default else None)
        if raw is None:
            return
        resolved = self._resolve_section(name, name, raw, default)
        if resolved is not None:
            self.out[name] = resolved
            if name == "model":
                check_text_model(self, resolved)
            elif name == "trainer":
                check_text_trainer(self, resolved)

    def _resolve_list(self, name: str, kind: str) -> None:
        """A list of steps (`preprocess`, `callbacks`), each checked as a section is."""
        raw = self.raw.get(name, [])
        if not isinstance(raw, list):
            self.fail(name, f"'{name}' must be a list of steps", EXAMPLES.get(name))
            return
        steps = [self._resolve_section(kind, f"{name}[{i}]", item) for i, item in enumerate(raw)]
        self.out[name] = [s for s in steps if s is not None]
        if name == "preprocess":
            check_preprocess(self, self.out[name], self.data_step)
            check_text_preprocess(self, self.out[name])

    def _resolve_section(
        self,
        kind: str,
        path: str,
        raw: Any,
        default_type: str | None = None,
        *,
        noun: str = "parameter",
        type_path: str | None = None,
    ) -> dict[str, Any] | None:
        """One section: its class found, its parameters checked with defaults and the seed
        filled, paths made absolute, nested sections resolved; None if anything failed."""
        if not isinstance(raw, dict):
            self.fail(path, f"expected a mapping with a 'type' key, got {raw!r}")
            return None
        entry = self._entry(kind, type_path or f"{path}.type", raw.get("type", default_type))
        if entry is None:
            return None
        params = self._fill_seed(entry, {k: v for k, v in raw.items() if k != "type"})
        params = absolute_paths(self, path, params)
        if params is None:
            return None
        values, issues = check_params(
            f"{kind}:{entry.name}:{entry.target}", entry.signature(), params, noun
        )
        for issue in issues:
            hint = issue.hint
            elsewhere = self._elsewhere(issue.unknown, path) if issue.unknown else None
            if elsewhere:  # before a near name here: an exact name there is likelier meant
                near = hint and hint.startswith("did you mean")
                hint = f"{elsewhere} (or, in {path}: {hint})" if near else elsewhere
            self.fail(join_path(path, issue.loc), f"{issue.message} ({kind} '{entry.name}')", hint)
        if issues:
            return None
        nested_ok = self._resolve_nested(kind, path, values)
        section = {"type": entry.name, **values}
        self._check_values(kind, entry, section, path)
        if not nested_ok:
            return None
        self.classes[path] = entry.target
        self.defaults[path] = _defaults(entry)
        return section

    def _elsewhere(self, name: str, path: str) -> str | None:
        """A hint for a parameter of a top-level section that belongs to another section
        (`trainer.lr` -> `optimizer.lr`): the sections whose class (as written, or the
        kind's default) or whose fixed fields take `name`."""
        if path not in SECTION_NAMES:
            return None
        owners = []
        for section in SECTIONS:
            if section.name == path or section.many or self.family not in section.families:
                continue
            if section.kind is None:
                if name in fixed_fields(section.name):
                    owners.append(section.name)
                continue
            raw = self.raw.get(section.name)
            given = raw.get("type") if isinstance(raw, dict) else None
            type_name = given or self.default_type(section.name)
            try:
                params = self.registry.get(section.kind, str(type_name)).signature().params
            except (RegistryError, TypeError, ValueError):
                continue
            if name in params:
                owners.append(section.name)
        if not owners:
            return None
        keys = " or ".join(f"'{owner}.{name}'" for owner in owners)
        return f"'{name}' belongs to another section: did you mean {keys}?"

    def _resolve_nested(self, kind: str, path: str, values: dict[str, Any]) -> bool:
        """Nested sections (`trainer.early_stopping`) resolved in place, as sections of
        their own kind; a name is short for `{type: name}`."""
        ok = True
        for param, nested_kind in KINDS[kind].nested.items():
            given = values.get(param)
            value = KINDS[nested_kind].nested_section(given)
            if value is None:
                continue
            at = f"{path}.{param}"
            type_path = at if isinstance(given, str) else None  # `logger: csv` is the type
            resolved = self._resolve_section(
                nested_kind, at, value, noun="key", type_path=type_path
            )
            ok = ok and resolved is not None
            values[param] = resolved
        return ok

    def _entry(self, kind: str, type_path: str, name: Any) -> Entry | None:
        """The class a section names; a problem at `type_path` if it names none or an
        unknown one."""
        if name is None:
            hint = Suggestions(self.registry.names(kind)).hint("", f"{kind} type")
            self.fail(type_path.removesuffix(".type"), "missing 'type'", hint)
            return None
        try:
            return self.registry.get(kind, str(name))
        except RegistryError:
            valid = self.registry.names(kind) + (["none"] if kind in _NONE_ALLOWED else [])
            self.fail(
                type_path,
                f"unknown {kind} type '{name}'",
                Suggestions(sorted(valid)).hint(str(name), f"{kind} type"),
            )
            return None

    def _check_values(self, kind: str, entry: Entry, section: dict, path: str) -> None:
        """A checked kind's class may check values beyond their types (`problems()`):
        bounds, say. It is built here without its nested sections (checked on their own).
        A problem's path without a dot is a parameter of this section (`size`)."""
        if not KINDS[kind].checked:
            return
        cls = entry.load()
        if not hasattr(cls, "problems"):
            return
        nested = KINDS[kind].nested
        params = {k: v for k, v in section.items() if k != "type" and k not in nested}
        for problem in cls(**params).problems():
            if "." not in problem.path:
                problem = replace(problem, path=join_path(path, problem.path))
            self.problems.append(self.composed.locate(problem))

    def check_task_fit(self, kind: str, name: str, path: str) -> None:
        """A class that declares the `tasks` it serves (losses, metrics) must serve this one."""
        if self.task is None:
            return
        tasks = getattr(self.registry.get(kind, name).load(), "tasks", None)
        if not tasks or self.task in tasks:
            return
        fitting = [
            e.name
            for e in self.registry.entries(kind)
            if self.task in getattr(e.load(), "tasks", (self.task,))
        ]
        noun = "metrics" if kind == "metric" else f"{kind}es"
        self.fail(
            path,
            f"{kind} '{name}' does not apply to a {self.task} task"
            if kind == "metric"
            else f"{kind} '{name}' is for {' or '.join(tasks)}; the data is a {self.task} task",
            f"{self.task} {noun}: {', '.join(fitting)}" if fitting else None,
        )

    def _fill_seed(self, entry: Entry, params: dict[str, Any]) -> dict[str, Any]:
        if "random_state" in entry.signature().params and params.get("random_state") is None:
            params = {**params, "random_state": self.seed}
        return params

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
            task = infer()
        except ConfigError as exc:
            self.problems.extend(self.composed.locate(p) for p in exc.problems)
            return None
        self.data_step = instance  # checked: later sections may ask it about the data
        return task


# Nested kinds a section may switch off with `none`.
_NONE_ALLOWED = ("logger",)


def _defaults(entry: Entry) -> dict[str, Any]:
    """Each optional parameter's default as the class declares it (JSON-able)."""
    values = {n: p.default for n, p in entry.signature().params.items() if not p.required}
    return json.loads(json.dumps(values, default=str))


def _family_of_class(entry: Entry) -> str:
    cls = entry.load()
    is_torch = any(c.__module__.startswith("torch.nn") for c in getattr(cls, "__mro__", ()))
    return "torch" if is_torch else "sklearn"
