"""Ctrl-C and SIGTERM around a run: SIGTERM raised like Ctrl-C, and both held off while a
stopped run writes down how it stopped.

A command's process (`first_stop_only`, around every `ednax` command) is stopped by its
first Ctrl-C or SIGTERM only: a user pressing Ctrl-C four times in a row, or a signal
passed on twice, would otherwise raise again while the run records how it stopped, or
while the process exits (a traceback from an atexit hook instead of the one-line message).
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator

HELD = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """SIGTERM, turned into the same path as Ctrl-C."""


class _FirstStop:
    """Inside `first_stop_only`: whether the process has been stopped already."""

    armed = False
    stopped = False


def _stop(exception: type[KeyboardInterrupt]) -> None:
    """Raise `exception` for a stopping signal, unless the process is stopping already."""
    if _FirstStop.armed:
        if _FirstStop.stopped:
            return
        _FirstStop.stopped = True
    raise exception()


def _on_sigint(signum, frame) -> None:
    _stop(KeyboardInterrupt)


@contextlib.contextmanager
def first_stop_only() -> Iterator[None]:
    """Around a command in its own process: the first Ctrl-C (or SIGTERM, where a run turns
    it into an interrupt) raises; those after it are let go, and once the block is left
    stopped, both signals are ignored until the process has exited."""
    try:
        previous = signal.signal(signal.SIGINT, _on_sigint)
    except ValueError:  # not the main thread: signals are not ours to handle
        yield
        return
    _FirstStop.armed, _FirstStop.stopped = True, False
    try:
        yield
    except KeyboardInterrupt:
        _FirstStop.stopped = True
        raise
    finally:
        _FirstStop.armed = False
        if _FirstStop.stopped:
            for number in HELD:
                signal.signal(number, signal.SIG_IGN)
        else:
            signal.signal(signal.SIGINT, previous)


@contextlib.contextmanager
def sigterm_raises() -> Iterator[None]:
    """SIGTERM raises `Interrupted` inside the block (main thread only)."""

    def handler(signum, frame):
        _stop(Interrupted)

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Ctrl-C and SIGTERM ignored while a stopped run records how it stopped: a run often
    gets the signal twice (from the terminal, or scancel, and again from submitit's or
    srun's controller passing it on), and the second would cut the write short."""
    try:
        previous = {number: signal.signal(number, signal.SIG_IGN) for number in HELD}
    except ValueError:  # not the main thread: signals are not ours to hold
        yield
        return
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
