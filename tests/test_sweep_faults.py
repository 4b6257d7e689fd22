"""Sweeps under faults, through the real CLI: a sweep killed mid-job and resumed (as a
search, or its job's bundle with `ednax resume`) leaves sweep.json and every bundle's
run.json saying the same; joblib's workers end soon after their sweep's process is
killed; Ctrl-C pressed four times in a row ends a run or a sweep with exit code 130 and
one line, never a traceback.

Jobs here fit a plugin estimator that waits while a file exists (`hold`), so a test
decides when a job is in flight and when it may finish.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import SAMPLES, bundle_files, read_json, write

ENV = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "OMP_NUM_THREADS": "1"}

NAP = '''
import os
import time
from pathlib import Path

from ednax.registry import register


@register("model", "nap_tree", family="sklearn")
class NapTree:
    """A decision tree whose fit waits while a file exists.

    Parameters
    ----------
    depth : int
        Maximum depth of the tree.
    hold : str
        The file; each fit leaves `<hold>.started.<pid>` beside it, then waits.
    """

    def __init__(self, depth: int = 1, hold: str = ""):
        self.depth = depth
        self.hold = hold

    def build(self, task):
        return _Nap(self.depth, self.hold)


class _Nap:
    def __init__(self, depth, hold):
        self.depth, self.hold = depth, hold

    def fit(self, X, y):
        Path(f"{self.hold}.started.{os.getpid()}").touch()
        while os.path.exists(self.hold):
            time.sleep(0.05)
        from sklearn.tree import DecisionTreeClassifier

        self.tree = DecisionTreeClassifier(max_depth=self.depth, random_state=0).fit(X, y)
        return self

    def predict(self, X):
        return self.tree.predict(X)
'''

OPTUNA = (
    "  sweeper:\n"
    "    sampler: random\n"
    "    n_trials: 2\n"
    "    study_name: faults\n"
    "    params:\n"
    "      model.depth: choice(1, 2)\n"
)


def nap_config(folder: Path, hydra: str = "") -> Path:
    """A config of the napping tree that holds every fit until `folder/hold` is gone."""
    write(folder / "nap_plugin.py", NAP)
    defaults = "defaults:\n  - override hydra/sweeper: ednax_optuna\n  - _self_\n"
    return write(
        folder / "nap.yaml",
        (defaults if "sweeper" in hydra else "") + "imports: [nap_plugin]\n"
        "experiment: {name: nap, seed: 0}\n"
        "data: {type: sklearn_toy, dataset: iris, val: 0.3, test: 0.0}\n"
        f"model: {{type: nap_tree, hold: '{folder / 'hold'}'}}\n"
        "metrics: {names: [accuracy]}\n" + (f"hydra:\n{hydra}" if hydra else ""),
    )


def _sigint_default() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # a background job inherits it ignored


def start(cwd: Path, *args: str) -> subprocess.Popen:
    """`ednax ARGS` in its own process group, answering Ctrl-C as from a terminal."""
    return subprocess.Popen(
        [sys.executable, "-m", "ednax", *map(str, args)],
        cwd=cwd,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=_sigint_default,
    )


def ednax(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "ednax", *map(str, args)]
    return subprocess.run(command, cwd=cwd, env=ENV, capture_output=True, text=True, timeout=120)


def wait_for_fits(hold: Path, proc: subprocess.Popen, count: int, timeout=60) -> list[int]:
    """The pids of the processes fitting, once `count` fits wait on `hold`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "ednax ended early:\n" + "".join(proc.communicate())
        started = list(hold.parent.glob(f"{hold.name}.started.*"))
        if len(started) >= count:
            return [int(path.suffix[1:]) for path in started]
        time.sleep(0.05)
    raise AssertionError(f"{count} fit(s) did not start in {timeout} s")


def kill_group(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)


def sweep_folder(workdir: Path) -> Path:
    [folder] = (workdir / "runs" / "nap").glob("sweep-*")
    return folder


def records_agree(folder: Path) -> tuple[dict, dict[str, dict]]:
    """sweep.json and the bundles' run.json files, once every bundle is a job of sweep.json
    with the same status and reason; (sweep.json, run.json by run id)."""
    record = read_json(folder / "sweep.json")
    runs = {path.parent.name: read_json(path) for path in folder.glob("*/run.json")}
    jobs = {job["run_id"]: job for job in record["jobs"] if job.get("run_id")}
    assert set(jobs) == set(runs), json.dumps(record["jobs"], indent=1)
    for run_id, job in jobs.items():
        said = (runs[run_id]["status"], runs[run_id]["error"])
        assert (job["status"], job["error"]) == said, f"{run_id}: {job} against {said}"
    return record, runs


