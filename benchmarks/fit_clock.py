"""A plugin callback for the benchmarks that run ednax through its CLI: it stamps each
Lightning fit's start and end into a JSON-lines file, so that a benchmark measures the
time spent training instead of guessing it. It uses public features only (`imports:`,
`callbacks:`)."""

from __future__ import annotations

import json
from pathlib import Path

CLOCK = '''
import json
import os
import time
from pathlib import Path

from pytorch_lightning import Callback

from ednax.registry import register


@register("callback", "bench_clock")
class BenchClock(Callback):
    """Appends each fit's start and end (seconds since the epoch) to a JSON-lines file; a
    fit that ends by an exception (a pruned trial's) is stamped when Lightning handles it.

    Parameters
    ----------
    stamps : str
        The file (created if missing).
    """

    reads_logged_metrics = False  # it reads no metrics: the fit logs as it would without it

    def __init__(self, stamps: str = "clock.jsonl"):
        self.stamps = stamps
        self.started = None

    def on_fit_start(self, trainer, pl_module):
        self.started = time.time()

    def on_fit_end(self, trainer, pl_module):
        self._stamp()

    def on_exception(self, trainer, pl_module, exception):
        self._stamp()

    def _stamp(self):
        line = {"pid": os.getpid(), "start": self.started, "end": time.time()}
        with Path(self.stamps).open("a") as handle:
            handle.write(json.dumps(line) + "\\n")
'''


def clocked_config(sample: Path, folder: Path) -> Path:
    """A copy of `sample` in `folder` that imports the clock and stamps every fit into
    `folder/clock.jsonl`."""
    (folder / "bench_clock.py").write_text(CLOCK)
    text = sample.read_text() + (
        "\nimports: [bench_clock]\n"
        f"callbacks: [{{type: bench_clock, stamps: '{folder / 'clock.jsonl'}'}}]\n"
    )
    config = folder / f"clocked-{sample.name}"
    config.write_text(text)
    return config


def fit_seconds(folder: Path) -> list[float]:
    """The fits stamped so far, in seconds; the file is emptied."""
    clock = folder / "clock.jsonl"
    if not clock.is_file():
        return []
    lines = [json.loads(line) for line in clock.read_text().splitlines()]
    clock.unlink()
    return [line["end"] - line["start"] for line in lines if line.get("start") is not None]
