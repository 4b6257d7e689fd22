"""How fast `ednax runs` and `ednax diff` answer over 10,000 or 100,000 bundles.

    python benchmarks/runs_index.py [--bundles 100000] [--repeats 5] [--keep DIR [--skip-cold]]

Writes synthetic bundles (run.json, config.yaml, overrides.yaml, env.json, metrics.json as
`ednax run` writes them, some inside sweep folders, a few failed or running) straight to a
temporary runs directory (or DIR/runs with --keep, reused by the next invocation: 100,000
bundles take minutes to write), then times, as a user runs them (a subprocess each):

- the cold index build (`ednax runs` with no index yet),
- `ednax runs` with a warm index (target: <= 1 s), sorted by a metric, and filtered by a tag
  (one run in twenty has it; the same target),
- `ednax diff` of two runs by id (target: < 0.5 s), and by `latest~1`/`latest`,
- `ednax runs` after a run's status changes (its journal line) and after 10 more bundles
  appear (an incremental catch-up); both are undone afterwards, so DIR stays as written.

The machine's load matters: a warm listing takes a stat of each folder of bundles and of
its journal, signs the index's rotating batch (`index.VERIFY_BATCH`) and reads the listed
columns of every row.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from ednax.runs.bundle import Bundle
from ednax.runs.index import INDEX_FILE

EXPERIMENTS = ("iris-mlp", "wine-logreg", "digits-cnn", "diabetes-mlp", "iris-sklearn")
DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
PACKAGES = {"ednax": "0.1.0", "numpy": "2.1.0", "scikit-learn": "1.5.2", "torch": "2.4.1"}


def config(experiment: str, rng: random.Random, seed: int) -> dict:
    torch = experiment.endswith(("mlp", "cnn"))
    model = (
        {"type": "mlp", "hidden": [rng.choice([32, 64, 128])] * 2, "dropout": 0.1}
        if torch
        else {"type": rng.choice(["random_forest", "logistic_regression"]), "random_state": seed}
    )
    out = {
        "experiment": {"name": experiment, "seed": seed, "tags": tags_of(seed), "runs_dir": "runs"},
        "imports": [],
        "data": {"type": "sklearn_toy", "dataset": "iris", "val": 0.2, "test": 0.2},
        "preprocess": [{"type": "standard_scaler", "with_mean": True, "with_std": True}],
        "model": model,
    }
    if torch:
        out["optimizer"] = {"type": "adam", "lr": rng.choice([1e-3, 3e-3, 1e-2])}
        out["trainer"] = {"type": "lightning", "max_epochs": rng.choice([10, 20, 40])}
    else:
        out["trainer"] = {"type": "sklearn", "refit_on_train_val": False}
    out["metrics"] = {"names": ["accuracy", "f1_macro"], "monitor": "val/accuracy", "mode": "max"}
    return out


def tags_of(seed: int) -> list[str]:
    """One run in twenty is tagged, for `ednax runs --tag` (no draw: the bundles stay those
    of earlier invocations)."""
    return ["baseline"] if seed % 20 == 0 else []


def write_bundle(home: Path, run_id: str, experiment: str, rng: random.Random) -> None:
    path = home / run_id
    path.mkdir(parents=True)
    seed = rng.randrange(100)
    cfg = config(experiment, rng, seed)
    status = rng.choices(["completed", "failed", "running"], weights=[95, 4, 1])[0]
    structure = hashlib.sha256(f"{experiment}:{cfg['model']['type']}".encode()).hexdigest()[:16]
    run = {
        "id": run_id,
        "experiment": experiment,
        "status": status,
        "started_at": "2026-11-25T08:43:37.840+00:00",
        "ended_at": None if status == "running" else "2026-11-25T08:44:01.100+00:00",
        "duration_s": None if status == "running" else round(rng.uniform(1, 300), 3),
        "command": ["ednax", "run", f"{experiment}.yaml"],
        "cwd": "/home/me/project",
        "seed": seed,
        "fingerprints": {"config": f"{rng.getrandbits(64):016x}", "structure": structure},
        "classes": {"model": {"class": f"ednax.steps:{cfg['model']['type']}", "version": "0.1"}},
        "sweep": None,
        "trial": None,
        "error": "ValueError: boom" if status == "failed" else None,
        "artifacts": {},
        "family": "torch" if "optimizer" in cfg else "sklearn",
        "task": "classification",
        "tags": tags_of(seed),
        "notes": "",
    }
    (path / "config.yaml").write_text(yaml.dump(cfg, Dumper=DUMPER, sort_keys=False))
    (path / "overrides.yaml").write_text("[]\n")
    env = {"python": {"version": "3.11.7"}, "packages": PACKAGES, "git": None}
    (path / "env.json").write_text(json.dumps(env))
    if status == "completed":
        accuracy = rng.uniform(0.7, 1.0)
        metrics = {
            split: {"accuracy": accuracy - i * 0.02, "f1_macro": accuracy - i * 0.03}
            for i, split in enumerate(("train", "val", "test"))
        }
        (path / "metrics.json").write_text(json.dumps(metrics))
    (path / "run.json").write_text(json.dumps(run, indent=2))


def generate(runs_dir: Path, count: int, start: int = 0, seed: int = 0) -> list[Path]:
    rng = random.Random(seed + start)
    made = []
    for i in range(start, start + count):
        experiment = EXPERIMENTS[i % len(EXPERIMENTS)]
        home = runs_dir / experiment
        if i % 10 < 2:  # a fifth of the runs belong to sweeps of 100 trials
            home = home / f"sweep-{i // 500:04d}"
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(1_700_000_000 + i * 37))
        write_bundle(home, f"{stamp}-{i:06x}", experiment, rng)
        made.append(home / f"{stamp}-{i:06x}")
    return made


def bundles_kept(runs: Path) -> int:
    """How many bundles an earlier --keep left in `runs` (0: none)."""
    marker = runs / ".bench-bundles"
    return int(marker.read_text()) if marker.is_file() else 0


def timed(args: list[str], cwd: Path, repeats: int = 1) -> tuple[float, str]:
    times, out = [], ""
    for _ in range(repeats):
        start = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "ednax", *args], cwd=cwd, capture_output=True, text=True
        )
        times.append(time.perf_counter() - start)
        if proc.returncode != 0:
            raise SystemExit(f"ednax {' '.join(args)} failed:\n{proc.stdout}{proc.stderr}")
        out = proc.stdout
    return statistics.median(times), out


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def verdict(seconds: float, target: float) -> str:
    return f"(target <= {target:g} s: {'met' if seconds <= target else 'MISSED'})"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bundles", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--keep", type=Path, help="write the bundles here and keep them")
    parser.add_argument(
        "--skip-cold",
        action="store_true",
        help="keep the index an earlier --keep run built (100,000 bundles: minutes to build)",
    )
    options = parser.parse_args()

    work = options.keep or Path(tempfile.mkdtemp(prefix="ednax-bench-"))
    runs = work / "runs"
    try:
        prepare(runs, options.bundles)
        print(f"load average before timing: {load_average()}")
        if options.skip_cold and (runs / INDEX_FILE).is_file():
            print("ednax runs, cold (index built):      not timed (--skip-cold)")
        else:
            (runs / INDEX_FILE).unlink(missing_ok=True)
            cold, _ = timed(["runs"], work)
            print(f"ednax runs, cold (index built):      {cold:.3f} s")
        warm, _ = timed(["runs"], work, options.repeats)
        print(f"ednax runs, warm index:              {warm:.3f} s {verdict(warm, 1.0)}")
        everything, _ = timed(["runs", "--limit", "0", "--format", "csv"], work, options.repeats)
        print(f"ednax runs --limit 0 --format csv:   {everything:.3f} s (all rows)")
        sort, _ = timed(["runs", "-e", "iris-mlp", "--sort", "val/accuracy"], work, options.repeats)
        print(f"ednax runs -e iris-mlp --sort ...:   {sort:.3f} s")
        tagged, _ = timed(["runs", "--tag", "baseline"], work, options.repeats)
        print(f"ednax runs --tag baseline:           {tagged:.3f} s {verdict(tagged, 1.0)}")

        ids = sorted(p.name for p in (runs / "iris-mlp").iterdir() if p.name[0].isdigit())
        diff, _ = timed(["diff", ids[10], ids[-10]], work, options.repeats)
        print(f"ednax diff A B (by id):              {diff:.3f} s {verdict(diff, 0.5)}")
        latest, _ = timed(["diff", "iris-mlp/latest~1", "iris-mlp/latest"], work, options.repeats)
        print(f"ednax diff by latest~1, latest:      {latest:.3f} s (lists one experiment)")

        changed = time_a_status_change(runs, work, ids[len(ids) // 2])
        print(f"ednax runs after a status change:    {changed:.3f} s (shown: yes)")
        added, rows = time_new_bundles(runs, work, options.bundles)
        print(f"ednax runs after 10 new bundles:     {added:.3f} s (then {rows} rows listed)")
        again, _ = timed(["runs"], work, options.repeats)
        print(f"ednax runs, warm again:              {again:.3f} s {verdict(again, 1.0)}")
        print(f"load average after timing: {load_average()}")
    finally:
        if options.keep is None:
            shutil.rmtree(work, ignore_errors=True)


def prepare(runs: Path, count: int) -> None:
    """`count` bundles in `runs`: written now, or kept from an earlier --keep run."""
    kept = bundles_kept(runs)
    if kept == count:
        print(f"reusing {count} bundles in {runs}")
        return
    if kept or runs.exists():
        shutil.rmtree(runs)
    start = time.perf_counter()
    generate(runs, count)
    (runs / ".bench-bundles").write_text(str(count))
    print(f"generated {count} bundles in {time.perf_counter() - start:.1f} s")


def time_a_status_change(runs: Path, work: Path, run_id: str) -> float:
    """A listing after one run's status changes through the bundle writer (as a run that
    ends does), then the status put back; the change must be listed."""
    bundle = Bundle(runs / "iris-mlp" / run_id)
    status = bundle.read_run()["status"]
    new = "interrupted" if status != "interrupted" else "completed"
    bundle.update(status=new)
    try:
        seconds, _ = timed(["runs"], work)
        _, out = timed(["runs", "-e", "iris-mlp", "--limit", "0", "--format", "csv"], work)
        if not any(
            line.startswith(f"{run_id},") and f",{new}," in line for line in out.splitlines()
        ):
            raise SystemExit(f"the status change of {run_id} was not listed")
    finally:
        bundle.update(status=status)
    return seconds


def time_new_bundles(runs: Path, work: Path, count: int) -> tuple[float, int]:
    """A listing after 10 bundles appear, and how many rows are listed then; the 10 are
    removed afterwards."""
    made = generate(runs, 10, start=count)
    try:
        seconds, _ = timed(["runs"], work)
        _, out = timed(["runs", "--limit", "0", "--format", "csv"], work)
    finally:
        for path in made:
            shutil.rmtree(path)
    return seconds, len(out.splitlines()) - 1


if __name__ == "__main__":
    os.environ.setdefault("COLUMNS", "160")
    main()
