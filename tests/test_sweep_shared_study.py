"""Several `ednax run CONFIG -m` workers on one Optuna study (same study name and storage).

Two real workers share a SQLite study: the study ends with exactly n_trials trials that
count, each run by one worker into one bundle; neither worker fails the other's running
trials; sweep.json lists both workers and the whole study. A trial of one worker is pruned
by comparison with the other worker's trials, read through the storage. In-process, the
race at the end of the budget (two workers both counting n_trials - 1 and both asking) is
forced, and settling orphans is checked against owners that are alive or out of sight.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import SAMPLES, run_cli, write

ENV = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "OMP_NUM_THREADS": "1"}
TIMEOUT = 240

# The first worker's first fit holds its trial RUNNING until the other worker has finished
# two fits: so both workers run trials whatever the machine's load, and the second one
# settles orphans (before each batch) while the first one's trial is running.
HOLD = '''
import os
import time
from pathlib import Path

from ednax.registry import register


@register("model", "held_tree", family="sklearn")
class HeldTree:
    """A decision tree whose first fit in a sweep waits for the other worker.

    Parameters
    ----------
    depth : int
        Maximum depth of the tree.
    hold : str
        A folder shared by the workers; empty: no waiting.
    """

    def __init__(self, depth: int = 1, hold: str = ""):
        self.depth = depth
        self.hold = hold

    def build(self, task):
        return _Held(self.depth, self.hold)


class _Held:
    def __init__(self, depth, hold):
        self.depth, self.hold = depth, Path(hold) if hold else None

    def fit(self, X, y):
        from sklearn.tree import DecisionTreeClassifier

        if self.hold is not None:
            self._first_waits()
        self.tree = DecisionTreeClassifier(max_depth=self.depth, random_state=0).fit(X, y)
        if self.hold is not None:
            (self.hold / f"done-{os.getpid()}-{time.monotonic_ns()}").touch()
        return self

    def _first_waits(self):
        self.hold.mkdir(exist_ok=True)
        try:
            (self.hold / "first").open("x").write(str(os.getpid()))
        except FileExistsError:
            return
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            done = [p.name.split("-")[1] for p in self.hold.glob("done-*")]
            if sum(pid != str(os.getpid()) for pid in done) >= 2:
                return
            time.sleep(0.05)

    def predict(self, X):
        return self.tree.predict(X)
'''


@pytest.fixture(autouse=True)
def one_thread_per_job(monkeypatch):
    """Small models on a shared 2-core machine: more threads only fight each other."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


def held_config(folder: Path) -> Path:
    write(folder / "held_plugin.py", HOLD)
    return write(
        folder / "held.yaml",
        "defaults:\n"
        "  - override hydra/sweeper: ednax_optuna\n"
        "  - _self_\n"
        "imports: [held_plugin]\n"
        "experiment: {name: held, seed: 0}\n"
        "data: {type: sklearn_toy, dataset: iris, val: 0.3, test: 0.0}\n"
        "model: {type: held_tree}\n"
        "metrics: {names: [accuracy]}\n"
        "hydra:\n"
        "  sweeper:\n"
        "    sampler: random\n"
        "    params:\n"
        "      model.depth: range(1, 6)\n",
    )


