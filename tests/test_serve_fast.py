"""`ednax serve` on a run of numeric features: the array path (`serve/fast_model.py`) and
the plain-number rows (`serve/numeric_rows.py`) give what `ednax predict` gives, numbers
and messages alike."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import SAMPLES, bundle_of, run_cli, write
from tests.test_serve import Server, assert_same_as_predict, csv_rows

IRIS = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]
RUNS = {
    "classifier": [str(SAMPLES / "iris-sklearn.yaml"), "model.n_estimators=20"],
    "regressor": [
        str(SAMPLES / "diabetes-regression.yaml"),
        "model=random_forest",
        "model.n_estimators=10",
        "preprocess=[impute,minmax_scaler]",  # two layers, an imputer
    ],
}


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("serve-fast")


@pytest.fixture(scope="module")
def bundles(folder) -> dict[str, Path]:
    return {
        name: bundle_of(run_cli("run", *args, cwd=folder), folder) for name, args in RUNS.items()
    }


@pytest.fixture(scope="module")
def iris_csv(folder) -> Path:
    from sklearn.datasets import load_iris

    rows = load_iris().data[::3]
    lines = [",".join(IRIS)] + [",".join(f"{v:g}" for v in row) for row in rows]
    return write(folder / "iris-new.csv", "\n".join(lines) + "\n")


def served(bundle: Path):
    from ednax.serve.served import ServedRun

    return ServedRun.load(bundle, bundle.parent.parent, None, trust=False)


def some_rows(width: int) -> np.ndarray:
    """Rows around and far from the data: the trees' splits on both sides."""
    rng = np.random.default_rng(1)
    return np.vstack([rng.normal(0, 1, (300, width)), rng.normal(5, 4, (300, width))])


@pytest.mark.parametrize("name", RUNS)
def test_the_array_path_predicts_exactly_what_predict_does(bundles, name):
    run = served(bundles[name])
    arrays = run._arrays
    assert arrays is not None and arrays.steps is not None and arrays.forest is not None
    X = some_rows(len(run.features))
    want = run.predictor.predict(X, list(range(len(X))))
    got = arrays.predict(X, list(range(len(X))))
    assert np.array_equal(got.values, want.values)
    if want.proba is not None:
        assert np.array_equal(got.proba, want.proba)
    for i in range(0, len(X), 37):  # one row alone, as a request sends it
        one = arrays.predict(X[i : i + 1], [0])
        assert np.array_equal(one.values, want.values[i : i + 1])


def test_a_missing_value_goes_the_forests_own_way(bundles):
    run = served(bundles["classifier"])
    X = np.array([[5.1, np.nan, 1.4, 0.2]])
    assert run._arrays.forest(run._arrays.transform(X)) is None  # the forest decides
    got, want = run._arrays.predict(X, [0]), run.predictor.predict(X, [0])
    assert np.array_equal(got.proba, want.proba)


def test_plain_numbers_are_checked_as_check_frame_checks_them(bundles):
    from ednax.engine.predict import check_frame
    from ednax.serve.numeric_rows import numeric_rows
    from ednax.serve.payloads import json_rows

    schema = served(bundles["classifier"]).schema
    rows = [[5.1, 3.5, 1.4, 0.2], [7, 3, 6, 2], [float("nan"), 2.5, 1e300, -0.0]]
    records = [dict(zip(IRIS, row, strict=True)) for row in rows]
    reordered = IRIS[::-1]
    plain = [
        {"columns": IRIS, "data": rows},
        {"columns": reordered, "data": [row[::-1] for row in rows]},
        {"dataframe_split": {"columns": IRIS, "data": rows}},
        {"instances": records},
        {"inputs": records},
        {"dataframe_records": [{**r, "target": "setosa"} for r in records]},  # target: allowed
        {"instances": rows},  # in the training column order
    ]
    for payload in plain:
        ids, X = numeric_rows(payload, schema, None)
        want_ids, want_X = check_frame(json_rows(payload, IRIS), schema, None, "the request")
        assert ids == want_ids
        assert X.dtype == want_X.dtype and np.array_equal(X, want_X, equal_nan=True), payload

    def with_value(value) -> dict:
        return {"columns": IRIS, "data": [[5.1, value, 1.4, 0.2]]}

    left_to_check_frame = [
        with_value("3.5"),
        with_value(True),
        with_value(None),
        with_value(2**60),
        {"columns": IRIS[1:], "data": [[3.5, 1.4, 0.2]]},  # a missing column
        {"columns": [*IRIS, "colour"], "data": [[5.1, 3.5, 1.4, 0.2, "red"]]},
        {"columns": IRIS, "data": []},
        {"instances": [records[0], {**records[1], "colour": 1}]},
        {"instances": {c: [1.0] for c in IRIS}},
        {"instances": [[5.1, 3.5, 1.4]]},
        {"columns": IRIS, "data": rows, "params": {}},
        [rows],
    ]
    for payload in left_to_check_frame:
        assert numeric_rows(payload, schema, None) is None, payload
    assert numeric_rows({"columns": IRIS, "data": rows}, schema, "name") is None