def test_a_search_killed_mid_trial_and_resumed_agrees_with_its_bundles(workdir):
    config = nap_config(workdir, OPTUNA)
    hold = write(workdir / "hold", "")
    first = start(workdir, "run", config, "-m")
    try:
        wait_for_fits(hold, first, 1)
    finally:
        kill_group(first)
    folder = sweep_folder(workdir)
    [killed] = [path.parent for path in folder.glob("*/run.json")]
    assert read_json(killed / "run.json")["status"] == "running"  # as the kill left it
    hold.unlink()

    second = ednax(workdir, "run", config, "-m")

    assert second.returncode == 0, second.stdout + second.stderr
    assert "trial(s) 0 were cut short by a stopped sweep" in second.stdout
    record, runs = records_agree(folder)
    [cut] = [job for job in record["jobs"] if job["run_id"] == killed.name]
    assert (cut["trial"], cut["status"], cut["state"]) == (0, "interrupted", "FAIL")
    assert "the sweep's process ended while the trial ran" in cut["error"]
    assert [run["status"] for run in runs.values()].count("completed") == 2

    resumed = ednax(workdir, "resume", killed)

    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    record, runs = records_agree(folder)
    assert runs[killed.name]["status"] == "completed"
    [cut] = [job for job in record["jobs"] if job["run_id"] == killed.name]
    assert cut["resumed"] and cut["value"] is not None
    assert cut["state"] == "FAIL"  # the study keeps the trial it settled


def test_a_killed_grid_tells_its_sweep_when_a_job_is_resumed(workdir):
    config = nap_config(workdir)
    hold = write(workdir / "hold", "")
    sweep = start(workdir, "run", config, "-m", "model.depth=1,2")
    try:
        wait_for_fits(hold, sweep, 1)
    finally:
        kill_group(sweep)
    folder = sweep_folder(workdir)
    [killed] = [path.parent for path in folder.glob("*/run.json")]
    hold.unlink()

    resumed = ednax(workdir, "resume", killed)

    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    record, runs = records_agree(folder)
    assert runs[killed.name]["status"] == "completed"
    assert record["status"] == "interrupted" and "the sweep's process ended" in record["error"]
    first, second = record["jobs"]
    assert first["resumed"] and first["value"] is not None
    assert second["status"] == "pending"  # it never ran
    assert record["best"] == [first]


def loky_workers(parent: int) -> set[int]:
    """The processes whose parent is `parent` and that are loky's workers."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            command = (stat.parent / "cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            continue
        if ppid == parent and b"loky" in command:
            found.add(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    """Whether a process exists and is not a zombie (a container's init may not reap)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
def test_joblib_workers_end_soon_after_their_sweep_is_killed(workdir):
    config = nap_config(workdir)
    write(workdir / "hold", "")
    joblib = ("hydra/launcher=joblib", "hydra.launcher.n_jobs=2")
    sweep = start(workdir, "run", config, "-m", "model.depth=1,2", *joblib)
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
    record, _ = records_agree(sweep_folder(workdir))
    assert [job["status"] for job in record["jobs"]] == ["interrupted", "interrupted"]


def ctrl_c_four_times(proc: subprocess.Popen) -> tuple[str, str]:
    """Ctrl-C pressed four times, 50 ms apart, on a terminal running `proc`."""
    for _ in range(4):
        os.killpg(proc.pid, signal.SIGINT)
        time.sleep(0.05)
    return proc.communicate(timeout=60)


def assert_one_line_interrupt(proc: subprocess.Popen, out: str, err: str) -> None:
    assert proc.returncode == 130, out + err
    assert "Traceback" not in out + err, err
    assert err.strip().splitlines()[-1] == "interrupted", err


def wait_for_epochs(runs: Path, proc: subprocess.Popen, count: int, timeout=90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the run ended early:\n" + "".join(proc.communicate())
        for history in bundle_files(runs, "*/*/history.csv"):
            if len(history.read_text().splitlines()) > count:
                return
        time.sleep(0.05)
    raise AssertionError(f"the run did not reach {count} epochs in {timeout} s")


def test_four_quick_ctrl_c_end_a_torch_run_with_one_line(workdir):
    epochs = ("trainer.max_epochs=500", "trainer.progress=plain")
    proc = start(workdir, "run", SAMPLES / "iris-mlp.yaml", *epochs)
    try:
        wait_for_epochs(workdir / "runs", proc, 2)
        out, err = ctrl_c_four_times(proc)
    finally:
        if proc.poll() is None:
            kill_group(proc)
    assert_one_line_interrupt(proc, out, err)
    [run] = bundle_files(workdir, "runs/iris-mlp/*/run.json")
    assert read_json(run)["status"] == "interrupted"


def test_four_quick_ctrl_c_end_a_search_with_one_line(workdir):
    config = nap_config(workdir, OPTUNA)
    write(workdir / "hold", "")
    proc = start(workdir, "run", config, "-m")
    try:
        wait_for_fits(workdir / "hold", proc, 1)
        out, err = ctrl_c_four_times(proc)
    finally:
        if proc.poll() is None:
            kill_group(proc)
    assert_one_line_interrupt(proc, out, err)
    record, runs = records_agree(sweep_folder(workdir))
    assert record["status"] == "interrupted"
    assert [run["status"] for run in runs.values()] == ["interrupted"]