def start_worker(workdir: Path, *args) -> subprocess.Popen:
    command = [sys.executable, "-m", "ednax", "run", *map(str, args)]
    return subprocess.Popen(
        command, cwd=workdir, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def finish(workers: list[subprocess.Popen]) -> list[str]:
    outputs = [worker.communicate(timeout=TIMEOUT)[0] for worker in workers]
    for worker, output in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, output
    return outputs


def load_study(db: Path):
    import optuna

    return optuna.load_study(study_name="shared", storage=f"sqlite:///{db}")


def bundles_by_trial(*folders: Path) -> dict[int, list[dict]]:
    """run.json of every bundle under `folders`, by trial number."""
    found: dict[int, list[dict]] = {}
    for folder in folders:
        for run_file in folder.glob("**/run.json"):
            run = json.loads(run_file.read_text())
            found.setdefault(run["trial"]["number"], []).append(run)
    return found


def counting(trial) -> bool:
    return not (trial.user_attrs.get("ednax_skipped") or trial.user_attrs.get("ednax_interrupted"))


def test_two_workers_share_a_study_on_one_machine(workdir):
    n_trials = 6
    config = held_config(workdir)
    db = workdir / "study.db"
    args = [
        config,
        "-m",
        f"hydra.sweeper.storage=sqlite:///{db}",
        "hydra.sweeper.study_name=shared",
        f"hydra.sweeper.n_trials={n_trials}",
        f"model.hold={workdir / 'hold'}",
    ]

    workers = [start_worker(workdir, *args), start_worker(workdir, *args)]
    outputs = finish(workers)

    study = load_study(db)
    trials = study.trials
    assert [t.number for t in trials] == list(range(len(trials)))
    counted = [t for t in trials if counting(t)]
    assert len(counted) == n_trials
    assert all(t.state.name in ("COMPLETE", "PRUNED") for t in counted)
    skipped = [t for t in trials if not counting(t)]
    assert all(t.state.name == "FAIL" and t.user_attrs["ednax_skipped"] for t in skipped)
    # every trial that counts ran once, into one bundle, in the worker that asked for it
    bundles = bundles_by_trial(workdir / "runs")
    assert sorted(bundles) == sorted(t.number for t in counted)
    pids = {w.pid for w in workers}
    for trial in counted:
        [run] = bundles[trial.number]
        assert run["status"] == "completed"
        assert run["pid"] == trial.user_attrs["ednax_owner"]["pid"]
    assert {run["pid"] for [run] in bundles.values()} == pids  # both workers ran trials
    # the shared sweep folder: both workers, the whole study, the last summary complete
    record = json.loads((workdir / "runs/held/sweep-shared/sweep.json").read_text())
    assert record["status"] == "completed"
    assert {(w["pid"], w["status"]) for w in record["workers"]} == {
        (pid, "completed") for pid in pids
    }
    assert [job["trial"] for job in record["jobs"]] == [t.number for t in trials]
    assert record["counts"] == dict(Counter(["completed"] * n_trials + ["skipped"] * len(skipped)))
    assert record["best"][0]["value"] == study.best_value
    last = max(record["workers"], key=lambda w: w["ended_at"])
    [last_output] = [out for w, out in zip(workers, outputs, strict=True) if w.pid == last["pid"]]
    shown = f"{n_trials} completed" + (f", {len(skipped)} skipped" if skipped else "")
    assert f"study shared: {len(trials)} trial(s): {shown}\n" in last_output


def test_a_worker_prunes_by_the_other_workers_trials(workdir):
    """Worker A (a good learning rate) completes a trial; worker B (a learning rate too
    small to learn anything), started then on the same study from another folder, has no
    trial of its own to compare with, yet its trials are pruned at the first epoch: the
    pruner read A's trials from the storage."""
    db = workdir / "study.db"
    config = write(
        workdir / "mlp.yaml",
        "defaults:\n"
        "  - override hydra/sweeper: ednax_optuna\n"
        "  - _self_\n"
        "experiment: {name: mlp, seed: 0}\n"
        "data: {type: sklearn_toy, dataset: iris, val: 0.2, test: 0.2}\n"
        "preprocess: [standard_scaler]\n"
        "model: {type: mlp, hidden: [16]}\n"
        "loss: {type: cross_entropy}\n"
        "optimizer: {type: adam}\n"
        "trainer: {type: lightning, max_epochs: 5, batch_size: 16}\n"
        "metrics: {names: [accuracy], monitor: val/loss, mode: min}\n"
        "hydra:\n"
        "  sweeper:\n"
        "    pruner: {type: median, n_startup_trials: 1}\n"
        "    params:\n"
        "      model.dropout: interval(0.0, 0.01)\n",
    )
    common = [
        config,
        "-m",
        f"hydra.sweeper.storage=sqlite:///{db}",
        "hydra.sweeper.study_name=shared",
    ]
    worker_a = start_worker(
        workdir,
        *common,
        "hydra.sweeper.n_trials=2",
        "experiment.runs_dir=runs_a",
        "optimizer.lr=0.05",
    )
    wait_for_a_completed_trial(workdir / "runs_a", worker_a)
    worker_b = start_worker(
        workdir,
        *common,
        "hydra.sweeper.n_trials=4",
        "experiment.runs_dir=runs_b",
        "optimizer.lr=1e-7",
    )
    outputs = finish([worker_a, worker_b])

    study = load_study(db)
    by_owner: dict[int, list] = {}
    for trial in study.trials:
        by_owner.setdefault(trial.user_attrs["ednax_owner"]["pid"], []).append(trial)
    a_trials, b_trials = by_owner[worker_a.pid], by_owner[worker_b.pid]
    assert len(a_trials) == len(b_trials) == 2, outputs
    assert [t.state.name for t in b_trials] == ["PRUNED", "PRUNED"], outputs[1]
    assert all(list(t.intermediate_values) == [1] for t in b_trials)
    assert "COMPLETE" in [t.state.name for t in a_trials]
    # two sweep folders, one bundle per trial
    bundles = bundles_by_trial(workdir / "runs_a", workdir / "runs_b")
    assert {n: len(runs) for n, runs in bundles.items()} == {t.number: 1 for t in study.trials}
    for trial in b_trials:
        [run] = bundles[trial.number]
        assert run["status"] == "pruned" and "runs_b" in run["sweep"]["dir"]
    record_b = json.loads((workdir / "runs_b/mlp/sweep-shared/sweep.json").read_text())
    assert len(record_b["jobs"]) == 4  # the whole study, A's trials included
    assert record_b["best"][0]["owner"]["pid"] == worker_a.pid


def wait_for_a_completed_trial(folder: Path, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read()
        for run_file in folder.glob("*/*/*/run.json"):
            try:
                if json.loads(run_file.read_text())["status"] == "completed":
                    return
            except (OSError, ValueError):
                continue
        time.sleep(0.1)
    raise AssertionError(f"no trial completed in {TIMEOUT} s")


# --- in-process: the race for the last trial, and orphans --------------------------------


class RacingStudy:
    """The sweeper's study, with another worker asking for a trial just after this worker
    counted the study's trials and just before it asks (once the study holds
    n_trials - 1 trials that count): the race the budget check must settle."""

    def __init__(self, study, other, n_trials: int):
        self._study, self._other, self._n_trials = study, other, n_trials
        self.raced: list[int] = []

    def ask(self, distributions):
        from ednax.sweep import optuna_study

        if not self.raced and optuna_study.counted(self._study) == self._n_trials - 1:
            trial = self._other.ask(distributions)
            trial.set_user_attr(optuna_study.OWNER_ATTR, {"host": "elsewhere", "pid": 1})
            self.raced.append(trial.number)
        return self._study.ask(distributions)

    def __getattr__(self, name):
        return getattr(self._study, name)


class TellingLauncher:
    """Runs each trial as a job would: tells the study it completed."""

    def __init__(self, study):
        self.study = study
        self.launched: list[int] = []

    def launch(self, jobs, initial_job_idx):
        from hydra.core.utils import JobReturn, JobStatus

        returns = []
        for job in jobs:
            number = int(job[-1].split("=")[1])
            self.study.tell(number, 0.5)
            self.launched.append(number)
            returns.append(JobReturn(status=JobStatus.COMPLETED, _return_value={}))
        return returns


@pytest.mark.parametrize("n_jobs", [1, 3])
def test_the_budget_is_exact_when_two_workers_ask_for_the_last_trial(tmp_path, n_jobs):
    import optuna

    from ednax.sweep import optuna_search, optuna_study
    from ednax.sweep.record import SweepRecord
    from ednax.sweep.storage import open_storage

    n_trials = 4
    storage = open_storage(f"sqlite:///{tmp_path / 'study.db'}")
    study = optuna.create_study(study_name="s", storage=storage, direction="maximize")
    other = optuna.load_study(study_name="s", storage=storage)
    racing = RacingStudy(study, other, n_trials)
    record = SweepRecord(tmp_path)
    record.write({"jobs": []})
    settings = {"n_trials": n_trials, "n_jobs": n_jobs, "timeout": None, "objectives": ["val/x"]}
    launcher = TellingLauncher(study)
    # a launcher that starts a job per trial: the sweeper asks, in batches of n_jobs
    search = optuna_search._Search(
        record, racing, storage, [], settings, launcher, "submitit_local"
    )

    search.run()
    final = search.finish()

    [raced] = racing.raced
    trials = study.get_trials()
    assert optuna_study.counted(study) == n_trials  # this worker's runs + the other's trial
    assert len(launcher.launched) == n_trials - 1 and raced not in launcher.launched
    skipped = [t for t in trials if optuna_study.is_skipped(t)]
    assert len(skipped) == 1 and skipped[0].number > raced
    assert skipped[0].number not in launcher.launched and skipped[0].state.name == "FAIL"
    assert trials[raced].state.name == "RUNNING"  # the other worker's: left alone
    jobs = {job["trial"]: job for job in final["jobs"]}
    assert jobs[skipped[0].number]["status"] == "skipped"
    assert "not run" in jobs[skipped[0].number]["error"]
    assert final["counts"] == {"completed": n_trials - 1, "running": 1, "skipped": 1}


def test_orphans_are_only_trials_of_dead_processes_this_host_can_see(tmp_path):
    import optuna

    from ednax.sweep import optuna_study
    from ednax.sweep.storage import open_storage

    storage = open_storage(f"sqlite:///{tmp_path / 'study.db'}")
    study = optuna.create_study(study_name="s", storage=storage, direction="maximize")
    me = optuna_study.owner()
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        owners = [
            {**me, "pid": alive.pid},  # another worker, mid-trial
            {**me, "host": "another-machine", "pid": int(dead.stdout)},
            {**me, "boot": "another-boot", "pid": int(dead.stdout)},  # same name, not us
            {**me, "pid_ns": "pid:[1]", "pid": int(dead.stdout)},  # another container
            {},  # asked a moment ago, owner not yet written
            {**me, "pid": int(dead.stdout)},  # a killed worker of this machine
        ]
        for who in owners:
            trial = study.ask()
            if who:
                trial.set_user_attr(optuna_study.OWNER_ATTR, who)

        recovered, interrupted = optuna_study.settle_orphans(study, storage, tmp_path, ["val/x"])
    finally:
        alive.kill()
        alive.wait()

    assert (recovered, interrupted) == ([], [5])
    states = [t.state.name for t in study.get_trials()]
    assert states == ["RUNNING"] * 5 + ["FAIL"]


def test_workers_with_one_seed_draw_different_parameters_reproducibly(tmp_path):
    """Trial n's draws depend on the seed and n, not on which worker asked for it."""
    import optuna

    from ednax.sweep.search_space import Param
    from ednax.sweep.seeding import seeded_sampler
    from ednax.sweep.storage import open_storage

    space = [Param.from_json({"key": "x", "kind": "float", "low": 0.0, "high": 1.0})]

    def draws(db: str, workers: int) -> list[float]:
        storage = open_storage(f"sqlite:///{tmp_path / db}")
        optuna.create_study(study_name="s", storage=storage)
        studies = [
            optuna.load_study(
                study_name="s",
                storage=storage,
                sampler=seeded_sampler({"type": "tpe"}, 0, space),
            )
            for _ in range(workers)
        ]
        for number in range(6):
            studies[number % workers].ask({"x": space[0].distribution()})
        return [t.params["x"] for t in studies[0].get_trials()]

    two_workers, one_worker = draws("two.db", 2), draws("one.db", 1)

    assert len(set(two_workers)) == 6
    assert two_workers == one_worker


def test_a_storage_without_its_driver_names_the_package(tmp_path):
    import importlib.util

    from ednax.errors import UsageError
    from ednax.sweep.storage import open_storage

    if importlib.util.find_spec("pymysql") is not None:
        pytest.skip("PyMySQL is installed here")
    with pytest.raises(UsageError) as caught:
        open_storage("mysql+pymysql://ednax:secret@localhost/optuna")

    assert "pip install 'PyMySQL'" in str(caught.value)
    assert "secret" not in str(caught.value)


def test_a_storage_the_sweep_cannot_open_is_refused_before_any_folder(tmp_path):
    import importlib.util

    if importlib.util.find_spec("pymysql") is not None:
        pytest.skip("PyMySQL is installed here")
    config = SAMPLES / "wine-optuna.yaml"
    missing = run_cli(
        "run",
        config,
        "-m",
        "hydra.sweeper.storage=mysql+pymysql://ednax:secret@db/optuna",
        cwd=tmp_path,
    )
    typo = run_cli("run", config, "-m", "hydra.sweeper.storage=sqlite3:///x.db", cwd=tmp_path)

    assert missing.code == 2, missing.text
    assert "needs the database driver 'pymysql', not installed" in missing.text
    assert "pip install 'PyMySQL'" in missing.text
    assert typo.code == 2, typo.text
    assert "'sqlite3:///x.db' is not a database URL" in typo.text
    assert "Traceback" not in missing.text + typo.text
    assert not (tmp_path / "runs").exists()


def test_a_trial_has_its_owner_from_the_moment_it_exists(tmp_path, monkeypatch):
    """A process killed while asking (the trial created, its parameters being drawn)
    leaves a trial whose dead owner the next sweep sees, so it is settled, not left
    running for ever."""
    import optuna

    from ednax.sweep import optuna_study
    from ednax.sweep.storage import open_storage

    storage = open_storage(f"sqlite:///{tmp_path / 'study.db'}")
    study = optuna.create_study(study_name="s", storage=storage, direction="maximize")
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    who = {**optuna_study.owner(), "pid": int(dead.stdout)}

    def killed(self, *args, **kwargs):
        raise KeyboardInterrupt  # the moment after the trial's row was written

    monkeypatch.setattr(optuna.trial.Trial, "__init__", killed)
    distributions = {"x": optuna.distributions.FloatDistribution(0.0, 1.0)}
    with pytest.raises(KeyboardInterrupt):
        optuna_study.ask(study, storage, distributions, 1, 10, who)
    monkeypatch.undo()

    [trial] = study.get_trials()
    assert trial.state.name == "RUNNING" and trial.user_attrs[optuna_study.OWNER_ATTR] == who
    _, interrupted = optuna_study.settle_orphans(study, storage, tmp_path, ["val/x"])
    assert interrupted == [trial.number]
    assert optuna_study.counted(study) == 0
