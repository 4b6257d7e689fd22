"""ednax's Optuna sweeper (`hydra/sweeper=ednax_optuna`) end to end, through the real CLI.

A search leaves one bundle per trial and a study in SQLite; sweep.json lists the trials
and the best one; plots are written. Torch trials report every epoch and the pruner stops
bad ones (bundle "pruned", trial PRUNED). A trial that raises or whose loss is NaN fails
while the search goes on. A killed search continues where it stopped, and trials run by
the joblib launcher in other processes reach their trial through the storage.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import SAMPLES, write

WINE = SAMPLES / "wine-optuna.yaml"
IRIS_MLP = SAMPLES / "iris-mlp-optuna.yaml"
ENV = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "OMP_NUM_THREADS": "1"}

# A plugin estimator: a decision tree that refuses depth 3 and can take its time.
PICKY = '''
import time

from ednax.registry import register


@register("model", "picky_tree", family="sklearn")
class PickyTree:
    """A decision tree that refuses depth 3 when fitted.

    Parameters
    ----------
    depth : int
        Maximum depth of the tree; 3 makes the fit fail.
    pause : float
        Seconds each fit waits first.
    """

    def __init__(self, depth: int = 1, pause: float = 0.0):
        self.depth = depth
        self.pause = pause

    def build(self, task):
        return _Picky(self.depth, self.pause)


class _Picky:
    def __init__(self, depth, pause):
        self.depth, self.pause = depth, pause

    def fit(self, X, y):
        time.sleep(self.pause)
        if self.depth == 3:
            raise ValueError("depth 3 is not allowed")
        from sklearn.tree import DecisionTreeClassifier

        self.tree = DecisionTreeClassifier(max_depth=self.depth, random_state=0).fit(X, y)
        return self

    def predict(self, X):
        return self.tree.predict(X)
'''


pytestmark = pytest.mark.usefixtures("one_thread")


def picky_config(folder: Path, sweeper: str) -> Path:
    write(folder / "picky_plugin.py", PICKY)
    return write(
        folder / "picky.yaml",
        "defaults:\n"
        "  - override hydra/sweeper: ednax_optuna\n"
        "  - _self_\n"
        "imports: [picky_plugin]\n"
        "experiment: {name: picky, seed: 0}\n"
        "data: {type: sklearn_toy, dataset: iris, val: 0.3, test: 0.0}\n"
        "model: {type: picky_tree}\n"
        "metrics: {names: [accuracy]}\n"
        "hydra:\n"
        "  sweeper:\n" + "".join(f"    {line}\n" for line in sweeper.strip().splitlines()),
    )


def sweep_folder(workdir: Path, experiment: str) -> Path:
    [folder] = list((workdir / "runs" / experiment).glob("sweep-*"))
    return folder


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())


def load_study(folder: Path, name: str | None = None):
    import optuna

    storage = f"sqlite:///{folder / 'optuna.db'}"
    return optuna.load_study(study_name=name or folder.name, storage=storage)


def test_an_estimator_search_records_trials_best_and_plots(cli, workdir):
    result = cli("run", WINE, "-m", "hydra.sweeper.n_trials=4", "hydra.sweeper.sampler=random")

    assert result.code == 0, result.text
    folder = sweep_folder(workdir, "wine-optuna")
    record = read_json(folder / "sweep.json")
    assert record["kind"] == "optuna" and record["status"] == "completed"
    assert record["optuna"]["directions"] == ["maximize"]
    assert record["optuna"]["objectives"] == ["val/f1_macro"]
    assert [job["state"] for job in record["jobs"]] == ["COMPLETE"] * 4
    study = load_study(folder)
    assert len(study.trials) == 4
    for job, trial in zip(record["jobs"], study.trials, strict=True):
        run = read_json(workdir / job["bundle"] / "run.json")
        metrics = read_json(workdir / job["bundle"] / "metrics.json")
        assert run["status"] == "completed" and run["sweep"]["id"] == record["id"]
        assert run["trial"]["number"] == trial.number and run["trial"]["params"] == trial.params
        assert trial.value == pytest.approx(metrics["val"]["f1_macro"])
        assert f"model.max_depth={trial.params['model.max_depth']}" in job["overrides"]
    [best] = record["best"]
    assert best["value"] == pytest.approx(study.best_value)
    assert best["params"] == study.best_params and (workdir / best["bundle"]).is_dir()
    assert set(record["plots"]) == {"optimization_history.png", "param_importances.png"}
    for plot in record["plots"]:
        assert (folder / plot).read_bytes()[:4] == b"\x89PNG"
    assert "best trial" in result.out and best["bundle"] in result.out


def test_pruning_stops_bad_torch_trials(cli, workdir):
    epochs = 10
    result = cli(
        "run",
        IRIS_MLP,
        "-m",
        "optimizer.lr=tag(log, interval(1e-5, 1e-1))",
        "model.hidden=[16]",
        f"trainer.max_epochs={epochs}",
        "hydra.sweeper.n_trials=8",
        "hydra.sweeper.sampler=random",
        "hydra.sweeper.pruner=median",  # 5 startup trials, no warm-up: Optuna's defaults
    )

    assert result.code == 0, result.text
    folder = sweep_folder(workdir, "iris-mlp-optuna")
    record = read_json(folder / "sweep.json")
    pruned = [job for job in record["jobs"] if job["state"] == "PRUNED"]
    assert pruned, result.text
    study = {t.number: t for t in load_study(folder).trials}
    for job in pruned:
        trial = study[job["trial"]]
        bundle = workdir / job["bundle"]
        run = read_json(bundle / "run.json")
        history = (bundle / "history.csv").read_text().strip().splitlines()[1:]
        assert run["status"] == "pruned" and "pruned by Optuna at epoch" in run["error"]
        assert trial.state.name == "PRUNED"
        assert 1 <= len(history) < epochs  # stopped before the end
        assert sorted(trial.intermediate_values) == list(range(1, len(history) + 1))
        assert (bundle / "artifacts" / "last.ckpt").is_file()
    completed = [job for job in record["jobs"] if job["state"] == "COMPLETE"]
    for job in completed:
        assert len(study[job["trial"]].intermediate_values) == epochs
    assert record["best"][0]["state"] == "COMPLETE"


def test_a_failing_trial_is_recorded_and_the_search_goes_on(cli, workdir):
    config = picky_config(workdir, "sampler: grid\nparams:\n  model.depth: choice(1, 2, 3)")

    result = cli("run", config, "-m")

    assert result.code == 0, result.text
    folder = sweep_folder(workdir, "picky")
    record = read_json(folder / "sweep.json")
    by_depth = {job["params"]["model.depth"]: job for job in record["jobs"]}
    assert sorted(by_depth) == [1, 2, 3]
    failed = by_depth[3]
    assert failed["state"] == "FAIL" and failed["status"] == "failed"
    assert "depth 3 is not allowed" in failed["error"]
    assert read_json(workdir / failed["bundle"] / "run.json")["status"] == "failed"
    assert by_depth[1]["state"] == by_depth[2]["state"] == "COMPLETE"
    assert "depth 3 is not allowed" in result.out


def test_a_killed_search_resumes_without_redoing_trials(workdir):
    config = picky_config(
        workdir,
        "sampler: random\nn_trials: 6\nstudy_name: resumable\n"
        "params:\n  model.depth: choice(1, 2)\n  model.pause: 0.6",
    )
    command = [sys.executable, "-m", "ednax", "run", str(config), "-m"]
    folder = workdir / "runs" / "picky" / "sweep-resumable"
    first = subprocess.Popen(
        command, cwd=workdir, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        done_before = wait_for_completed(folder, at_least=2, process=first)
    finally:
        first.kill()
        first.wait()

    second = subprocess.run(command, cwd=workdir, env=ENV, capture_output=True, text=True)

    assert second.returncode == 0, second.stdout + second.stderr
    assert "already in the study" in second.stdout
    study = load_study(folder, "resumable")
    states = [t.state.name for t in study.trials]
    interrupted = [t for t in study.trials if t.user_attrs.get("ednax_interrupted")]
    assert states.count("COMPLETE") == 6, [
        (t.number, t.state.name, t.user_attrs) for t in study.trials
    ]
    assert all(t.state.name == "FAIL" for t in interrupted)
    assert len(study.trials) == 6 + len(interrupted)
    record = read_json(folder / "sweep.json")
    assert record["sessions"] == 2
    completed_runs = {job["run_id"] for job in record["jobs"] if job["status"] == "completed"}
    assert done_before <= completed_runs  # the first session's trials were kept, not re-run
    bundles = [read_json(p) for p in folder.glob("*/run.json")]
    assert sum(run["status"] == "completed" for run in bundles) == 6


def test_a_trial_that_ended_just_before_the_kill_is_taken_from_its_bundle(tmp_path):
    """The sweep died after a trial's bundle completed but before the study was told:
    the resumed search records the trial from the bundle instead of running another."""
    import optuna

    from ednax.sweep import optuna_study
    from ednax.sweep.storage import open_storage

    storage = open_storage(f"sqlite:///{tmp_path / 'optuna.db'}")
    study = optuna.create_study(study_name="s", storage=storage, direction="maximize")
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    owner = {"host": optuna_study.owner()["host"], "pid": int(dead.stdout)}
    for _ in range(2):
        trial = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
        trial.set_user_attr(optuna_study.OWNER_ATTR, owner)
    bundle = tmp_path / "20260101-000000-abcdef"
    write(
        bundle / "run.json",
        json.dumps(
            {
                "id": bundle.name,
                "status": "completed",
                "error": None,
                "command": ["ednax", "run", "c.yaml", "x=0.5"],
                "trial": {"study": "s", "number": 0},
            }
        ),
    )
    write(bundle / "metrics.json", json.dumps({"val": {"accuracy": 0.75}}))

    recovered, interrupted = optuna_study.settle_orphans(study, storage, tmp_path, ["val/accuracy"])

    assert (recovered, interrupted) == ([0], [1])
    first, second = study.get_trials()
    assert first.state.name == "COMPLETE" and first.value == 0.75
    assert first.user_attrs["ednax"]["run_id"] == bundle.name
    assert second.state.name == "FAIL" and second.user_attrs["ednax_interrupted"]
    assert optuna_study.counted(study) == 1


def wait_for_completed(folder: Path, at_least: int, process, timeout: float = 90) -> set[str]:
    """Run ids of completed bundles, once there are `at_least` of them."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read().decode()
        done = set()
        for run_file in folder.glob("*/run.json"):
            try:
                run = json.loads(run_file.read_text())
            except (OSError, ValueError):
                continue
            if run["status"] == "completed":
                done.add(run["id"])
        if len(done) >= at_least:
            return done
        time.sleep(0.1)
    raise AssertionError(f"fewer than {at_least} trials completed in {timeout} s")


