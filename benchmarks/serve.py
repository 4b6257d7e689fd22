"""A bounded local load test of `ednax serve` on an estimator run (iris-sklearn).

    python benchmarks/serve.py [--run BUNDLE | --override model.n_estimators=10 ...]
                               [--workers 1] [--requests 2000] [--seconds 10]

Makes an iris-sklearn run in a scratch folder (or serves --run), starts `ednax serve` on a
free localhost port as a subprocess, and sends single-row and 1,000-row requests to
POST /v1/predict at concurrency 1, 8 and 32 from one asyncio httpx client: each case
stops after --requests requests or --seconds seconds, whichever comes first. Prints
requests/s, p50 and p99 latency and errors per case, with GET /health and the same
prediction in-process (no HTTP) as floors to compare with: as the server makes it, and the
model alone as `ednax predict` calls it (the fitted pipeline, then the forest's own
`predict_proba`), which the server's array path (`ednax/serve/fast_model.py`) avoids.

Target: p50 under 5 ms for one row at concurrency 1, and no request lost or failed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
CONFIG = REPO / "sample-configs" / "iris-sklearn.yaml"
FEATURES = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]
TARGET_MS = 5.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_run(folder: Path, env: dict[str, str], overrides: list[str]) -> Path:
    done = subprocess.run(
        [sys.executable, "-m", "ednax", "run", str(CONFIG), *overrides],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return folder / re.search(r"^bundle: (\S+)$", done.stdout, re.MULTILINE).group(1)


def serve_command(bundle: Path, port: int, workers: int) -> list[str]:
    command = [sys.executable, "-m", "ednax", "serve", str(bundle)]
    return [*command, "--port", str(port), "--workers", str(workers)]


def body(rows: int) -> dict:
    values = [[5.1, 3.5, 1.4, 0.2], [6.2, 2.9, 4.3, 1.3], [7.7, 3.0, 6.1, 2.3]]
    return {"columns": FEATURES, "data": [values[i % 3] for i in range(rows)]}


async def load(url: str, payload: dict | None, concurrency: int, requests: int, seconds: float):
    """Latencies (s) of up to `requests` requests from `concurrency` workers, for at most
    `seconds`; and the errors (status other than 200, or no answer)."""
    latencies: list[float] = []
    errors: list[str] = []
    sent = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal sent
            while sent < requests and time.perf_counter() < deadline:
                sent += 1
                start = time.perf_counter()
                try:
                    if payload is None:
                        response = await client.get(url)
                    else:
                        response = await client.post(url, json=payload)
                except httpx.HTTPError as exc:
                    errors.append(f"{type(exc).__name__}: {exc}")
                    continue
                latencies.append(time.perf_counter() - start)
                if response.status_code != 200:
                    errors.append(str(response.status_code))

        begun = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - begun
    return latencies, errors, sent, elapsed


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def median_ms(call, repeats: int = 200) -> float:
    call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def in_process(bundle: Path, rows: int) -> tuple[float, float]:
    """Milliseconds of the same prediction without HTTP: as the server makes it (the JSON
    body parsed, checked, predicted and rendered) and, for the model alone, as `ednax
    predict` calls it on checked rows (the fitted pipeline, the estimator's own methods)."""
    import json

    import numpy as np

    from ednax.serve.answers import rows as answer_rows
    from ednax.serve.app import _predictions
    from ednax.serve.served import ServedRun

    served = ServedRun.load(bundle, bundle.parent.parent, None, trust=False)
    data = body(rows)
    raw = json.dumps(data).encode()
    X, ids = np.array(data["data"], dtype=np.float64), list(range(rows))
    request = median_ms(lambda: answer_rows(_predictions(served, raw, None, None)))
    model = median_ms(lambda: served.predictor.predict(X, ids))
    return request, model


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--run", type=Path, help="a bundle to serve (default: a new iris run)")
    parser.add_argument(
        "--override", action="append", default=[], help="an override of the new iris run"
    )
    parser.add_argument("--workers", type=int, default=1, help="ednax serve --workers")
    parser.add_argument("--requests", type=int, default=2000, help="at most, per case")
    parser.add_argument("--seconds", type=float, default=10.0, help="at most, per case")
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="ednax-serve-bench-"))
    env = {**os.environ, "EDNAX_SECRET_FILE": str(scratch / "secret"), "NO_COLOR": "1"}
    if args.run is None:
        bundle = make_run(scratch, env, args.override)
    else:
        bundle = args.run.resolve()
        env = dict(os.environ)
    os.environ.update(env)
    port = free_port()
    log = (scratch / "server.log").open("w")
    server = subprocess.Popen(
        serve_command(bundle, port, args.workers),
        cwd=scratch,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            if server.poll() is not None:
                break
            try:
                if httpx.get(f"{base}/health").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            server.terminate()
        if server.poll() is not None:
            log.flush()
            raise SystemExit("the server did not start:\n" + Path(log.name).read_text())
        model = " ".join(args.override) or "standard scaler, 100 trees"
        print(f"ednax serve {bundle.name} (iris-sklearn: {model}), workers: {args.workers}")
        for rows in (1, 1000):
            request, model = in_process(bundle, rows)
            print(
                f"in-process, {rows} row(s): as the server predicts {request:.2f} ms; "
                f"model alone (pipeline and estimator as ednax predict calls them): {model:.2f} ms"
            )
        print(f"{'case':<26} {'sent':>6} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6}")
        cases = [("GET /health", None, 1)]
        cases += [(f"{r} row(s)", body(r), c) for r in (1, 1000) for c in (1, 8, 32)]
        results = {}
        for name, payload, concurrency in cases:
            url = f"{base}/health" if payload is None else f"{base}/v1/predict"
            asyncio.run(load(url, payload, concurrency, 50, 5))  # warm the connections
            latencies, errors, sent, elapsed = asyncio.run(
                load(url, payload, concurrency, args.requests, args.seconds)
            )
            p50, p99 = percentile(latencies, 0.5) * 1e3, percentile(latencies, 0.99) * 1e3
            results[name, concurrency] = (p50, errors, sent, len(latencies))
            label = f"{name}, concurrency {concurrency}"
            print(
                f"{label:<26} {sent:>6} {len(latencies) / elapsed:>8.1f} {p50:>8.2f} "
                f"{p99:>8.2f} {len(errors):>6}"
            )
            for error, count in Counter(errors).most_common(3):
                print(f"    {count} x {error}")
    finally:
        server.terminate()
        code = server.wait(60)
        log.close()
        shutil.rmtree(scratch, ignore_errors=True)
    p50 = results["1 row(s)", 1][0]
    failed = sum(len(errors) for _, errors, _, _ in results.values())
    lost = sum(sent - answered for _, _, sent, answered in results.values())
    met = p50 < TARGET_MS and failed == 0 and lost == 0 and code == 0
    print(
        f"target: p50 < {TARGET_MS:g} ms for one row at concurrency 1 ({p50:.2f} ms), "
        f"0 errors ({failed}), 0 lost ({lost}), exit 0 on SIGTERM ({code}): "
        + ("met" if met else "NOT met")
    )
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
