"""A search with `hydra.sweeper.n_jobs=K` and a local launcher runs in K workers, each
asking for its next trial as soon as its last one ended: no worker waits for the slowest
trial of a batch. Through the real CLI, with joblib's processes: while one long trial
runs, the other worker goes on with the rest; a killed search leaves no worker behind and
resumes to its exact budget.
"""

from __future__ import annotations

import os
import signal
import time
from datetime import datetime
from pathlib import Path

import pytest

from tests.conftest import read_json, run_cli, write
from tests.test_sweep_faults import (
    alive,
    kill_group,
    loky_workers,
    nap_config,
    records_agree,
    start,
    sweep_folder,
    wait_for_fits,
)

pytestmark = pytest.mark.usefixtures("one_thread")

JOBLIB = ("hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "hydra.sweeper.n_jobs=2")

# A plugin estimator: the first fit of the sweep (whoever claims the marker) takes long.
ONE_SLOW = '''
import os
import time

from ednax.registry import register


@register("model", "one_slow_tree", family="sklearn")
class OneSlowTree:
    """A decision tree; the first fit to create `marker` waits `pause` seconds first.

    Parameters
    ----------
    depth : int
        Maximum depth of the tree.
    marker : str
        The file the slow fit creates.
    pause : float
        Seconds the slow fit waits.
    """

    def __init__(self, depth: int = 1, marker: str = "", pause: float = 0.0):
        self.depth, self.marker, self.pause = depth, marker, pause

    def build(self, task):
        return _Tree(self.depth, self.marker, self.pause)


class _Tree:
    def __init__(self, depth, marker, pause):
        self.depth, self.marker, self.pause = depth, marker, pause

    def fit(self, X, y):
        try:
            os.close(os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            time.sleep(self.pause)
        except FileExistsError:
            pass
        from sklearn.tree import DecisionTreeClassifier

        self.tree = DecisionTreeClassifier(max_depth=self.depth, random_state=0).fit(X, y)
        return self

    def predict(self, X):
        return self.tree.predict(X)
'''


def one_slow_config(folder: Path, pause: float, n_trials: int) -> Path:
    write(folder / "one_slow_plugin.py", ONE_SLOW)
    return write(
        folder / "one_slow.yaml",
        "defaults:\n  - override hydra/sweeper: ednax_optuna\n  - _self_\n"
        "imports: [one_slow_plugin]\n"
        "experiment: {name: one_slow, seed: 0}\n"
        "data: {type: sklearn_toy, dataset: iris, val: 0.3, test: 0.0}\n"
        f"model: {{type: one_slow_tree, marker: '{folder / 'slow'}', pause: {pause}}}\n"
        "metrics: {names: [accuracy]}\n"
        "hydra:\n  sweeper:\n    sampler: random\n"
        f"    n_trials: {n_trials}\n    params:\n      model.depth: int(1, 6)\n",
    )


def span(run: dict) -> tuple[float, float]:
    return tuple(datetime.fromisoformat(run[k]).timestamp() for k in ("started_at", "ended_at"))


def test_a_worker_goes_on_while_the_other_runs_a_long_trial(workdir):
    config = one_slow_config(workdir, pause=6.0, n_trials=6)

    result = run_cli("run", config, "-m", *JOBLIB, cwd=workdir, timeout=300)

    assert result.code == 0, result.text
    [folder] = (workdir / "runs" / "one_slow").glob("sweep-*")
    record = read_json(folder / "sweep.json")
    assert record["counts"] == {"completed": 6}
    runs = [read_json(path) for path in folder.glob("*/run.json")]
    assert len({run["pid"] for run in runs}) == 2  # two workers, each its own process
    slow = max(runs, key=lambda run: run["duration_s"])
    start_, end = span(slow)
    meanwhile = [
        run
        for run in runs
        if run["pid"] != slow["pid"] and start_ <= span(run)[0] and span(run)[1] <= end
    ]
    # a batch of two would have run one trial beside the slow one, then waited for it
    assert len(meanwhile) >= 2, [(run["pid"], span(run)) for run in runs]


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_a_killed_search_leaves_no_worker_and_resumes_to_its_budget(workdir):
    sweeper = "  sweeper:\n    sampler: random\n    n_trials: 4\n    study_name: held\n"
    sweeper += "    params:\n      model.depth: int(1, 4)\n"
    config = nap_config(workdir, hydra=sweeper)
    write(workdir / "hold", "")
    sweep = start(workdir, "run", config, "-m", *JOBLIB)
    workers: set[int] = set()
    try:
        fitting = wait_for_fits(workdir / "hold", sweep, 2)
        workers = loky_workers(sweep.pid) | set(fitting)
        assert len(workers) >= 2 and sweep.pid not in workers
        sweep.kill()  # the sweep's process only: its workers are left to themselves
        sweep.communicate(timeout=30)
        deadline = time.monotonic() + 15
        while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not [pid for pid in workers if alive(pid)], "workers outlived their sweep"
    finally:
        for pid in filter(alive, workers):
            os.kill(pid, signal.SIGKILL)
        kill_group(sweep)
    (workdir / "hold").unlink()

    resumed = run_cli("run", config, "-m", *JOBLIB, cwd=workdir, timeout=300)

    assert resumed.code == 0, resumed.text
    record, runs = records_agree(sweep_folder(workdir))
    statuses = sorted(job["status"] for job in record["jobs"])
    assert statuses.count("completed") == 4, statuses
    assert set(statuses) <= {"completed", "interrupted"}
    assert sum(run["status"] == "completed" for run in runs.values()) == 4


def test_a_worker_starts_no_trial_after_the_search_timeout(workdir):
    from tests.test_optuna import picky_config

    config = picky_config(
        workdir,
        "sampler: random\nn_trials: 40\ntimeout: 2\n"
        "params:\n  model.depth: choice(1, 2)\n  model.pause: 0.5",
    )

    result = run_cli("run", config, "-m", cwd=workdir, timeout=300)

    assert result.code == 0, result.text
    assert "timeout: 2 s passed, no new trials" in result.out
    [folder] = (workdir / "runs" / "picky").glob("sweep-*")
    record = read_json(folder / "sweep.json")
    assert 1 <= len(record["jobs"]) < 10 and record["counts"] == {"completed": len(record["jobs"])}
    last_start = max(span(read_json(path))[0] for path in folder.glob("*/run.json"))
    first_start = min(span(read_json(path))[0] for path in folder.glob("*/run.json"))
    assert last_start - first_start < 2 + 1.5  # no trial started well after the timeout


def _pid_after(seconds: float) -> int:
    import os
    import time

    time.sleep(seconds)
    return os.getpid()


def test_the_joblib_launchers_idle_processes_are_stopped_when_the_sweep_ends():
    """Left to the end of the command, each would tear its imports down first (1.3 s
    after torch); once every job has returned they are stopped at once."""
    import os

    from joblib import Parallel, delayed

    from ednax.sweep.hydra_run import stop_idle_job_processes

    pids = set(Parallel(n_jobs=2, backend="loky")(delayed(_pid_after)(0.2) for _ in range(4)))
    assert pids and os.getpid() not in pids
    stop_idle_job_processes()
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
