"""The run bundle: atomic files, unique run ids, provenance, statuses, artifacts, history."""

from __future__ import annotations

import csv
import hashlib
import json
import multiprocessing
import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from ednax.runs import atomic, bundle, trust
from ednax.runs.bundle import STATUSES, Bundle, new_run_id
from ednax.runs.provenance import collect_env, git_state
from tests.conftest import git, make_repo

FIXED_TIME = time.mktime((2026, 11, 25, 8, 30, 0, 0, 0, -1))


pytestmark = pytest.mark.usefixtures("isolated_git")


def start_args(cwd: Path, **changes):
    args = dict(
        config={"experiment": {"name": "iris", "seed": 3}, "model": {"type": "mlp", "hidden": [8]}},
        overrides=["model.hidden=[8]"],
        command=["ednax", "run", "iris.yaml", "model.hidden=[8]"],
        experiment="iris",
        seed=3,
        fingerprints={"config": "abc", "structure": "def", "data": "0123"},
        classes={"model": {"target": "ednax.steps.models:MLP", "version": "0.1.0"}},
        packages=["pyyaml", "surely-not-an-installed-package"],
        cwd=cwd,
    )
    args.update(changes)
    return args


def entries(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


# --- atomic writes ---------------------------------------------------------------------


def test_atomic_writers_replace_content_and_leave_no_temp_files(tmp_path):
    target = tmp_path / "f.json"
    atomic.write_json(target, {"a": 1})
    atomic.write_json(target, {"b": [1, 2], "when": Path("x")})

    assert json.loads(target.read_text()) == {"b": [1, 2], "when": "x"}
    assert target.read_text().endswith("}\n")
    atomic.write_yaml(tmp_path / "c.yaml", {"z": 1, "a": "é"})
    assert (tmp_path / "c.yaml").read_text(encoding="utf-8") == "z: 1\na: é\n"
    atomic.write_text(tmp_path / "t.txt", "old")
    atomic.write_text(tmp_path / "t.txt", "new")
    assert (tmp_path / "t.txt").read_text() == "new"
    assert entries(tmp_path) == ["c.yaml", "f.json", "t.txt"]


def test_failed_write_keeps_the_old_file_and_removes_the_temp_file(tmp_path):
    target = tmp_path / "run.json"
    atomic.write_json(target, {"status": "running"})

    # json.dump streams: "status" is written to the temp file before the tuple key fails.
    with pytest.raises(TypeError):
        atomic.write_json(target, {"status": "completed", "bad": {(1, 2): "tuple key"}})

    assert json.loads(target.read_text()) == {"status": "running"}
    assert entries(tmp_path) == ["run.json"]


def test_new_files_get_the_usual_permissions_not_private_ones(tmp_path):
    atomic.write_text(tmp_path / "shared.txt", "x")
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "shared.txt").stat().st_mode & 0o777 == 0o666 & ~umask


# --- run ids and directories -----------------------------------------------------------


def test_run_ids_sort_by_time_and_have_a_random_suffix(monkeypatch):
    monkeypatch.setattr(bundle, "_now", lambda: FIXED_TIME)
    run_id = new_run_id()
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(FIXED_TIME))
    assert run_id.startswith(stamp + "-")
    assert len(run_id.rsplit("-", 1)[1]) == 6
    monkeypatch.setattr(bundle, "_now", lambda: FIXED_TIME + 0.002)
    assert new_run_id() > run_id  # sorted to the millisecond


def test_200_runs_started_in_one_second_get_200_directories(tmp_path, monkeypatch):
    monkeypatch.setattr(bundle, "_now", lambda: FIXED_TIME)
    paths = {Bundle.create(tmp_path, "iris").path for _ in range(200)}
    assert len(paths) == 200
    assert len(entries(tmp_path / "iris")) == 200


def test_create_retries_when_the_run_id_is_taken(tmp_path, monkeypatch):
    monkeypatch.setattr(bundle, "_now", lambda: FIXED_TIME)
    suffixes = iter(["aaaa", "aaaa", "bbbb"])
    monkeypatch.setattr(bundle.secrets, "token_hex", lambda n: next(suffixes))
    first = Bundle.create(tmp_path, "iris")
    second = Bundle.create(tmp_path, "iris")
    assert first.run_id.endswith("aaa")
    assert second.run_id.endswith("bbb")
    assert first.run_id != second.run_id


