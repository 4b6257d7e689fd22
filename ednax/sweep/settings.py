"""The Optuna sweeper's settings (`hydra.sweeper.*`), checked with key paths, and the
sampler and pruner they name.

    hydra:
      sweeper:
        sampler: tpe                      # or {type: tpe, n_startup_trials: 5, ...}
        pruner: {type: median, n_warmup_steps: 3}
        direction: maximize               # or a list, one per objective
        objective: val/accuracy           # default: metrics.monitor; a list = multi-objective
        n_trials: 30                      # trials the study should hold in all
        n_jobs: 1                         # trials launched together (a launcher batch)
        timeout: null                     # seconds; no new trials after it
        study_name: null                  # set it to resume: sweep-<study_name>/
        storage: null                     # default: sqlite in the sweep folder
        seed: null                        # default: experiment.seed
        params: {model.max_depth: range(2, 10)}

Samplers, pruners and directions are checked here, before any trial runs; the optuna
import happens only when a sampler or pruner is built.
"""

from __future__ import annotations

import importlib.util
import math
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from ednax.errors import ConfigError, Problem, did_you_mean

SAMPLERS = {
    "tpe": "TPESampler",
    "random": "RandomSampler",
    "cmaes": "CmaEsSampler",
    "grid": "GridSampler",
    "nsgaii": "NSGAIISampler",
    "qmc": "QMCSampler",
}
PRUNERS = {
    "median": "MedianPruner",
    "successive_halving": "SuccessiveHalvingPruner",
    "hyperband": "HyperbandPruner",
    "none": "NopPruner",
}
DIRECTIONS = ("maximize", "minimize")
SPLITS = ("train", "val", "test")
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
PREFIX = "hydra.sweeper"

Locate = Callable[[str, str, str | None], Problem]


@dataclass
class OptunaSettings:
    sampler: dict[str, Any]
    pruner: dict[str, Any]
    directions: list[str]
    objectives: list[str]
    n_trials: int
    n_jobs: int
    timeout: float | None
    study_name: str | None
    storage: str | None
    seed: int | None
    notes: list[str] = field(default_factory=list)

    @property
    def multi_objective(self) -> bool:
        return len(self.objectives) > 1

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["storage"] = mask_password(self.storage) if self.storage else None
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> OptunaSettings:
        return cls(**data)


STORAGE_HINT = "e.g. sqlite:///study.db or postgresql://user:password@host/database"


def read_settings(sweeper: dict[str, Any], metrics: dict[str, Any], locate: Locate):
    """Check `hydra.sweeper` against the resolved `metrics` section of the experiment."""
    problems: list[Problem] = []

    def fail(key: str, message: str, hint: str | None = None) -> None:
        problems.append(locate(f"{PREFIX}.{key}", message, hint))

    sampler = _named_spec(sweeper.get("sampler"), "sampler", SAMPLERS, fail)
    pruner = _named_spec(sweeper.get("pruner"), "pruner", PRUNERS, fail)
    objectives = _objectives(sweeper.get("objective"), metrics, fail)
    directions = _directions(sweeper.get("direction"), objectives, metrics, fail)
    n_trials = _positive_int(sweeper.get("n_trials"), "n_trials", fail)
    n_jobs = _positive_int(sweeper.get("n_jobs"), "n_jobs", fail)
    timeout = sweeper.get("timeout")
    if timeout is not None and not (isinstance(timeout, (int, float)) and timeout > 0):
        fail("timeout", f"must be a number of seconds above 0 or null, got {timeout!r}")
    study_name = sweeper.get("study_name")
    if study_name is not None and not SAFE_NAME.fullmatch(str(study_name)):
        fail(
            "study_name",
            f"'{study_name}' cannot name the sweep folder (sweep-<study_name>)",
            "use letters, digits, '-', '_' and '.'",
        )
    seed = sweeper.get("seed")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        fail("seed", f"must be an integer or null, got {seed!r}")
    if sampler and sampler["type"] == "cmaes" and importlib.util.find_spec("cmaes") is None:
        fail("sampler", "the cmaes sampler needs the 'cmaes' package", "pip install cmaes")
    if sweeper.get("storage"):
        _check_storage(str(sweeper["storage"]), fail)
    if problems:
        raise ConfigError(problems)
    settings = OptunaSettings(
        sampler=sampler,
        pruner=pruner,
        directions=directions,
        objectives=objectives,
        n_trials=n_trials,
        n_jobs=n_jobs,
        timeout=float(timeout) if timeout is not None else None,
        study_name=str(study_name) if study_name is not None else None,
        storage=sweeper.get("storage"),
        seed=seed,
    )
    if settings.multi_objective and pruner["type"] != "none":
        settings.notes.append("pruning is off: Optuna prunes single-objective studies only")
        settings.pruner = {"type": "none"}
    return settings


