"""The `parquet` and `sql` data steps: one table, read with pyarrow or SQLAlchemy, checked
and split as the csv step's is (`ednax.steps.data.Table`).

Both give pandas the same column types a csv gives: numbers, text, booleans. Dictionary
(categorical) columns are decoded, decimals read as floats and a column with no value at all
as missing numbers; any other type (dates, times, bytes, lists) is a problem naming the
column, found at validation. pyarrow and SQLAlchemy are imported when a step reads data.
"""

from __future__ import annotations

import contextlib
import datetime
import decimal
import hashlib
import json
import os
import re
from collections.abc import Hashable, Iterator
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ednax.errors import (
    MASK,
    ConfigError,
    Problem,
    UsageError,
    did_you_mean,
    mask_password,
    missing_driver,
)
from ednax.steps.base import Step
from ednax.steps.csv_columns import Declared, Rows, absolute, check_target, table_features
from ednax.steps.data import Table

TableTask = Literal["auto", "classification", "regression"]  # the csv step's tasks

PARQUET_SUFFIX = ".parquet"
PARQUET_ROWS = Rows(
    counted="data rows count from 1, through the files in sorted name order",
    empty="{source} has no rows",
    empty_hint="data.path names a .parquet file, or a folder of them, with rows",
    fix="fix or empty those values in the file (an empty value is a missing value)",
)
PYARROW_HINT = "pip install pyarrow"
URL_HINT = (
    "a SQLAlchemy URL: dialect[+driver]://user@host/database, e.g. sqlite:///data/shop.db "
    "(a relative SQLite file is taken from the working directory, then the config's folder)"
)
# sqlite[+driver]://[user[:password]@]/<database>[?query]: the database is a file's path
_SQLITE = re.compile(r"(?P<head>sqlite(?:\+\w+)?://[^/?]*/)(?P<database>[^?]*)(?P<tail>\?.*)?")
_VALUE_TYPES = (str, bool, int, float, np.number, np.bool_)


def sqlite_file(url: str) -> tuple[str, str, str] | None:
    """(head, file, tail) of a SQLite URL naming a file (`sqlite:///data/shop.db`: head
    `sqlite:///`, file `data/shop.db`, tail ``); None for any other URL, an in-memory
    database or a `file:` URI."""
    match = _SQLITE.fullmatch(url)
    if match is None:
        return None
    database = match["database"]
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return match["head"], database, match["tail"] or ""


def read_parquet(path: Path) -> Any:
    """A .parquet file, or a folder of them, as a DataFrame of every column (for new rows
    to predict); a UsageError says why it cannot be read."""
    files = parquet_files(path, "", UsageError)
    return _concat(files, None, "", UsageError)


