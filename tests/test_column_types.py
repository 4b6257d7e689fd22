"""Declared column types of the table data steps: `drop`, `id`, `categorical`, `numeric`,
and the refusal of a text column of many distinct values (an id one-hot encoded silently)."""

from __future__ import annotations

import csv
import pickle
from pathlib import Path

import numpy as np
import pytest

from ednax.errors import ConfigError
from ednax.steps.data import Csv
from ednax.steps.data_sources import Parquet, Sql
from tests.conftest import bundle_of, read_json, write

ROWS = 60


def shop_rows(n: int = ROWS) -> list[dict]:
    """A customer id (text, unique), a store code written as a number, a free-text note,
    a measurement and a label that depends on the store and the measurement."""
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n):
        store, x = int(rng.integers(1, 4)), round(float(rng.normal()), 3)
        label = "yes" if (store == 2) != (x > 0) else "no"
        rows.append(
            {"customer": f"C{i:04d}", "store": store, "x": x, "note": f"n{i}", "label": label}
        )
    return rows


def write_csv(path: Path, rows: list[dict], columns: list[str] | None = None) -> Path:
    columns = columns or list(rows[0])
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture
def shop(workdir: Path) -> Path:
    return write_csv(workdir / "shop.csv", shop_rows())


def config(workdir: Path, data: str, name: str = "shop.yaml") -> Path:
    return write(
        workdir / name,
        f"data: {{type: csv, path: shop.csv, target: label, {data}}}\n"
        "preprocess: [{type: one_hot}]\n"
        "model: {type: logistic_regression}\n",
    )


def succeeded(result):
    assert result.code == 0, result.text
    return result


def read_rows(path: Path) -> list[dict]:
    with path.open() as handle:
        return list(csv.DictReader(handle))


DECLARED = "id: customer, drop: [note], categorical: [store], numeric: [x]"


# ------------------------------------------------------------- end to end, as a user


@pytest.mark.slow
def test_an_id_column_names_the_rows_in_predictions_and_predict(cli, shop):
    workdir = shop.parent
    bundle = bundle_of(succeeded(cli("run", config(workdir, DECLARED))), workdir)
    customers = {row["customer"] for row in shop_rows()}

    predicted = read_rows(bundle / "artifacts" / "predictions.csv")
    assert predicted and all(row["id"] in customers for row in predicted)
    assert read_json(bundle / "artifacts" / "data_schema.json")["id"] == "customer"

    # the same columns as the training file, the target and the dropped note included
    new = write_csv(workdir / "new.csv", shop_rows(5))
    succeeded(cli("predict", bundle, new, "-o", workdir / "out.csv"))
    assert [row["id"] for row in read_rows(workdir / "out.csv")] == [f"C{i:04d}" for i in range(5)]

    # without the id column, rows are numbered; --id-column still chooses another
    write_csv(workdir / "no-id.csv", shop_rows(3), ["store", "x"])
    succeeded(cli("predict", bundle, workdir / "no-id.csv", "-o", workdir / "numbered.csv"))
    assert [row["id"] for row in read_rows(workdir / "numbered.csv")] == ["0", "1", "2"]
    succeeded(cli("predict", bundle, new, "--id-column", "note", "-o", workdir / "notes.csv"))
    assert [row["id"] for row in read_rows(workdir / "notes.csv")][:2] == ["n0", "n1"]

    # the model saw neither the id nor the dropped column; the store code is one-hot
    pipeline = pickle.loads((bundle / "artifacts" / "preprocess.pkl").read_bytes())
    assert list(pipeline.get_feature_names_out()) == ["store_1", "store_2", "store_3", "x"]


def test_a_high_cardinality_text_column_is_refused_with_the_fix(cli, shop):
    result = cli("validate", config(shop.parent, "features: [customer, x]"))
    assert result.code == 2, result.text
    assert "text column 'customer' has 60 distinct values in 60 data rows" in result.text
    for fix in ("data.drop: [customer]", "data.id: customer", "data.categorical: [customer]"):
        assert fix in result.text
    # declared, it is taken as asked
    succeeded(cli("validate", config(shop.parent, "id: customer, drop: [note]")))
    succeeded(cli("validate", config(shop.parent, "categorical: [customer, note]")))


def test_typos_in_the_declared_lists_are_named_with_suggestions(cli, shop):
    data = "id: custmer, drop: [nots], categorical: [store, stor], numeric: [xx]"
    result = cli("validate", config(shop.parent, data))
    assert result.code == 2, result.text
    for key, suggestion in [
        ("data.id", "customer"),
        ("data.drop[0]", "note"),
        ("data.categorical[1]", "store"),
        ("data.numeric[0]", "x"),
    ]:
        line = next(line for line in result.text.splitlines() if f" {key}: " in line)
        assert "no column" in line, result.text
        hint = result.text.splitlines()[result.text.splitlines().index(line) + 1]
        assert f"did you mean '{suggestion}'" in hint, result.text


