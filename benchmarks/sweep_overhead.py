"""What a sweep trial costs beyond its training, through the real CLI.

    python benchmarks/sweep_overhead.py [--trials 40] [--epochs 2] [--repeats 3] [--keep DIR]

The model: sample-configs/iris-mlp-optuna.yaml (an MLP on iris through Lightning; TPE over
optimizer.lr, model.hidden, model.dropout, trainer.batch_size), one torch thread, no pruner.
A plugin callback (`imports:`, `callbacks:`: public features) stamps each run's Lightning
fit start and end, so that training time is measured, not guessed. Three commands, each a
subprocess as a user runs it:

1. `ednax run` of one trial's config: its wall time and its training time.
2. a search of --trials trials of --epochs epochs, `hydra.sweeper.n_jobs=1` (basic
   launcher). Printed:
   - per-trial fixed cost: from the first trial's start to the last trial's end, minus
     the training, divided by the trials (what each trial adds beyond its training in a
     running sweep: composing, data, preprocessing, the Trainer, evaluation, the bundle,
     the study), target <= 0.15 s;
   - the same over the whole command (start-up, validation, plots included), for reference;
   - a trial's share of the sweep (span / trials) against one run's training, for reference.
3. a search of 20 trials of --epochs epochs: its wall time over the single run's (1.),
   target <= 1.5x (twenty trials cost less than half of one `ednax run` more). The single
   run and this search are each run --repeats times, alternately, and the ratio is of
   their medians: one invocation of either varies by 0.3-0.5 s on a shared machine.
4. the same search with trials of very unequal length (`trainer.max_epochs` searched in
   1..30), with n_jobs 1 (basic launcher) and n_jobs 2 (joblib, 2 processes). Printed:
   - the time outside trials' bundles, over (span x workers): with one worker, the
     bookkeeping between trials (asking the study, composing the next trial, telling the
     study); with two, that plus any waiting;
   - the waiting fraction with n_jobs 2: that time less the bookkeeping one worker spent
     per trial, over (span x workers): what a worker loses waiting for another (a batch's
     slowest trial, a worker that starts late or has nothing left), target < 10%.

The machine's load matters: apart from 3., each figure is of one command; run it on a
quiet machine and say the load average beside the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from fit_clock import clocked_config, fit_seconds

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "sample-configs" / "iris-mlp-optuna.yaml"
FIXED_COST_TARGET_S = 0.15
RATIO_TARGET = 1.5
IDLE_TARGET = 0.10


@dataclass
class Runs:
    """What one command left: its wall time, its bundles' spans and its fits' times."""

    wall: float
    spans: list[tuple[float, float, int]]  # bundle start, end, pid
    fits: list[float]

    @property
    def span(self) -> float:
        return max(end for _, end, _ in self.spans) - min(start for start, _, _ in self.spans)

    @property
    def training(self) -> float:
        return sum(self.fits)

    def idle_fraction(self, workers: int) -> float:
        busy = sum(end - start for start, end, _ in self.spans)
        return 1 - busy / (self.span * workers)


def ednax(folder: Path, config: Path, runs_dir: str, *args: str) -> Runs:
    fit_seconds(folder)  # a clean slate
    command = [sys.executable, "-m", "ednax", "run", str(config), *args]
    command.append(f"experiment.runs_dir={folder / runs_dir}")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200", "PYTHONPATH": str(folder)}
    start = time.perf_counter()
    proc = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"exit {proc.returncode}: {' '.join(command)}\n{proc.stdout}{proc.stderr}")
    spans = []
    for path in (folder / runs_dir).glob("**/run.json"):
        run = json.loads(path.read_text())
        if run.get("started_at") and run.get("ended_at"):
            spans.append((_stamp(run["started_at"]), _stamp(run["ended_at"]), run.get("pid")))
    return Runs(wall, spans, fit_seconds(folder))


def _stamp(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def _met(ok: bool) -> str:
    return "met" if ok else "MISSED"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3, help="of 1. and 3., for medians")
    parser.add_argument("--keep", type=Path, help="keep the runs in this folder")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="ednax-sweep-overhead-"))
    folder.mkdir(parents=True, exist_ok=True)
    config = clocked_config(SAMPLE, folder)
    print(f"load average {os.getloadavg()[0]:.2f}; {args.trials} trials of {args.epochs} epochs")
    try:
        search = ["-m", "hydra.sweeper.pruner=none", "hydra.sweeper.seed=0"]
        trials = f"hydra.sweeper.n_trials={args.trials}"
        epochs = f"trainer.max_epochs={args.epochs}"
        single = ednax(folder, config, "single", epochs)
        sweep = ednax(folder, config, "sweep", epochs, *search, trials)
        report_fixed_cost(single, sweep, args.trials)
        singles, twenties = [single.wall], []
        for i in range(args.repeats):
            if i:
                singles.append(ednax(folder, config, f"single-{i}", epochs).wall)
            twenty = ednax(
                folder, config, f"sweep-20-{i}", epochs, *search, "hydra.sweeper.n_trials=20"
            )
            twenties.append(twenty.wall)
        report_ratio(singles, twenties)
        unequal = ["trainer.max_epochs=int(1, 30)"]
        one = ednax(folder, config, "unequal-1", *search, trials, *unequal)
        joblib = ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "hydra.sweeper.n_jobs=2"]
        two = ednax(folder, config, "unequal-2", *search, trials, *unequal, *joblib)
        report_idle(one, two)
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)
    print(f"load average {os.getloadavg()[0]:.2f} at the end")


def report_fixed_cost(single: Runs, sweep: Runs, trials: int) -> None:
    fit_single = single.training
    fixed = (sweep.span - sweep.training) / trials
    whole = (sweep.wall - sweep.training) / trials
    ratio = (sweep.span / trials) / fit_single
    print(f"single run: {single.wall:.2f} s wall, training {fit_single:.3f} s")
    print(
        f"sweep:      {sweep.wall:.2f} s wall, {len(sweep.spans)} trials over "
        f"{sweep.span:.2f} s, training {sweep.training:.2f} s in all"
    )
    print(
        f"per-trial fixed cost, in the running sweep: {fixed:.3f} s "
        f"(target <= {FIXED_COST_TARGET_S:g} s: {_met(fixed <= FIXED_COST_TARGET_S)})"
    )
    print(f"per-trial fixed cost, whole command:        {whole:.3f} s (start-up and plots shared)")
    print(f"a trial's share of the sweep / one run's training: {ratio:.2f}x")


def report_ratio(singles: list[float], twenties: list[float]) -> None:
    one, twenty = statistics.median(singles), statistics.median(twenties)
    ratio = twenty / one
    each = ", ".join(f"{t:.2f}/{o:.2f}" for t, o in zip(twenties, singles, strict=True))
    print(
        f"sweep of 20 trials / single run, medians of {len(singles)}: {twenty:.2f} s / "
        f"{one:.2f} s = {ratio:.2f}x (target <= {RATIO_TARGET:g}x: {_met(ratio <= RATIO_TARGET)});"
        f" each pair: {each}"
    )


def report_idle(one: Runs, two: Runs) -> None:
    bookkeeping = one.idle_fraction(1) * one.span / len(one.spans)  # seconds a trial
    for workers, runs in ((1, one), (2, two)):
        print(
            f"unequal trials, n_jobs {workers}: {runs.wall:.2f} s wall, span {runs.span:.2f} s, "
            f"outside trials {runs.idle_fraction(workers):.1%} of span x {workers}"
        )
    outside = two.idle_fraction(2) * two.span * 2
    waiting = max(0.0, outside - bookkeeping * len(two.spans)) / (two.span * 2)
    print(
        f"waiting with n_jobs 2 (outside trials less {bookkeeping:.3f} s of bookkeeping a "
        f"trial): {waiting:.1%} (target < {IDLE_TARGET:.0%}: {_met(waiting < IDLE_TARGET)})"
    )
    print(f"n_jobs 2 / n_jobs 1 wall: {two.wall / one.wall:.2f}x")


if __name__ == "__main__":
    main()
