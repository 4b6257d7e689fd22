"""Ctrl-C and SIGTERM around a run: SIGTERM raised like Ctrl-C, and both held off while a
stopped run writes down how it stopped."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator


class Interrupted(KeyboardInterrupt):
    """SIGTERM, turned into the same path as Ctrl-C."""


@contextlib.contextmanager
def sigterm_raises() -> Iterator[None]:
    """SIGTERM raises `Interrupted` inside the block (main thread only)."""

    def handler(signum, frame):
        raise Interrupted()

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
    held = (signal.SIGINT, signal.SIGTERM)
    try:
        previous = {number: signal.signal(number, signal.SIG_IGN) for number in held}
    except ValueError:  # not the main thread: signals are not ours to hold
        yield
        return
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
