"""`ednax runs`, `show`, `compare` and `plot` through the real CLI: on bundles made by
`ednax run` (two iris estimators and a 3-epoch torch MLP) and on bundles written with the
bundle writer where a listing needs many runs with known metrics; corrupt bundles; the
index kept in step; and none of these commands importing the heavy libraries."""

from __future__ import annotations

import csv
import io
import itertools
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ednax.runs import bundle as bundle_module
from ednax.runs.bundle import Bundle
from tests.conftest import SAMPLES, run_cli, run_staggered

HEAVY = ("torch", "sklearn", "optuna", "pandas", "lightning", "pytorch_lightning")


@pytest.fixture(scope="module")
def real(tmp_path_factory) -> dict:
    """A working directory with real bundles: a torch run, then two estimators (one
    tagged)."""
    cwd = tmp_path_factory.mktemp("real")
    made = run_staggered(
        cwd,
        {
            "mlp": [SAMPLES / "iris-mlp.yaml", "trainer.max_epochs=3", "model.hidden=[16]"],
            "forest": [
                SAMPLES / "iris-sklearn.yaml",
                "model.n_estimators=5",
                "experiment.tags=[smoke]",
            ],
            "logreg": [SAMPLES / "iris-sklearn.yaml", "model=logistic_regression"],
        },
    )
    return {"cwd": cwd, **made}


def ednax(cwd: Path, *args: str):
    return run_cli(*map(str, args), cwd=cwd)


@pytest.fixture
def scratch(real, tmp_path) -> Path:
    """A copy of the real bundles that a test may damage."""
    shutil.copytree(real["cwd"] / "runs", tmp_path / "runs")
    return tmp_path


@pytest.fixture
def synthetic(tmp_path, monkeypatch) -> Path:
    """Regression runs with known rmse/r2 (lower rmse is better), written in order."""
    clock = itertools.count(1_764_000_000, 5)
    monkeypatch.setattr(bundle_module, "_now", lambda: float(next(clock)))
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", "/")
    runs = tmp_path / "runs"
    for i, (rmse, status) in enumerate(
        [(3.0, "completed"), (1.0, "completed"), (2.0, "completed"), (None, "failed")]
    ):
        bundle = Bundle.create(runs, "diabetes")
        config = {
            "experiment": {"name": "diabetes", "seed": 0},
            "model": {"type": "ridge", "alpha": 0.1 * (i + 1)},
            "metrics": {"names": ["rmse", "r2"], "monitor": "val/rmse", "mode": "min"},
        }
        bundle.start(
            config=config,
            overrides=[f"model.alpha={0.1 * (i + 1)}"],
            command=["ednax", "run"],
            experiment="diabetes",
            seed=0,
            fingerprints={"config": str(i), "structure": "ridge"},
            classes={},
            packages=[],
            cwd=tmp_path,
        )
        metrics = None if rmse is None else {"val": {"rmse": rmse, "r2": 1 / rmse}}
        error = "ValueError: Input contains NaN" if status == "failed" else None
        bundle.finish(status, metrics=metrics, error=error)
    return tmp_path


def ids(result) -> list[str]:
    return [row["id"] for row in json.loads(result.out)]


# --- ednax runs ---------------------------------------------------------------------------


def test_runs_lists_every_run_with_status_version_and_key_metrics(real):
    result = ednax(real["cwd"], "runs")
    assert result.code == 0, result.text
    header, *rows = [line for line in result.out.splitlines() if line.strip()]
    for column in ("id", "experiment", "version", "status", "started", "duration"):
        assert column in header
    assert "val/accuracy" in header and "test/accuracy" in header
    assert "train/accuracy" not in header
    assert [r.split()[0] for r in rows[1:]] == [real["logreg"], real["forest"], real["mlp"]]
    line = {r.split()[0]: r for r in rows[1:]}
    assert "iris-sklearn" in line[real["forest"]] and "v1" in line[real["forest"]]
    assert "v2" in line[real["logreg"]], "another model class is another version"
    assert "completed" in line[real["mlp"]]


