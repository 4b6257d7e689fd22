"""ednax's overhead on a scikit-learn experiment, as a wall-time ratio.

Runs, in this one invocation, a plain scikit-learn script doing the same work as
sample-configs/iris-sklearn.yaml (load iris, split 60/20/20 stratified, standard scaler
fitted on train, random forest of 100 trees, accuracy and macro-F1 on every split, and the
record a careful researcher keeps by hand: the fitted objects, metrics as JSON, the test
predictions as csv) and `ednax run` on that config, each as a fresh process, alternating,
and prints the median wall times and their ratio. Target: ratio <= 1.3.

    python benchmarks/sklearn_overhead.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CONFIG = REPO / "sample-configs" / "iris-sklearn.yaml"

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


def timed(cmd: list[str], cwd: str) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "plain.py"
        script.write_text(PLAIN)
        plain_cmd = [sys.executable, str(script), str(Path(tmp) / "plain-run")]
        ednax_cmd = [sys.executable, "-m", "ednax", "run", str(CONFIG)]
        timed(plain_cmd, tmp)  # warm the file cache for both
        timed(ednax_cmd, tmp)
        plain, ednax = [], []
        for _ in range(args.repeats):
            plain.append(timed(plain_cmd, tmp))
            ednax.append(timed(ednax_cmd, tmp))
    p, e = statistics.median(plain), statistics.median(ednax)
    print(f"plain scikit-learn script: {p:.3f} s (median of {args.repeats})")
    print(f"ednax run iris-sklearn:    {e:.3f} s (median of {args.repeats})")
    print(f"ratio ednax/plain: {e / p:.2f}x (target <= 1.30x)")


if __name__ == "__main__":
    main()
