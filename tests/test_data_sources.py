"""The `parquet` and `sql` data steps: the same data as a csv gives the same run, on a real
SQLite file (sqlite3) and real Parquet files (pyarrow); predict on Parquet; validation
errors naming their key; a URL's password reaching the database but no record."""

from __future__ import annotations

import importlib.util
import sqlite3
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import ednax
from ednax.app.running import bundle_config
from ednax.errors import MASK, ConfigError, mask_password, masked
from ednax.runs.bundle import Bundle
from ednax.steps.data import CsvTask
from ednax.steps.data_sources import Sql, TableTask, sqlite_file
from tests.conftest import SAMPLES, bundle_of, read_json, read_yaml, run_cli, write

CSV = SAMPLES / "data" / "penguins-mini.csv"
NEW_ROWS = SAMPLES / "data" / "penguins-new.csv"
SECRET = "s3cret"
# A SQLite "server" that checks a login, so that a URL with a password is a real one: the
# run connects only if the step got the password the record never shows. The plugin knows
# the password's hash only: its source, which the bundle keeps (code/), holds no secret.
LOGIN_DIALECT = """
import hashlib

from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite


class LoginSQLite(SQLiteDialect_pysqlite):
    supports_statement_cache = True

    def create_connect_args(self, url):
        self.login = (url.username, url.password)
        return super().create_connect_args(url._replace(username=None, password=None))

    def connect(self, *cargs, **cparams):
        user, password = self.login
        digest = hashlib.sha256((password or "").encode()).hexdigest()
        expected = "1ec1c26b50d5d3c58d9583181af8076655fe00756bf7285940ba3670f99fcba0"
        if (user, digest) != ("ada", expected):
            error = self.loaded_dbapi.OperationalError
            raise error(f"password authentication failed for user {self.login[0]}")
        return super().connect(*cargs, **cparams)


registry.register("sqlite.login", __name__, "LoginSQLite")
"""


def config(data: str, *, imports: str = "[]", name: str = "tables") -> str:
    return f"""\
imports: {imports}
experiment: {{name: {name}, seed: 0}}
data: {data}
preprocess:
  - {{type: impute, strategy: median,
     columns: [bill_length_mm, bill_depth_mm, flipper_length_mm, body_mass_g]}}
  - {{type: one_hot, columns: [island]}}
model: {{type: random_forest, n_estimators: 8}}
metrics: {{names: [accuracy, f1_macro]}}
"""


def recorded_config(bundle: Path):
    """The bundle's config resolved as `ednax rerun` resolves it."""
    opened = Bundle.open(bundle)
    return bundle_config(opened, opened.read_run())


@pytest.fixture(scope="module")
def tables(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """penguins-mini as a csv, a SQLite database, a Parquet file, a folder of two Parquet
    files, and the configs that read them; the login dialect beside them."""
    root = tmp_path_factory.mktemp("tables")
    frame = pd.read_csv(CSV)
    write(root / "penguins.csv", CSV.read_text())
    with sqlite3.connect(root / "penguins.db") as db:
        columns = ", ".join(f'"{c}"' for c in frame.columns)
        db.execute(f"CREATE TABLE penguins ({columns})")
        marks = ", ".join("?" * len(frame.columns))
        rows = frame.astype(object).where(frame.notna(), None).itertuples(index=False)
        db.executemany(f"INSERT INTO penguins VALUES ({marks})", list(rows))
    db.close()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), root / "penguins.parquet")
    (root / "parts").mkdir()
    for name, part in (("part-0", frame.iloc[:70]), ("part-1", frame.iloc[70:])):
        pq.write_table(pa.Table.from_pandas(part), root / "parts" / f"{name}.parquet")
    new = pd.read_csv(NEW_ROWS)
    pq.write_table(pa.Table.from_pandas(new, preserve_index=False), root / "new.parquet")
    write(root / "login_sqlite.py", LOGIN_DIALECT)
    sources = {
        "csv": "{type: csv, path: penguins.csv, target: species}",
        "table": "{type: sql, url: 'sqlite:///penguins.db', table: penguins, target: species}",
        "query": "{type: sql, url: 'sqlite:///penguins.db', target: species, query: "
        "'SELECT island, bill_length_mm, bill_depth_mm, flipper_length_mm, body_mass_g, "
        "species FROM penguins'}",
        "file": "{type: parquet, path: penguins.parquet, target: species}",
        "folder": "{type: parquet, path: parts, target: species}",
    }
    for name, data in sources.items():
        write(root / f"{name}.yaml", config(data))
    login = "{type: sql, url: 'sqlite+login://ada:wrong@/penguins.db', table: penguins, "
    write(root / "login.yaml", config(login + "target: species}", imports="[login_sqlite]"))
    return root


