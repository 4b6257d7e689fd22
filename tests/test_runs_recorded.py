"""What run.json records at start and the run-reading commands use: `monitor` and
`directions` (which way each metric is better: sorting, best runs) and `defaults` (the
parameters `ednax show` lists as changed); and how bundles written before those records
are read. Bundles are written with the real writer, the records passed as run.json's
extra fields as the engine writes them."""

from __future__ import annotations

import io
import itertools
import json
from pathlib import Path

import pytest
from rich.console import Console

from ednax.runs import bundle as bundle_module
from ednax.runs.bundle import Bundle
from ednax.runs.compare import compare, load_entries
from ednax.runs.describe import run_details
from ednax.runs.details import print_details
from ednax.runs.index import list_runs
from ednax.runs.ranking import FALLBACK_DIRECTION, direction_of
from ednax.runs.reader import BundleFiles
from ednax.runs.select import sort_by_metric
from ednax.runs.store import find_record
from ednax.runs.versions import group_versions


@pytest.fixture(autouse=True)
def ordered_time(monkeypatch):
    clock = itertools.count(1_764_000_000, 7)
    monkeypatch.setattr(bundle_module, "_now", lambda: float(next(clock)))
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", "/")


def make_run(
    runs: Path,
    metrics: dict,
    *,
    mode: str | None = None,
    model: dict | None = None,
    seed: int = 0,
    **recorded,
) -> Bundle:
    """A completed regression run; `mode` goes into config.yaml (as every bundle has it),
    `recorded` (monitor, directions, defaults) into run.json."""
    bundle = Bundle.create(runs, "diabetes")
    section = {"names": ["rmse", "r2"], "monitor": "val/rmse"}
    if mode:
        section["mode"] = mode
    config = {
        "experiment": {"name": "diabetes", "seed": seed},
        "model": model or {"type": "ridge", "alpha": 1.0},
        "metrics": section,
    }
    bundle.start(
        config=config,
        overrides=[],
        command=["ednax", "run"],
        experiment="diabetes",
        seed=seed,
        fingerprints={"config": "c", "structure": "ridge"},
        classes={"model": {"class": "ednax.steps.estimators:Ridge", "version": "0.1"}},
        packages=[],
        cwd=runs.parent,
        extra=recorded,
    )
    bundle.finish("completed", metrics={"val": metrics})
    return bundle


def rmse_order(records) -> list[float]:
    return [r.metrics["val/rmse"] for r in records]


def test_directions_recorded_in_run_json_decide_sorting_and_best_runs(tmp_path):
    runs = tmp_path / "runs"
    recorded = {
        "monitor": {"name": "val/rmse", "mode": "min"},
        "directions": {"rmse": "min", "r2": "max", "error_rate": "max"},
    }
    for rmse in (3.0, 1.0, 2.0):
        make_run(runs, {"rmse": rmse, "r2": 1 / rmse, "error_rate": rmse}, **recorded)

    records = list_runs(runs)
    assert records[0].directions == recorded["directions"]
    assert (records[0].monitor, records[0].mode) == ("val/rmse", "min")
    assert rmse_order(sort_by_metric(records, "val/rmse")) == [1.0, 2.0, 3.0]
    # a name that reads like "lower is better" follows what the run recorded
    assert [r.metrics["val/error_rate"] for r in sort_by_metric(records, "val/error_rate")] == [
        3.0,
        2.0,
        1.0,
    ]
    table = compare(load_entries(records))
    assert (table.sort, table.descending) == ("val/rmse", False)
    [group] = group_versions(records)
    assert group["best"] == 1.0


def test_the_newest_recorded_direction_wins(tmp_path):
    runs = tmp_path / "runs"
    make_run(runs, {"rmse": 1.0}, directions={"rmse": "max"})
    make_run(runs, {"rmse": 2.0}, directions={"rmse": "min"})
    make_run(runs, {"rmse": 3.0})  # newest, but records nothing: it does not decide

    records = list_runs(runs)
    assert direction_of("val/rmse", records) == "min"
    assert direction_of("val/rmse", records[:1]) == "max"


def test_older_bundles_use_the_configs_mode_and_otherwise_higher_is_better(tmp_path):
    runs = tmp_path / "runs"
    for rmse in (3.0, 1.0, 2.0):
        make_run(runs, {"rmse": rmse, "mae": rmse}, mode="min")

    records = list_runs(runs)
    assert records[0].directions == {}
    assert (records[0].monitor, records[0].mode) == ("val/rmse", "min")
    assert rmse_order(sort_by_metric(records, "val/rmse")) == [1.0, 2.0, 3.0]
    # no bundle says which way mae is better: the explicit fallback, never the name
    assert FALLBACK_DIRECTION == "max"
    assert [r.metrics["val/mae"] for r in sort_by_metric(records, "val/mae")] == [3.0, 2.0, 1.0]


def test_run_json_monitor_wins_over_the_config(tmp_path):
    runs = tmp_path / "runs"
    made = make_run(runs, {"r2": 0.5}, mode="min", monitor={"name": "val/r2", "mode": "max"})
    unmonitored = make_run(runs, {"r2": 0.5}, mode="min", monitor=None)

    files = BundleFiles(made.path)
    assert (files.monitor.name, files.monitor.mode) == ("val/r2", "max")
    records = {r.id: r for r in list_runs(runs)}
    assert (records[made.run_id].monitor, records[made.run_id].mode) == ("val/r2", "max")
    assert records[unmonitored.run_id].monitor is None


def show_text(details: dict) -> str:
    out = Console(width=200, record=True, highlight=False, file=io.StringIO())
    print_details(out, details)
    return out.export_text()


def test_show_lists_parameters_changed_from_the_recorded_defaults(tmp_path):
    runs = tmp_path / "runs"
    model = {"type": "ridge", "alpha": 0.5, "fit_intercept": True, "solver": "x", "random_state": 3}
    defaults = {"model": {"alpha": 1.0, "fit_intercept": True, "random_state": None}}
    made = make_run(runs, {"rmse": 1.0}, model=model, seed=3, defaults=defaults)

    details = run_details(find_record(made.run_id, runs))
    changed = {p["key"]: p for p in details["non_default"]}
    assert set(changed) == {"model.alpha", "model.solver"}  # random_state follows the seed
    assert changed["model.alpha"] == {
        "key": "model.alpha",
        "value": 0.5,
        "default": 1.0,
        "required": False,
    }
    assert changed["model.solver"]["required"] is True  # no recorded default: required
    text = show_text(details)
    assert "model.alpha = 0.5  (default 1.0)" in text
    assert "model.solver = x  (no default)" in text


def test_show_of_a_bundle_without_recorded_defaults_says_so(tmp_path):
    runs = tmp_path / "runs"
    made = make_run(runs, {"rmse": 1.0})
    assert "defaults" not in json.loads((made.path / "run.json").read_text())

    details = run_details(find_record(made.run_id, runs))
    assert details["non_default"] is None
    assert "predates run.json's defaults" in show_text(details)
