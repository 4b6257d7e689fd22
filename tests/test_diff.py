"""`ednax diff` on real bundles made by `ednax run`: a parameter change, a class change
(shown as ONE class change), a seed change (in the provenance block); golden files of
`--format json`; config files with overrides; and the diff core on small configs."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest

from ednax.runs.diff import CLASS, Side, diff_sides
from ednax.runs.values import MISSING, flatten, same_value
from tests.conftest import SAMPLES, run_cli, run_staggered

IRIS = SAMPLES / "iris-sklearn.yaml"
GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"  # UPDATE_GOLDEN=1 pytest tests/test_diff.py


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict:
    """Four iris runs: a base, one parameter changed, the model class switched, the seed
    changed. Returns the working directory and each run's id."""
    cwd = tmp_path_factory.mktemp("diff")
    variants = {
        "base": ["model.n_estimators=5"],
        "param": ["model.n_estimators=7"],
        "class": ["model=logistic_regression", "model.C=0.5"],
        "seed": ["model.n_estimators=5", "experiment.seed=1"],
    }
    ids = run_staggered(cwd, {name: [IRIS, *args] for name, args in variants.items()})
    return {"cwd": cwd, **ids}


def diff(runs: dict, *args: str):
    return run_cli("diff", *args, cwd=runs["cwd"])


def diff_json(runs: dict, a: str, b: str, *args: str) -> dict:
    result = diff(runs, runs[a], runs[b], "--format", "json", *args)
    assert result.code == 0, result.text
    return json.loads(result.out)


def normalized(data: dict) -> dict:
    """The diff without what changes from run to run: ids, paths, metric values (checked
    separately: they depend on the scikit-learn version)."""
    for side in ("a", "b"):
        data[side] = {k: data[side][k] for k in ("kind", "experiment", "status")}
    data["metrics"] = [
        {k: "<number>" if k in ("a", "b", "delta") else v for k, v in change.items()}
        for change in data["metrics"]
    ]
    for change in data["metrics"]:
        change.pop("change")  # same or changed: depends on the values
    return data


def check_golden(name: str, data: dict) -> None:
    path = GOLDEN / f"diff_{name}.json"
    text = json.dumps(normalized(data), indent=2, sort_keys=True) + "\n"
    if UPDATE or not path.exists():
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
        if not UPDATE:
            pytest.fail(f"wrote the missing golden file {path}; check it and run again")
    assert text == path.read_text(), f"diff --format json changed; see {path}"


def keys(changes: list[dict]) -> list[str]:
    return [c["key"] for c in changes]


def test_a_parameter_change_is_one_row_and_metrics_have_deltas(runs):
    data = diff_json(runs, "base", "param")

    assert data["differs"] is True
    assert data["config"] == [{"key": "model.n_estimators", "change": "changed", "a": 5, "b": 7}]
    assert data["provenance"] == []
    assert "val/accuracy" in keys(data["metrics"]) and data["monitor"] == "val/accuracy"
    for change in data["metrics"]:
        assert math.isclose(change["delta"], change["b"] - change["a"], abs_tol=1e-12)
    check_golden("param", data)


def test_a_class_change_is_one_change_with_both_classes_parameters(runs):
    data = diff_json(runs, "base", "class")

    model = [c for c in data["config"] if c["key"].startswith("model")]
    assert len(model) == 1, "a class change must not be a wall of added/removed keys"
    change = model[0]
    assert (change["change"], change["a"], change["b"]) == (
        CLASS,
        "random_forest",
        "logistic_regression",
    )
    params = {p["key"]: p for p in change["params"]}
    assert params["model.n_estimators"] == {
        "key": "model.n_estimators",
        "change": "removed",
        "a": 5,
    }
    assert params["model.C"] == {"key": "model.C", "change": "added", "b": 0.5}
    # the step's class is in the config block; provenance does not repeat it
    assert "classes.model" not in keys(data["provenance"])
    check_golden("class", data)


def test_a_class_change_reads_as_one_line_in_the_table(runs):
    result = diff(runs, runs["base"], runs["class"])
    assert result.code == 0, result.text
    lines = result.out.splitlines()
    class_lines = [line for line in lines if "(class)" in line]
    assert len(class_lines) == 1
    assert "random_forest" in class_lines[0] and "-> logistic_regression" in class_lines[0]
    assert any("n_estimators" in line and "(none)" in line for line in lines)


def test_a_seed_change_shows_in_the_provenance_block(runs):
    data = diff_json(runs, "base", "seed")

    assert data["provenance"] == [{"key": "seed", "change": "changed", "a": 0, "b": 1}]
    changed = keys(data["config"])
    assert "experiment.seed" in changed and "model.random_state" in changed
    assert "model.n_estimators" not in changed
    check_golden("seed", data)

    table = diff(runs, runs["base"], runs["seed"]).out
    provenance = table[table.index("provenance") :]
    assert "seed" in provenance and "0" in provenance and "1" in provenance


def test_all_adds_unchanged_keys(runs):
    short = diff_json(runs, "base", "param")
    full = diff_json(runs, "base", "param", "--all")
    same = [c for c in full["config"] if c["change"] == "same"]
    assert len(full["config"]) > len(short["config"])
    assert {"key": "data.dataset", "change": "same", "a": "iris", "b": "iris"} in same
    assert any(c["key"] == "python" for c in full["provenance"])