@pytest.fixture
def here(tables: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tables)
    return tables


def test_the_steps_take_the_csv_steps_tasks():
    assert TableTask.__args__ == CsvTask.__args__


def test_sql_and_parquet_runs_match_the_csv_run(here):
    runs = {
        name: ednax.run(here / f"{name}.yaml", say=None)
        for name in ("csv", "table", "query", "file", "folder")
    }
    assert {r.status for r in runs.values()} == {"completed"}
    expected = runs["csv"].metrics
    assert expected["test"]["accuracy"] > 0.8
    for name, result in runs.items():
        assert result.metrics == expected, name
    schema = read_json(runs["folder"].path / "artifacts" / "data_schema.json")
    assert schema["sources"] == [str(here / "parts" / f"part-{i}.parquet") for i in (0, 1)]
    recorded = read_yaml(runs["table"].path / "config.yaml")["data"]
    assert recorded["url"] == f"sqlite:///{here / 'penguins.db'}"  # made absolute


def test_a_parquet_run_from_the_command_line_predicts_parquet_as_csv(tables):
    result = run_cli("run", "folder.yaml", cwd=tables)
    assert result.code == 0, result.text
    bundle = bundle_of(result, tables)
    assert read_json(bundle / "run.json")["status"] == "completed"
    parquet = run_cli("predict", bundle, "new.parquet", cwd=tables)
    assert parquet.code == 0, parquet.text
    csv = ednax.load(bundle).predict_csv(NEW_ROWS).to_csv()  # what predict prints for a csv
    assert parquet.out.strip() == csv.strip()
    assert parquet.out.splitlines()[0].startswith("id,prediction,proba_")
    assert len(parquet.out.splitlines()) == 1 + len(pd.read_csv(NEW_ROWS))


def test_a_password_in_the_url_connects_and_is_recorded_masked(tables, here):
    # run from another folder: the relative SQLite file is found beside the config
    url = f"data.url=sqlite+login://ada:{SECRET}@/penguins.db"
    elsewhere = here / "elsewhere"
    elsewhere.mkdir(exist_ok=True)
    result = run_cli("run", here / "login.yaml", url, cwd=elsewhere)
    assert result.code == 0, result.text
    bundle = bundle_of(result, elsewhere)
    for path in bundle.rglob("*"):
        if path.is_file() and path.suffix != ".pkl":
            assert SECRET not in path.read_text(errors="replace"), path
    assert SECRET not in result.text
    recorded = read_yaml(bundle / "config.yaml")["data"]["url"]
    assert recorded == f"sqlite+login://ada:{MASK}@/{here / 'penguins.db'}"
    assert read_yaml(bundle / "overrides.yaml") == [mask_password(url)]
    assert mask_password(url) in read_json(bundle / "run.json")["command"]
    assert "data: sql (classification" in (bundle / "log.txt").read_text()
    csv_run = ednax.run(here / "csv.yaml", say=None)
    assert read_json(bundle / "metrics.json") == read_json(csv_run.path / "metrics.json")
    # read back from the record (as rerun does), the URL has no password: said at data.url
    with pytest.raises(ConfigError) as caught:
        recorded_config(bundle)
    problem = caught.value.problems[0]
    assert problem.path == "data.url"
    assert "masked" in problem.message
    assert "password_env" in problem.hint


