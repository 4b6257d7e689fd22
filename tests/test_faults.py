"""Faults of the machine are errors, not crashes: a full disk during a run, a runs folder
that is a file. The run is recorded `failed` with the reason, exit 1, no internal error."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.conftest import SAMPLES, bundle_files, read_json

IRIS = SAMPLES / "iris-sklearn.yaml"
IRIS_MLP = SAMPLES / "iris-mlp.yaml"


@pytest.fixture
def small_disk(tmp_path):
    """A real, small filesystem (tmpfs), where this machine lets a test mount one."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2M", "tmpfs", str(disk)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip() or 'not root'}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def fill(disk, leave: int) -> None:
    """Fill `disk` but for about `leave` bytes."""
    stat = os.statvfs(disk)
    free = stat.f_bavail * stat.f_frsize
    (disk / "filler").write_bytes(b"\0" * max(0, free - leave))


def only_bundle(runs) -> dict:
    (run_file,) = bundle_files(runs, "*/*/run.json")
    return read_json(run_file)


@pytest.mark.parametrize(
    "config,args,leave",
    [
        (IRIS, ["model.n_estimators=300"], 60_000),  # the estimator does not fit
        (IRIS_MLP, ["trainer.max_epochs=3", "model.hidden=[256,256]"], 150_000),  # nor a checkpoint
    ],
    ids=["estimator", "torch"],
)
def test_a_full_disk_fails_the_run_and_records_why(cli, small_disk, config, args, leave):
    fill(small_disk, leave)
    runs = small_disk / "runs"
    result = cli(
        "run",
        config,
        f"experiment.runs_dir={runs}",
        "trainer.progress=plain" if config == IRIS_MLP else "experiment.seed=0",
        *args,
    )
    assert result.code == 1, result.text
    assert "run failed: the disk is full at " + str(runs) in result.err
    assert "internal error" not in result.text and "Traceback" not in result.text
    run = only_bundle(runs)
    assert run["status"] == "failed"
    assert run["error"].startswith("the disk is full at " + str(runs))
    assert not list(runs.rglob(".*.tmp")), "the run's temporary files are left behind"
    listed = cli("runs", "--runs-dir", runs, "--format", "json")
    assert listed.code == 0, listed.text
    assert '"status": "failed"' in listed.out


@pytest.mark.parametrize("command", ["validate", "run"])
def test_a_runs_folder_that_cannot_be_made_is_a_config_error(cli, workdir, command):
    (workdir / "taken").write_text("not a folder\n")
    result = cli(command, IRIS, "experiment.runs_dir=taken/runs")
    assert result.code == 2, result.text
    assert (
        "experiment.runs_dir: 'taken' is a file, so 'taken/runs' cannot be a folder" in result.err
    )
    assert "internal error" not in result.text
    assert sorted(p.name for p in workdir.iterdir()) == ["taken"]


def test_a_folder_that_turns_into_a_file_during_a_run_is_a_clear_failure(workdir):
    from ednax.errors import FaultError, fault_of

    fault = fault_of(NotADirectoryError(20, "Not a directory", "runs/x"))
    assert isinstance(fault, FaultError) and fault.exit_code == 1
    assert str(fault).startswith("a file stands where a folder should be at runs/x")
