"""Leaving the process: a command that has finished exits without the interpreter's
finalization.

After a command imports torch and Lightning, Python's finalization (tearing down some
ten thousand modules and their objects) takes 0.7 s, and 1.3 s after a sweep: longer than
many a trial's training. Everything a command writes is written and closed before it
returns, so once the output is flushed, the atexit handlers have run (logging's flush,
multiprocessing's children, MLflow's queue) and no other thread is working, nothing is
left for finalization to do that anyone could see. Where a thread other than the main one
is still running, or a profiler or tracer watches, the process exits the usual way.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import threading


def leave(code: object) -> None:
    """Exit with `code` (a SystemExit's: None, a number or a message)."""
    status = _status(code)
    if _others_running() or _observed() or not hasattr(atexit, "_run_exitfuncs"):
        sys.exit(status)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing can reach it
            stream.flush()
    os._exit(status)


def _status(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def _observed() -> bool:
    """A profiler, tracer or debugger (cProfile, coverage, pdb) writes what it saw after
    the program ends: the usual exit leaves it the time to."""
    return sys.getprofile() is not None or sys.gettrace() is not None


def _others_running() -> bool:
    main = threading.main_thread()
    return any(t is not main and t.is_alive() and not t.daemon for t in threading.enumerate())
