"""ednax's overhead on a scikit-learn experiment, as a wall-time ratio.

Runs, in this one invocation, a plain scikit-learn script doing the same work as
sample-configs/iris-sklearn.yaml (load iris, split 60/20/20 stratified, standard scaler
fitted on train, random forest of 100 trees, accuracy and macro-F1 on every split, and the
record a careful researcher keeps by hand: the fitted objects, metrics as JSON, the test
predictions as csv) and `ednax run` on that config, each as a fresh process, alternating,
and prints the median wall and CPU times and their ratios. Target: wall ratio <= 1.15.

Both sides run with Python's bytecode cache on (PYTHONDONTWRITEBYTECODE is dropped from
their environment), as an installed package runs: the warm-up runs write it. Without it,
every ednax module would be compiled from source on each run, a cost no user pays twice.

    python benchmarks/sklearn_overhead.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CONFIG = REPO / "sample-configs" / "iris-sklearn.yaml"
TARGET = 1.15

PLAIN = """
import csv, json, os, pickle, sys
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

X, y = load_iris(return_X_y=True)
X_train, X_rest, y_train, y_rest = train_test_split(X, y, test_size=0.4, stratify=y,
                                                    random_state=0)
X_val, X_test, y_val, y_test = train_test_split(X_rest, y_rest, test_size=0.5,
                                                stratify=y_rest, random_state=0)
scaler = StandardScaler().fit(X_train)
model = RandomForestClassifier(n_estimators=100, random_state=0)
model.fit(scaler.transform(X_train), y_train)
metrics = {}
for name, (X_, y_) in {"train": (X_train, y_train), "val": (X_val, y_val),
                       "test": (X_test, y_test)}.items():
    pred = model.predict(scaler.transform(X_))
    metrics[name] = {"accuracy": accuracy_score(y_, pred),
                     "f1_macro": f1_score(y_, pred, average="macro")}
    print(name, metrics[name])
out = sys.argv[1]
os.makedirs(out, exist_ok=True)
with open(os.path.join(out, "model.pkl"), "wb") as f:
    pickle.dump((scaler, model), f)
with open(os.path.join(out, "metrics.json"), "w") as f:
    json.dump(metrics, f)
with open(os.path.join(out, "predictions.csv"), "w", newline="") as f:
    writer = csv.writer(f)
    writer.writerow(["target", "prediction", *[f"proba_{c}" for c in range(3)]])
    proba = model.predict_proba(scaler.transform(X_test))
    for t, p, row in zip(y_test, model.predict(scaler.transform(X_test)), proba):
        writer.writerow([t, p, *row])
"""


def timed(cmd: list[str], cwd: str) -> tuple[float, float]:
    """Wall and CPU seconds (user + system) of one fresh process."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, check=True, capture_output=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "plain.py"
        script.write_text(PLAIN)
        plain_cmd = [sys.executable, str(script), str(Path(tmp) / "plain-run")]
        ednax_cmd = [sys.executable, "-m", "ednax", "run", str(CONFIG)]
        timed(plain_cmd, tmp)  # warm the file cache (and write the bytecode) for both
        timed(ednax_cmd, tmp)
        plain, ednax = [], []
        for _ in range(args.repeats):
            plain.append(timed(plain_cmd, tmp))
            ednax.append(timed(ednax_cmd, tmp))
    (p, p_cpu), (e, e_cpu) = _medians(plain), _medians(ednax)
    print(f"plain scikit-learn script: {p:.3f} s, CPU {p_cpu:.3f} s (median of {args.repeats})")
    print(f"ednax run iris-sklearn:    {e:.3f} s, CPU {e_cpu:.3f} s (median of {args.repeats})")
    ratio = e / p
    verdict = "met" if ratio <= TARGET else "MISSED"
    print(f"ratio ednax/plain: {ratio:.2f}x (target <= {TARGET:.2f}x: {verdict})")
    # On a machine other processes load, the wall ratio swings by 0.2x between runs; the
    # CPU ratio, which leaves out time spent waiting, much less.
    print(f"CPU ratio ednax/plain: {e_cpu / p_cpu:.2f}x; load average {os.getloadavg()[0]:.1f}")


def _medians(times: list[tuple[float, float]]) -> tuple[float, float]:
    return statistics.median(t[0] for t in times), statistics.median(t[1] for t in times)


if __name__ == "__main__":
    main()
