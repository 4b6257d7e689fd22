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
command and the time spent in trials (the sum of the bundles' durations: start-up, Hydra's
job composition and the study's bookkeeping excluded). Then the ratios pruned / unpruned.

Target: the same best val/loss within noise (iris' val split is 30 rows: every loss below
about 0.05 classifies it perfectly) at <= 0.5x the wall time. What pruning can save is the
training; each trial also costs a fixed ~0.3-0.5 s (two config compositions, data loading,
the bundle) that no pruner removes, so the ratio improves with longer trials (--epochs).

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
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CONFIG = REPO / "sample-configs" / "iris-mlp-optuna.yaml"


@dataclass
class Outcome:
    name: str
    wall_s: float
    trial_s: float
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
        str(CONFIG),
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
        f"{'epochs':>8}{'wall s':>9}{'trials s':>10}"
    )
    print(header)
    for o in (unpruned, pruned):
        print(
            f"{o.name:<26}{o.best:>14.4f}{o.best_test_accuracy:>10.4f}{o.completed:>6}"
            f"{o.pruned:>8}{o.epochs:>8}{o.wall_s:>9.1f}{o.trial_s:>10.1f}"
        )
    print(
        f"pruned / unpruned: wall time {pruned.wall_s / unpruned.wall_s:.2f}x, "
        f"time in trials {pruned.trial_s / unpruned.trial_s:.2f}x, "
        f"epochs {pruned.epochs / unpruned.epochs:.2f}x; "
        f"best val/loss {pruned.best:.4f} vs {unpruned.best:.4f}"
    )


if __name__ == "__main__":
    main()