@pytest.fixture(scope="module")
def server(folder, bundles):
    server = Server(folder, bundles["classifier"]).wait_ready()
    yield server
    assert server.stop() == 0, server.output


def test_a_numeric_run_serves_predicts_predictions(server, bundles, folder, iris_csv):
    printed = run_cli("predict", bundles["classifier"], iris_csv, cwd=folder)
    assert printed.code == 0, printed.text
    expected = csv_rows(printed.out)
    lines = iris_csv.read_text().splitlines()[1:]
    rows = [[float(v) for v in line.split(",")] for line in lines]
    bodies = [
        {"columns": IRIS, "data": rows},
        {"instances": [dict(zip(IRIS, row, strict=True)) for row in rows]},
        {"instances": rows},
    ]
    for payload in bodies:
        response = server.post("/v1/predict", json=payload)
        assert response.status_code == 200, response.text
        assert_same_as_predict(response.json()["predictions"], expected)
    one = server.post("/v1/predict", json={"columns": IRIS, "data": rows[:1]})
    assert_same_as_predict(one.json()["predictions"], expected[:1])
    labels = server.post("/invocations", json={"dataframe_split": {"columns": IRIS, "data": rows}})
    assert labels.json() == {"predictions": [r["prediction"] for r in expected]}


def test_a_numeric_runs_input_errors_are_predicts_messages(server, bundles, folder):
    header = ",".join(f'"{c}"' for c in [*IRIS[1:], "colour"])
    bad = write(folder / "iris-bad.csv", f"{header}\n3.5,1.4,abc,red\n")
    printed = run_cli("predict", bundles["classifier"], bad, cwd=folder)
    assert printed.code == 2
    problems = printed.err.strip().splitlines()[1:]
    assert len(problems) == 3  # missing, not in training, not numeric
    payload = {"columns": [*IRIS[1:], "colour"], "data": [[3.5, 1.4, "abc", "red"]]}
    response = server.post("/v1/predict", json=payload)
    assert response.status_code == 422
    message = response.json()["error"].splitlines()
    # a file's rows are data rows counted from 1; a request's are positions in its list
    problems = [p.replace("data row 1 holds", "row 0 holds") for p in problems]
    assert message == ["the request does not match what the model was trained on:", *problems]
    text = server.post("/v1/predict", json={"instances": [[5.1, "x", 1.4, 0.2]]})
    assert text.status_code == 422
    assert json.loads(text.text)["error"].endswith(
        "column 'sepal width (cm)' must be numeric; row 0 holds 'x'"
    )


TREE_PLUGIN = """\
from ednax.registry import register


@register("model", "one_tree", family="sklearn")
class OneTree:
    \"\"\"One decision tree: one output, no n_jobs.

    Parameters
    ----------
    max_depth : int
        How deep it grows.
    \"\"\"

    def __init__(self, max_depth: int = 3):
        self.max_depth = max_depth

    def build(self, task):
        from sklearn.tree import DecisionTreeClassifier

        return DecisionTreeClassifier(max_depth=self.max_depth, random_state=0)
"""
TREE_CONFIG = """\
imports: [one_tree]
experiment: {name: one-tree, seed: 0}
data: {type: sklearn_toy, dataset: iris, val: 0.2, test: 0.2}
model: {type: one_tree}
"""


def test_a_model_that_is_no_forest_is_served_as_predict_predicts(folder):
    """A single tree has one output and no `n_jobs`: its rows go through the array path
    of the transformers and the model's own predict (it was an internal error)."""
    project = folder / "one-tree"
    write(project / "one_tree.py", TREE_PLUGIN)
    write(project / "cfg.yaml", TREE_CONFIG)
    bundle = bundle_of(run_cli("run", "cfg.yaml", cwd=project), project)
    run = served(bundle)
    assert run._arrays is not None and run._arrays.forest is None
    X = some_rows(len(run.features))
    want = run.predictor.predict(X, list(range(len(X))))
    got = run._arrays.predict(X, list(range(len(X))))
    assert np.array_equal(got.values, want.values)
    assert np.array_equal(got.proba, want.proba)
