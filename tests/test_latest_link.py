"""`runs/<experiment>/latest` on disk: a link to the experiment's last completed run, that
a shell, a config path and the run listing all treat right."""

from __future__ import annotations

from pathlib import Path

import pytest

import ednax
from ednax.errors import RunError
from tests.conftest import read_json, run_cli, write

CONFIG = """\
imports: [{imports}]
experiment: {{name: linked, seed: 0}}
data: {{type: sklearn_toy, dataset: iris, val: 0.2, test: 0.2}}
model: {{type: {model}, n_estimators: 5}}
"""
BROKEN = """\
from sklearn.ensemble import RandomForestClassifier

from ednax.registry import register


@register("model", "broken_forest")
class BrokenForest(RandomForestClassifier):
    def fit(self, X, y, sample_weight=None):
        raise RuntimeError("the forest fell over")
"""


@pytest.fixture
def configs(workdir: Path) -> Path:
    write(workdir / "forest.yaml", CONFIG.format(imports="", model="random_forest"))
    write(workdir / "broken.py", BROKEN)
    write(workdir / "broken.yaml", CONFIG.format(imports="broken", model="broken_forest"))
    return workdir


def test_latest_names_the_last_completed_run_and_a_failure_does_not_move_it(configs):
    first = ednax.run(configs / "forest.yaml", ["model.n_estimators=3"], say=None)
    second = ednax.run(configs / "forest.yaml", say=None)
    link = configs / "runs" / "linked" / "latest"
    assert link.is_symlink() and not Path(link.readlink()).is_absolute()
    assert link.resolve() == second.path.resolve() != first.path.resolve()
    assert read_json(link / "metrics.json") == read_json(second.path / "metrics.json")
    with pytest.raises(RunError):
        ednax.run(configs / "broken.yaml", say=None)
    assert link.resolve() == second.path.resolve()


def test_the_link_is_not_a_run_of_its_own_and_configs_record_the_run_it_names(configs):
    ednax.run(configs / "forest.yaml", say=None)
    done = ednax.run(configs / "forest.yaml", ["model.n_estimators=4"], say=None)
    listed = run_cli("runs", "--format", "csv", cwd=configs)
    assert listed.code == 0, listed.text
    assert len(listed.out.strip().splitlines()) == 1 + 2
    write(
        configs / "again.yaml",
        CONFIG.format(imports="", model="random_forest").replace(
            "data: {type: sklearn_toy, dataset: iris, val: 0.2, test: 0.2}",
            "data: {type: csv, path: runs/linked/latest/artifacts/predictions.csv, target: target}",
        ),
    )
    plan = run_cli("run", "again.yaml", "--dry-run", cwd=configs)
    recorded = read_yaml_text(plan.out)["data"]["path"]
    assert recorded == str(done.path.resolve() / "artifacts" / "predictions.csv")


def test_a_sweep_links_its_experiment_to_a_trial(configs):
    swept = run_cli("run", "forest.yaml", "-m", "model.n_estimators=2,3", cwd=configs)
    assert swept.code == 0, swept.text
    link = configs / "runs" / "linked" / "latest"
    assert link.resolve().parent.name.startswith("sweep-")
    assert read_json(link / "run.json")["status"] == "completed"


def read_yaml_text(text: str):
    import yaml

    return yaml.safe_load(text)
