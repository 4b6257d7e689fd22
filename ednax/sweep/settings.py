"""The Optuna sweeper's settings (`hydra.sweeper.*`), checked with key paths, and the
sampler and pruner they name.

    hydra:
      sweeper:
        sampler: tpe                      # or {type: tpe, n_startup_trials: 5, ...}
        pruner: {type: median, n_warmup_steps: 3}
        direction: maximize               # or a list, one per objective; default: the
                                          #   monitor's mode, or the metric's direction
        objective: val/accuracy           # default: metrics.monitor; a list = multi-objective
        n_trials: 30                      # trials the study should hold in all
        n_jobs: 1                         # trials running at once (workers, or a batch)
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
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from ednax.config.fixed import unlisted_metric_hint
from ednax.errors import ConfigError, Problem, did_you_mean
from ednax.registry import REGISTRY
from ednax.sweep.storage import mask_password, missing_driver
from ednax.vocabulary import (
    NAME_RULE,
    SPLITS,
    Monitor,
    monitor_names,
    name_problem,
    optuna_direction,
)

if TYPE_CHECKING:
    from ednax.engine.spec import ResolvedConfig

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


def read_settings(sweeper: dict[str, Any], config: ResolvedConfig, locate: Locate):
    """Check `hydra.sweeper` against the experiment's resolved config (the metrics it
    computes, their directions, its monitor)."""
    problems: list[Problem] = []

    def fail(key: str, message: str, hint: str | None = None) -> None:
        problems.append(locate(f"{PREFIX}.{key}", message, hint))

    sampler = _named_spec(sweeper.get("sampler"), "sampler", SAMPLERS, fail)
    pruner = _named_spec(sweeper.get("pruner"), "pruner", PRUNERS, fail)
    objectives = _objectives(sweeper.get("objective"), config, fail)
    directions = _directions(sweeper.get("direction"), objectives, config, fail)
    n_trials = _positive_int(sweeper.get("n_trials"), "n_trials", fail)
    n_jobs = _positive_int(sweeper.get("n_jobs"), "n_jobs", fail)
    timeout = _timeout(sweeper.get("timeout"), fail)
    study_name = _study_name(sweeper.get("study_name"), fail)
    seed = _seed(sweeper.get("seed"), fail)
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
        timeout=timeout,
        study_name=study_name,
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


def _timeout(timeout: Any, fail) -> float | None:
    if timeout is None:
        return None
    if not (isinstance(timeout, (int, float)) and timeout > 0):
        fail("timeout", f"must be a number of seconds above 0 or null, got {timeout!r}")
        return None
    return float(timeout)


def _study_name(name: Any, fail) -> str | None:
    """The study's name, which names the sweep folder (sweep-<study_name>)."""
    if name is None:
        return None
    problem = name_problem(str(name))
    if problem:
        fail("study_name", f"{problem}: it names the sweep folder, sweep-<study_name>", NAME_RULE)
    return str(name)


def _seed(seed: Any, fail) -> int | None:
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        fail("seed", f"must be an integer or null, got {seed!r}")
    return seed


def _objectives(value: Any, config: ResolvedConfig, fail) -> list[str]:
    metrics = config["metrics"]
    names = [value] if isinstance(value, str) else value
    if names is None:
        return [metrics["monitor"]]
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        fail("objective", f"expected a metric name or a list of them, got {value!r}")
        return [metrics["monitor"]]
    valid = monitor_names(metrics["names"], SPLITS)
    for i, name in enumerate(names):
        if name not in valid:
            fail(
                f"objective[{i}]" if isinstance(value, list) else "objective",
                f"'{name}' is not a metric this experiment computes",
                unlisted_metric_hint(name, metrics["names"], REGISTRY)
                or did_you_mean(name, valid, "metric"),
            )
    return list(names)


def _directions(value: Any, objectives: list[str], config: ResolvedConfig, fail) -> list[str]:
    if value is None:
        return [_default_direction(name, config) for name in objectives]
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


def _default_direction(objective: str, config: ResolvedConfig) -> str:
    """The monitor's mode for the monitored metric, else the metric's own direction, as
    the config layer decided them. Only an estimator's loss has none (estimators do not
    score one; a loss is minimised)."""
    monitor = config.monitor
    if monitor and objective == monitor["name"] and monitor.get("mode"):
        return optuna_direction(monitor["mode"])
    return optuna_direction(config.directions.get(Monitor.parse(objective).metric, "min"))


def _positive_int(value: Any, key: str, fail) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        fail(key, f"must be a whole number of at least 1, got {value!r}")
        return 1
    return value


def plain_problem(path: str, message: str, hint: str | None) -> Problem:
    """A problem at a key path, for settings already checked once (by the CLI)."""
    return Problem(message, path=path, hint=hint)


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

    try:
        dialect = make_url(url).get_dialect()
    except (ArgumentError, NoSuchModuleError):
        fail("storage", f"'{mask_password(url)}' is not a database URL", STORAGE_HINT)
        return
    try:
        dialect.import_dbapi()
    except ImportError:
        fail("storage", *missing_driver(url, dialect.driver))
