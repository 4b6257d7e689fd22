"""ednax's built-in config groups: the repository's top-level configs/, shipped inside the
package, on Hydra's search path, and every option in it a config that validates; presets
switched (`trainer=gpu`) or laid over a section (`+trainer=gpu`)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import ednax
from ednax.config.overrides import BUILTIN_CONFIGS, group_options
from ednax.errors import ConfigError
from ednax.sweep.launch import prepare_sweep
from tests.conftest import REPO, write

CONFIGS = REPO / "configs"
OPTIONS = sorted(p.relative_to(CONFIGS) for p in CONFIGS.rglob("*.yaml"))
STEP_OPTIONS = [p for p in OPTIONS if p.parts[0] != "hydra"]

SKLEARN = (
    "experiment: {name: groups, seed: 0}\n"
    "data: {type: sklearn_toy, dataset: iris}\n"
    "model: {type: random_forest, n_estimators: 5}\n"
)
TORCH = (
    "experiment: {name: groups, seed: 0}\n"
    "data: {type: sklearn_toy, dataset: iris}\n"
    "preprocess: [standard_scaler]\n"
    "model: {type: mlp, hidden: [8]}\n"
    "optimizer: {type: adam}\n"
    "trainer: {type: lightning, max_epochs: 40, batch_size: 16}\n"
)
SEARCH = "hydra:\n  sweeper:\n    n_trials: 5\n    params:\n      model.n_estimators: range(2, 8)\n"


def option_content(option: Path) -> dict:
    content = yaml.safe_load((CONFIGS / option).read_text())
    content.pop("defaults", None)
    return content


def test_the_builtin_groups_are_the_top_level_configs_folder_and_nothing_in_the_package():
    assert BUILTIN_CONFIGS == CONFIGS
    assert not (REPO / "ednax" / "configs").exists()
    for group in ("data", "model", "optimizer", "trainer"):
        names = [p.stem for p in OPTIONS if p.parts[0] == group]
        assert names and set(names) <= set(group_options(group, REPO / "nowhere")), group


def test_the_package_build_ships_every_config_group_file(tmp_path):
    pytest.importorskip("setuptools")
    source = tmp_path / "source"
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for folder in ("ednax", "hydra_plugins", "configs"):
        shutil.copytree(REPO / folder, source / folder, ignore=ignore)
    for file in ("setup.py", "pyproject.toml", "README.md"):
        shutil.copy(REPO / file, source / file)
    built = tmp_path / "built"
    subprocess.run(
        [sys.executable, "setup.py", "-q", "build_py", "--build-lib", str(built)],
        cwd=source,
        check=True,
        capture_output=True,
    )
    shipped = built / "ednax" / "configs"
    assert sorted(p.relative_to(shipped) for p in shipped.rglob("*.yaml")) == OPTIONS
    assert (built / "ednax" / "config" / "overrides.py").is_file()
    assert (built / "hydra_plugins" / "ednax_optuna" / "ednax_optuna_sweeper.py").is_file()


@pytest.mark.parametrize("option", STEP_OPTIONS, ids=str)
def test_every_step_option_composes_from_a_defaults_list_and_validates(workdir, option):
    group, name = option.parts[0], option.stem
    base = SKLEARN if group in ("data", "model") else TORCH
    body = "\n".join(line for line in base.splitlines() if not line.startswith(f"{group}:"))
    config = write(
        workdir / "grouped.yaml", f"defaults:\n  - {group}: {name}\n  - _self_\n{body}\n"
    )
    resolved = ednax.validate(config)
    for key, value in option_content(option).items():
        assert resolved[group][key] == value, (group, key)


def test_a_gpu_trainer_validates_anywhere_and_a_run_without_a_gpu_stops_before_training(
    cli, workdir
):
    torch = pytest.importorskip("torch")
    config = write(workdir / "mlp.yaml", TORCH + "metrics: {names: [accuracy]}\n")
    assert ednax.validate(config, ["trainer=gpu"])["trainer"]["accelerator"] == "gpu"
    if torch.cuda.is_available() or torch.backends.mps.is_available():
        pytest.skip("this machine has a GPU")
    result = cli("run", config, "+trainer=gpu")
    assert result.code == 2, result.text
    assert "trainer.accelerator: a GPU was asked for, but torch finds no CUDA" in result.err
    assert "(set on the command line by '+trainer=gpu')" in result.err
    assert not (workdir / "runs").exists(), "said before a bundle"


def test_a_switch_replaces_the_section_and_an_added_option_is_laid_over_it(workdir):
    config = write(workdir / "mlp.yaml", TORCH)
    switched = ednax.validate(config, ["trainer=ddp"])["trainer"]
    assert (switched["strategy"], switched["devices"], switched["max_epochs"]) == ("ddp", 2, 10)
    laid = ednax.validate(config, ["+trainer=ddp", "trainer.devices=3"])["trainer"]
    assert (laid["strategy"], laid["devices"], laid["max_epochs"]) == ("ddp", 3, 40)
    assert laid["batch_size"] == 16


def test_adding_a_class_that_no_option_is_named_after_still_sets_the_class(workdir):
    config = write(workdir / "mlp.yaml", TORCH.replace("optimizer: {type: adam}\n", ""))
    optimizer = ednax.validate(config, ["+optimizer=sgd"])["optimizer"]
    assert (optimizer["type"], optimizer["lr"], optimizer["momentum"]) == ("sgd", 0.01, 0.0)


def test_adding_an_option_of_a_group_the_defaults_list_chose_says_to_switch(workdir):
    config = write(workdir / "mlp.yaml", "defaults:\n  - trainer: cpu\n  - _self_\n" + TORCH)
    with pytest.raises(ConfigError) as error:
        ednax.validate(config, ["+trainer=gpu"])
    assert "'+trainer=gpu' adds a trainer option" in str(error.value)
    assert "replace the choice with 'trainer=gpu'" in str(error.value)


def test_a_key_an_added_option_set_is_located_on_the_command_line(workdir):
    search = SEARCH.replace("model.n_estimators: range(2, 8)", "optimizer.lr: interval(0.01, 0.1)")
    defaults = "defaults:\n  - override hydra/sweeper: ednax_optuna_tpe\n  - _self_\n"
    config = write(workdir / "search.yaml", defaults + TORCH + search)
    with pytest.raises(ConfigError) as error:
        ednax.validate(config, ["+trainer=ddp"])
    problem = next(p for p in error.value.problems if p.path == "trainer.devices")
    assert "(set on the command line by '+trainer=ddp')" in problem.hint


@pytest.mark.parametrize(
    ("preset", "sampler", "pruner"),
    [("ednax_optuna_tpe", "tpe", "median"), ("ednax_optuna_random", "random", "none")],
)
def test_a_sweeper_preset_is_ednax_optuna_with_its_settings_under_the_files(
    workdir, preset, sampler, pruner
):
    defaults = f"defaults:\n  - override hydra/sweeper: {preset}\n  - _self_\n"
    config = write(workdir / "search.yaml", defaults + SKLEARN + SEARCH)
    ednax.validate(config)
    plan = prepare_sweep(config, [])
    assert plan.kind == "optuna"
    assert (plan.settings.sampler["type"], plan.settings.pruner["type"]) == (sampler, pruner)
    assert plan.settings.n_trials == 5  # the file's setting wins over the preset's 50
    assert prepare_sweep(config, ["hydra.sweeper.n_trials=7"]).settings.n_trials == 7


def test_the_joblib_preset_launches_a_grid_two_jobs_at_a_time(workdir):
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher")
    from ednax.config.source import read_source
    from ednax.sweep.hydra_run import hydra_section

    config = write(workdir / "forest.yaml", SKLEARN)
    overrides = ["hydra/launcher=joblib_2"]
    plan = prepare_sweep(config, [*overrides, "model.n_estimators=2,3"])
    assert (plan.kind, plan.launcher, len(plan.jobs)) == ("grid", "joblib_2", 2)
    assert hydra_section(read_source(config), overrides)["launcher"]["n_jobs"] == 2


def test_a_users_sweeper_built_on_a_preset_still_may_not_name_code(workdir):
    write(
        workdir / "hydra" / "sweeper" / "mine.yaml",
        "defaults:\n  - ednax_optuna_tpe\n_target_: pathlib.Path.touch\n",
    )
    defaults = "defaults:\n  - override hydra/sweeper: mine\n  - _self_\n"
    config = write(workdir / "search.yaml", defaults + SKLEARN + SEARCH)
    with pytest.raises(ConfigError) as error:
        prepare_sweep(config, [])
    assert "hydra.sweeper._target_" in [p.path for p in error.value.problems]


def test_the_configs_readme_lists_every_option():
    readme = (CONFIGS / "README.md").read_text()
    for option in OPTIONS:
        assert f"`{option.stem}`" in readme, option
