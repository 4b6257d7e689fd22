"""The JSON Schema of a config file (`ednax schema`, ednax.schema.json): the sample configs
are valid against it as written, mistakes are rejected at their key, it agrees with
validation, plugins of a config's `imports:` are in it, and the shipped copy is current."""

from __future__ import annotations

import copy
import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from ednax.config import json_schema
from ednax.config.resolve import load_config
from ednax.config.source import read_source
from ednax.errors import ConfigError
from ednax.registry import KINDS, Registry
from tests.conftest import REPO, SAMPLES, run_cli, write

SAMPLE_FILES = sorted(SAMPLES.glob("*.yaml"))
IRIS = read_source(SAMPLES / "iris-sklearn.yaml").content
IRIS_MLP = read_source(SAMPLES / "iris-mlp.yaml").content


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return json_schema.build(Registry(entry_points=False))


@pytest.fixture(scope="module")
def validator(schema) -> Draft202012Validator:
    return Draft202012Validator(schema)


DROP = object()  # the key removed


def with_value(config: dict[str, Any], path: str | None, value: Any) -> dict[str, Any]:
    """A copy of `config` with the value at a dotted key path set (removed: DROP)."""
    config = copy.deepcopy(config)
    if path is None:
        return config
    *parents, leaf = path.split(".")
    node = config
    for part in parents:
        node = node.setdefault(part, {})
    if value is DROP:
        del node[leaf]
    else:
        node[leaf] = value
    return config


def own_type(prop: dict[str, Any]) -> list[dict[str, Any]]:
    """A parameter's own type (its alternatives), without the interpolation beside it."""
    own, interpolation = prop["anyOf"]
    assert interpolation == {"$ref": "#/$defs/interpolation"}
    return own["anyOf"]


def error_of(validator: Draft202012Validator, config: dict[str, Any]):
    return best_match(validator.iter_errors(config))


def test_the_schema_is_a_valid_draft_2020_12_schema(schema):
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_the_shipped_schema_is_up_to_date(schema):
    shipped = REPO / "ednax.schema.json"
    assert shipped.is_file() and shipped.read_text() == json_schema.text(schema), (
        "ednax.schema.json is stale: run `ednax schema -o ednax.schema.json`"
    )


@pytest.mark.parametrize("path", SAMPLE_FILES, ids=lambda p: p.name)
def test_every_sample_config_is_valid_as_written(validator, path: Path):
    # read as ednax reads it (1e-3 is a float, as in YAML 1.2 and in editors); defaults
    # lists and hydra: sections included, before any composition
    errors = [
        f"{e.json_path}: {e.message}" for e in validator.iter_errors(read_source(path).content)
    ]
    assert not errors


def test_a_misspelt_class_name_is_rejected_at_its_type(validator):
    error = error_of(validator, with_value(IRIS, "model.type", "random_forrest"))
    assert error.json_path == "$.model.type"
    assert "'random_forrest' is not one of" in error.message and "random_forest" in error.message
    error = error_of(validator, with_value(IRIS, "model", "random_forrest"))
    assert error.json_path == "$.model"  # a bare name is the section's value


def test_an_unknown_parameter_is_rejected_in_its_section(validator):
    # JSON Schema locates an unexpected key at its mapping and names it (an editor
    # underlines the key itself)
    error = error_of(validator, with_value(IRIS, "model.n_estimator", 3))
    assert (error.json_path, error.validator) == ("$.model", "additionalProperties")
    assert "'n_estimator' was unexpected" in error.message
    error = error_of(validator, with_value(IRIS, "preprocess", [{"type": "pca", "n_comp": 2}]))
    assert (error.json_path, error.validator) == ("$.preprocess[0]", "additionalProperties")


