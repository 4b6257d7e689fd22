"""One process per bundle: a run, a resume or a rerun holds its bundle's lock for as long
as it writes the bundle. The lock is the kernel's (flock on `.lock` in the bundle), so a
process that dies, even by SIGKILL, releases it; the file says who holds it."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path

from ednax.errors import UsageError

LOCK_FILE = ".lock"


class BundleBusy(UsageError):
    """Another process holds the bundle."""


@contextlib.contextmanager
def bundle_lock(bundle_dir: Path) -> Iterator[None]:
    """Hold `bundle_dir` for this process; BundleBusy names the holder if another has it."""
    fd = os.open(Path(bundle_dir) / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BundleBusy(
                f"run {Path(bundle_dir).name} is held by another process ({_holder(fd)}); "
                "wait for it to end, or stop it first"
            ) from None
        _write_holder(fd)
        yield
    finally:
        os.close(fd)


def _write_holder(fd: int) -> None:
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname()}).encode(), 0)


def _holder(fd: int) -> str:
    try:
        holder = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except (OSError, ValueError):
        holder = {}
    if "pid" not in holder:
        return "pid unknown"
    return f"pid {holder['pid']} on {holder.get('host', 'an unknown host')}"