def test_a_password_on_the_command_line_is_masked_in_plans_diffs_and_sweeps(tables):
    url = f"data.url=sqlite+login://ada:{SECRET}@/penguins.db"
    outputs = {
        "dry run": run_cli("run", "login.yaml", url, "--dry-run", cwd=tables),
        "sweep plan": run_cli(
            "run", "login.yaml", "-m", url, "model.n_estimators=4,5", "--dry-run", cwd=tables
        ),
        "diff": run_cli(
            "diff",
            "login.yaml",
            "login.yaml",
            "-a",
            url,
            "-b",
            url,
            "-b",
            "model.n_estimators=4",
            cwd=tables,
        ),
    }
    for what, result in outputs.items():
        assert result.code == 0, (what, result.text)
        assert SECRET not in result.text, what
        assert f"ada:{MASK}@" in result.text, what
    assert "model.n_estimators" in outputs["diff"].text
    sweep = run_cli("run", "login.yaml", "-m", url, "model.n_estimators=4,5", cwd=tables)
    assert sweep.code == 0, sweep.text
    (record,) = (tables / "runs" / "tables").glob("sweep-*/sweep.json")
    assert SECRET not in record.read_text()
    assert all(mask_password(url) in job["overrides"] for job in read_json(record)["jobs"])


def test_password_env_keeps_the_password_out_of_the_config(here, monkeypatch):
    monkeypatch.setenv("PENGUINS_PASSWORD", SECRET)
    url = ["data.url=sqlite+login://ada@/penguins.db", "data.password_env=PENGUINS_PASSWORD"]
    result = ednax.run(here / "login.yaml", url, say=None)
    assert result.status == "completed"
    recorded = read_yaml(result.path / "config.yaml")["data"]
    assert recorded["password_env"] == "PENGUINS_PASSWORD"
    assert SECRET not in (result.path / "config.yaml").read_text()
    assert recorded_config(result.path).task == "classification"  # it reruns
    monkeypatch.delenv("PENGUINS_PASSWORD")
    with pytest.raises(ConfigError) as caught:
        recorded_config(result.path)
    assert caught.value.problems[0].path == "data.password_env"


NO_PSYCOPG = importlib.util.find_spec("psycopg") is None


@pytest.mark.parametrize(
    ("source", "overrides", "key", "words"),
    [
        ("table", ["data.table=pengiuns"], "data.table", "did you mean 'penguins'"),
        ("query", ["data.query='SELEC * FROM penguins'"], "data.query", "syntax error"),
        ("query", ["data.query='DELETE FROM penguins'"], "data.query", "readonly"),
        ("query", ["data.table=penguins"], "data.query", "not both"),
        ("table", ["data.url=sqlite:///nowhere.db"], "data.url", "file not found"),
        ("table", ["data.url=nonsense"], "data.url", "not a database URL"),
        ("table", ["data.url=postgresql://ada:s3cret@db.example.com/shop"], "data.url", "psycopg"),
        ("file", ["data.columns=[island, bill_lenght_mm]"], "data.columns", "bill_length_mm"),
        ("folder", ["data.features=[island, wings]"], "data.features", "no column 'wings'"),
        ("file", ["data.target=specis"], "data.target", "did you mean 'species'"),
    ],
    ids=[
        "missing-table",
        "bad-query",
        "writing-query",
        "query-and-table",
        "missing-sqlite-file",
        "not-a-url",
        "missing-driver",
        "missing-parquet-column",
        "missing-feature",
        "missing-target",
    ],
)
def test_validation_errors_name_the_key(here, source, overrides, key, words):
    if "postgresql" in overrides[0] and not NO_PSYCOPG:
        pytest.skip("psycopg is installed")
    with pytest.raises(ConfigError) as caught:
        ednax.validate(here / f"{source}.yaml", overrides)
    assert caught.value.exit_code == 2
    assert key in [p.path for p in caught.value.problems]
    assert words in caught.value.render()
    assert SECRET not in caught.value.render()