def test_joblib_workers_reach_their_trials_through_the_storage(cli, workdir):
    """Two trials at once in joblib's worker processes; one diverges (NaN loss) and fails
    there, the other reports every epoch to the study's storage and completes."""
    epochs = 3
    result = cli(
        "run",
        IRIS_MLP,
        "-m",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        "hydra.sweeper.n_jobs=2",
        "hydra.sweeper.sampler=grid",
        "hydra.sweeper.params=null",
        "optimizer=sgd",
        "optimizer.lr=0.05,1e30",
        "model.hidden=[16]",
        f"trainer.max_epochs={epochs}",
    )

    assert result.code == 0, result.text
    folder = sweep_folder(workdir, "iris-mlp-optuna")
    record = read_json(folder / "sweep.json")
    assert record["launcher"] == "joblib"
    study = {t.number: t for t in load_study(folder).trials}
    jobs = {job["params"]["optimizer.lr"]: job for job in record["jobs"]}
    good, diverged = jobs[0.05], jobs[1e30]
    assert good["state"] == "COMPLETE"
    # reported from the worker, epoch by epoch, into the study's storage
    assert sorted(study[good["trial"]].intermediate_values) == list(range(1, epochs + 1))
    assert diverged["state"] == "FAIL" and diverged["status"] == "failed"
    assert re.search(r"loss is (nan|inf) at epoch 1", diverged["error"]), diverged["error"]
    assert read_json(workdir / diverged["bundle"] / "run.json")["status"] == "failed"
    pids = {read_json(workdir / job["bundle"] / "run.json")["pid"] for job in jobs.values()}
    assert record["pid"] not in pids
    # drawn by the sweeper, which imported what plots need while the workers ran
    assert record["plots"] == ["optimization_history.png"]
    assert (folder / "optimization_history.png").stat().st_size > 0


