"""ednax from Python: run a config, load a run to predict with, list runs.

    import ednax

    result = ednax.run("sample-configs/iris-sklearn.yaml", overrides=["model.n_estimators=50"])
    result.id, result.status, result.metrics["test"], result.path

    predictor = ednax.load("runs/iris-sklearn/latest")
    predictor.predict(rows)          # a DataFrame, a dict of columns or a list of records

    ednax.runs("runs")               # one row per bundle, as `ednax runs` lists them

Errors are the EdnaxError types the CLI shows (`ednax.errors`): a ConfigError lists every
problem of a config, each with its key path and line. Heavy libraries are imported when a
function is first called, not when ednax is imported.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ednax.app.predicting import LoadedRun
    from ednax.engine.experiment import RunResult
    from ednax.engine.spec import ResolvedConfig


def run(
    config: str | Path,
    overrides: Sequence[str] = (),
    *,
    cache: bool = True,
    say: Callable[[str], None] | None = print,
) -> RunResult:
    """Run a config (with Hydra-style overrides) into a new bundle and return the run:
    `id`, `status`, `metrics` (per split), `path` (the bundle). `say=None` runs quietly."""
    from ednax.app.running import RunOptions
    from ednax.app.running import run as run_config

    options = RunOptions(say=say or _quiet, cache=cache, command=_command(config, overrides))
    return run_config(config, overrides, options)


def validate(config: str | Path, overrides: Sequence[str] = ()) -> ResolvedConfig:
    """The fully resolved config (every default written out); a ConfigError if invalid."""
    from ednax.app.running import validate as validate_config

    return validate_config(config, overrides)


def load(
    run: str | Path,
    runs_dir: str | Path = "runs",
    fold: str | None = None,
    *,
    trust: bool = False,
    bundle_code: bool = False,
) -> LoadedRun:
    """A finished run, ready to `predict(rows)` exactly as `ednax predict` does. `run` is a
    bundle path, a run id (or unique prefix), `latest` or `EXPERIMENT/latest`.

    Its pickles are loaded only if this user's ednax signed them (docs/security.md);
    `trust=True` loads those of a bundle from elsewhere, with a warning, once you know
    where it came from (their sha256 is still checked). `bundle_code=True` imports the
    bundle's copy of its own plugin modules (code/) instead of today's."""
    import warnings

    from ednax.app.predicting import load as load_run

    loaded = load_run(run, runs_dir, fold, trust=trust, bundle_code=bundle_code)
    if loaded.trusted_warning:
        warnings.warn(loaded.trusted_warning, UserWarning, stacklevel=2)
    return loaded


def _quiet(line: str) -> None:
    pass


def _command(config: str | Path, overrides: Sequence[str]) -> list[str]:
    """What run.json records as the command: the equivalent `ednax run`."""
    return ["ednax", "run", str(config), *overrides]