def test_a_query_cannot_change_the_database(here):
    with pytest.raises(ConfigError):
        ednax.validate(here / "query.yaml", ["data.query='DROP TABLE penguins'"])
    with sqlite3.connect(here / "penguins.db") as db:
        assert db.execute("SELECT COUNT(*) FROM penguins").fetchone() == (120,)
    db.close()


@pytest.mark.skipif(not NO_PSYCOPG, reason="psycopg is installed")
def test_a_missing_driver_exits_2_at_validate_with_the_password_masked(tables):
    url = f"data.url=postgresql://ada:{SECRET}@db.example.com/shop"
    result = run_cli("validate", "table.yaml", url, cwd=tables)
    assert result.code == 2, result.text
    assert "data.url" in result.err
    assert "pip install 'psycopg[binary]'" in result.err
    assert SECRET not in result.text
    assert f"ada:{MASK}@db.example.com" in result.err


def test_a_parquet_file_of_dates_is_refused_naming_the_column(here):
    frame = pd.read_csv(CSV).assign(seen=pd.Timestamp("2024-05-01"))
    pq.write_table(pa.Table.from_pandas(frame), here / "dated.parquet")
    with pytest.raises(ConfigError) as caught:
        ednax.validate(here / "file.yaml", ["data.path=dated.parquet"])
    [problem] = caught.value.problems
    assert (problem.path, "'seen'" in problem.message) == ("data.features", True)
    columns = "[island, bill_length_mm, bill_depth_mm, flipper_length_mm, body_mass_g]"
    assert ednax.validate(
        here / "file.yaml", ["data.path=dated.parquet", f"data.columns={columns}"]
    )


def test_the_bundle_writer_masks_every_password_it_is_given(tmp_path):
    bundle = Bundle.create(tmp_path, "masks")
    url = f"postgresql://ada:{SECRET}@db/shop"
    bundle.start(
        config={"data": {"url": url}, "logger": {"tracking_uri": f"mysql://u:{SECRET}@h/m"}},
        overrides=[f"data.url={url}"],
        command=["ednax", "run", f"data.url={url}"],
        experiment="masks",
        seed=0,
        fingerprints={},
        classes={},
        packages=[],
        cwd=tmp_path,
        extra={"notes": f"from {url}"},
    )
    bundle.log(f"connecting to {url}")
    bundle.finish("failed", error=f"cannot connect to {url}")
    for path in bundle.path.iterdir():
        if path.is_file():
            text = path.read_text()
            assert SECRET not in text, path.name
    assert f"ada:{MASK}@db" in (bundle.path / "log.txt").read_text()


def test_masking_and_the_sqlite_file_of_a_url():
    assert mask_password("postgresql://ada:pw@h:5432/db") == f"postgresql://ada:{MASK}@h:5432/db"
    assert mask_password("sqlite:////abs/x.db") == "sqlite:////abs/x.db"
    assert masked({"a": ["x://u:p@h"], "b": 1}) == {"a": [f"x://u:{MASK}@h"], "b": 1}
    assert sqlite_file("sqlite:///data/shop.db") == ("sqlite:///", "data/shop.db", "")
    assert sqlite_file("sqlite:////abs/shop.db?mode=ro") == (
        "sqlite:///",
        "/abs/shop.db",
        "?mode=ro",
    )
    assert sqlite_file("sqlite+login://ada:pw@/x.db") == ("sqlite+login://ada:pw@/", "x.db", "")
    for other in (
        "sqlite://",
        "sqlite:///:memory:",
        "postgresql://h/db",
        "sqlite:///file:x?uri=true",
    ):
        assert sqlite_file(other) is None
    assert SECRET not in repr(Sql(url=f"postgresql://ada:{SECRET}@h/db", target="y", table="t"))
