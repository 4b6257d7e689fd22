"""`ednax serve`: a real server process on a free localhost port, spoken to over HTTP.

Each run is made once for the module, and one server process per run answers most tests.
What the server says is compared with what `ednax predict` writes and prints for the same
rows: the predictions (the CSV's text is the served value written with 6 significant
digits) and the messages of a bad input.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.conftest import SAMPLES, Result, run_cli, write

NEW_ROWS = SAMPLES / "data" / "penguins-new.csv"
TEXTS = SAMPLES / "data" / "text-topics" / "topics.csv"
PENGUIN_COLUMNS = "island,bill_length_mm,bill_depth_mm,flipper_length_mm,body_mass_g"


def cli_env(**extra: str) -> dict[str, str]:
    """The environment now (the session's private secret is set after import), as the
    conftest's `run_cli` passes it."""
    return {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", **extra}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """`ednax serve ...` in a subprocess, its output in a file (a pipe nobody reads would
    fill up and stall the server)."""

    def __init__(self, cwd: Path, *args: str, env: dict | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = cwd / f"serve-{self.port}.log"
        with self.log.open("w") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "ednax", "serve", *map(str, args), "--port", str(self.port)],
                cwd=cwd,
                env=cli_env(**(env or {})),
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    @property
    def output(self) -> str:
        return self.log.read_text()

    def wait_ready(self, timeout: float = 180) -> Server:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"the server exited {self.proc.returncode}:\n{self.output}")
            try:
                if httpx.get(f"{self.url}/health", timeout=5).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"the server did not answer in {timeout} s:\n{self.output}")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(60)

    def post(self, path: str, **kwargs) -> httpx.Response:
        return httpx.post(f"{self.url}{path}", timeout=120, **kwargs)

    def get(self, path: str) -> httpx.Response:
        return httpx.get(f"{self.url}{path}", timeout=30)


class Runs:
    """`ednax run` for each entry, all started at once; a bundle is waited for when first
    asked for, so that the torch run trains while the estimator's tests go on."""

    def __init__(self, cwd: Path, runs: dict[str, list[str]]):
        self.cwd = cwd
        self.procs = {
            name: subprocess.Popen(
                [sys.executable, "-m", "ednax", "run", *args],
                cwd=cwd,
                env=cli_env(),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for name, args in runs.items()
        }
        self.bundles: dict[str, Path] = {}

    def __getitem__(self, name: str) -> Path:
        if name not in self.bundles:
            out, _ = self.procs[name].communicate(timeout=600)
            assert self.procs[name].returncode == 0, out
            found = re.search(r"^bundle: (\S+)$", out, re.MULTILINE)
            self.bundles[name] = self.cwd / found.group(1)
        return self.bundles[name]


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def assert_same_as_predict(served: list[dict], written: list[dict[str, str]]) -> None:
    """The served predictions are predict's CSV before its rounding to 6 digits."""
    assert len(served) == len(written)
    for got, want in zip(served, written, strict=True):
        assert list(got) == list(want)
        key = next(iter(want))  # "id", or "path" for images
        assert str(got[key]) == want[key]
        assert got["prediction"] == want["prediction"]
        for name in list(want)[2:]:
            assert f"{got[name]:.6g}" == want[name], (name, got, want)


def records_of(path: Path) -> list[dict]:
    """The CSV's rows as JSON records, numbers as numbers, empty cells null."""

    def value(text: str):
        if text == "":
            return None
        try:
            return float(text) if "." in text else int(text)
        except ValueError:
            return text

    return [{k: value(v) for k, v in row.items()} for row in csv_rows(path.read_text())]


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("serve")


RUNS = {
    # one_hot refuses unseen islands: requests get predict's message for them
    "estimator": [
        str(SAMPLES / "csv-example.yaml"),
        "model.n_estimators=20",
        "preprocess.1.handle_unknown=error",
    ],
    "torch": [str(SAMPLES / "iris-mlp.yaml"), "trainer.max_epochs=2"],
    "text": [str(SAMPLES / "text-topics.yaml"), "trainer.max_epochs=1"],
}
SERVERS = {"torch_server": "torch", "text_server": "text"}  # else the estimator's


@pytest.fixture(scope="module")
def bundles(folder, request) -> Runs:
    """The runs the selected tests of this module use (`-m "not slow"` makes no torch
    run), all started at once."""
    uses = [i.fixturenames for i in request.session.items if i.module is request.module]
    wanted = {
        next((run for server, run in SERVERS.items() if server in n), "estimator")
        for n in uses
        if "bundles" in n
    }
    runs = Runs(folder, {name: args for name, args in RUNS.items() if name in wanted})
    yield runs
    for proc in runs.procs.values():
        if proc.poll() is None:  # a test failed before it needed the run
            proc.kill()
            proc.wait()


def started(folder: Path, *args: str):
    """A server for the module: it must stop with exit code 0 (the test of SIGTERM with a
    request in flight may have stopped it already)."""
    server = Server(folder, *args)
    try:
        yield server.wait_ready()
    finally:
        code = server.stop()
    assert code == 0, server.output


class Predicted:
    """`ednax predict` started in the background (beside a server starting up); its
    result when first asked for."""

    def __init__(self, cwd: Path, bundle: Path, source: Path):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ednax", "predict", str(bundle), str(source)],
            cwd=cwd,
            env=cli_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._result: Result | None = None

    @property
    def result(self) -> Result:
        if self._result is None:
            out, err = self.proc.communicate(timeout=300)
            self._result = Result(self.proc.returncode, out, err)
        return self._result

    @property
    def rows(self) -> list[dict[str, str]]:
        assert self.result.code == 0, self.result.text
        return csv_rows(self.result.out)


@pytest.fixture(scope="module")
def predicted(folder, bundles) -> Predicted:
    """What `ednax predict` writes for the new penguins."""
    return Predicted(folder, bundles["estimator"], NEW_ROWS)


@pytest.fixture(scope="module")
def estimator(folder, bundles, predicted) -> Server:
    yield from started(folder, bundles["estimator"])


@pytest.fixture(scope="module")
def torch_server(folder, bundles) -> Server:
    yield from started(folder, bundles["torch"])


@pytest.fixture(scope="module")
def text_server(folder, bundles) -> Server:
    yield from started(folder, bundles["text"])


def predict(bundle: Path, source: Path, cwd: Path, *args: str) -> Result:
    return run_cli("predict", bundle, source, *args, cwd=cwd)


# --- predictions equal `ednax predict`'s ----------------------------------------------


def test_estimator_predictions_equal_predicts_for_csv_and_json(estimator, predicted):
    as_csv = estimator.post(
        "/v1/predict", content=NEW_ROWS.read_bytes(), headers={"content-type": "text/csv"}
    )
    assert as_csv.status_code == 200, as_csv.text
    assert_same_as_predict(as_csv.json()["predictions"], predicted.rows)

    records = records_of(NEW_ROWS)
    assert any(None in r.values() for r in records)  # a missing value, imputed by the run
    as_records = estimator.post("/v1/predict", json={"instances": records})
    assert as_records.json() == as_csv.json()

    columns = list(records[0])
    split = {"columns": columns, "data": [[r[c] for c in columns] for r in records]}
    assert estimator.post("/v1/predict", json=split).json() == as_csv.json()
    positional = {"instances": split["data"]}  # rows in the training column order
    assert estimator.post("/v1/predict", json=positional).json() == as_csv.json()


def test_an_id_column_is_carried_through_as_predict_does(estimator, predicted):
    lines = NEW_ROWS.read_text().splitlines()
    named = [f"{row},penguin-{i}" for i, row in enumerate(lines[1:])]
    body = "\n".join([lines[0] + ",name", *named]) + "\n"
    served = estimator.post(
        "/v1/predict",
        params={"id_column": "name"},
        content=body.encode(),
        headers={"content-type": "text/csv"},
    )
    assert served.status_code == 200, served.text
    # predict --id-column name: the same rows, each under its name
    renamed = [{**row, "id": f"penguin-{i}"} for i, row in enumerate(predicted.rows)]
    assert_same_as_predict(served.json()["predictions"], renamed)
    unknown = estimator.post(
        "/v1/predict",
        params={"id_column": "tag"},
        content=body.encode(),
        headers={"content-type": "text/csv"},
    )
    assert unknown.status_code == 422
    assert "the id column 'tag' is not in the file" in unknown.json()["error"]


def test_concurrent_requests_each_get_their_own_rows(estimator, predicted):
    """Requests that queue for the model are predicted in one call, and each gets the
    predictions of its own rows, as if it had come alone."""
    records = records_of(NEW_ROWS)
    expected = predicted.rows

    def one(i: int) -> tuple[int, list]:
        k = i % len(records)
        rows = [records[k], records[(k + 1) % len(records)]]
        response = estimator.post("/v1/predict", json={"instances": rows})
        assert response.status_code == 200, response.text
        return k, response.json()["predictions"]

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(one, range(48)))
    for k, served in answers:
        want = [expected[k], expected[(k + 1) % len(records)]]
        assert_same_as_predict(served, [{**w, "id": str(i)} for i, w in enumerate(want)])


def test_the_batcher_combines_queued_requests_and_keeps_failures_apart():
    """In-process, with a stand-in model: requests that queue during a call are predicted
    together, each gets its own rows back, and a request the model fails on fails alone."""
    import contextlib

    import numpy as np

    from ednax.engine.predict import Predictions
    from ednax.serve.batching import Batcher

    calls: list[int] = []
    lock = threading.Lock()

    def model(X, ids):
        calls.append(len(ids))
        time.sleep(0.05)  # a slow model call, while other requests queue
        if (X == -1).any():
            raise ValueError("the model cannot take -1")
        return Predictions(ids, X[:, 0] * 2, None, None)

    @contextlib.contextmanager
    def call():
        with lock:
            yield

    batcher = Batcher(model, call)

    def request(i: int):
        X = np.array([[float(-1 if i == 7 else i)], [float(i) + 0.5]])
        try:
            return batcher.predict(X, [f"{i}a", f"{i}b"])
        except ValueError as exc:
            return exc

    with ThreadPoolExecutor(12) as pool:
        results = list(pool.map(request, range(12)))
    assert max(calls) > 2  # several requests' rows in one call
    for i, result in enumerate(results):
        if i == 7:
            assert str(result) == "the model cannot take -1"
            continue
        assert result.ids == [f"{i}a", f"{i}b"]
        assert result.values.tolist() == [2.0 * i, 2.0 * i + 1]


# --- MLflow's scoring protocol -----------------------------------------------------------


def test_invocations_take_mlflows_three_payloads(estimator, predicted):
    labels = [r["prediction"] for r in predicted.rows]
    records = records_of(NEW_ROWS)
    columns = list(records[0])
    payloads = {
        "dataframe_split": {
            "dataframe_split": {"columns": columns, "data": [list(r.values()) for r in records]}
        },
        "dataframe_records": {"dataframe_records": records},
        "instances": {"instances": records},
    }
    for name, payload in payloads.items():
        response = estimator.post("/invocations", json=payload)
        assert response.status_code == 200, (name, response.text)
        assert response.json() == {"predictions": labels}, name
    as_csv = estimator.post(
        "/invocations", content=NEW_ROWS.read_bytes(), headers={"content-type": "text/csv"}
    )
    assert as_csv.json() == {"predictions": labels}


# --- the run described ---------------------------------------------------------------------


def test_model_describes_the_run_its_schema_and_metrics(estimator, bundles):
    bundle = bundles["estimator"]
    schema = json.loads((bundle / "artifacts" / "data_schema.json").read_text())
    model = estimator.get("/v1/model").json()
    assert model["id"] == bundle.name
    assert model["experiment"] == "csv-example"
    assert model["version"] == "v1"
    assert (model["family"], model["task"]) == ("sklearn", "classification")
    assert model["classes"] == ["Adelie", "Chinstrap", "Gentoo"]
    assert model["input"] == {"modality": "tabular", "features": schema["features"]}
    assert model["metrics"] == json.loads((bundle / "metrics.json").read_text())
    assert estimator.get("/health").json() == {"status": "ok"}
    assert estimator.get("/docs").status_code == 200
    paths = estimator.get("/openapi.json").json()["paths"]
    assert {"/health", "/v1/model", "/v1/predict", "/invocations"} <= set(paths)


# --- errors ------------------------------------------------------------------------------


def test_input_errors_are_422_with_predicts_messages(estimator, bundles, folder):
    header = "island,bill_length_mm,bill_depth_mm,flipper_length_mm,colour"
    bad = write(folder / "bad.csv", f"{header}\nDream,39.1,17,190,red\nMars,abc,17,190,red\n")
    printed = predict(bundles["estimator"], bad, folder)
    assert printed.code == 2
    lines = printed.err.strip().splitlines()
    assert lines[0] == f"usage error: {bad} does not match what the model was trained on:"
    problems = lines[1:]
    assert problems == [
        "  column 'body_mass_g' is missing (the model was trained on it)",
        "  column 'colour' was not in the training data; remove it or pass it as --id-column",
        "  column 'island' has categories not seen in training: ['Mars'] "
        "(known: ['Biscoe', 'Dream', 'Torgersen'])",
        "  column 'bill_length_mm' must be numeric; data row 2 holds 'abc'",
    ]
    # a request's rows are named by their position in it (from 0), a file's as data rows
    problems = [p.replace("data row 2 holds", "row 1 holds") for p in problems]
    responses = [
        estimator.post(
            "/v1/predict", content=bad.read_bytes(), headers={"content-type": "text/csv"}
        ),
        estimator.post("/v1/predict", json={"instances": records_of(bad)}),
        estimator.post("/invocations", json={"dataframe_records": records_of(bad)}),
    ]
    for response in responses:
        assert response.status_code == 422
        message = response.json()["error"].splitlines()
        assert message == ["the request does not match what the model was trained on:", *problems]


def test_a_body_that_is_not_rows_is_a_clear_400_or_422(estimator):
    cases = [
        (b'{"instances": [{"island": ', "application/json", 400, "the body is not valid JSON"),
        (b"", "application/json", 400, "the body is empty"),
        (b"[1, 2]", "application/json", 422, "must be a JSON object"),
        (b'{"rows": []}', "application/json", 422, "exactly one of 'instances'"),
        (b'{"instances": []}', "application/json", 422, "the request holds no rows to predict"),
        (b'{"instances": [[1, 2]]}', "application/json", 422, "the model takes 5, in this order"),
        (b'{"columns": ["a"], "data": [[1, 2]]}', "application/json", 422, "data[0] has 2 values"),
        (PENGUIN_COLUMNS.encode(), "text/csv", 422, "the request holds no rows to predict"),
        (b"a=1", "application/x-www-form-urlencoded", 415, "add -H 'Content-Type"),
    ]
    for body, kind, status, message in cases:
        response = estimator.post("/v1/predict", content=body, headers={"content-type": kind})
        assert response.status_code == status, (body, response.text)
        assert message in response.json()["error"], (body, response.text)
        assert "Traceback" not in response.text
    assert estimator.get("/nowhere").json() == {"error": "Not Found"}


def test_a_body_over_the_limit_is_413_declared_or_chunked(estimator):
    row = b"Dream,40.1,17.1,190,3500\n"
    body = (PENGUIN_COLUMNS + "\n").encode() + row * (17 * 2**20 // len(row))  # 17 MiB
    declared = estimator.post("/v1/predict", content=body, headers={"content-type": "text/csv"})
    assert declared.status_code == 413
    assert declared.json() == {
        "error": "the request body is over the limit of 16 MiB (--max-body-mb)"
    }

    def chunks():
        for start in range(0, len(body), 2**20):
            yield body[start : start + 2**20]

    chunked = estimator.post("/v1/predict", content=chunks(), headers={"content-type": "text/csv"})
    assert chunked.status_code == 413
    assert estimator.get("/health").status_code == 200  # and the server goes on


def test_an_internal_error_is_500_without_a_traceback(bundles, caplog):
    """In-process (no test code in the server): a model that breaks mid-request."""
    from fastapi.testclient import TestClient

    from ednax.serve.app import build_app
    from ednax.serve.served import ServedRun

    served = ServedRun.load(bundles["estimator"], "runs", None, trust=False)

    def broken(X, ids):
        raise ValueError("secret internals /home/someone/model.pkl")

    served.predictor.predict = broken
    client = TestClient(build_app(served, 2**20), raise_server_exceptions=False)
    response = client.post("/v1/predict", json={"instances": records_of(NEW_ROWS)})
    assert response.status_code == 500
    assert response.json() == {"error": "internal error"}
    assert "secret" not in response.text
    assert "internal error on POST /v1/predict: ValueError" in caplog.text


def test_a_bad_run_is_predicts_usage_error_before_anything_listens(folder):
    served = run_cli("serve", "no-such-run", "--port", str(free_port()), cwd=folder)
    printed = predict("no-such-run", NEW_ROWS, folder)
    assert served.code == 2, served.text
    assert served.err == printed.err
    assert "serving" not in served.out
    assert "Traceback" not in served.text


OTHER_SECRET = "another-users-secret"


def test_a_refused_pickle_is_predicts_usage_error_before_anything_listens(
    bundles, folder, monkeypatch
):
    """A bundle signed with another user's secret: refused with the error `ednax predict`
    prints (here from the same call, in-process), before anything listens."""
    from ednax.app.predicting import load
    from ednax.errors import UsageError

    secret = str(folder / OTHER_SECRET)
    refused = Server(folder, bundles["estimator"], env={"EDNAX_SECRET_FILE": secret})
    monkeypatch.setenv("EDNAX_SECRET_FILE", secret)
    with pytest.raises(UsageError, match="refusing to unpickle") as predict_error:
        load(bundles["estimator"]).predict_csv(NEW_ROWS)
    assert refused.proc.wait(120) == 2
    assert f"usage error: {predict_error.value.render()}\n" in refused.output
    assert f"ednax serve --trust {bundles['estimator']}" in refused.output
    assert "serving" not in refused.output


def test_trust_serves_a_refused_bundle_from_every_worker(bundles, folder):
    """--trust --workers 2: the parent and both workers load the bundle on trust, every
    request is answered, and SIGTERM stops them all with exit 0."""
    other = {"EDNAX_SECRET_FILE": str(folder / OTHER_SECRET)}
    trusted = Server(folder, bundles["estimator"], "--trust", "--workers", "2", env=other)
    try:
        trusted.wait_ready()
        records = {"instances": records_of(NEW_ROWS)}
        answers = [trusted.post("/invocations", json=records) for _ in range(6)]
        assert {r.status_code for r in answers} == {200}
    finally:
        code = trusted.stop()
    assert code == 0, trusted.output
    assert trusted.output.count("warning: trusting") == 1  # said once, by the parent
    assert trusted.output.count("Application startup complete") == 2


@pytest.mark.slow
def test_torch_predictions_equal_predicts(torch_server, bundles):
    """The run's test rows (iris rows by id) against what training wrote for them, which
    `ednax predict RUN data:test` writes too (tests/test_predict_module.py): predicting
    with torch (and Lightning) in a subprocess would take longer than the rest together."""
    from sklearn.datasets import load_iris

    written = csv_rows((bundles["torch"] / "artifacts" / "predictions.csv").read_text())
    iris = load_iris(as_frame=True).frame.drop(columns="target")
    rows = iris.iloc[[int(r["id"]) for r in written]]
    body = rows.rename_axis("id").reset_index().to_csv(index=False)
    served = torch_server.post(
        "/v1/predict",
        params={"id_column": "id"},
        content=body.encode(),
        headers={"content-type": "text/csv"},
    )
    assert served.status_code == 200, served.text
    assert_same_as_predict(
        served.json()["predictions"],
        [{k: v for k, v in r.items() if k != "target"} for r in written],
    )
    model = torch_server.get("/v1/model").json()
    assert (model["family"], model["experiment"]) == ("torch", "iris-mlp")
    assert model["input"]["features"] == [
        {"name": name, "kind": "numeric"} for name in iris.columns
    ]


@pytest.mark.slow
def test_a_text_run_predicts_posted_texts_as_training_did(text_server, bundles):
    """The run's test texts, posted as JSON records and as MLflow's dataframe_split,
    against what training wrote for them (what `ednax predict RUN data:test` writes)."""
    written = csv_rows((bundles["text"] / "artifacts" / "predictions.csv").read_text())
    by_id = {row["id"]: row["text"] for row in csv_rows(TEXTS.read_text())}
    records = [{"id": r["id"], "text": by_id[r["id"]]} for r in written]
    served = text_server.post(
        "/v1/predict", params={"id_column": "id"}, json={"instances": records}
    )
    assert served.status_code == 200, served.text
    expected = [{k: v for k, v in r.items() if k != "target"} for r in written]
    assert_same_as_predict(served.json()["predictions"], expected)
    split = {"columns": ["text"], "data": [[r["text"]] for r in records[:3]]}
    mlflow = text_server.post("/invocations", json={"dataframe_split": split})
    assert mlflow.json()["predictions"] == [r["prediction"] for r in written[:3]]
    missing = text_server.post("/v1/predict", json={"instances": [{"words": "a goal"}]})
    assert missing.status_code == 422 and "no column 'text'" in missing.json()["error"]
    model = text_server.get("/v1/model").json()
    assert model["input"] == {"modality": "text", "text": ["text"], "extras": []}


# --- stopping ----------------------------------------------------------------------------


def test_sigterm_finishes_the_request_in_flight_and_exits_0(estimator):
    """The module's estimator server, stopped last: SIGTERM while a 7 MB CSV (seconds
    of work) is being predicted; the request is answered and the process exits 0."""
    rows = b"".join(b"Dream,%d.5,17.1,190,3500\n" % (35 + i % 20) for i in range(300_000))
    body = (PENGUIN_COLUMNS + "\n").encode() + rows
    answered: dict = {}

    def send() -> None:
        response = estimator.post(
            "/invocations", content=body, headers={"content-type": "text/csv"}
        )
        answered["at"] = time.monotonic()
        answered["response"] = response

    request = threading.Thread(target=send)
    request.start()
    time.sleep(0.5)
    stopped_at = time.monotonic()
    estimator.proc.send_signal(signal.SIGTERM)
    request.join(120)
    code = estimator.proc.wait(60)
    assert answered["at"] > stopped_at, "the request ended before SIGTERM: make it bigger"
    assert answered["response"].status_code == 200
    assert len(answered["response"].json()["predictions"]) == 300_000
    assert code == 0, estimator.output
    assert "Finished server process" in estimator.output


# --- an image run ------------------------------------------------------------------------

TINY_IMAGES = """
experiment: {name: tiny-images, seed: 0}
data: {type: image_folder, path: images, channels: 1, val: 0.25, test: 0.25}
preprocess: [{type: normalize}]
model: {type: cnn, channels: [4]}
loss: {type: cross_entropy}
optimizer: {type: adam, lr: 1.0e-2}
trainer: {type: lightning, max_epochs: 1, batch_size: 8}
metrics: {names: [accuracy]}
"""


@pytest.fixture(scope="module")
def image_run(tmp_path_factory) -> Path:
    """Sixteen 8x8 grey images in two classes, and a one-epoch CNN on them."""
    import numpy as np
    from PIL import Image

    folder = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    for label, level in (("dark", 40), ("light", 200)):
        (folder / "images" / label).mkdir(parents=True)
        for i in range(8):
            pixels = np.clip(level + rng.normal(0, 20, (8, 8)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(folder / "images" / label / f"{i}.png")
    return Runs(folder, {"images": [str(write(folder / "tiny.yaml", TINY_IMAGES))]})["images"]


@pytest.mark.slow
def test_an_image_run_predicts_uploaded_files_as_predict_does(image_run):
    """The run's test images, uploaded, against what training wrote for them (what
    `ednax predict RUN data:test` writes too)."""
    written = csv_rows((image_run / "artifacts" / "predictions.csv").read_text())
    images = image_run.parent.parent.parent / "images"
    files = [("files", (r["id"], (images / r["id"]).read_bytes(), "image/png")) for r in written]
    server = Server(image_run.parent.parent.parent, image_run).wait_ready()
    try:
        served = server.post("/v1/predict", files=files)
        assert served.status_code == 200, served.text
        expected = [{k: v for k, v in r.items() if k != "target"} for r in written]
        assert_same_as_predict(
            served.json()["predictions"], [{"path": r.pop("id"), **r} for r in expected]
        )
        model = server.get("/v1/model").json()
        assert model["input"] == {"modality": "image", "channels": 1, "size": [8, 8]}

        not_an_image = server.post(
            "/v1/predict", files=[("files", ("notes.txt", b"hello", "text/plain"))]
        )
        assert not_an_image.status_code == 422
        assert not_an_image.json()["error"].startswith("file 'notes.txt' is not an image")
        as_json = server.post("/v1/predict", json={"instances": [{}]})
        assert as_json.status_code == 415
        assert "multipart/form-data" in as_json.json()["error"]
    finally:
        assert server.stop() == 0, server.output
