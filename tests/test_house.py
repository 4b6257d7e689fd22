"""One rule in one place: what validate says is what run does; an `imports=` override is
honoured and recorded, so the bundle reruns; run.json records what later readers need."""

from __future__ import annotations

import pytest

from tests.conftest import PLUGIN, SAMPLES, bundle_of, read_json, read_yaml, write

IRIS = SAMPLES / "iris-sklearn.yaml"


PLAIN = (
    "experiment: {name: plain, seed: 0}\n"
    "data: {type: sklearn_toy, dataset: iris}\n"
    "model: {type: logistic_regression}\n"
    "metrics: {names: [accuracy]}\n"
)


@pytest.mark.parametrize("command", ["validate", "run"])
def test_an_experiment_name_too_long_for_a_folder_is_the_same_error_everywhere(cli, command):
    name = "a" * 130
    result = cli(command, IRIS, f"experiment.name={name}")
    assert result.code == 2, result.text
    assert "experiment.name: the name is 130 characters long; at most 128 fit" in result.err
    assert "Traceback" not in result.text and "internal error" not in result.text


def test_a_name_of_128_characters_is_valid(cli):
    result = cli("validate", IRIS, f"experiment.name={'b' * 128}")
    assert result.code == 0, result.text


def test_an_imports_override_is_honoured_recorded_and_reruns(cli, workdir):
    write(workdir / "configs" / "other.py", PLUGIN)
    config = write(workdir / "configs" / "plain.yaml", PLAIN)
    result = cli("run", config, "imports=[other]", "model=my_forest")
    assert result.code == 0, result.text
    bundle = bundle_of(result, workdir)
    assert read_yaml(bundle / "config.yaml")["imports"] == ["other"]
    assert read_json(bundle / "run.json")["classes"]["model"]["class"] == "other:MyForest"

    again = cli("rerun", bundle)
    assert again.code == 0, again.text
    rerun = bundle_of(again, workdir)
    assert read_json(rerun / "run.json")["classes"]["model"]["class"] == "other:MyForest"
    assert read_json(rerun / "metrics.json") == read_json(bundle / "metrics.json")


def test_an_imports_override_that_does_not_import_is_located_on_the_command_line(cli, workdir):
    config = write(workdir / "plain.yaml", PLAIN)
    result = cli("validate", config, "imports=[nowhere]")
    assert result.code == 2
    assert "imports[0]: cannot import the module 'nowhere'" in result.err
    assert "set on the command line by 'imports=[nowhere]'" in result.err


def test_run_json_records_the_monitor_directions_and_defaults(cli, workdir):
    config = write(
        workdir / "regression.yaml",
        PLAIN.replace("iris", "diabetes")
        .replace("{type: logistic_regression}", "{type: ridge, alpha: 2.0}")
        .replace("[accuracy]", "[rmse, r2]"),
    )
    bundle = bundle_of(cli("run", config), workdir)
    run = read_json(bundle / "run.json")
    assert run["monitor"] == {"name": "val/rmse", "mode": "min"}
    assert run["directions"] == {"rmse": "min", "r2": "max"}
    assert run["defaults"]["model"]["alpha"] == 1.0