def test_a_wrong_type_is_rejected_at_its_key(validator):
    error = error_of(validator, with_value(IRIS, "model.n_estimators", "many"))
    assert error.json_path == "$.model.n_estimators"
    assert error.message == "'many' is not of type 'integer'"
    error = error_of(validator, with_value(IRIS, "experiment.seed", [1]))
    assert error.json_path == "$.experiment.seed"


def test_nested_sections_are_sections_of_their_kind(validator):
    stopping = with_value(IRIS_MLP, "trainer.early_stopping", {"patiense": 3})
    error = error_of(validator, stopping)
    assert error.json_path == "$.trainer.early_stopping" and "'patiense'" in error.message
    logger = with_value(IRIS_MLP, "trainer.logger", "cvs")
    assert error_of(validator, logger).json_path == "$.trainer.logger"


def test_interpolations_are_accepted_for_any_parameter(validator):
    config = with_value(IRIS_MLP, "trainer.max_epochs", "${oc.env:EPOCHS}")
    config["model"]["dropout"] = "${experiment.seed}"
    config["experiment"]["seed"] = "${oc.env:SEED}"
    assert error_of(validator, config) is None


def test_parameters_carry_their_docs_defaults_bounds_and_choices(schema):
    defs = schema["$defs"]
    forest = defs["model:random_forest"]
    assert forest["additionalProperties"] is False
    trees = forest["properties"]["n_estimators"]
    assert trees["default"] == 100 and trees["description"]
    lr = defs["optimizer:adam"]["properties"]["lr"]
    assert own_type(lr) == [{"type": "number", "exclusiveMinimum": 0}]
    precision = defs["trainer:lightning"]["properties"]["precision"]
    assert "bf16-mixed" in own_type(precision)[0]["enum"]
    assert defs["data:csv"]["required"] == ["path", "target"]


def test_engine_supplied_parameters_are_not_in_the_schema(schema):
    assert "in_features" not in schema["$defs"]["model:mlp"]["properties"]
    for key, definition in schema["$defs"].items():
        kind, _, name = key.partition(":")
        if name and kind in KINDS:
            assert not set(KINDS[kind].injected) & set(definition["properties"]), key


def test_every_declared_default_is_valid_for_its_parameter(schema):
    for key, definition in schema["$defs"].items():
        if ":" not in key:
            continue
        for name, prop in definition["properties"].items():
            if "default" in prop:
                part = {**prop, "$defs": schema["$defs"]}
                errors = list(Draft202012Validator(part).iter_errors(prop["default"]))
                assert not errors, f"{key}.{name}: {errors[0].message}"


BASES = {"iris": IRIS, "iris-mlp": IRIS_MLP}
# (sample, key path, value, valid): the schema and validation must give the same verdict
AGREEMENT = [
    ("iris", None, None, True),
    ("iris", "model", "random_forest", True),
    ("iris", "model.type", "random_forrest", False),
    ("iris", "model.n_estimator", 3, False),
    ("iris", "model.n_estimators", "many", False),
    ("iris", "model.max_depth", None, True),
    ("iris", "model.type", DROP, False),
    ("iris", "data.dataset", "irs", False),
    ("iris", "trainer", {"refit_on_train_val": True}, True),
    ("iris", "trainer", {"refit_on_train_val": []}, False),
    ("iris", "preprocess", "standard_scaler", True),
    ("iris", "preprocess", [{"with_mean": False}], False),
    ("iris", "metrics.names", ["acc"], False),
    ("iris", "evaluation", {"strategy": "kfold", "folds": 1}, False),
    ("iris", "evaluation", {"strategy": "kfolds"}, False),
    ("iris", "experiment.tags", "one", False),
    ("iris", "sections", {}, False),
    ("iris-mlp", None, None, True),
    ("iris-mlp", "model.dropout", 1.0, False),
    ("iris-mlp", "optimizer.lr", 0, False),
    ("iris-mlp", "optimizer", {"lr": 0.1}, True),
    ("iris-mlp", "loss", {"label_smoothing": 0.1}, True),
    ("iris-mlp", "scheduler", "none", True),
    ("iris-mlp", "weights", {"type": "xavier"}, True),
    ("iris-mlp", "trainer.precision", 16, False),
    ("iris-mlp", "trainer.early_stopping", {"patience": 3}, True),
    ("iris-mlp", "trainer.early_stopping", {"patiense": 3}, False),
    ("iris-mlp", "trainer.early_stopping", "plateau", False),
    ("iris-mlp", "trainer.logger", "none", True),
    ("iris-mlp", "trainer.logger", {"type": "mlflow", "tracking_uri": "x"}, True),
    ("iris-mlp", "trainer.logger", {"tracking_uri": "x"}, False),
    ("iris-mlp", "trainer.module", "no_such_loop", False),
    ("iris-mlp", "trainer.module_args", {"strength": 1}, False),
    ("iris-mlp", "trainer.max_epochs", "${trainer.batch_size}", True),
    ("iris-mlp", "callbacks", [{"type": "time_limit", "duration": "00:00:10:00"}], True),
    ("iris-mlp", "callbacks", [{"duration": "00:00:10:00"}], False),
]


