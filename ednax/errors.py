"""Error types of ednax and the few helpers that make their messages useful.

Every error a user can cause is an `EdnaxError`: the CLI prints it without a traceback and
exits with its `exit_code` (2 for a bad config or command, 1 for a run that failed).
"""

from __future__ import annotations

import difflib
import errno
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Problem:
    """One thing wrong with a config: where it is, what is wrong, how to fix it."""

    message: str
    path: str = ""
    file: str | None = None
    line: int | None = None
    hint: str | None = None

    def location(self) -> str:
        where = self.file or ""
        if self.file and self.line:
            where = f"{self.file}:{self.line}"
        if self.path:
            where = f"{where} {self.path}" if where else self.path
        return where

    def render(self) -> str:
        """The problem as the user reads it: a URL's password (an override quoting one, say)
        is shown as `***`."""
        text = f"{self.location()}: {self.message}" if self.location() else self.message
        if self.hint:
            text += f"\n    {self.hint}"
        return mask_password(text)


class EdnaxError(Exception):
    """Base of every error that is the user's to fix."""

    exit_code = 2
    title = "error"

    def render(self) -> str:
        return mask_password(str(self))


class ConfigError(EdnaxError):
    """One or more problems found in a config; reported together."""

    title = "invalid config"

    def __init__(self, problems: Problem | Iterable[Problem]):
        self.problems = [problems] if isinstance(problems, Problem) else list(problems)
        super().__init__(self.render())

    def render(self) -> str:
        return "\n".join(p.render() for p in self.in_reading_order())

    def in_reading_order(self) -> list[Problem]:
        """The problems of each file by line, as the file reads; those with no line (an
        override, a missing section) after them, in the order they were found."""
        return sorted(self.problems, key=lambda p: (p.line is None, p.file or "", p.line or 0))


class UsageError(EdnaxError):
    """A bad command: a flag, a path or a reference that does not work."""

    title = "usage error"


class RunError(EdnaxError):
    """A run that started and then failed; its bundle records why."""

    exit_code = 1
    title = "run failed"


# What the machine refused, said for people, with what to do about it.
_FAULTS = {
    errno.ENOSPC: ("the disk is full", "free space there, or set experiment.runs_dir elsewhere"),
    errno.EDQUOT: ("the disk quota is used up", "free space there, or set experiment.runs_dir"),
    errno.EACCES: ("permission denied", "make it writable, or set experiment.runs_dir elsewhere"),
    errno.EPERM: ("permission denied", "make it writable, or set experiment.runs_dir elsewhere"),
    errno.EROFS: ("the filesystem is read-only", "set experiment.runs_dir to a writable folder"),
    errno.ENOTDIR: (
        "a file stands where a folder should be",
        "move the file, or choose another experiment.runs_dir",
    ),
}


class FaultError(RunError):
    """The machine refused what a run needed: a full disk, a read-only or forbidden folder."""

    def __init__(self, what: str, path: str | None, hint: str, recorded: bool = True):
        self.what, self.path, self.hint = what, path, hint
        where = f" at {path}" if path else ""
        note = "" if recorded else " (the bundle could not record it)"
        super().__init__(f"{what}{where}{note}\n    {hint}")


def fault_of(exc: BaseException, recorded: bool = True, where: object = None) -> FaultError | None:
    """The FaultError an OSError stands for, or None for errors that are not the machine's.
    `where` is the place to name when the error names no file (a write to an open file)."""
    if not isinstance(exc, OSError) or exc.errno not in _FAULTS:
        return None
    what, hint = _FAULTS[exc.errno]
    # A copy or rename names its source and target; a full disk is the target's.
    full = exc.errno in (errno.ENOSPC, errno.EDQUOT)
    path = (exc.filename2 if full and exc.filename2 else exc.filename) or where
    return FaultError(what, None if path is None else str(path), hint, recorded)


@dataclass
class Suggestions:
    """Nearest valid names for a misspelt one, or the whole list when it is short."""

    valid: list[str] = field(default_factory=list)

    def near(self, name: str, n: int = 3) -> list[str]:
        candidates = {v: v for v in self.valid}
        for v in self.valid:
            candidates.setdefault(v.replace("-", "_"), v)
            candidates.setdefault(v.replace("_", "-"), v)
        for probe in (name, name.replace("-", "_"), name.replace("_", "-")):
            if probe in candidates and candidates[probe] != name:
                return [candidates[probe]]
        found = difflib.get_close_matches(name.lower(), list(candidates), n=n, cutoff=0.6)
        return list(dict.fromkeys(candidates[f] for f in found))

    def hint(self, name: str, noun: str = "name") -> str:
        near = self.near(name)
        if near:
            return "did you mean " + " or ".join(f"'{n}'" for n in near) + "?"
        if not self.valid:
            return ""
        if len(self.valid) <= 12:
            return f"valid {noun}s: " + ", ".join(sorted(self.valid))
        return f"{len(self.valid)} valid {noun}s; see `ednax registry`"


def did_you_mean(name: str, valid: Iterable[str], noun: str = "name") -> str:
    return Suggestions(sorted(set(valid))).hint(name, noun)


MASK = "***"  # a password, in a URL of a record or message
# SQLAlchemy's driver for a database URL (postgresql:// is psycopg 3; mysql:// is mysqldb)
DRIVER_PACKAGES = {
    "psycopg": "psycopg[binary]",
    "psycopg2": "psycopg2-binary",
    "pymysql": "PyMySQL",
    "mysqldb": "mysqlclient",
    "mysqlconnector": "mysql-connector-python",
}


def mask_password(text: str) -> str:
    """`text` with the password of every database URL in it (`scheme://user:password@`)
    replaced by `***`: what records and messages show of a URL (an Optuna storage, a sql
    data step's `url`, a command line or log line quoting one)."""
    return re.sub(r"(://[^:/@]+:)[^@/]*@", rf"\1{MASK}@", text)


def masked(value: Any) -> Any:
    """`value` (a config, a list of overrides) with `mask_password` applied to every string
    in it; the bundle writer records nothing else."""
    if isinstance(value, str):
        return mask_password(value)
    if isinstance(value, dict):
        return {k: masked(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [masked(v) for v in value]
    return value


def missing_driver(url: str, driver: str) -> tuple[str, str]:
    """What to say of a database URL whose driver is not installed: the message (password
    masked) and the pip command that installs it."""
    package = DRIVER_PACKAGES.get(driver, driver)
    message = f"{mask_password(url)} needs the database driver '{driver}', not installed"
    return message, f"pip install '{package}'"