def parquet_files(path: Path, key: str, error: type) -> list[Path]:
    """The file `path`, or the .parquet files of the folder `path` in sorted name order
    (names starting with '.' or '_', such as Spark's _SUCCESS, left out)."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise _fail(error, key, f"Parquet file not found: {path}")
    files = sorted(
        p
        for p in path.iterdir()
        if p.suffix == PARQUET_SUFFIX and p.is_file() and not p.name.startswith((".", "_"))
    )
    if not files:
        raise _fail(
            error,
            key,
            f"no {PARQUET_SUFFIX} files in the folder {path}",
            "data.path names a .parquet file, or a folder of .parquet files",
        )
    return files


class Parquet(Table, Step):
    """A Parquet file (or a folder of them): one column is the target, others the features.

    A folder's .parquet files are one table, read in sorted name order.

    Checked at validation as a csv is, and its columns' types inferred or declared as a
    csv's are (see the csv step's "Type inference"), from the files' schemas and the
    columns read: every file must hold the columns read, with types pandas reads as numbers,
    text or booleans. Data rows count from 1 through the files, in order.

    Parameters
    ----------
    path : str
        The .parquet file, or a folder of .parquet files; a relative path is taken from
        the current directory.
    target : str
        Name of the column to predict; read whether `columns` lists it or not.
    columns : list[str] | None
        The columns to read (None = all); the features are among them.
    features : list[str] | None
        Columns to use as features, in this order (None = every column read but the
        target, the id and the dropped).
    drop : list[str] | None
        Columns left out of the features.
    id : str | None
        The column naming the rows (unique, no empty value): predictions carry its values,
        and the model does not see it; read whether `columns` lists it or not (None = rows
        are numbered from 0).
    categorical : list[str] | None
        Features that are categories even when they hold numbers (codes); a feature of
        text is one undeclared, unless it has over 20 distinct values in over half its rows.
    numeric : list[str] | None
        Features that must be numbers: any text in them is an error naming column and row
        (undeclared, a feature is numeric when its values read as numbers or booleans).
    task : Literal["auto", "classification", "regression"]
        What the target is; auto: classification when the target holds text, booleans or
        at most 20 distinct whole numbers, else regression.
    val : float
        Fraction of all rows held out for validation (0 = no val split).
    test : float
        Fraction of all rows held out for testing (0 = no test split).
    stratify : bool
        Keep class proportions equal across splits (classification, with shuffle only).
    shuffle : bool
        Shuffle rows before splitting; when false the last rows become val and test.
    random_state : int | None
        Seed of the shuffle; filled from experiment.seed unless set.
    """

    versioned_content = True

    def __init__(
        self,
        path: str,
        target: str,
        columns: list[str] | None = None,
        features: list[str] | None = None,
        drop: list[str] | None = None,
        id: str | None = None,
        categorical: list[str] | None = None,
        numeric: list[str] | None = None,
        task: TableTask = "auto",
        val: float = 0.2,
        test: float = 0.2,
        stratify: bool = True,
        shuffle: bool = True,
        random_state: int | None = None,
    ):
        self.path = path
        self.target = target
        self.columns = columns
        self.features = features
        self.drop = drop
        self.id = id
        self.categorical = categorical
        self.numeric = numeric
        self.task = task
        self.val = val
        self.test = test
        self.stratify = stratify
        self.shuffle = shuffle
        self.random_state = random_state

    def _files(self) -> list[Path]:
        return parquet_files(absolute(self.path), "data.path", ConfigError)

    def _version(self) -> Hashable:
        stats = [(f, f.stat()) for f in self._files()]
        return tuple((str(f), s.st_ino, s.st_size, s.st_mtime_ns) for f, s in stats), (
            None if self.columns is None else tuple(map(str, self.columns))
        )

    def _name(self) -> Any:
        return absolute(self.path)

    def _rows(self) -> Rows:
        return PARQUET_ROWS

    def _columns(self) -> list[str]:
        """The columns read: `columns` (each checked), with the target and the id."""
        present = _schema_names(self._files()[0])
        if self.columns is None:
            return present
        chosen = [str(c) for c in self.columns]
        problems = [
            Problem(
                f"no column '{name}' in {self._name()}",
                path="data.columns",
                hint=did_you_mean(name, present, "column"),
            )
            for name in chosen
            if name not in present
        ]
        problems += [
            Problem(
                f"column '{name}' is a feature but not in data.columns",
                path="data.features",
                hint=f"add '{name}' to data.columns, or leave data.columns out to read all",
            )
            for name in self.features or []
            if name in present and name not in chosen
        ]
        if problems:
            raise ConfigError(problems)
        also = [c for c in [self.target, *Declared.of(self).read()] if c in present]
        return list(dict.fromkeys([*chosen, *also]))

    def _frame(self, columns: list[str]) -> Any:
        files = self._files()
        for file in files[1:]:
            lacking = [c for c in columns if c not in _schema_names(file)]
            if lacking:
                raise ConfigError(
                    Problem(
                        f"{file} lacks the column(s) {lacking} that {files[0].name} has",
                        path="data.path",
                        hint="the files of a data.path folder are one table: each holds "
                        "every column read",
                    )
                )
        frame = _concat(files, columns, "data.path", ConfigError)
        _check_types(frame, self.target, "leave it out with data.features or data.columns")
        return frame

    def _fingerprint(self, frame: Any) -> str:
        digest = hashlib.sha256()
        for file in self._files():
            digest.update(file.name.encode() + b"\0")
            digest.update(file.read_bytes())
        return digest.hexdigest()

    def _sources(self) -> list[str]:
        return [str(f) for f in self._files()]


class Sql(Table, Step):
    """A database table or query (SQLAlchemy): one column is the target, others the features.

    Checked at validation as a csv is (see the csv step), its columns' types inferred or
    declared as a csv's are: the URL, the driver, the table or the query, the columns and
    the rows. The query runs in a transaction that is rolled
    back, on a read-only connection for SQLite. Rows come in the order the database
    returns them: give a query with ORDER BY for an order the database guarantees.

    A password is never recorded: the run's files show the URL's as `***`, so that a run
    read back from its bundle (rerun, resume, predict data:test) needs it again. With
    `password_env` the URL carries none and the password is read from that environment
    variable when connecting: the record keeps the variable's name, and reruns connect.

    Parameters
    ----------
    url : str
        The database, as a SQLAlchemy URL (sqlite:///data/shop.db, postgresql://me@host/db);
        a relative SQLite file is taken from the working directory, then the config's folder.
    target : str
        Name of the column to predict.
    query : str | None
        The SELECT whose result is the table (give query or table, not both).
    table : str | None
        A table or view to read (schema.name for another schema).
    password_env : str | None
        An environment variable holding the password of a url written without one.
    features : list[str] | None
        Columns to use as features, in this order (None = every column but the target,
        the id and the dropped).
    drop : list[str] | None
        Columns left out of the features.
    id : str | None
        The column naming the rows (unique, no empty value): predictions carry its values,
        and the model does not see it (None = rows are numbered from 0).
    categorical : list[str] | None
        Features that are categories even when they hold numbers (codes); a feature of
        text is one undeclared, unless it has over 20 distinct values in over half its rows.
    numeric : list[str] | None
        Features that must be numbers: any text in them is an error naming column and row
        (undeclared, a feature is numeric when its values read as numbers or booleans).
    task : Literal["auto", "classification", "regression"]
        What the target is; auto: classification when the target holds text, booleans or
        at most 20 distinct whole numbers, else regression.
    val : float
        Fraction of all rows held out for validation (0 = no val split).
    test : float
        Fraction of all rows held out for testing (0 = no test split).
    stratify : bool
        Keep class proportions equal across splits (classification, with shuffle only).
    shuffle : bool
        Shuffle rows before splitting; when false the last rows become val and test.
    random_state : int | None
        Seed of the shuffle; filled from experiment.seed unless set.
    """

    def __init__(
        self,
        url: str,
        target: str,
        query: str | None = None,
        table: str | None = None,
        password_env: str | None = None,
        features: list[str] | None = None,
        drop: list[str] | None = None,
        id: str | None = None,
        categorical: list[str] | None = None,
        numeric: list[str] | None = None,
        task: TableTask = "auto",
        val: float = 0.2,
        test: float = 0.2,
        stratify: bool = True,
        shuffle: bool = True,
        random_state: int | None = None,
    ):
        self.url = url
        self.target = target
        self.query = query
        self.table = table
        self.password_env = password_env
        self.features = features
        self.drop = drop
        self.id = id
        self.categorical = categorical
        self.numeric = numeric
        self.task = task
        self.val = val
        self.test = test
        self.stratify = stratify
        self.shuffle = shuffle
        self.random_state = random_state

    def __repr__(self) -> str:
        return mask_password(super().__repr__())

    def _key(self) -> str:
        return "data.table" if self.table is not None else "data.query"

    def _name(self) -> Any:
        return f"table '{self.table}'" if self.table is not None else "the query's result"

    def _rows(self) -> Rows:
        where = self._key()
        return Rows(
            key=where,
            counted="data rows count from 1 in the order the database returns them",
            empty="{source} has no rows",
            empty_hint=f"check {where} and the database data.url names",
            fix="fix those values in the database, or convert them in data.query",
            fill="fill those values in the database, or leave those rows out in data.query",
        )

    def _sql(self) -> str:
        """The query (without a closing ';', so that it can be counted), or the table."""
        if self.query is not None:
            return self.query.strip().rstrip(";")
        return f"table {self.table}"

    def _version(self) -> Hashable:
        self._check_source()
        url = self._url()
        file = sqlite_file(url.render_as_string(hide_password=False))
        if file is not None:  # a file: its stat says whether it changed
            stats = [Path(file[1] + s).stat() for s in ("", "-wal") if Path(file[1] + s).exists()]
            version: Hashable = tuple((s.st_ino, s.st_size, s.st_mtime_ns) for s in stats)
        else:  # a server: the rows it counts
            with self._connection() as connection:
                version = self._count(connection)
        return self.url, self.password_env, self._sql(), version

    def _check_source(self) -> None:
        if (self.query is None) == (self.table is None):
            given = ", not both" if self.query is not None else ""
            raise ConfigError(
                [
                    Problem(
                        f"give data.query or data.table{given}",
                        path=key,
                        hint="query: a SELECT whose result is the table; table: a table's name",
                    )
                    for key in ("data.query", "data.table")
                ]
            )
        if self.query is not None and not self.query.strip():
            raise ConfigError(Problem("the query is empty", path="data.query"))
        if self.table is not None and not self.table.strip():
            raise ConfigError(Problem("the table name is empty", path="data.table"))

    def _url(self) -> Any:
        """The URL to connect with (a SQLAlchemy URL): a relative SQLite file made absolute
        from the working directory, the password of `password_env` put in."""
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        text = self.url
        file = sqlite_file(text)
        if file is not None:
            text = file[0] + str(absolute(file[1])) + file[2]
        try:
            url = make_url(text)
        except (ArgumentError, ValueError) as exc:
            message = f"'{self.url}' is not a database URL: {exc}"
            raise _url_problem(message) from None
        if url.password == MASK:
            raise _url_problem(
                "the URL's password was masked (***) in the run's record, which never keeps one",
                "give the URL again with its password (ednax rerun RUN data.url=...), or "
                "write it without one and set data.password_env",
            )
        if url.password is not None and make_url(mask_password(text)).password != MASK:
            raise _url_problem(
                "this URL's password cannot be kept out of the run's record",
                "percent-encode the special characters of the password (/ as %2F, @ as %40)",
            )
        if self.password_env is not None:
            url = url.set(password=self._password(url))
        if file is not None and not Path(url.database or "").is_file():
            raise _url_problem(
                f"SQLite database file not found: {url.database}",
                "relative files are taken from the working directory, then from the config "
                "file's folder",
            )
        return url

    def _password(self, url: Any) -> str:
        if url.password is not None:
            raise ConfigError(
                Problem(
                    "data.url has a password already",
                    path="data.password_env",
                    hint="leave the password out of data.url, or data.password_env out",
                )
            )
        value = os.environ.get(self.password_env or "")
        if value is None:
            raise ConfigError(
                Problem(
                    f"the environment variable {self.password_env} is not set",
                    path="data.password_env",
                    hint=f"export {self.password_env}=<the database password> before running",
                )
            )
        return value

    @contextlib.contextmanager
    def _connection(self) -> Iterator[Any]:
        """A connection whose transaction is rolled back at the end (read-only for SQLite)."""
        from sqlalchemy import create_engine, event
        from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError
        from sqlalchemy.pool import NullPool

        url = self._url()
        shown = mask_password(url.render_as_string(hide_password=False))
        try:
            engine = create_engine(url, poolclass=NullPool)
        except NoSuchModuleError:
            raise _url_problem(
                f"unknown database '{url.drivername}' in {shown}", URL_HINT
            ) from None
        except ImportError:
            message, hint = missing_driver(shown, url.get_dialect().driver)
            raise _url_problem(message, hint) from None
        except (ArgumentError, SQLAlchemyError) as exc:
            raise _url_problem(f"cannot use {shown}: {_first_line(exc)}", URL_HINT) from None
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _read_only_sqlite)
        try:
            try:
                connection = engine.connect()
            except SQLAlchemyError as exc:
                raise _url_problem(
                    f"cannot connect to {shown}: {_first_line(exc)}",
                    "check the host, the database, the user and the password",
                ) from None
            with connection:
                yield connection
        finally:
            engine.dispose()

    def _table(self) -> tuple[Any, list[str]]:
        self._check_source()
        with self._connection() as connection:
            if self.table is not None:
                columns = self._table_columns(connection)
                return self._read(connection, columns, self._table_select)
            return self._read(connection, None, lambda _: self._sql())

    def _read(self, connection: Any, columns: list[str] | None, statement: Any) -> tuple:
        """Rows of `statement(columns)` as a DataFrame, and the features, checked as
        a csv's are; `columns` None: the query's own, known once it ran."""
        import pandas as pd
        from sqlalchemy import text
        from sqlalchemy.exc import SQLAlchemyError

        name, declared = self._name(), Declared.of(self)
        if columns is not None:
            check_target(self.target, columns, name)
            features = table_features(columns, self.target, self.features, declared, name)
            columns = list(dict.fromkeys([self.target, *features, *declared.read()]))
        sql = statement(columns)
        try:
            result = connection.execute(text(sql) if isinstance(sql, str) else sql)
            if not result.returns_rows:
                raise ConfigError(
                    Problem("the query returns no rows", path=self._key(), hint="give a SELECT")
                )
            names = list(map(str, result.keys()))
            rows = result.fetchall()
        except SQLAlchemyError as exc:
            raise ConfigError(
                Problem(
                    f"the query failed: {_first_line(exc)}",
                    path=self._key(),
                    hint=f"check the SQL against the database ({connection.dialect.name})",
                )
            ) from None
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ConfigError(
                Problem(
                    f"the query returns the column(s) {twice} more than once",
                    path="data.query",
                    hint="name each column once (SELECT a.id AS a_id, ...)",
                )
            )
        if columns is None:
            check_target(self.target, names, name)
            features = table_features(names, self.target, self.features, declared, name)
        frame = _plain_frame(pd.DataFrame.from_records(rows, columns=names, coerce_float=True))
        read = frame[list(dict.fromkeys([self.target, *features, *declared.read()]))]
        _check_types(read, self.target, "leave it out with data.features or in data.query")
        return frame, features

    def _table_columns(self, connection: Any) -> list[str]:
        from sqlalchemy import inspect

        schema, name = self._schema_and_name()
        inspector = inspect(connection)
        if not inspector.has_table(name, schema=schema):
            known = inspector.get_table_names(schema=schema)
            known += inspector.get_view_names(schema=schema)
            raise ConfigError(
                Problem(
                    f"no table '{self.table}' in {self._shown()}",
                    path="data.table",
                    hint=did_you_mean(name, known, "table"),
                )
            )
        return [str(c["name"]) for c in inspector.get_columns(name, schema=schema)]

    def _table_select(self, columns: list[str]) -> Any:
        from sqlalchemy import column, select, table

        schema, name = self._schema_and_name()
        return select(*table(name, *[column(c) for c in columns], schema=schema).c)

    def _schema_and_name(self) -> tuple[str | None, str]:
        schema, _, name = str(self.table).strip().rpartition(".")
        return schema or None, name

    def _count(self, connection: Any) -> int | None:
        """The rows the database counts in the table or the query's result (None if it
        cannot: the read that follows says why)."""
        from sqlalchemy import func, select, table, text
        from sqlalchemy.exc import SQLAlchemyError

        if self.table is not None:
            schema, name = self._schema_and_name()
            counted = select(func.count()).select_from(table(name, schema=schema))
        else:
            rows = text(self._sql()).columns().subquery("ednax_rows")
            counted = select(func.count()).select_from(rows)
        try:
            return int(connection.execute(counted).scalar_one())
        except SQLAlchemyError:
            connection.rollback()
            return None

    def _fingerprint(self, frame: Any) -> str:
        """The statement, the rows counted and their values: what the run read."""
        import pandas as pd

        digest = hashlib.sha256()
        identity = {"source": "sql", "url": self._shown(), "sql": self._sql(), "rows": len(frame)}
        digest.update(json.dumps(identity, sort_keys=True).encode())
        digest.update(json.dumps(list(frame.columns)).encode())
        digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
        return digest.hexdigest()

    def _sources(self) -> list[str]:
        return [self._shown(), self._sql()]

    def _shown(self) -> str:
        """The URL as records show it: absolute, the password masked."""
        return mask_password(self._url().render_as_string(hide_password=True))


def _read_only_sqlite(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.execute("PRAGMA query_only = ON")


def _schema_names(file: Path) -> list[str]:
    """A Parquet file's column names, from its footer (pandas' index columns left out)."""
    pa, pq = _pyarrow(ConfigError)
    try:
        schema = pq.read_schema(file)
    except (pa.ArrowException, OSError) as exc:
        raise _fail(ConfigError, "data.path", f"cannot read {file} as Parquet: {exc}") from None
    stored = (schema.pandas_metadata or {}).get("index_columns", [])
    index = {c for c in stored if isinstance(c, str)}
    return [name for name in schema.names if name not in index]


def _concat(files: list[Path], columns: list[str] | None, key: str, error: type) -> Any:
    """The files' `columns` (None: all) as one DataFrame, rows in file order."""
    pa, pq = _pyarrow(error)
    tables = []
    for file in files:
        try:
            table = pq.read_table(file, columns=columns)
        except (pa.ArrowException, OSError) as exc:
            raise _fail(error, key, f"cannot read {file} as Parquet: {exc}") from None
        tables.append(table.replace_schema_metadata(None))
    try:
        table = pa.concat_tables(tables, promote_options="permissive")
    except pa.ArrowException as exc:
        raise _fail(
            error,
            key,
            f"the files of {files[0].parent} do not make one table: {exc}",
            "each file holds the same columns, of the same types",
        ) from None
    return _plain_frame(table.to_pandas())