@pytest.mark.parametrize(
    ("sweeper", "expected"),
    [
        (
            "params:\n  model.depth: range(1",
            "picky.yaml:12 hydra.sweeper.params.model.depth: cannot parse",
        ),
        (
            "params:\n  model.dpth: choice(1, 2)",
            "hydra.sweeper.params.model.dpth: unknown parameter",
        ),
        (
            "params:\n  model.depth: interval(2, 1)",
            "hydra.sweeper.params.model.depth: interval(2, 1) is empty",
        ),
        (
            "sampler: tpee\nparams:\n  model.depth: choice(1, 2)",
            "hydra.sweeper.sampler: unknown sampler 'tpee'",
        ),
        (
            "direction: [maximize, minimize]\nparams:\n  model.depth: choice(1, 2)",
            "2 direction(s) for 1 objective(s)",
        ),
    ],
    ids=["unparseable", "unknown-key", "empty-interval", "unknown-sampler", "directions"],
)
def test_a_bad_search_space_stops_before_any_trial(cli, workdir, sweeper, expected):
    config = picky_config(workdir, sweeper)

    result = cli("run", config, "-m")

    assert result.code == 2, result.text
    assert expected in result.err, result.err
    assert "Traceback" not in result.text
    assert not (workdir / "runs").exists()