def _case_id(base: str, path: str | None, value: Any) -> str:
    return f"{base}:{path}={'(removed)' if value is DROP else repr(value)}" if path else base


@pytest.mark.parametrize(
    "base, path, value, valid", AGREEMENT, ids=[_case_id(*case[:3]) for case in AGREEMENT]
)
def test_the_schema_agrees_with_validation(validator, tmp_path, base, path, value, valid):
    config = with_value(BASES[base], path, value)
    schema_error = error_of(validator, config)
    try:
        load_config(write(tmp_path / "exp.yaml", yaml.safe_dump(config, sort_keys=False)))
        problems = []
    except ConfigError as exc:
        problems = [f"{p.path}: {p.message}" for p in exc.problems]
    assert (schema_error is None, not problems) == (valid, valid), (schema_error, problems)


PLUGIN = '''
from typing import Literal

from ednax.registry import register


@register("model", "schema_probe", family="sklearn")
class SchemaProbe:
    """A plugin model the schema learns of from imports:.

    Parameters
    ----------
    depth : int
        How deep it goes.
    flavour : str
        Which kind.
    """

    def __init__(self, depth: int = 3, flavour: Literal["sweet", "sour"] = "sweet"):
        self.depth, self.flavour = depth, flavour
'''


def test_a_plugin_from_imports_is_in_the_schema_with_config(tmp_path, validator):
    write(tmp_path / "schema_probe_steps.py", PLUGIN)
    config = textwrap.dedent("""\
        imports: [schema_probe_steps]
        data: {type: sklearn_toy, dataset: iris}
        model: {type: schema_probe, depth: 5, flavour: sour}
    """)
    write(tmp_path / "exp.yaml", config)
    result = run_cli("schema", "--config", "exp.yaml", "-o", "schema.json", cwd=tmp_path)
    assert result.code == 0, result.text
    schema = json.loads((tmp_path / "schema.json").read_text())
    probe = schema["$defs"]["model:schema_probe"]
    assert probe["description"] == "A plugin model the schema learns of from imports:."
    assert probe["properties"]["depth"]["description"] == "How deep it goes."
    assert own_type(probe["properties"]["flavour"])[0]["enum"] == ["sweet", "sour"]
    content = yaml.safe_load(config)
    assert error_of(Draft202012Validator(schema), content) is None
    # without the config's imports the class is unknown
    assert error_of(validator, content).json_path == "$.model.type"
    sour = with_value(content, "model.flavour", "bitter")
    assert error_of(Draft202012Validator(schema), sour).json_path == "$.model.flavour"


def test_without_an_output_file_the_schema_is_printed():
    from typer.testing import CliRunner

    from ednax.cli import app

    result = CliRunner().invoke(app, ["schema"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["title"] == "ednax config"
