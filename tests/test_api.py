"""The Python API from a plain script: ednax.run, ednax.load(...).predict, ednax.runs, and
the same errors as the CLI."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap

import pandas as pd
import pytest

from tests.conftest import SAMPLES, write

SCRIPT = """
import json, sys
import pandas as pd
import ednax

result = ednax.run({config!r}, overrides=["model.n_estimators=20"], say=None)
rows = pd.read_csv({rows!r})
loaded = ednax.load("runs/iris-sklearn/latest")
frame = loaded.predict(rows)
from_dict = loaded.predict(rows.to_dict(orient="list"))
from_records = loaded.predict(rows.to_dict(orient="records"))
listing = ednax.runs("runs")
json.dump(
    {{
        "id": result.id,
        "status": result.status,
        "path": str(result.path),
        "test_accuracy": result.metrics["test"]["accuracy"],
        "loaded": loaded.id,
        "csv": frame.to_csv(index=False),
        "same_from_dict": frame.equals(from_dict),
        "same_from_records": frame.equals(from_records),
        "listed": listing["id"].tolist(),
        "listed_status": listing["status"].tolist(),
    }},
    sys.stdout,
)
"""


def _rows(folder) -> str:
    from sklearn.datasets import load_iris

    iris = load_iris(as_frame=True).frame.drop(columns="target").head(12)
    path = folder / "rows.csv"
    iris.to_csv(path, index=False)
    return str(path)


def test_a_plain_script_runs_loads_predicts_and_lists(cli, workdir):
    rows = _rows(workdir)
    script = write(
        workdir / "script.py", SCRIPT.format(config=str(SAMPLES / "iris-sklearn.yaml"), rows=rows)
    )
    proc = subprocess.run(
        [sys.executable, str(script)], cwd=workdir, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["status"] == "completed" and out["loaded"] == out["id"]
    assert out["test_accuracy"] > 0.8
    assert out["same_from_dict"] and out["same_from_records"]
    assert out["listed"] == [out["id"]] and out["listed_status"] == ["completed"]

    cli_csv = cli("predict", out["path"], rows)
    assert cli_csv.code == 0, cli_csv.text
    from_api = pd.read_csv(io.StringIO(out["csv"]))
    from_cli = pd.read_csv(io.StringIO(cli_csv.out))
    pd.testing.assert_frame_equal(from_api, from_cli, check_dtype=False, rtol=1e-5)


ERROR_SCRIPT = """
import ednax
from ednax.errors import ConfigError

try:
    ednax.run({config!r}, overrides=["model.n_estimator=3"], say=None)
except ConfigError as exc:
    print(exc.problems[0].path, "|", exc.problems[0].hint)
"""


def test_a_bad_config_raises_the_config_error_the_cli_shows(workdir):
    script = write(
        workdir / "bad.py", ERROR_SCRIPT.format(config=str(SAMPLES / "iris-sklearn.yaml"))
    )
    proc = subprocess.run(
        [sys.executable, str(script)], cwd=workdir, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("model.n_estimator |")
    assert "did you mean 'n_estimators'" in proc.stdout
    assert not (workdir / "runs").exists()


def test_predict_names_what_it_accepts(workdir):
    import ednax
    from ednax.errors import UsageError

    result = ednax.run(SAMPLES / "iris-sklearn.yaml", say=None)
    with pytest.raises(UsageError, match="a DataFrame, a dict of columns or a list of records"):
        ednax.load(result.path).predict(42)
    with pytest.raises(UsageError, match="column 'petal width \\(cm\\)' is missing"):
        ednax.load(result.path).predict({"sepal length (cm)": [5.0]})


def test_importing_ednax_imports_no_heavy_library():
    code = textwrap.dedent(
        """
        import sys, ednax
        heavy = ('torch', 'sklearn', 'pandas', 'optuna', 'pytorch_lightning', 'hydra')
        print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