def _create_bundles(runs_dir: str, count: int) -> list[str]:
    return [str(Bundle.create(runs_dir, "iris").path) for _ in range(count)]


@pytest.mark.skipif(
    "fork" not in multiprocessing.get_all_start_methods(), reason="needs fork to pin the clock"
)
def test_four_processes_in_the_same_second_get_distinct_directories(tmp_path, monkeypatch):
    monkeypatch.setattr(bundle, "_now", lambda: FIXED_TIME)  # inherited by forked workers
    with multiprocessing.get_context("fork").Pool(4) as pool:
        results = pool.starmap(_create_bundles, [(str(tmp_path), 25)] * 4)
    paths = {path for result in results for path in result}
    assert len(paths) == 100
    assert len(entries(tmp_path / "iris")) == 100


def test_sweep_trials_go_under_the_parent_directory(tmp_path):
    sweep_dir = tmp_path / "iris" / "sweep-1"
    trial = Bundle.create(tmp_path, "iris", parent=sweep_dir)
    assert trial.path.parent == sweep_dir


@pytest.mark.parametrize(
    "name", ["", ".", "..", "../escape", "a/b", "has space", ".hidden", "x" * 200]
)
def test_unsafe_experiment_names_are_rejected(tmp_path, name):
    with pytest.raises(ValueError, match="invalid experiment name"):
        Bundle.create(tmp_path, name)
    assert not any(tmp_path.iterdir())


