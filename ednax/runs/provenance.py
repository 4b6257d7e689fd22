"""Where a run ran: interpreter, machine, package versions and the state of the git tree.

Everything here is best effort: a missing `git`, an unreadable /proc/cpuinfo or a broken
CUDA driver yields `None` or an empty value, never an exception, because provenance must
not be the reason a run fails.
"""

from __future__ import annotations

import functools
import importlib.metadata
import os
import platform
import socket
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

GIT_TIMEOUT_S = 20.0


def collect_env(packages: Iterable[str]) -> dict[str, Any]:
    """Describe the interpreter, machine and the versions of `packages` (None if missing)."""
    return {
        "python": {
            "version": platform.python_version(),
            "implementation": platform.python_implementation(),
            "executable": sys.executable,
        },
        "platform": {
            "system": platform.system(),
            "release": platform.release(),
            "machine": platform.machine(),
        },
        "hostname": socket.gethostname(),
        "cpu": {"count": os.cpu_count(), "model": _cpu_model()},
        "gpu": _gpu_names(),
        "packages": {name: _package_version(name) for name in packages},
    }


def git_state(cwd: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The commit, branch, dirty flag and root of the git work tree holding `cwd`.

    Returns None when `cwd` is not inside a work tree or git cannot be run. `commit` is None
    in a repository without commits, `branch` is None on a detached HEAD. `dirty` means a
    tracked file differs from HEAD; untracked files do not count (they are not in the patch).
    """
    if _outside_any_work_tree(cwd):
        return None
    root = _git(cwd, "rev-parse", "--show-toplevel")
    if root is None:
        return None
    # One `git status` says the commit, the branch and the changed tracked files (each
    # git process costs a run milliseconds); ahead/behind counts, which can take long
    # against a far upstream, are not asked for.
    lines = (_git(cwd, *_STATUS) or "").splitlines()
    heads = dict(line[2:].partition(" ")[::2] for line in lines if line.startswith("# "))
    commit, branch = heads.get("branch.oid"), heads.get("branch.head")
    return {
        "commit": None if commit in (None, "(initial)") else commit,
        "branch": None if branch in (None, "(detached)") else branch,
        "dirty": any(not line.startswith("#") for line in lines),
        "root": root,
    }


def _outside_any_work_tree(cwd: str | os.PathLike[str]) -> bool:
    """No `.git` (folder or file) in `cwd` or above it, and no GIT_DIR or GIT_WORK_TREE
    naming one elsewhere: git could find no work tree either, so no git process is started
    (2 ms a bundle)."""
    if "GIT_DIR" in os.environ or "GIT_WORK_TREE" in os.environ:
        return False
    here = Path(cwd).absolute()
    return not any(os.path.lexists(folder / ".git") for folder in (here, *here.parents))


_STATUS = ("status", "--porcelain=v2", "--branch", "--no-ahead-behind", "--untracked-files=no")


def git_patch(cwd: str | os.PathLike[str]) -> str:
    """`git diff HEAD --binary` for the work tree holding `cwd`; "" when there is none.

    Bytes that are not UTF-8 are kept as surrogate escapes, so
    `patch.encode("utf-8", "surrogateescape")` gives back git's exact output.
    """
    # --no-ext-diff/--no-color and diff.noprefix=false keep a user's git config from
    # turning the output into something `git apply` cannot read.
    output = _git_bytes(
        cwd,
        "-c",
        "diff.noprefix=false",
        "diff",
        "HEAD",
        "--binary",
        "--no-color",
        "--no-ext-diff",
    )
    return "" if output is None else output.decode("utf-8", "surrogateescape")


def _git(cwd: str | os.PathLike[str], *args: str) -> str | None:
    output = _git_bytes(cwd, *args)
    return None if output is None else output.decode("utf-8", "replace").strip()


def _git_bytes(cwd: str | os.PathLike[str], *args: str) -> bytes | None:
    # GIT_OPTIONAL_LOCKS=0 stops `git status` from taking index.lock, which would collide
    # with the user's own git commands or with the other trials of a parallel sweep.
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0", "GIT_TERMINAL_PROMPT": "0"}
    try:
        result = subprocess.run(
            ["git", *args],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=GIT_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout if result.returncode == 0 else None


def _cpu_model() -> str | None:
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("model name", "Model", "cpu model") and value.strip():
            return value.strip()
    return platform.processor() or None


def _gpu_names() -> list[str]:
    # Only ask torch if the run already imported it: importing torch here would cost
    # seconds and would break the promise that an estimator run never loads torch.
    torch = sys.modules.get("torch")
    if torch is None:
        return []
    try:
        if not torch.cuda.is_available():
            return []
        return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    except Exception:
        return []


@functools.cache  # the versions this process imported: 2 ms a bundle for ten, read again
def _package_version(name: str) -> str | None:
    try:
        dist = importlib.metadata.distribution(name)
    except (importlib.metadata.PackageNotFoundError, ValueError):
        return None
    return _header_version(dist) or dist.version


def _header_version(dist: importlib.metadata.Distribution) -> str | None:
    """The `Version:` header of a distribution's metadata, read from the headers alone:
    `Distribution.version` parses the whole file as an email, long description
    included, which takes milliseconds a package (pandas', optuna's)."""
    text = dist.read_text("METADATA") or dist.read_text("PKG-INFO") or ""
    for line in text.splitlines():
        if not line.strip():
            break  # the headers end at the first empty line
        key, _, value = line.partition(":")
        if key.strip().lower() == "version":
            return value.strip() or None
    return None


def class_versions(classes: dict[str, str]) -> dict[str, dict[str, str | None]]:
    """For each step, the class that ran (`module:attr`) and the version of what provides
    it: the installed distribution named like its top-level package, else that package's
    `__version__`, else None (a plugin file beside the config, say)."""
    return {
        step: {"class": target, "version": _module_version(target.split(":")[0].split(".")[0])}
        for step, target in classes.items()
    }


def _module_version(top: str) -> str | None:
    version = _package_version(top)
    if version is None and top in sys.modules:
        version = getattr(sys.modules[top], "__version__", None)
    return version


def process_alive(pid: Any) -> bool:
    """Whether a process with this id exists on this machine (a run's recorded pid)."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True
