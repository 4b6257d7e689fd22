"""Bad input to the real CLI: exit 2, a message that says where and how to fix it, no
traceback, and nothing written (validation happens before any work).

Every case starts from the iris sample and breaks one thing, runs `ednax` in a subprocess
in a scratch directory, and checks what a researcher would read.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import SAMPLES, Result, edited, line_of, write

IRIS = (SAMPLES / "iris-sklearn.yaml").read_text()
PENGUINS = SAMPLES / "data" / "penguins-mini.csv"
IRIS_DATA = "data:\n  type: sklearn_toy\n  dataset: iris\n  val: 0.2\n  test: 0.2\n"
IRIS_MODEL = "model:\n  type: random_forest\n  n_estimators: 100\n"


def iris_with(*edits: tuple[str, str]) -> str:
    return edited(IRIS, *edits)


def assert_rejected(result: Result, workdir: Path, *needles: str) -> None:
    """Exit 2, every needle in the message, no traceback, and no bundle written."""
    assert result.code == 2, f"exit {result.code}, expected 2:\n{result.text}"
    for needle in needles:
        assert needle in result.text, f"{needle!r} missing from:\n{result.text}"
    assert "Traceback" not in result.text, result.text
    assert "internal error" not in result.text, result.text
    assert not (workdir / "runs").exists(), "a bundle was created for an invalid config"


@dataclass
class Case:
    text: str
    needles: tuple[str, ...]
    args: tuple[str, ...] = ()
    at: str | None = None  # the message must point at bad.yaml:<line of this fragment>


def case(name: str, text: str, *needles: str, args=(), at=None, marks=()):
    return pytest.param(Case(text, needles, tuple(args), at), id=name, marks=marks)


CASES = [
    # --- names: classes, sections, parameters -------------------------------------------
    case(
        "unknown_model_type",
        iris_with(("type: random_forest", "type: random_forrest")),
        "model.type",
        "'random_forrest'",
        "did you mean 'random_forest'?",
        at="random_forrest",
    ),
    case(
        "bare_string_step_with_unknown_name",
        iris_with((IRIS_MODEL, "model: random_forrest\n")),
        "model.type",
        "did you mean 'random_forest'?",
        at="model: random_forrest",
    ),
    case(
        "unknown_preprocess_type_in_list",
        iris_with(("  - type: standard_scaler\n", "  - type: standard_scaler\n  - minmax_scalr\n")),
        "preprocess[1].type",
        "did you mean 'minmax_scaler'?",
        at="minmax_scalr",
    ),
    case(
        "unknown_section",
        iris_with(("\nmodel:\n", "\nmodle:\n")),
        "modle",
        "unknown section",
        "did you mean 'model'?",
        at="modle:",
    ),
    case(
        "unknown_parameter_misspelt",
        iris_with(("n_estimators: 100", "n_estimatrs: 100")),
        "model.n_estimatrs",
        "unknown parameter",
        "did you mean 'n_estimators'?",
        at="n_estimatrs",
    ),
    case(
        "unknown_parameter_wrong_case",
        iris_with(("n_estimators: 100", "N_ESTIMATORS: 100")),
        "model.N_ESTIMATORS",
        "did you mean 'n_estimators'?",
        at="N_ESTIMATORS",
    ),
    case(
        "unknown_parameter_EPOCS_lists_the_valid_ones",
        IRIS + "trainer: {type: sklearn, EPOCS: 1}\n",
        "trainer.EPOCS",
        "unknown parameter",
        "refit_on_train_val",
        at="EPOCS",
    ),
    # --- values -----------------------------------------------------------------------
    case(
        "wrong_value_type",
        iris_with(("n_estimators: 100", "n_estimators: lots")),
        "model.n_estimators",
        "'lots'",
        "expected int",
        at="n_estimators: lots",
    ),
    case(
        "list_item_of_wrong_type",
        iris_with(
            (
                "  - type: standard_scaler\n",
                "  - type: standard_scaler\n    columns: [sepal_length, [2]]\n",
            )
        ),
        "preprocess[0].columns[1]",
        "expected list[str]",
        at="columns:",
    ),
    case(
        "missing_required_parameter",
        iris_with((IRIS_DATA, f"data:\n  type: csv\n  path: {PENGUINS}\n")),
        "data.target",
        "missing required parameter",
        at="data:",
    ),
    case(
        "split_fractions_leave_no_training_rows",
        iris_with(("  test: 0.2", "  test: 0.8")),
        "data.test",
        "val + test",
        "less than 1",
        at="test: 0.8",
    ),
    case(
        "bad_experiment_name",
        iris_with(("name: iris-sklearn", 'name: "iris sklearn/v2"')),
        "experiment.name",
        "cannot name a folder",
        at="iris sklearn/v2",
    ),
    # --- sections that do not fit ------------------------------------------------------
    case(
        "torch_sections_with_an_estimator",
        IRIS
        + "loss: {type: cross_entropy}\noptimizer: {type: adam, lr: 0.01}\nscheduler: cosine\n",
        "'loss' does not apply to a scikit-learn estimator",
        "'optimizer' does not apply",
        "'scheduler' does not apply",
        "remove the 'loss' section",
        at="loss:",
    ),
    # --- metrics and data names -------------------------------------------------------
    case(
        "unknown_metric",
        iris_with(("[accuracy, f1_macro]", "[accuracy, f1_macr]")),
        "metrics.names[1]",
        "did you mean 'f1_macro'?",
        at="f1_macr",
    ),
    case(
        "metric_for_the_wrong_task",
        iris_with(("[accuracy, f1_macro]", "[accuracy, rmse]")),
        "metrics.names[1]",
        "'rmse' does not apply to a classification task",
        "f1_macro",
        at="rmse",
    ),
    case(
        "bad_monitor",
        iris_with(("monitor: val/accuracy", "monitor: val/acuracy")),
        "metrics.monitor",
        "did you mean 'val/accuracy'",
        at="val/acuracy",
    ),
    case(
        "unknown_dataset",
        iris_with(("dataset: iris", "dataset: irsi")),
        "data.dataset",
        "'irsi'",
        "'iris'",
        at="dataset: irsi",
    ),
    case(
        "missing_data_file",
        iris_with((IRIS_DATA, "data:\n  type: csv\n  path: data/nothere.csv\n  target: species\n")),
        "data.path",
        "data/nothere.csv",
        "config file's folder",
        at="nothere.csv",
    ),
    case(
        "missing_csv_column",
        iris_with((IRIS_DATA, f"data:\n  type: csv\n  path: {PENGUINS}\n  target: specis\n")),
        "data.target",
        "'specis'",
        "did you mean 'species'?",
        at="target: specis",
    ),
    case(
        "module_in_imports_does_not_exist",
        "imports: [no_such_plugin_mod]\n" + IRIS,
        "imports[0]",
        "no_such_plugin_mod",
        "beside the config file",
    ),
    # --- the file itself --------------------------------------------------------------
    case(
        "yaml_syntax_error",
        iris_with(("  dataset: iris\n", "  dataset: iris: setosa\n")),
        "YAML syntax error",
        at="iris: setosa",
    ),
    case(
        "yaml_key_without_colon",
        iris_with(("  seed: 0\n", "  seed 0\n")),
        "YAML syntax error",
        at="seed 0",
    ),
    case(
        "yaml_unclosed_quote",
        iris_with(("  dataset: iris\n", '  dataset: "iris\n')),
        "YAML syntax error",
        at='"iris',
    ),
    case("empty_config", "", "bad.yaml", "the config is empty"),
    case("config_with_only_comments", "# to do\n", "bad.yaml", "the config is empty"),
    case(
        "config_is_a_list",
        "- data: iris\n- model: random_forest\n",
        "must be a mapping",
        at="- data: iris",
    ),
    case(
        "unresolvable_interpolation",
        iris_with(("n_estimators: 100", "n_estimators: ${experiment.n_trees}")),
        "model.n_estimators",
        "experiment.n_trees",
        at="${experiment.n_trees}",
    ),
    # --- several problems at once ------------------------------------------------------
    case(
        "three_typos_reported_together",
        iris_with(
            ("n_estimators: 100", "n_estimatrs: 100"),
            ("[accuracy, f1_macro]", "[accuracy, f1_macr]"),
            ("type: standard_scaler", "type: standard_scalar"),
        ),
        "model.n_estimatrs",
        "did you mean 'n_estimators'?",
        "metrics.names[1]",
        "did you mean 'f1_macro'?",
        "preprocess[0].type",
        "did you mean 'standard_scaler'?",
    ),
    # --- the command line -------------------------------------------------------------
    case(
        "unparseable_override",
        IRIS,
        "cannot parse the override 'model.n_estimators=[1,2'",
        args=["model.n_estimators=[1,2"],
    ),
    case(
        "override_without_a_value",
        IRIS,
        "cannot parse the override 'model.n_estimators'",
        "key=value",
        args=["model.n_estimators"],
    ),
    case(
        "override_of_unknown_key",
        IRIS,
        "model.n_estimatrs",
        "set on the command line by 'model.n_estimatrs=5'",
        "did you mean 'n_estimators'?",
        args=["model.n_estimatrs=5"],
    ),
    case(
        "override_of_wrong_type",
        IRIS,
        "experiment.seed",
        "'abc'",
        "set on the command line by 'experiment.seed=abc'",
        args=["experiment.seed=abc"],
    ),
    case(
        "override_switching_to_unknown_class",
        IRIS,
        "'random_forrest'",
        "model=random_forrest",
        "did you mean 'random_forest'?",
        args=["model=random_forrest"],
    ),
    case(
        "override_of_a_key_the_new_class_lacks",
        IRIS,
        "model.n_estimators",
        "logistic_regression",
        "set on the command line by 'model.n_estimators=5'",
        args=["model=logistic_regression", "model.n_estimators=5"],
    ),
    case(
        "override_deleting_a_missing_key",
        IRIS,
        "model.nothing",
        "~model.nothing",
        args=["~model.nothing"],
    ),
    case(
        "override_of_unknown_section",
        IRIS,
        "modle",
        "set on the command line by 'modle.n_estimators=5'",
        "did you mean 'model'?",
        args=["modle.n_estimators=5"],
    ),
    case(
        "sweep_override_without_multirun",
        IRIS,
        "'model.n_estimators=5,10' is a sweep",
        "-m",
        args=["model.n_estimators=5,10"],
    ),
]


@pytest.mark.parametrize("bad", CASES)
def test_bad_input_is_rejected_before_any_work(cli, workdir, bad: Case):
    config = write(workdir / "bad.yaml", bad.text)
    result = cli("run", config, *bad.args)
    assert_rejected(result, workdir, *bad.needles)
    if bad.at is not None:
        assert f"bad.yaml:{line_of(bad.text, bad.at)}" in result.text, result.text


def test_missing_config_file_suggests_a_near_name(cli, workdir):
    write(workdir / "iris.yaml", IRIS)
    result = cli("run", "irsi.yaml")
    assert_rejected(result, workdir, "config file not found: irsi.yaml", "did you mean 'iris.yaml'")


def test_problems_are_reported_in_the_order_of_the_files_lines(cli, workdir):
    config = write(
        workdir / "order.yaml",
        "experiment: {name: order}\n"
        "model: {type: random_forest, n_estimatrs: 5}\n"  # checked after the data section
        "data: {type: sklearn_toy, dataset: iris, vall: 0.2}\n",
    )
    result = cli("validate", config)
    assert result.code == 2, result.text
    assert result.err.index("order.yaml:2") < result.err.index("order.yaml:3"), result.err


def test_missing_data_file_suggests_the_near_name_beside_it(cli, workdir):
    write(workdir / "data" / "penguins-mini.csv", "a,y\n1,0\n2,1\n")
    config = write(
        workdir / "table.yaml",
        "data: {type: csv, path: data/penguins-mni.csv, target: y}\n"
        "model: {type: logistic_regression}\n",
    )
    result = cli("run", config)
    near = workdir / "data" / "penguins-mini.csv"
    assert_rejected(result, workdir, "file not found: data/penguins-mni.csv", f"'{near}'?")


def test_config_file_must_end_in_yaml(cli, workdir):
    write(workdir / "iris.yml", IRIS)
    result = cli("run", "iris.yml")
    assert_rejected(result, workdir, "iris.yml", ".yaml", "rename it to iris.yaml")


def test_validate_rejects_like_run(cli, workdir):
    config = write(workdir / "bad.yaml", iris_with(("n_estimators: 100", "n_estimatrs: 100")))
    result = cli("validate", config)
    assert_rejected(result, workdir, "model.n_estimatrs", "did you mean 'n_estimators'?")
    assert f"bad.yaml:{line_of(IRIS, 'n_estimators')}" in result.text


def test_misspelt_monitored_metric_is_one_problem_not_a_misleading_second(cli, workdir):
    text = iris_with(("[accuracy, f1_macro]", "[acuracy, f1_macro]"))
    result = cli("run", write(workdir / "bad.yaml", text))
    assert_rejected(result, workdir, "metrics.names[0]", "did you mean 'accuracy'?")
    assert "val/acuracy" not in result.text, "the hint must not suggest monitoring the typo"


def test_missing_data_file_is_reported_once(cli, workdir):
    text = iris_with((IRIS_DATA, "data:\n  type: csv\n  path: data/nothere.csv\n  target: y\n"))
    result = cli("run", write(workdir / "bad.yaml", text))
    assert_rejected(result, workdir, "data.path", "nothere.csv")
    assert result.text.count("data.path:") == 1, result.text


def test_debug_shows_the_traceback(cli, workdir):
    config = write(workdir / "bad.yaml", iris_with(("type: random_forest", "type: random_forrest")))
    result = cli("run", config, "--debug")
    assert result.code == 2, result.text
    assert "Traceback (most recent call last)" in result.text
    assert "did you mean 'random_forest'?" in result.text
    assert not (workdir / "runs").exists()
