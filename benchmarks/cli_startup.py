"""How long `ednax --help` takes, against a bare interpreter start in the same invocation.

    python benchmarks/cli_startup.py [--repeats 10]

Target: `ednax --help` under 0.5 s; it must not import torch, lightning, optuna,
scikit-learn or pandas (a test checks the imports; this prints the time).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time


def median_time(cmd: list[str], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=10)
    repeats = parser.parse_args().repeats
    bare = median_time([sys.executable, "-c", "pass"], repeats)
    help_ = median_time([sys.executable, "-m", "ednax", "--help"], repeats)
    print(f"python -c pass: {bare:.3f} s")
    print(f"ednax --help:   {help_:.3f} s (target < 0.5 s); {help_ / bare:.1f}x a bare start")


if __name__ == "__main__":
    main()