def test_dry_run_prints_the_search_space(cli, workdir):
    result = cli("run", IRIS_MLP, "-m", "--dry-run", "hydra.sweeper.n_trials=5")

    assert result.code == 0, result.text
    assert "optuna: 5 trial(s), tpe sampler, hyperband pruner, basic launcher" in result.out
    assert "optimizer.lr: float in [0.0001, 0.3] (log)" in result.out
    assert "model.hidden: choice([16], [64], [64,64])" in result.out
    assert not (workdir / "runs").exists()


def test_default_directions_follow_the_monitor_and_each_metric(cli, workdir):
    """The monitored objective takes the monitor's mode; another metric its own direction
    (rmse is minimised, r2 maximised), as the config layer decided them."""
    config = SAMPLES / "diabetes-regression.yaml"
    common = ["-m", "--dry-run", "hydra/sweeper=ednax_optuna", "model.alpha=interval(0.1, 10)"]

    both = cli("run", config, *common, "hydra.sweeper.objective=[val/rmse,val/r2]")
    flipped = cli("run", config, *common, "metrics.mode=max")

    assert both.code == 0, both.text
    assert "objective: minimize val/rmse, maximize val/r2" in both.out
    assert flipped.code == 0, flipped.text
    assert "objective: maximize val/rmse" in flipped.out


def test_a_study_name_that_cannot_name_the_sweep_folder_is_refused(cli, workdir):
    result = cli("run", WINE, "-m", "--dry-run", "hydra.sweeper.study_name=a/b")

    assert result.code == 2, result.text
    assert "hydra.sweeper.study_name: 'a/b' cannot name a folder" in result.err
    assert "sweep-<study_name>" in result.err