def test_runs_filters_by_experiment_status_and_tag(real):
    cwd = real["cwd"]
    assert ids(ednax(cwd, "runs", "-e", "iris-mlp", "-f", "json")) == [real["mlp"]]
    assert ids(ednax(cwd, "runs", "--tag", "smoke", "-f", "json")) == [real["forest"]]
    assert ids(ednax(cwd, "runs", "--status", "failed", "-f", "json")) == []
    both = ids(
        ednax(cwd, "runs", "--status", "completed,failed", "-e", "iris-sklearn", "-f", "json")
    )
    assert both == [real["logreg"], real["forest"]]


def test_runs_says_why_a_listed_run_did_not_complete(synthetic):
    listed = ednax(synthetic, "runs")
    assert listed.code == 0, listed.text
    header = listed.out.splitlines()[0]
    assert header.split()[-1] == "why"
    failed = next(line for line in listed.out.splitlines() if " failed " in line)
    assert failed.rstrip().endswith("ValueError: Input contains NaN")
    completed = ednax(synthetic, "runs", "-s", "completed")
    assert "why" not in completed.out.splitlines()[0]  # no column when every run completed


def test_runs_sorts_by_a_metric_in_its_direction(synthetic):
    cwd = synthetic
    best_first = json.loads(ednax(cwd, "runs", "--sort", "val/rmse", "-f", "json").out)
    assert [r["metrics"].get("val/rmse") for r in best_first] == [1.0, 2.0, 3.0, None]
    largest = json.loads(ednax(cwd, "runs", "--sort", "-val/rmse", "-f", "json").out)
    assert [r["metrics"].get("val/rmse") for r in largest] == [3.0, 2.0, 1.0, None]
    r2 = json.loads(ednax(cwd, "runs", "--sort", "val/r2", "-f", "json").out)
    assert [r["metrics"].get("val/r2") for r in r2][:3] == [1.0, 0.5, 1 / 3]
    ascending = json.loads(ednax(cwd, "runs", "--sort", "val/r2", "--asc", "-f", "json").out)
    assert [r["metrics"].get("val/r2") for r in ascending][:3] == [1 / 3, 0.5, 1.0]
    table = ednax(cwd, "runs", "--sort", "val/rmse", "--limit", "2")
    assert table.code == 0
    assert "2 of 4 runs shown" in table.out
    assert table.out.index("1.0000") < table.out.index("2.0000")


def test_runs_in_csv_and_json(real):
    result = ednax(real["cwd"], "runs", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(result.out)))
    assert {r["id"] for r in rows} == {real["forest"], real["logreg"], real["mlp"]}
    forest = next(r for r in rows if r["id"] == real["forest"])
    assert forest["status"] == "completed" and forest["tags"] == "smoke"
    assert 0 <= float(forest["val/accuracy"]) <= 1 and float(forest["duration_s"]) > 0
    data = json.loads(ednax(real["cwd"], "runs", "--format", "json").out)
    assert {"id", "status", "metrics", "fingerprints", "version", "path"} <= set(data[0])


def test_runs_by_version(real):
    data = json.loads(ednax(real["cwd"], "runs", "--by-version", "-f", "json").out)
    versions = {(g["experiment"], g["version"]): g for g in data}
    assert set(versions) == {("iris-mlp", "v1"), ("iris-sklearn", "v1"), ("iris-sklearn", "v2")}
    assert "model=random_forest" in versions[("iris-sklearn", "v1")]["structure"]
    assert versions[("iris-sklearn", "v2")]["best_run"] == real["logreg"]
    table = ednax(real["cwd"], "runs", "--by-version")
    assert table.code == 0 and "model=logistic_regression" in table.out


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("--sort", "val/acuracy"), "did you mean 'val/accuracy'"),
        (("--format", "xml"), "--format 'xml' is not one of table, json, csv"),
        (("--status", "complete"), "did you mean 'completed'"),
        (("-e", "iris-sklear"), "did you mean 'iris-sklearn'"),
        (("--runs-dir", "nowhere"), "no runs directory 'nowhere'"),
    ],
)
def test_runs_bad_input_exits_2(real, args, needle):
    result = ednax(real["cwd"], "runs", *args)
    assert result.code == 2, result.text
    assert needle in result.err and "Traceback" not in result.text


# --- ednax show ---------------------------------------------------------------------------


