"""The same Optuna search with and without pruning: best value and wall time.

The search: sample-configs/iris-mlp-optuna.yaml (an MLP on iris through Lightning;
optimizer.lr log-uniform in [1e-4, 0.3], hidden [16] / [64] / [64, 64], dropout in
[0, 0.3], batch size 8 / 16 / 32; objective val/loss, minimised), TPE sampler seeded
(--seed), --trials trials of --epochs epochs each, the basic launcher (one trial at a
time), one torch thread. It runs through the real CLI (`ednax run ... -m`), in a scratch
folder, once with `hydra.sweeper.pruner=none` and once with the sample's pruner (Hyperband,
min_resource 5, reduction factor 3; --pruner median etc. to compare another). Both runs ask
for the same number of trials; with pruning, bad trials stop early.

Printed per run: the best val/loss and that trial's test accuracy, trials completed and
pruned, epochs trained in all (from the bundles' history.csv), the wall time of the whole
command, the time spent in trials (the sum of the bundles' durations) and the time spent
training (Lightning's fits, stamped by a plugin callback, `fit_clock`). Then the ratios
pruned / unpruned, and the fixed cost of a trial with pruning reports: (wall - training)
/ trials of the pruned search, in the running search (from the first trial's start to
the last one's end) and over the whole command (start-up and plots included).

Targets: the same best val/loss within noise (iris' val split is 30 rows: every loss below
about 0.05 classifies it perfectly) at <= 0.45x the wall time; a trial's fixed cost
<= 0.15 s. What pruning can save is the training; the fixed cost of each trial (its
composition, data, bundle and the study's bookkeeping) no pruner removes, so the ratio
improves with longer trials (--epochs) and with a smaller fixed cost.

    python benchmarks/optuna_pruning.py [--trials 30] [--epochs 100] [--seed 0] [--pruner P]
"""

from __future__ import annotations

import argparse
import json
import os
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
RATIO_TARGET = 0.45
FIXED_COST_TARGET_S = 0.15


@dataclass
class Outcome:
    name: str
    wall_s: float
    trial_s: float
    training_s: float
    span_s: float  # from the first trial's start to the last one's end
    best: float
    best_test_accuracy: float
    completed: int
    pruned: int
    failed: int
    epochs: int


def run_search(name: str, pruner: str | None, args: argparse.Namespace, folder: Path) -> Outcome:
    """One search through the CLI; `pruner` None keeps the sample's pruner."""
    command = [
        sys.executable,
        "-m",
        "ednax",
        "run",
        str(clocked_config(SAMPLE, folder)),
        "-m",
        f"hydra.sweeper.n_trials={args.trials}",
        f"hydra.sweeper.seed={args.seed}",
        *([f"hydra.sweeper.pruner={pruner}"] if pruner else []),
        f"hydra.sweeper.study_name={name}",
        f"trainer.max_epochs={args.epochs}",
        f"experiment.runs_dir={folder / 'runs'}",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
    start = time.perf_counter()
    proc = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{name}: exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    sweep = folder / "runs" / "iris-mlp-optuna" / f"sweep-{name}"
    record = json.loads((sweep / "sweep.json").read_text())
    runs = [json.loads(p.read_text()) for p in sweep.glob("*/run.json")]
    epochs = sum(
        len((p.parent / "history.csv").read_text().strip().splitlines()) - 1
        for p in sweep.glob("*/run.json")
        if (p.parent / "history.csv").is_file()
    )
    states = [job["state"] for job in record["jobs"]]
    best = record["best"][0]
    return Outcome(
        name=name,
        wall_s=wall,
        trial_s=sum(run["duration_s"] or 0.0 for run in runs),
        training_s=sum(fit_seconds(folder)),
        span_s=_span(runs),
        best=best["value"],
        best_test_accuracy=best["metrics"]["test"]["accuracy"],
        completed=states.count("COMPLETE"),
        pruned=states.count("PRUNED"),
        failed=states.count("FAIL"),
        epochs=epochs,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--pruner", default=None, help="median, successive_halving, ... (default: the sample's)"
    )
    args = parser.parse_args()

    print(f"iris-mlp-optuna: {args.trials} trials x {args.epochs} epochs, TPE seed {args.seed}")
    with tempfile.TemporaryDirectory(prefix="ednax-pruning-") as tmp:
        unpruned = run_search("no-pruning", "none", args, Path(tmp))
        pruned = run_search(f"{args.pruner or 'hyperband'}-pruning", args.pruner, args, Path(tmp))

    header = (
        f"{'search':<26}{'best val/loss':>14}{'test acc':>10}{'done':>6}{'pruned':>8}"
        f"{'epochs':>8}{'wall s':>9}{'trials s':>10}{'training s':>12}"
    )
    print(header)
    for o in (unpruned, pruned):
        print(
            f"{o.name:<26}{o.best:>14.4f}{o.best_test_accuracy:>10.4f}{o.completed:>6}"
            f"{o.pruned:>8}{o.epochs:>8}{o.wall_s:>9.1f}{o.trial_s:>10.1f}{o.training_s:>12.1f}"
        )
    ratio = pruned.wall_s / unpruned.wall_s
    print(
        f"pruned / unpruned: wall time {ratio:.2f}x "
        f"(target <= {RATIO_TARGET:g}x: {_met(ratio <= RATIO_TARGET)}), "
        f"time in trials {pruned.trial_s / unpruned.trial_s:.2f}x, "
        f"epochs {pruned.epochs / unpruned.epochs:.2f}x; "
        f"best val/loss {pruned.best:.4f} vs {unpruned.best:.4f}"
    )
    fixed = (pruned.span_s - pruned.training_s) / args.trials
    whole = (pruned.wall_s - pruned.training_s) / args.trials
    print(
        f"fixed cost of a trial with pruning reports, in the running search: {fixed:.3f} s "
        f"(target <= {FIXED_COST_TARGET_S:g} s: {_met(fixed <= FIXED_COST_TARGET_S)}); "
        f"over the whole command (start-up and plots shared): {whole:.3f} s"
    )


def _span(runs: list[dict]) -> float:
    starts = [datetime.fromisoformat(run["started_at"]).timestamp() for run in runs]
    ends = [datetime.fromisoformat(run["ended_at"]).timestamp() for run in runs]
    return max(ends) - min(starts)


def _met(ok: bool) -> str:
    return "met" if ok else "MISSED"


if __name__ == "__main__":
    main()