def test_exit_code_says_whether_they_differ(runs):
    assert diff(runs, runs["base"], runs["param"], "--exit-code").code == 1
    assert diff(runs, runs["base"], runs["base"], "--exit-code").code == 0
    assert diff(runs, runs["base"], runs["param"]).code == 0


def test_markdown_has_a_section_per_block(runs):
    result = diff(runs, runs["base"], runs["class"], "--format", "md")
    assert result.code == 0, result.text
    for heading in ("## config", "## metrics", "## provenance"):
        assert heading in result.out
    assert "| **model** (class) | random_forest | logistic_regression |" in result.out
    assert "| model.C | (none) | 0.5 |" in result.out


def test_runs_named_by_latest_and_prefix(runs):
    result = diff(runs, "iris-sklearn/latest~3", runs["param"][:-1], "--format", "json")
    assert result.code == 0, result.text
    assert json.loads(result.out)["config"][0]["key"] == "model.n_estimators"


def test_config_files_composed_with_overrides(runs):
    data = json.loads(diff(runs, IRIS, IRIS, "-b", "model.n_estimators=7", "--format", "json").out)
    assert [c for c in data["config"]] == [
        {"key": "model.n_estimators", "change": "changed", "a": 100, "b": 7}
    ]
    assert data["b"]["overrides"] == ["model.n_estimators=7"]

    against_run = json.loads(diff(runs, runs["param"], IRIS, "--format", "json").out)
    assert against_run["metrics"] == [], "a config has no metrics to compare"
    assert {"key": "model.n_estimators", "change": "changed", "a": 7, "b": 100} in (
        against_run["config"]
    )


def test_bad_input_exits_2_with_a_message(runs):
    for args, needle in [
        ((runs["base"], "nope"), "no run 'nope'"),
        ((runs["base"], runs["param"], "-a", "model.C=1"), "--overrides-a applies to a config"),
        ((runs["base"], runs["param"], "--format", "yaml"), "--format 'yaml' is not one of"),
        ((runs["base"], "missing.yaml"), "no config file 'missing.yaml'"),
    ]:
        result = diff(runs, *args)
        assert result.code == 2, result.text
        assert needle in result.err
        assert "Traceback" not in result.text


# --- the diff core ------------------------------------------------------------------------


def side(config: dict, **kwargs) -> Side:
    return Side(label="x", config=config, **kwargs)


def test_list_items_are_indexed_keys():
    a = side({"model": {"type": "mlp", "hidden": [64, 64]}})
    b = side({"model": {"type": "mlp", "hidden": [64, 32, 16]}})
    rows = [(c.key, c.change, c.a, c.b) for c in diff_sides(a, b).config]
    assert rows == [
        ("model.hidden[1]", "changed", 64, 32),
        ("model.hidden[2]", "added", MISSING, 16),
    ]


def test_a_preprocess_step_inserted_in_front_is_one_added_step():
    scaler = {"type": "standard_scaler", "with_mean": True}
    a = side({"preprocess": [scaler]})
    b = side({"preprocess": [{"type": "imputer", "strategy": "mean"}, scaler]})
    changes = diff_sides(a, b).config
    assert [(c.key, c.change, c.a, c.b) for c in changes] == [
        ("preprocess[0]", CLASS, MISSING, "imputer")
    ]
    assert [(p.key, p.change) for p in changes[0].params] == [("preprocess[0].strategy", "added")]


def test_values_compare_by_kind():
    assert same_value(1, 1.0)
    assert not same_value(True, 1)
    assert not same_value(None, MISSING)
    assert not same_value("1", 1)
    assert flatten({"a": {"b": [], "c": {}}}) == {"a.b": [], "a.c": {}}


def test_null_and_absent_are_different_changes():
    a = side({"model": {"type": "m", "max_depth": None}})
    b = side({"model": {"type": "m"}})
    [change] = diff_sides(a, b).config
    assert (change.key, change.change, change.a) == ("model.max_depth", "removed", None)
    assert change.to_json() == {"key": "model.max_depth", "change": "removed", "a": None}


def test_provenance_block_lists_git_packages_data_and_hidden_class_changes():
    from ednax.runs.sides import run_provenance

    def provenance(commit: str, numpy: str, data: str, target: str) -> dict:
        run = {
            "seed": 0,
            "fingerprints": {"data": data},
            "classes": {"model": {"class": target, "version": "0.1.0"}},
        }
        env = {
            "git": {"commit": commit, "branch": "main", "dirty": False},
            "python": {"version": "3.11.7"},
            "packages": {"numpy": numpy, "ednax": "0.1.0"},
        }
        return run_provenance(run, env, None)

    model = {"model": {"type": "forest"}}
    a = side(model, provenance=provenance("abc", "2.0", "d1", "ednax.steps:Forest"))
    b = side(model, provenance=provenance("def", "2.1", "d2", "my_steps:Forest"))
    rows = {c.key: (c.a, c.b) for c in diff_sides(a, b).provenance}
    assert rows == {
        "git.commit": ("abc", "def"),
        "packages.numpy": ("2.0", "2.1"),
        "fingerprints.data": ("d1", "d2"),
        "classes.model": ("ednax.steps:Forest 0.1.0", "my_steps:Forest 0.1.0"),
    }