def test_show_a_run_at_a_glance(real):
    result = ednax(real["cwd"], "show", "latest", "-e", "iris-sklearn")
    assert result.code == 0, result.text
    out = result.out
    assert f"run {real['logreg']}" in out and "completed" in out
    assert "ednax.steps.estimators:LogisticRegression" in out  # the class that ran
    assert "model=logistic_regression" in out  # the command line's changes
    assert "val" in out and "accuracy" in out
    for section in ("steps", "changed", "provenance", "artifacts"):
        assert section in out
    assert "model.pkl" in out and ("KiB" in out or " B" in out)
    assert "scikit-learn" in out  # package versions


def test_show_json_has_steps_changes_provenance_and_artifact_sizes(real):
    result = ednax(real["cwd"], "show", real["mlp"][:-2], "--format", "json")
    assert result.code == 0, result.text
    data = json.loads(result.out)
    steps = {s["step"]: s for s in data["steps"]}
    assert steps["model"]["type"] == "mlp" and steps["model"]["class"].endswith(":MLP")
    assert data["overrides"] == ["trainer.max_epochs=3", "model.hidden=[16]"]
    # changed from the defaults run.json recorded at start (tests/test_runs_recorded.py:
    # bundles from before runs recorded them)
    changed = {p["key"]: p for p in data["non_default"]}
    assert changed["trainer.max_epochs"]["value"] == 3
    assert changed["model.hidden"]["value"] == [16]
    assert data["metrics"]["val"]["accuracy"] >= 0
    assert data["provenance"]["seed"] == 0 and data["provenance"]["fingerprints"]["data"]
    sizes = {a["name"]: a["size"] for a in data["artifacts"]}
    assert sizes["best.ckpt"] > 0 and sizes["last.ckpt"] > 0


def test_show_unknown_and_ambiguous_references_exit_2_listing_candidates(real):
    unknown = ednax(real["cwd"], "show", "nope")
    assert unknown.code == 2 and "no run 'nope'" in unknown.err
    assert real["mlp"] in unknown.err  # the latest runs, to pick from, the latest first
    assert unknown.err.index(real["logreg"]) < unknown.err.index(real["mlp"])
    prefix = real["forest"][:4]
    ambiguous = ednax(real["cwd"], "show", prefix)
    assert ambiguous.code == 2 and "matches 3 runs" in ambiguous.err
    assert all(real[name] in ambiguous.err for name in ("forest", "logreg", "mlp"))


# --- ednax compare ------------------------------------------------------------------------


def test_compare_shows_only_the_keys_that_vary_best_first(synthetic):
    result = ednax(synthetic, "compare", "-e", "diabetes", "--format", "json")
    assert result.code == 0, result.text
    data = json.loads(result.out)
    assert data["keys"] == ["model.alpha"]
    assert data["sort"] == "val/rmse" and data["descending"] is False
    assert [r["metrics"].get("val/rmse") for r in data["runs"]] == [1.0, 2.0, 3.0, None]
    full = json.loads(ednax(synthetic, "compare", "-e", "diabetes", "--all", "-f", "json").out)
    assert "model" in full["keys"] and "metrics.monitor" in full["keys"]


def test_compare_real_runs_hides_parameters_explained_by_the_class(real):
    result = ednax(real["cwd"], "compare", real["forest"], real["logreg"], "--format", "csv")
    assert result.code == 0, result.text
    rows = list(csv.DictReader(io.StringIO(result.out)))
    assert "model" in rows[0] and "model.n_estimators" not in rows[0]
    assert {r["model"] for r in rows} == {"random_forest", "logistic_regression"}
    assert "val/accuracy" in rows[0]


def test_compare_a_sweep_folder_and_export_files(real, scratch):
    sweep = scratch / "runs" / "iris-sklearn" / "sweep-20261125-0900"
    sweep.mkdir()
    (sweep / "sweep.json").write_text(json.dumps({"sweeper": "optuna", "trials": 2}))
    for name in ("forest", "logreg"):
        shutil.move(scratch / "runs" / "iris-sklearn" / real[name], sweep / real[name])

    table = ednax(scratch, "compare", "--sweep", sweep)
    assert table.code == 0, table.text
    assert "sweeper=optuna" in table.out and "random_forest" in table.out
    for suffix in ("md", "json", "csv"):
        target = scratch / f"out.{suffix}"
        assert ednax(scratch, "compare", "--sweep", sweep, "-o", target).code == 0
        assert real["forest"] in target.read_text()
    assert json.loads((scratch / "out.json").read_text())["sweep"]["trials"] == 2
    assert (scratch / "out.md").read_text().startswith("| run | status |")
    listed = json.loads(ednax(scratch, "runs", "-f", "json").out)
    assert {r["sweep"] for r in listed} == {None, "iris-sklearn/sweep-20261125-0900"}


