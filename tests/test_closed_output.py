"""A reader that goes away (`ednax run cfg.yaml | head -1`) does not stop a run: it
completes into its bundle and log.txt, and the command exits 0."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import SAMPLES, read_json


def run_read_once(args: list[str], cwd: Path) -> tuple[str, int, str]:
    """`ednax ARGS | head -1`: the first line read, then the pipe closed."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "ednax", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    first = proc.stdout.readline()
    proc.stdout.close()
    _, err = proc.communicate(timeout=300)
    return first, proc.returncode, err


def test_a_run_whose_output_is_closed_completes_and_keeps_its_log(workdir):
    args = ["run", str(SAMPLES / "iris-mlp.yaml"), "trainer.max_epochs=40"]
    first, code, err = run_read_once(args, workdir)
    assert first.startswith("run ")
    assert code == 0, err
    (bundle,) = (workdir / "runs" / "iris-mlp").glob("2*")
    assert read_json(bundle / "run.json")["status"] == "completed"
    log = (bundle / "log.txt").read_text()
    assert "epoch 40/40" in log and "trained 40 epochs" in log