def test_open_refuses_a_directory_that_is_not_a_bundle(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a run bundle"):
        Bundle.open(tmp_path)


# --- start, finish, update -------------------------------------------------------------


def test_start_writes_config_overrides_env_and_run_record(tmp_path):
    run = Bundle.create(tmp_path / "runs", "iris")
    args = start_args(tmp_path, sweep={"id": "s1"}, trial={"number": 2}, extra={"tags": ["a"]})
    run.start(**args)

    assert yaml.safe_load((run.path / "config.yaml").read_text()) == args["config"]
    assert yaml.safe_load((run.path / "overrides.yaml").read_text()) == ["model.hidden=[8]"]
    record = run.read_run()
    assert record == {
        "id": run.run_id,
        "experiment": "iris",
        "status": "running",
        "started_at": record["started_at"],
        "ended_at": None,
        "duration_s": None,
        "command": args["command"],
        "cwd": str(tmp_path),
        "seed": 3,
        "fingerprints": args["fingerprints"],
        "classes": args["classes"],
        "sweep": {"id": "s1"},
        "trial": {"number": 2},
        "error": None,
        "artifacts": {},
        "tags": ["a"],
    }
    assert record["started_at"].endswith("+00:00")
    env = json.loads((run.path / "env.json").read_text())
    assert env["python"]["version"].count(".") == 2
    assert env["packages"]["pyyaml"] == yaml.__version__
    assert env["packages"]["surely-not-an-installed-package"] is None
    assert env["git"] is None
    assert not (run.path / "code.patch").exists()
    assert Bundle.open(run.path).read_run() == record


def test_extra_fields_cannot_overwrite_standard_ones(tmp_path):
    run = Bundle.create(tmp_path, "iris")
    with pytest.raises(ValueError, match="status"):
        run.start(**start_args(tmp_path, extra={"status": "completed"}))


def test_env_lists_no_gpus_without_importing_torch():
    code = (
        "import sys; from ednax.runs.bundle import Bundle; from ednax.runs.provenance import "
        "collect_env; env = collect_env([]);"
        "heavy = {'torch', 'sklearn', 'numpy', 'joblib'} & set(sys.modules);"
        "assert not heavy, heavy; assert env['gpu'] == [], env['gpu']"
    )
    repo_root = Path(__file__).resolve().parents[1]
    subprocess.run([sys.executable, "-c", code], check=True, cwd=repo_root)


def test_env_names_the_gpus_when_the_run_already_imported_torch(monkeypatch):
    cuda = SimpleNamespace(
        is_available=lambda: True, device_count=lambda: 2, get_device_name=lambda i: f"GPU {i}"
    )
    monkeypatch.setitem(sys.modules, "torch", SimpleNamespace(cuda=cuda))
    assert collect_env([])["gpu"] == ["GPU 0", "GPU 1"]


@pytest.mark.parametrize("status", ["completed", "failed", "interrupted", "pruned"])
def test_finish_records_status_end_time_and_duration(tmp_path, monkeypatch, status):
    run = Bundle.create(tmp_path, "iris")
    monkeypatch.setattr(bundle, "_now", lambda: FIXED_TIME)
    run.start(**start_args(tmp_path))
    monkeypatch.setattr(bundle, "_now", lambda: FIXED_TIME + 12.5)
    error = None if status == "completed" else "KeyboardInterrupt"
    run.finish(status, error=error, metrics={"val": {"accuracy": 0.9}})

    record = run.read_run()
    assert record["status"] == status
    assert record["error"] == error
    assert record["duration_s"] == 12.5
    assert record["ended_at"] > record["started_at"]
    assert json.loads((run.path / "metrics.json").read_text()) == {"val": {"accuracy": 0.9}}


def test_a_resumed_runs_duration_is_its_attempts_not_the_time_it_lay_stopped(tmp_path, monkeypatch):
    def at(seconds: float) -> None:
        monkeypatch.setattr(bundle, "_now", lambda: FIXED_TIME + seconds)

    run = Bundle.create(tmp_path, "iris")
    at(0)
    run.start(**start_args(tmp_path))
    at(12.5)
    run.finish("interrupted")
    at(3600)
    run.restart(pid=1)
    at(3610)
    run.finish("completed")

    record = run.read_run()
    assert record["duration_s"] == 22.5  # 12.5 s, then 10 s an hour later
    assert (record["status"], record["pid"]) == ("completed", 1)


def test_finish_and_update_reject_unknown_statuses(tmp_path):
    run = Bundle.create(tmp_path, "iris")
    run.start(**start_args(tmp_path))
    with pytest.raises(ValueError):
        run.finish("running")
    with pytest.raises(ValueError):
        run.update(status="done")
    assert run.read_run()["status"] == "running"
    assert set(STATUSES) == {"running", "completed", "failed", "interrupted", "pruned"}


def test_update_keeps_other_fields(tmp_path):
    run = Bundle.create(tmp_path, "iris")
    run.start(**start_args(tmp_path))
    run.update(status="interrupted", error="SIGTERM")
    record = run.read_run()
    assert (record["status"], record["error"], record["seed"]) == ("interrupted", "SIGTERM", 3)


def test_log_appends_lines(tmp_path):
    run = Bundle.create(tmp_path, "iris")
    run.log("epoch 0")
    run.log("Traceback (most recent call last):\n  boom\n")
    assert (run.path / "log.txt").read_text() == (
        "epoch 0\nTraceback (most recent call last):\n  boom\n"
    )


# --- git provenance --------------------------------------------------------------------


def test_dirty_repo_records_its_change_in_code_patch(tmp_path):
    repo = make_repo(tmp_path / "repo")
    (repo / "train.py").write_text("lr = 0.3\n")
    (repo / "sub").mkdir()
    run = Bundle.create(tmp_path / "runs", "iris")
    run.start(**start_args(repo / "sub"))

    env_git = json.loads((run.path / "env.json").read_text())["git"]
    assert env_git["dirty"] is True
    assert env_git["branch"] == "main"
    assert len(env_git["commit"]) == 40
    assert Path(env_git["root"]).resolve() == repo.resolve()
    patch = (run.path / "code.patch").read_text()
    assert "-lr = 0.1" in patch and "+lr = 0.3" in patch

    git(repo, "checkout", "-q", "train.py")
    git(repo, "apply", "--check", str(run.path / "code.patch"))


def test_clean_repo_has_no_patch_and_untracked_files_do_not_count(tmp_path):
    repo = make_repo(tmp_path / "repo")
    (repo / "notes.txt").write_text("untracked\n")
    run = Bundle.create(tmp_path / "runs", "iris")
    run.start(**start_args(repo))

    assert json.loads((run.path / "env.json").read_text())["git"]["dirty"] is False
    assert not (run.path / "code.patch").exists()


def test_git_state_is_none_outside_a_repo_or_without_git(tmp_path, monkeypatch):
    assert git_state(tmp_path) is None
    repo = make_repo(tmp_path / "repo")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert git_state(repo) is None


def test_git_state_finds_the_work_tree_above_or_named_by_git_dir(tmp_path, monkeypatch):
    repo = make_repo(tmp_path / "repo")
    deeper = repo / "experiments" / "today"
    deeper.mkdir(parents=True)
    assert git_state(deeper)["root"] == str(repo.resolve())
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    monkeypatch.setenv("GIT_DIR", str(repo / ".git"))
    monkeypatch.setenv("GIT_WORK_TREE", str(repo))
    assert git_state(outside)["root"] == str(repo.resolve())


def test_repo_without_commits_has_no_commit_but_a_branch(tmp_path):
    (tmp_path / "fresh").mkdir()
    git(tmp_path / "fresh", "init", "-q", "-b", "main")
    state = git_state(tmp_path / "fresh")
    assert state is not None
    assert (state["commit"], state["branch"]) == (None, "main")


def test_collect_env_reports_the_machine():
    env = collect_env(["pyyaml"])
    assert env["cpu"]["count"] == os.cpu_count()
    assert env["hostname"]
    assert env["python"]["executable"] == sys.executable


# --- artifacts and history -------------------------------------------------------------


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_artifact_checksums_match_the_files(tmp_path):
    run = Bundle.create(tmp_path, "iris")
    run.start(**start_args(tmp_path))
    pickled = run.save_artifact("model.pkl", {"weights": [1.0, 2.0]})
    text = run.write_artifact_text("predictions.csv", "id,label\n0,1\n")
    checkpoint = run.artifacts_dir / "checkpoints" / "best.ckpt"
    checkpoint.parent.mkdir()
    checkpoint.write_bytes(b"\x00weights")
    run.add_artifact_file("checkpoints/best.ckpt")

    import pickle

    assert pickle.loads(pickled.read_bytes()) == {"weights": [1.0, 2.0]}
    recorded = run.read_run()["artifacts"]
    for name, path in [
        ("model.pkl", pickled),
        ("predictions.csv", text),
        ("checkpoints/best.ckpt", checkpoint),
    ]:
        sha256, signature = trust.artifact_digests(path)  # the hmac: docs/security.md
        assert sha256 == sha256_of(path)
        assert recorded[name] == {"sha256": sha256, "hmac": signature, "size": path.stat().st_size}
    assert entries(run.artifacts_dir) == ["checkpoints", "model.pkl", "predictions.csv"]


@pytest.mark.parametrize("name", ["../run.json", "/etc/passwd", "", "a/../../b"])
def test_artifact_names_must_stay_inside_artifacts(tmp_path, name):
    run = Bundle.create(tmp_path, "iris")
    with pytest.raises(ValueError, match="inside artifacts"):
        run.write_artifact_text(name, "x")


def test_add_artifact_file_requires_the_file(tmp_path):
    run = Bundle.create(tmp_path, "iris")
    run.start(**start_args(tmp_path))
    with pytest.raises(FileNotFoundError):
        run.add_artifact_file("missing.ckpt")


def read_history(run: Bundle) -> tuple[list[str], list[dict[str, str]]]:
    with open(run.path / "history.csv", newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def test_history_header_is_the_union_of_keys_in_first_seen_order(tmp_path):
    run = Bundle.create(tmp_path, "iris")
    run.append_history({"epoch": 0, "train/loss": 0.9})
    run.append_history({"epoch": 1, "train/loss": 0.5, "val/accuracy": 0.8})
    run.append_history({"epoch": 2, "lr": 0.01})

    header, rows = read_history(run)
    assert header == ["epoch", "train/loss", "val/accuracy", "lr"]
    assert [r["val/accuracy"] for r in rows] == ["", "0.8", ""]
    assert rows[2]["lr"] == "0.01"
    assert entries(run.path) == ["history.csv"]


def test_history_continues_after_reopening_and_can_be_rewritten(tmp_path):
    run = Bundle.create(tmp_path, "iris")
    run.start(**start_args(tmp_path))
    run.append_history({"epoch": 0, "loss": 1.0})
    Bundle.open(run.path).append_history({"epoch": 1, "loss": 0.5})
    assert [r["epoch"] for r in read_history(run)[1]] == ["0", "1"]

    run.write_history([{"step": 5}])
    assert read_history(run) == (["step"], [{"step": "5"}])