def _named_spec(value: Any, key: str, known: dict[str, str], fail) -> dict[str, Any]:
    """`name` or `{type: name, **options}` -> {"type": name, **options}."""
    spec = {"type": value} if isinstance(value, str) else value
    if not isinstance(spec, dict) or not isinstance(spec.get("type"), str):
        fail(key, f"expected a {key} name or a mapping with 'type', got {value!r}", _names(known))
        return {}
    if spec["type"] not in known:
        fail(
            f"{key}.type" if isinstance(value, dict) else key,
            f"unknown {key} '{spec['type']}'",
            did_you_mean(spec["type"], known, key),
        )
        return {}
    return dict(spec)


def _names(known: dict[str, str]) -> str:
    return "one of " + ", ".join(known)


def _objectives(value: Any, metrics: dict[str, Any], fail) -> list[str]:
    names = [value] if isinstance(value, str) else value
    if names is None:
        return [metrics["monitor"]]
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        fail("objective", f"expected a metric name or a list of them, got {value!r}")
        return [metrics["monitor"]]
    valid = [f"{s}/{n}" for s in SPLITS for n in [*metrics["names"], "loss"]]
    for i, name in enumerate(names):
        if name not in valid:
            fail(
                f"objective[{i}]" if isinstance(value, list) else "objective",
                f"'{name}' is not a metric this experiment computes",
                did_you_mean(name, valid, "metric"),
            )
    return list(names)


def _directions(value: Any, objectives: list[str], metrics: dict[str, Any], fail) -> list[str]:
    if value is None:
        return [_default_direction(name, metrics) for name in objectives]
    given = [value] if isinstance(value, str) else value
    if not isinstance(given, list) or not all(isinstance(d, str) for d in given):
        fail("direction", f"expected maximize, minimize or a list of them, got {value!r}")
        return []
    for i, direction in enumerate(given):
        if direction not in DIRECTIONS:
            fail(
                f"direction[{i}]" if isinstance(value, list) else "direction",
                f"unknown direction '{direction}'",
                did_you_mean(direction, DIRECTIONS, "direction"),
            )
    if len(given) != len(objectives):
        fail(
            "direction",
            f"{len(given)} direction(s) for {len(objectives)} objective(s)",
            "give one direction per objective (hydra.sweeper.objective)",
        )
    return list(given)


def _default_direction(objective: str, metrics: dict[str, Any]) -> str:
    _, _, name = objective.partition("/")
    if objective == metrics.get("monitor") and metrics.get("mode"):
        return "maximize" if metrics["mode"] == "max" else "minimize"
    if name == "loss":
        return "minimize"
    from ednax.registry import REGISTRY

    metric = REGISTRY.get("metric", name).load()
    return "maximize" if getattr(metric, "greater_is_better", True) else "minimize"


def _positive_int(value: Any, key: str, fail) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        fail(key, f"must be a whole number of at least 1, got {value!r}")
        return 1
    return value


# --- building ------------------------------------------------------------------------


def build_sampler(spec: dict[str, Any], seed: int | None, params: list, locate: Locate):
    import optuna

    options = {k: v for k, v in spec.items() if k != "type"}
    cls = getattr(optuna.samplers, SAMPLERS[spec["type"]])
    if spec["type"] == "grid":
        options["search_space"] = _grid_space(params, locate)
    if seed is not None and "seed" not in options:
        options["seed"] = seed
    return _construct(cls, options, "sampler", locate)


def build_pruner(spec: dict[str, Any], locate: Locate):
    import optuna

    options = {k: v for k, v in spec.items() if k != "type"}
    cls = getattr(optuna.pruners, PRUNERS[spec["type"]])
    return _construct(cls, options, "pruner", locate)


def grid_size(params: list) -> int:
    return math.prod(len(p.grid_values() or []) for p in params)


def _grid_space(params: list, locate: Locate) -> dict[str, list[Any]]:
    space = {}
    problems = []
    for param in params:
        values = param.grid_values()
        if values is None:
            problems.append(
                locate(
                    f"{PREFIX}.params.{param.key}",
                    f"the grid sampler cannot enumerate {param.describe()}",
                    "use choice() or range() with the grid sampler, or another sampler",
                )
            )
        space[param.key] = values
    if problems:
        raise ConfigError(problems)
    return space


def _construct(cls: type, options: dict[str, Any], key: str, locate: Locate):
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Optuna's ExperimentalWarning for some samplers
            return cls(**options)
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            locate(
                f"{PREFIX}.{key}",
                f"Optuna's {cls.__name__} rejected the options {options}: {exc}",
                None,
            )
        ) from None


def _check_storage(url: str, fail: Callable[..., None]) -> None:
    """A storage URL SQLAlchemy cannot read, or whose database driver is not installed, is
    a problem of the sweep's settings: found before the sweep folder is made."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    from ednax.sweep.optuna_study import missing_driver

    try:
        dialect = make_url(url).get_dialect()
    except (ArgumentError, NoSuchModuleError):
        fail("storage", f"'{mask_password(url)}' is not a database URL", STORAGE_HINT)
        return
    try:
        dialect.import_dbapi()
    except ImportError:
        fail("storage", *missing_driver(url, dialect.driver))


def mask_password(url: str) -> str:
    """An RDB URL without its password, for records and messages."""
    return re.sub(r"(://[^:/@]+:)[^@/]*@", r"\1***@", url)
