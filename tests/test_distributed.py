"""Training across processes: `trainer.strategy=ddp` with two CPU processes (gloo).

Lightning starts the second process by running the same `ednax` command again; ednax
must write the bundle once (rank 0), gather the epoch metrics of both processes, shard
the in-memory batches so that each row is seen once per epoch, and resume from the
checkpoint under DDP. Two processes with 8 rows each take the same global batches as one
process with 16 rows, so the two fits agree to float precision (without dropout, and
when every global batch splits evenly).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SAMPLES, bundles_in, run_cli
from tests.test_torch_e2e import (
    bundle_of,
    epochs,
    history,
    read_json,
    rows_in,
    stop,
    succeeded,
    wait_for_epochs,
)

IRIS_MLP = SAMPLES / "iris-mlp.yaml"
EPOCHS = 12
# 150 rows with val 0.3 and test 0.2 leave 75 train rows: the last global batch of 16
# splits 6/5 between the processes, so their shares (and random draws) differ.
COMMON = (f"trainer.max_epochs={EPOCHS}", "data.val=0.3", "trainer.progress=plain")
DDP = ("trainer.strategy=ddp", "trainer.devices=2", "trainer.accelerator=cpu")
DDP_RUN = (*COMMON, *DDP, "trainer.batch_size=8")


@pytest.fixture(scope="module", autouse=True)
def one_thread_and_own_temp(tmp_path_factory):
    """One torch thread per process (two processes share two cores), and a temporary
    folder of the module's own, to see that the other rank cleans up its scratch bundle."""
    temp = tmp_path_factory.mktemp("tmp")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OMP_NUM_THREADS", "1")
        patch.setenv("TMPDIR", str(temp))
        yield temp


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory) -> Path:
    cwd = tmp_path_factory.mktemp("ddp")
    result = succeeded(run_cli("run", IRIS_MLP, *DDP_RUN, cwd=cwd))
    return bundle_of(result, cwd)


def test_ddp_writes_one_complete_bundle(ddp_run, one_thread_and_own_temp):
    assert [p.name for p in bundles_in(ddp_run.parent)] == [ddp_run.name]
    run = read_json(ddp_run / "run.json")
    assert run["status"] == "completed"
    assert "distributed: 2 processes (DDPStrategy, 1 node(s))" in (ddp_run / "log.txt").read_text()
    metrics = read_json(ddp_run / "metrics.json")
    assert set(metrics) == {"train", "val", "test"}
    for split in metrics.values():
        assert set(split) == {"loss", "accuracy", "f1_macro"}
    assert metrics["test"]["accuracy"] >= 0.9
    assert epochs(ddp_run) == list(range(1, EPOCHS + 1))
    assert sorted(p.name for p in (ddp_run / "artifacts").glob("*.ckpt")) == [
        "best.ckpt",
        "last.ckpt",
    ]
    assert list(one_thread_and_own_temp.glob("ednax-rank-*")) == []


def test_ddp_matches_one_process_taking_the_same_global_batches(tmp_path):
    # val 0.2 leaves 90 train rows: every global batch of 16 (and the last of 10) splits evenly
    no_dropout = ("model.dropout=0", "data.val=0.2")
    ddp = bundle_of(
        succeeded(run_cli("run", IRIS_MLP, *DDP_RUN, *no_dropout, cwd=tmp_path)), tmp_path
    )
    single = bundle_of(
        succeeded(
            run_cli("run", IRIS_MLP, *COMMON, "trainer.batch_size=16", *no_dropout, cwd=tmp_path)
        ),
        tmp_path,
    )
    ddp_metrics, single_metrics = (
        read_json(ddp / "metrics.json"),
        read_json(single / "metrics.json"),
    )
    for split, values in single_metrics.items():
        for name, value in values.items():
            assert ddp_metrics[split][name] == pytest.approx(value, abs=1e-5), (split, name)
    for ddp_row, single_row in zip(history(ddp), history(single), strict=True):
        for key, value in single_row.items():
            assert float(ddp_row[key]) == pytest.approx(float(value), abs=1e-5), key


def test_ddp_run_killed_mid_training_resumes_to_the_same_result(ddp_run, tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "ednax", "run", str(IRIS_MLP), *DDP_RUN],
        cwd=tmp_path,
        env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # both processes in one group, as a terminal or SLURM has them
    )
    try:
        bundle = wait_for_epochs(tmp_path / "runs", proc, 3)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        stop(proc)
    assert rows_in(bundle / "history.csv") < EPOCHS
    assert read_json(bundle / "run.json")["status"] == "running"

    resumed = succeeded(run_cli("resume", bundle, cwd=tmp_path))
    assert "from last.ckpt" in resumed.text
    assert read_json(bundle / "run.json")["status"] == "completed"
    assert epochs(bundle) == list(range(1, EPOCHS + 1))
    assert read_json(bundle / "metrics.json") == read_json(ddp_run / "metrics.json")
    assert history(bundle) == history(ddp_run)


def test_a_sweep_asking_for_two_processes_per_job_is_refused_before_it_starts(tmp_path):
    # Lightning would start a job's second process by running the command again: the sweep.
    swept = run_cli(
        "run", IRIS_MLP, "-m", *DDP, "trainer.max_epochs=1", "optimizer.lr=0.01,0.02", cwd=tmp_path
    )
    assert swept.code == 2, swept.text
    assert "trainer.devices: a sweep job trains in one process, and this trainer asks for 2" in (
        swept.text
    )
    assert "set trainer.devices=1" in swept.text
    assert "Traceback" not in swept.text
    assert not (tmp_path / "runs").exists()


def test_rerun_of_a_ddp_run_is_one_new_bundle_with_the_same_metrics(ddp_run, tmp_path):
    rerun = bundle_of(succeeded(run_cli("rerun", ddp_run, cwd=tmp_path)), tmp_path)
    assert [p.name for p in bundles_in(rerun.parent)] == [rerun.name]
    assert "distributed: 2 processes" in (rerun / "log.txt").read_text()
    assert read_json(rerun / "metrics.json") == read_json(ddp_run / "metrics.json")