def test_compare_needs_runs(real):
    result = ednax(real["cwd"], "compare")
    assert result.code == 2 and "--sweep DIR or --experiment NAME" in result.err


# --- ednax plot ---------------------------------------------------------------------------


def test_plot_writes_a_png_of_a_torch_runs_learning_curves(real):
    target = real["cwd"] / "curves.png"
    result = ednax(real["cwd"], "plot", real["mlp"], real["forest"], "-o", target)
    assert result.code == 0, result.text
    assert target.read_bytes().startswith(b"\x89PNG")
    assert f"skipped {real['forest']}" in result.err and "no history.csv" in result.err
    one = ednax(real["cwd"], "plot", real["mlp"], "--metric", "val/loss", "-o", "loss.png")
    assert one.code == 0 and (real["cwd"] / "loss.png").stat().st_size > 1000


def test_plot_says_clearly_when_there_is_nothing_to_draw(real):
    result = ednax(real["cwd"], "plot", real["forest"])
    assert result.code == 2
    assert "scikit-learn estimator run has no history.csv" in result.err
    typo = ednax(real["cwd"], "plot", real["mlp"], "--metric", "val/los")
    assert typo.code == 2 and "did you mean 'val/loss'" in typo.err


# --- corrupt bundles, the index ------------------------------------------------------------


def test_corrupt_bundles_are_listed_and_never_crash_a_command(real, scratch):
    ednax(scratch, "runs")  # the index knows them healthy first
    iris = scratch / "runs" / "iris-sklearn"
    run_json = iris / real["forest"] / "run.json"
    run_json.write_text(run_json.read_text()[:80])
    (iris / real["logreg"] / "metrics.json").unlink()
    (iris / "20261125-235959-abcdef").mkdir()

    result = ednax(scratch, "runs")
    assert result.code == 0, result.text
    assert "corrupt" in result.out
    assert f"{real['forest']}: run.json is not valid JSON" in result.out
    assert f"{real['logreg']}: metrics.json is missing" in result.out
    assert "20261125-235959-abcdef: no run.json" in result.out
    for args in (
        ("show", real["forest"]),
        ("show", "20261125-235959-abcdef"),
        ("compare", "-e", "iris-sklearn"),
        ("runs", "--sort", "val/accuracy", "-f", "csv"),
        ("runs", "--by-version"),
    ):
        other = ednax(scratch, *args)
        assert other.code == 0, f"{args}: {other.text}"
        assert "Traceback" not in other.text


def test_the_index_is_rebuilt_when_deleted_and_follows_new_runs(real, scratch):
    index = scratch / "runs" / ".ednax-index.sqlite"
    before = ids(ednax(scratch, "runs", "-f", "json"))
    assert index.is_file()
    index.unlink()
    assert ids(ednax(scratch, "runs", "-f", "json")) == before and index.is_file()

    Bundle.open(scratch / "runs" / "iris-sklearn" / real["forest"]).update(status="interrupted")
    shutil.copytree(
        scratch / "runs" / "iris-mlp" / real["mlp"],
        scratch / "runs" / "iris-mlp" / "20991231-000000-ffffff",
    )
    after = json.loads(ednax(scratch, "runs", "-f", "json").out)
    status = {r["id"]: r["status"] for r in after}
    assert status[real["forest"]] == "interrupted"
    assert after[0]["id"] == "20991231-000000-ffffff"


@pytest.mark.parametrize(
    "args",
    [
        ("runs",),
        ("show", "latest"),
        ("diff", "latest", "latest~1"),
        ("compare", "latest", "latest~1"),
    ],
)
def test_commands_do_not_import_heavy_libraries(real, args):
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "ednax", *args],
        cwd=real["cwd"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    imported = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines() if "|" in line}
    assert not imported & set(HEAVY), sorted(imported & set(HEAVY))
