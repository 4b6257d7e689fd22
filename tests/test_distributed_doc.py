"""docs/distributed.md is a walk-through that works: its `console` blocks run, in order.

Each `$ ` line runs through bash from one scratch folder that holds `sample-configs/`, as a
reader following the page would type it; every command must succeed without a traceback.
The blocks that need a cluster (`bash`, `yaml`) are only shown.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, SAMPLES, bundles_in

DOC = REPO / "docs" / "distributed.md"


def console_commands(markdown: str) -> list[str]:
    blocks = re.findall(r"^```console\n(.*?)^```$", markdown, re.MULTILINE | re.DOTALL)
    return [line[2:] for block in blocks for line in block.splitlines() if line.startswith("$ ")]


@pytest.fixture(scope="module")
def walk_through(tmp_path_factory) -> tuple[Path, list[tuple[str, subprocess.CompletedProcess]]]:
    cwd = tmp_path_factory.mktemp("walk-through")
    (cwd / "sample-configs").symlink_to(SAMPLES)
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "OMP_NUM_THREADS": "1",
        "COLUMNS": "200",
        "NO_COLOR": "1",
    }
    done = []
    for command in console_commands(DOC.read_text()):
        proc = subprocess.run(
            ["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
        )
        done.append((command, proc))
        assert proc.returncode == 0, f"$ {command}\n{proc.stdout}{proc.stderr}"
    return cwd, done


def test_every_console_command_of_the_page_succeeds(walk_through):
    _, done = walk_through
    assert len(done) >= 3
    for command, proc in done:
        assert "Traceback" not in proc.stdout + proc.stderr, command


def test_the_ddp_run_of_the_page_is_one_bundle_trained_by_two_processes(walk_through):
    cwd, _ = walk_through
    bundles = bundles_in(cwd / "runs" / "iris-mlp")
    assert len(bundles) == 1
    (bundle,) = bundles
    assert json.loads((bundle / "run.json").read_text())["status"] == "completed"
    assert "distributed: 2 processes" in (bundle / "log.txt").read_text()


def test_the_submitit_grid_of_the_page_leaves_four_bundles_and_a_sweep_record(walk_through):
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    cwd, _ = walk_through
    (sweep,) = (cwd / "runs" / "iris-sklearn").glob("sweep-*")
    record = json.loads((sweep / "sweep.json").read_text())
    assert record["launcher"] == "submitit_local"
    assert [job["status"] for job in record["jobs"]] == ["completed"] * 4
    bundles = [p.parent for p in sweep.glob("*/run.json")]
    assert len(bundles) == 4


def test_the_two_workers_of_the_page_share_one_study_of_eight_trials(walk_through):
    cwd, _ = walk_through
    sweep = cwd / "runs" / "wine-optuna" / "sweep-wine-rf"
    record = json.loads((sweep / "sweep.json").read_text())
    counted = [job for job in record["jobs"] if job["status"] != "skipped"]
    assert [job["status"] for job in counted] == ["completed"] * 8
    assert len({job["trial"] for job in counted}) == 8
    assert len(record["workers"]) == 2
    bundles = [json.loads(p.read_text())["trial"]["number"] for p in sweep.glob("*/run.json")]
    assert sorted(bundles) == sorted(job["trial"] for job in counted)