def _pyarrow(error: type) -> tuple[Any, Any]:
    """pyarrow and pyarrow.parquet, or the error saying how to install them."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise _fail(
            error, "data.type", "reading Parquet needs pyarrow, not installed", PYARROW_HINT
        ) from None
    return pa, pq


def _plain_frame(frame: Any) -> Any:
    """`frame` with the column types a csv gives: categories decoded, decimals as floats,
    a column with no value as missing numbers; a RangeIndex (data rows count from it)."""
    import pandas as pd

    frame = frame.reset_index(drop=True)
    for name in frame.columns:
        column = frame[name]
        if isinstance(column.dtype, pd.CategoricalDtype):
            column = column.astype(object).infer_objects()
        if column.dtype == object:
            present = column.dropna()
            if len(present) == 0:
                column = column.astype(np.float64)
            elif all(isinstance(v, decimal.Decimal) for v in present):
                column = pd.to_numeric(column).astype(np.float64)
        frame[name] = column
    return frame


def _check_types(frame: Any, target: str, leave_out: str) -> None:
    """Problems for the columns of types ednax does not read (dates, bytes, lists...)."""
    problems = []
    for name in frame.columns:
        what = _unreadable(frame[name])
        if what is None:
            continue
        way_out = "choose another target column" if name == target else leave_out
        problems.append(
            Problem(
                f"column '{name}' holds {what}; ednax reads numbers, text and booleans",
                path="data.target" if name == target else "data.features",
                hint=f"convert it where the data is made (to a number or text), or {way_out}",
            )
        )
    if problems:
        raise ConfigError(problems)


def _unreadable(column: Any) -> str | None:
    """What a column holds if not numbers, text or booleans; None if it is one of those."""
    if column.dtype.kind in "mM":
        return f"dates or times ({column.dtype})"
    if column.dtype != object:
        return None
    present = column.dropna()
    odd = next((v for v in present if not isinstance(v, _VALUE_TYPES)), None)
    if odd is None:
        return None
    if isinstance(odd, (datetime.date, datetime.time, datetime.timedelta)):
        return f"dates or times ({type(odd).__name__})"
    return f"values of type {type(odd).__name__}"


def _fail(error: type, key: str, message: str, hint: str | None = None) -> Exception:
    if error is ConfigError:
        return ConfigError(Problem(message, path=key, hint=hint))
    return error(f"{message}\n    {hint}" if hint else message)


def _url_problem(message: str, hint: str | None = URL_HINT) -> ConfigError:
    return ConfigError(Problem(mask_password(message), path="data.url", hint=hint))


def _first_line(exc: BaseException) -> str:
    """The database's own message: its first line, the URL's password masked."""
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip()
    return mask_password(text.splitlines()[0] if text else type(exc).__name__)
