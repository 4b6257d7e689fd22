"""A sweep job in a child process of its sweep (joblib's loky workers) ends soon after the
sweep's process dies.

Loky keeps its workers waiting for work for minutes after their parent is gone, each with
its imports, data and model (hundreds of MB), and a job already running would run to its
end for nobody. So the first job a child process runs starts a watchdog thread that polls
the process's parent: once the parent is gone (the child is re-parented), the watchdog
sends its own process SIGTERM, which a running job answers as it answers a scheduler's
stop (its bundle and its record say interrupted), and ends the process if it is still
there GRACE_S seconds later.

The parent is polled rather than named with prctl(PR_SET_PDEATHSIG): that signal follows
the *thread* that started the process, and a launcher may start its workers from a thread
that ends while the sweep goes on. Polling works on any POSIX system and costs one
getppid() every POLL_S seconds.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from typing import Any

POLL_S = 0.5
GRACE_S = 5.0

_followed: set[int] = set()


def follow_sweep(sweep_pid: Any) -> None:
    """Make this process end soon after the sweep's process `sweep_pid`, if it is a child
    of it (a job in the sweep's own process, or started elsewhere, has nothing to do)."""
    if not isinstance(sweep_pid, int) or os.getppid() != sweep_pid or sweep_pid in _followed:
        return
    _followed.add(sweep_pid)
    watchdog = threading.Thread(
        target=_end_with, args=(sweep_pid,), name="ednax-follow-sweep", daemon=True
    )
    watchdog.start()


def _end_with(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(POLL_S)
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(GRACE_S)
    os._exit(128 + signal.SIGTERM)
