"""Shared fixtures: run the real CLI in a subprocess, in a scratch working directory."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "sample-configs"


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


def run_cli(*args: str, cwd: Path, timeout: float = 300) -> Result:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "ednax", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def bundle_of(result: Result, cwd: Path) -> Path:
    """The bundle directory the run printed."""
    match = re.search(r"^bundle: (\S+)$", result.out, re.MULTILINE)
    assert match, f"no bundle path printed:\n{result.text}"
    path = cwd / match.group(1)
    assert path.is_dir(), path
    return path


def bundles_in(folder: Path) -> list[Path]:
    """The bundle folders of an experiment's (or a sweep's) folder, in id order: not the
    `latest` link beside them."""
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.is_symlink())


def bundle_files(root: Path, pattern: str) -> list[Path]:
    """`root.glob(pattern)` without what is reached through an experiment's `latest` link
    (the same bundle a second time)."""
    return sorted(p for p in root.glob(pattern) if "latest" not in p.relative_to(root).parts[:-1])


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())


def read_yaml(path: Path):
    return yaml.safe_load(path.read_text())


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A scratch working directory: bundles land in ./runs here, never in the repo."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """One OpenMP/torch thread per process: small models on a shared 2-core machine, where
    more threads only fight each other."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


@pytest.fixture
def cli(workdir: Path):
    def call(*args: str, timeout: float = 300) -> Result:
        return run_cli(*args, cwd=workdir, timeout=timeout)

    return call


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def run_staggered(cwd: Path, runs: dict[str, list], timeout: float = 120) -> dict[str, str]:
    """`ednax run` once per entry, in parallel, each started once the one before has made
    its bundle, so that the run ids (made when each run creates its bundle) sort in start
    order. Returns the ids."""
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    procs = {}
    for name, args in runs.items():
        made = len(list(cwd.glob("runs/*/[0-9]*-*")))
        command = [sys.executable, "-m", "ednax", "run", *map(str, args)]
        procs[name] = subprocess.Popen(
            command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        deadline = time.monotonic() + timeout
        while len(list(cwd.glob("runs/*/[0-9]*-*"))) == made and procs[name].poll() is None:
            assert time.monotonic() < deadline, f"{name} made no bundle in {timeout} s"
            time.sleep(0.02)
    ids = {}
    for name, proc in procs.items():
        out, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0, out
        ids[name] = out.split("completed run ")[1].split()[0]
    return ids


def edited(text: str, *edits: tuple[str, str]) -> str:
    """`text` with each (old, new) replaced once; fails loudly if the sample changed so
    that an edit no longer applies (the case would then test nothing)."""
    for old, new in edits:
        assert old in text, f"the sample config no longer contains {old!r}"
        text = text.replace(old, new, 1)
    return text


def line_of(text: str, fragment: str) -> int:
    """1-based line of the first non-comment line containing `fragment`."""
    for number, line in enumerate(text.splitlines(), start=1):
        if fragment in line and not line.lstrip().startswith("#"):
            return number
    raise AssertionError(f"{fragment!r} is not in the config")


# A user's plugin module, written beside the config and named in its `imports:`.
PLUGIN = '''
import time

from ednax.registry import register


@register("model", "my_forest", family="sklearn")
class MyForest:
    """A small random forest from a plugin.

    Parameters
    ----------
    n_estimators : int
        Number of trees.
    random_state : int | None
        Seed of the forest.
    """

    def __init__(self, n_estimators: int = 5, random_state: int | None = None):
        self.n_estimators = n_estimators
        self.random_state = random_state

    def build(self, task):
        from sklearn.ensemble import RandomForestClassifier

        return RandomForestClassifier(self.n_estimators, random_state=self.random_state)


@register("model", "exploding", family="sklearn")
class Exploding:
    """A model whose fit always fails.

    Parameters
    ----------
    message : str
        What the failure says.
    """

    def __init__(self, message: str = "boom"):
        self.message = message

    def build(self, task):
        return _Estimator(self.message, seconds=0.0)


@register("model", "sleepy", family="sklearn")
class Sleepy:
    """A model whose fit takes a long time.

    Parameters
    ----------
    seconds : float
        How long fit sleeps.
    """

    def __init__(self, seconds: float = 120.0):
        self.seconds = seconds

    def build(self, task):
        return _Estimator(None, seconds=self.seconds)


class _Estimator:
    def __init__(self, message, seconds):
        self.message, self.seconds = message, seconds

    def fit(self, X, y):
        time.sleep(self.seconds)
        if self.message:
            raise RuntimeError(self.message)
        return self

    def predict(self, X):
        return [0] * len(X)
'''


@pytest.fixture(autouse=True, scope="session")
def _private_secret(tmp_path_factory: pytest.TempPathFactory):
    """ednax signs its pickles with a per-user secret (ednax.runs.trust); the tests use
    one of their own, never the real home's. The `cli` subprocesses inherit it."""
    secret = tmp_path_factory.mktemp("ednax-secret") / "secret"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("EDNAX_SECRET_FILE", str(secret))
        yield secret


@pytest.fixture
def isolated_git(monkeypatch, tmp_path):
    """Keep git from seeing the user's config or any repository above tmp_path."""
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    for role in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{role}_NAME", "Test")
        monkeypatch.setenv(f"GIT_{role}_EMAIL", "test@example.com")


def git(cwd: Path, *args: str) -> str:
    """`git ARGS` in `cwd` (checked); its output."""
    done = subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True)
    return done.stdout.strip()


def make_repo(path: Path) -> Path:
    """A repository of one commit (train.py) at `path`."""
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    (path / "train.py").write_text("lr = 0.1\n")
    git(path, "add", "train.py")
    git(path, "commit", "-q", "-m", "first")
    return path