# ------------------------------------------------------------- the step itself


def test_a_numeric_code_declared_categorical_becomes_text_categories(shop):
    data = Csv(path=str(shop), target="label", drop=["note", "customer"], random_state=0)
    assert data.load().splits["train"].X.dtype == np.float64  # inferred: numbers

    declared = Csv(
        path=str(shop), target="label", drop=["note"], id="customer", categorical=["store"]
    )
    dataset = declared.load()
    assert dataset.feature_names == ["store", "x"]
    train = dataset.splits["train"]
    assert {train.X[i, 0] for i in range(len(train))} == {"1", "2", "3"}
    assert all(str(i).startswith("C") for i in train.ids)
    assert dataset.id_column == "customer" and dataset.dropped == ["note"]


def test_drop_leaves_columns_out(shop):
    dataset = Csv(path=str(shop), target="label", drop=["note", "customer", "store"]).load()
    assert dataset.feature_names == ["x"]


def test_a_numeric_column_with_text_is_an_error_naming_column_and_row(workdir):
    rows = shop_rows(30)
    rows[6]["x"] = "12 kg"
    write_csv(workdir / "shop.csv", rows)
    data = Csv(path="shop.csv", target="label", drop=["note", "customer"], numeric=["x"])
    with pytest.raises(ConfigError) as caught:
        data.infer_task()
    problem = caught.value.problems[0]
    assert problem.path == "data.numeric[0]"
    assert "column 'x' is declared numeric, but data row 7 is '12 kg'" in problem.message


def test_an_id_column_with_repeats_or_holes_is_refused(workdir):
    rows = shop_rows(30)
    rows[3]["customer"] = rows[1]["customer"]
    rows[5]["customer"] = ""
    write_csv(workdir / "shop.csv", rows)
    with pytest.raises(ConfigError) as caught:
        Csv(path="shop.csv", target="label", drop=["note"], id="customer").infer_task()
    messages = [p.message for p in caught.value.problems]
    assert all(p.path == "data.id" for p in caught.value.problems)
    assert any("empty cell" in m and "6" in m for m in messages), messages
    assert any("repeats ids" in m and "2, 4" in m for m in messages), messages


@pytest.mark.parametrize(
    ("declared", "key", "words"),
    [
        ({"id": "label"}, "data.id", "cannot also be the id"),
        ({"drop": ["label"]}, "data.drop[0]", "cannot be dropped"),
        ({"categorical": ["label"]}, "data.categorical[0]", "takes its type from data.task"),
        ({"features": ["x", "note"], "drop": ["note"]}, "data.drop[0]", "in data.features"),
        ({"features": ["x"], "categorical": ["store"]}, "data.categorical[0]", "not a feature"),
        ({"drop": ["customer", "note", "store", "x"]}, "data.drop", "no feature columns"),
    ],
)
def test_contradictory_declarations_are_refused(shop, declared, key, words):
    data = Csv(path=str(shop), target="label", **{"drop": ["customer", "note"], **declared})
    with pytest.raises(ConfigError) as caught:
        data.infer_task()
    assert any(p.path == key and words in p.message for p in caught.value.problems), [
        (p.path, p.message) for p in caught.value.problems
    ]


def test_parquet_and_sql_take_the_same_declarations(workdir):
    import sqlite3

    import pandas as pd

    frame = pd.DataFrame(shop_rows())
    frame.to_parquet(workdir / "shop.parquet", index=False)
    with sqlite3.connect(workdir / "shop.db") as connection:
        frame.to_sql("shop", connection, index=False)
    common = {"target": "label", "id": "customer", "drop": ["note"], "categorical": ["store"]}
    sources = [
        Parquet(path="shop.parquet", **common),
        Sql(url="sqlite:///shop.db", table="shop", **common),
        Sql(url="sqlite:///shop.db", query="SELECT * FROM shop", **common),
    ]
    for source in sources:
        dataset = source.load()
        assert dataset.feature_names == ["store", "x"], source
        assert dataset.splits["train"].X[0, 0] in {"1", "2", "3"}, source
        assert str(dataset.splits["test"].ids[0]).startswith("C"), source
    with pytest.raises(ConfigError) as caught:
        Parquet(path="shop.parquet", target="label", drop=["note"]).infer_task()
    assert "text column 'customer'" in caught.value.problems[0].message
