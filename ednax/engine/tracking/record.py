"""What a bundle says, as MLflow takes it: params (the resolved config flattened), tags
(from run.json and env.json), per-epoch metrics (history.csv, under `epoch/`), final
metrics (metrics.json), and a sweep's settings (sweep.json). Plain data, no mlflow."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from ednax.engine.tracking.store import (
    KIND_TAG,
    PARAM_VALUE_MAX,
    RUN_ID_TAG,
    STATUS_TAG,
    SWEEP_ID_TAG,
    metric_key,
)
from ednax.errors import masked
from ednax.runs.reader import BundleFiles, flat_metrics

EPOCH_PREFIX = "epoch/"


def run_params(config: Any) -> dict[str, str]:
    """The resolved config flattened, one key a row, values as text (passwords masked):
    `model.hidden=64`, `preprocess.0.type=standard_scaler`, a list of values in one row."""
    out: dict[str, str] = {}
    for key, value in flatten(masked(config)).items():
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        out[metric_key(key)] = (
            text if len(text) <= PARAM_VALUE_MAX else text[: PARAM_VALUE_MAX - 3] + "..."
        )
    return out


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Dotted keys; a list holding mappings is indexed (`preprocess.0.type`), a list of
    plain values is one value (`model.hidden=[64, 32]`)."""
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value):
        out = {}
        for i, item in enumerate(value):
            out.update(flatten(item, f"{prefix}.{i}"))
        return out
    return {prefix: value}


def run_tags(files: BundleFiles) -> dict[str, str]:
    """The tags of a bundle's MLflow run, from run.json and env.json."""
    run, env = files.run, files.env
    git = env.get("git") if isinstance(env.get("git"), dict) else {}
    packages = env.get("packages") if isinstance(env.get("packages"), dict) else {}
    fingerprints = run.get("fingerprints") if isinstance(run.get("fingerprints"), dict) else {}
    tags = {
        RUN_ID_TAG: run.get("id") or files.path.name,
        "ednax.experiment": run.get("experiment"),
        "ednax.version": packages.get("ednax") or ednax_version(),
        "ednax.structure": fingerprints.get("structure"),
        "ednax.config_fingerprint": fingerprints.get("config"),
        "ednax.git_commit": git.get("commit"),
        "mlflow.source.git.commit": git.get("commit"),
        "ednax.family": run.get("family"),
        "ednax.task": run.get("task"),
        "ednax.bundle": str(files.path.resolve()),
        STATUS_TAG: run.get("status"),
        KIND_TAG: "run",
    }
    if run.get("tags"):
        tags["ednax.tags"] = ",".join(str(t) for t in run["tags"])
    sweep = run.get("sweep") if isinstance(run.get("sweep"), dict) else None
    if sweep:
        tags[SWEEP_ID_TAG] = sweep.get("id")
        if sweep.get("job") is not None:
            tags["ednax.job"] = sweep["job"]
        trial = run.get("trial") if isinstance(run.get("trial"), dict) else {}
        if trial.get("number") is not None:
            tags["ednax.trial"] = trial["number"]
    return tags


def history_metrics(rows: list[dict[str, str]] | None) -> list[tuple[str, float, int]]:
    """history.csv as (name, value, epoch): `epoch/val/loss` at step 3."""
    out = []
    for row in rows or []:
        try:
            step = int(float(row.get("epoch") or ""))
        except ValueError:
            continue
        out += epoch_metrics(row, step, row.get("fold") or "")
    return out


def epoch_metrics(row: dict[str, Any], step: int, fold: str = "") -> list[tuple[str, float, int]]:
    """One history row as (name, value, step): `epoch/val/loss` (a fold's
    `epoch/fold-0/val/loss`), apart from the final `val/loss` of the best weights."""
    prefix = f"{EPOCH_PREFIX}{fold}/" if fold else EPOCH_PREFIX
    out = []
    for key, value in row.items():
        if key in ("epoch", "fold"):
            continue
        number = _number(value)
        if number is not None:
            out.append((prefix + key, number, step))
    return out


def final_metrics(files: BundleFiles) -> list[tuple[str, float, int]]:
    """metrics.json per split: `test/accuracy`; with k folds also `std/...`, `folds/...`."""
    return [(k, v, 0) for k, v in flat_metrics(files.metrics_by_split).items()]


def sweep_params(sweep: dict[str, Any]) -> dict[str, str]:
    """A sweep's settings as params: kind, launcher, monitor, mode, seed, the fixed
    overrides; a grid's axes (each key's values), or Optuna's settings and search space."""
    settings: dict[str, Any] = {
        k: sweep[k] for k in ("kind", "launcher", "monitor", "mode", "seed") if k in sweep
    }
    if sweep.get("overrides"):
        settings["overrides"] = sweep["overrides"]
    if sweep.get("kind") == "grid":
        settings["jobs"] = len(sweep.get("jobs") or [])
        settings["grid"] = grid_axes(sweep.get("jobs") or [])
    elif isinstance(sweep.get("optuna"), dict):
        optuna = dict(sweep["optuna"])
        space = optuna.pop("search_space", None) or []
        settings["optuna"] = optuna
        settings["search_space"] = {
            str(p.get("key")): json.dumps(
                {k: v for k, v in p.items() if k not in ("key", "texts") and v not in ([], None)}
            )
            for p in space
            if isinstance(p, dict)
        }
    return run_params(settings)


def grid_axes(jobs: list[dict[str, Any]]) -> dict[str, list[str]]:
    """{"model.C": ["0.1", "1.0"]} from the jobs' overrides."""
    axes: dict[str, list[str]] = {}
    for job in jobs:
        for override in job.get("overrides") or []:
            key, _, value = str(override).partition("=")
            values = axes.setdefault(key, [])
            if value not in values:
                values.append(value)
    return axes


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number and abs(number) != float("inf") else None


def time_ms(text: Any) -> int | None:
    if not isinstance(text, str):
        return None
    try:
        return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        return None


def ednax_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ednax")
    except PackageNotFoundError:
        return None
