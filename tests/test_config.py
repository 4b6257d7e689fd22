"""The config layer: composition, overrides, switches, defaults, seeds, paths, locations."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from ednax.config import compose as compose_module
from ednax.config.resolve import load_config
from ednax.errors import ConfigError, UsageError
from tests.conftest import REPO, SAMPLES, write

IRIS = (SAMPLES / "iris-sklearn.yaml").read_text()


def config(tmp_path: Path, text: str, name: str = "exp.yaml") -> Path:
    return write(tmp_path / name, textwrap.dedent(text))


def test_resolved_config_writes_out_every_default(tmp_path):
    resolved = load_config(config(tmp_path, IRIS))
    model = resolved["model"]
    assert model["type"] == "random_forest"
    assert model["n_estimators"] == 100
    assert "max_depth" in model and model["max_depth"] is None
    assert resolved["trainer"] == {"type": "sklearn", "refit_on_train_val": False}
    assert resolved["save"]["type"] == "bundle"
    assert resolved["metrics"]["mode"] == "max"


def test_seed_fills_random_state_unless_set(tmp_path):
    path = config(tmp_path, IRIS)
    resolved = load_config(path, ["experiment.seed=7", "data.random_state=1"])
    assert resolved["model"]["random_state"] == 7
    assert resolved["data"]["random_state"] == 1


def test_value_override_sets_a_key_the_file_does_not_list(tmp_path):
    resolved = load_config(config(tmp_path, IRIS), ["model.max_depth=3"])
    assert resolved["model"]["max_depth"] == 3


def test_switch_drops_old_keys_and_applies_later_overrides(tmp_path):
    resolved = load_config(config(tmp_path, IRIS), ["model.C=0.5", "model=logistic_regression"])
    assert resolved["model"]["type"] == "logistic_regression"
    assert resolved["model"]["C"] == 0.5
    assert "n_estimators" not in resolved["model"]


def test_group_option_wins_over_class_and_type_key_means_the_class(tmp_path):
    write(tmp_path / "model" / "random_forest.yaml", "type: random_forest\nn_estimators: 3\n")
    path = config(tmp_path, IRIS)
    assert load_config(path, ["model=random_forest"])["model"]["n_estimators"] == 3
    assert load_config(path, ["model.type=random_forest"])["model"]["n_estimators"] == 100


def test_builtin_group_option_can_be_switched_to(tmp_path):
    resolved = load_config(config(tmp_path, IRIS), ["model=forest_small"])
    assert resolved["model"]["n_estimators"] == 20
    assert resolved["model"]["max_depth"] == 4


def test_defaults_list_with_builtin_and_local_groups():
    resolved = load_config(SAMPLES / "wine-logreg.yaml")
    assert resolved["data"]["dataset"] == "wine"
    assert resolved["model"]["C"] == 0.1  # from the built-in group option
    assert resolved["model"]["max_iter"] == 500  # the file's own keys refine it
    assert [p["type"] for p in resolved["preprocess"]] == ["standard_scaler"]


def test_switching_a_defaults_list_step_replaces_the_whole_section():
    resolved = load_config(SAMPLES / "wine-logreg.yaml", ["model=random_forest"])
    assert resolved["model"]["type"] == "random_forest"
    assert "max_iter" not in resolved["model"]


def test_bare_string_sections_mean_the_class_with_defaults(tmp_path):
    path = config(
        tmp_path,
        """
        data: {type: sklearn_toy, dataset: iris}
        preprocess: [standard_scaler]
        model: knn
        """,
    )
    resolved = load_config(path, ["model.n_neighbors=3"])
    assert resolved["model"]["type"] == "knn"
    assert resolved["model"]["n_neighbors"] == 3
    assert resolved["preprocess"][0]["type"] == "standard_scaler"
    assert resolved.experiment["name"] == "exp"  # defaults to the file name


def test_interpolations_are_resolved(tmp_path):
    path = config(
        tmp_path,
        """
        experiment: {name: interp, seed: 4}
        data: {type: sklearn_toy, dataset: iris}
        model: {type: random_forest, n_estimators: 10, random_state: "${experiment.seed}"}
        """,
    )
    assert load_config(path)["model"]["random_state"] == 4


def test_plain_and_hydra_composition_agree(tmp_path, monkeypatch):
    for sample in ("iris-sklearn", "diabetes-regression", "csv-example"):
        path = SAMPLES / f"{sample}.yaml"
        plain = load_config(path, ["model.n_estimators=5"] if "iris" in sample else [])
        monkeypatch.setattr(compose_module, "needs_hydra", lambda source, plan: True)
        through_hydra = load_config(path, ["model.n_estimators=5"] if "iris" in sample else [])
        monkeypatch.undo()
        assert plain.data == through_hydra.data


def test_relative_data_path_falls_back_to_the_config_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    resolved = load_config(SAMPLES / "csv-example.yaml")
    expected = SAMPLES / "data" / "penguins-mini.csv"
    assert Path(resolved["data"]["path"]) == expected


def test_problems_carry_file_line_and_are_collected(tmp_path):
    path = config(
        tmp_path,
        """
        data: {type: sklearn_toy, dataset: iris}
        model:
          type: random_forest
          n_estimatrs: 10
        metrics: {names: [acuracy]}
        optimizer: {type: adam}
        """,
    )
    with pytest.raises(ConfigError) as info:
        load_config(path)
    problems = {p.path: p for p in info.value.problems}
    assert problems["model.n_estimatrs"].line == 5
    assert problems["model.n_estimatrs"].file == str(path.resolve())
    assert "n_estimators" in problems["model.n_estimatrs"].hint
    assert "accuracy" in problems["metrics.names[0]"].hint
    assert "does not apply to a scikit-learn estimator" in problems["optimizer"].message


def test_override_problems_name_the_override(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_config(config(tmp_path, IRIS), ["model.n_estimatorz=3"])
    [problem] = info.value.problems
    assert problem.path == "model.n_estimatorz"
    assert "model.n_estimatorz=3" in problem.hint
    assert problem.file is None


def test_sweep_override_needs_multirun(tmp_path):
    with pytest.raises(UsageError, match="-m"):
        load_config(config(tmp_path, IRIS), ["model.n_estimators=1,2"])


def test_imports_register_plugin_classes(tmp_path):
    write(
        tmp_path / "my_plugin_cfgtest.py",
        textwrap.dedent(
            '''
            from ednax.registry import register

            @register("model", "cfgtest_forest", family="sklearn")
            class Forest:
                """A forest.

                Parameters
                ----------
                trees : int
                    How many.
                """

                def __init__(self, trees: int = 3, random_state: int | None = None):
                    self.trees = trees
                    self.random_state = random_state

                def build(self, task):
                    from sklearn.ensemble import RandomForestClassifier
                    return RandomForestClassifier(self.trees, random_state=self.random_state)
            '''
        ),
    )
    path = config(
        tmp_path,
        """
        imports: [my_plugin_cfgtest]
        data: {type: sklearn_toy, dataset: iris}
        model: {type: cfgtest_forest, trees: 4}
        """,
    )
    try:
        resolved = load_config(path)
    finally:
        sys.modules.pop("my_plugin_cfgtest", None)
    assert resolved["model"] == {"type": "cfgtest_forest", "trees": 4, "random_state": 0}
    assert resolved.classes["model"] == "my_plugin_cfgtest:Forest"


def test_validation_imports_no_step_module_or_heavy_library():
    import subprocess

    code = (
        "import sys; from ednax.config.resolve import load_config; "
        f"load_config(r'{SAMPLES / 'iris-sklearn.yaml'}'); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('torch', 'sklearn', 'optuna', 'pytorch_lightning') "
        "or m.startswith(('ednax.steps.estimators', 'ednax.steps.preprocess'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_config_reference_is_up_to_date():
    from ednax.config import reference
    from ednax.registry import Registry

    pages = reference.render(Registry(entry_points=False))
    folder = REPO / "config-reference"
    on_disk = {p.name: p.read_text() for p in folder.glob("*.md")}
    stale = sorted(n for n in pages.keys() | on_disk.keys() if pages.get(n) != on_disk.get(n))
    assert not stale, f"config-reference/ is stale ({stale}): run `ednax docs`"


SCALARS = [
    "1",
    "-3",
    "0x1f",
    "1.5",
    "1e-3",
    "3e3",
    "1.0e-3",
    "1.0e3",
    "-2.5E+2",
    ".5",
    ".inf",
    "-.inf",
    ".nan",
    "1_000",
    "yes",
    "no",
    "on",
    "off",
    "true",
    "False",
    "null",
    "~",
    "1.2.3",
    "e3",
    "1e",
    "abc",
    "'1e-3'",
    "2026-11-25",
    "0o17",
    "+1",
    "1:20",
]


@pytest.mark.parametrize("scalar", SCALARS)
def test_a_file_reads_as_hydra_reads_it(scalar):
    """ednax reads a plain file itself; every scalar must come out as OmegaConf reads it."""
    import math

    import yaml
    from omegaconf._utils import get_yaml_loader

    from ednax.config.source import ConfigLoader

    ours = yaml.load(f"x: {scalar}", Loader=ConfigLoader)["x"]
    theirs = yaml.load(f"x: {scalar}", Loader=get_yaml_loader())["x"]
    if isinstance(ours, float) and math.isnan(ours):
        assert isinstance(theirs, float) and math.isnan(theirs)
    else:
        assert (type(ours), ours) == (type(theirs), theirs)


def test_a_key_given_twice_is_an_error(tmp_path):
    path = config(tmp_path, "data: {type: sklearn_toy}\nmodel: knn\ndata: {type: csv}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    [problem] = info.value.problems
    assert (problem.path, problem.line) == ("data", 3)
    assert "first on line 1" in problem.message


def test_a_class_already_imported_keeps_the_bounds_of_its_parameters():
    """Validation in a process that has imported the step (a sweep's, a server's) checks
    the same bounds as one reading the source."""
    from ednax.registry import Registry

    registry = Registry(entry_points=False)
    entry = registry.get("optimizer", "adam")
    entry.load()
    assert entry.signature().params["lr"].type_text == "float (> 0)"


def test_an_override_parsed_again_is_a_copy_of_its_own():
    """Overrides are parsed once a process (a sweep composes every trial with the same
    ones); what one caller does with a parsed value never reaches the next."""
    from ednax.config.grammar import parse_override

    first = parse_override("model.C=choice(1,2)")
    first.value().list.append(3)  # a sweep's value is Hydra's own object
    again = parse_override("model.C=choice(1,2)")
    assert again.key_or_group == "model.C" and again.value().list == [1, 2]
