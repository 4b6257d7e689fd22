"""Text data steps: a CSV with a text column (`text_csv`), or a folder of class folders of
.txt files (`text_folder`); and `read_texts`, the texts of a CSV to predict.

Both check at validation (`infer_task()`) everything the files tell: columns, UTF-8, empty
texts, the target and the split. The files are read once per version of them (path,
size, modification time, and the options that choose what is read), so that a sweep's
jobs share the reading; `load()` reuses it and hands on `TextSplit`s, which the run's
tokenizer turns into token ids.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ednax.errors import ConfigError, Problem, UsageError, did_you_mean
from ednax.steps.base import Dataset, Step
from ednax.steps.csv_columns import (
    ROWS_HINT,
    UTF8_HINT,
    absolute,
    check_classes,
    check_target_filled,
    resolve_task,
    stray_text,
)
from ednax.steps.splits import check_fractions, encode_labels, split_rows
from ednax.steps.text.tokens import TextSplit

TextTask = Literal["auto", "classification", "regression"]

TEXT_SUFFIX = ".txt"
# Rows or files of one problem shown before the rest are counted.
SHOWN = 5
# What pandas reads as a missing value in the target and extra columns (its defaults); a
# text column keeps every value as written: "NA" and "null" are texts too.
_MISSING = [
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND",
    "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
]  # fmt: skip
FOLDER_HINT = "data.path is a folder with one folder per class, each holding one .txt file per text"


@dataclass
class _Read:
    """What a text source holds, read and checked: every text in source order."""

    texts: list[str]
    labels: np.ndarray
    ids: np.ndarray
    extras: np.ndarray | None
    task: str
    fingerprint: str


# The reading (or the problems) of the text source last checked, by its version.
_CHECKED: dict[Hashable, _Read | list[Problem]] = {}


class _TextData(Step):
    """What both text data steps share; a subclass reads its source in `_read()`."""

    path: str
    val: float
    test: float
    stratify: bool
    shuffle: bool
    random_state: int | None

    def infer_task(self) -> str:
        """The task; checks the files, the texts, the target and the split first."""
        return self._checked()[0].task

    def load(self) -> Dataset:
        read, rows = self._checked()
        extra_names = list(self._extra_names())
        whole = TextSplit(read.texts, read.labels, read.ids, read.extras, extra_names)
        if read.task == "classification":
            y, classes = encode_labels(read.labels)
        else:
            y, classes = np.asarray(read.labels, dtype=np.float64), None
        whole.y = y
        return Dataset(
            splits={name: whole.subset(chosen) for name, chosen in rows.items()},
            task=read.task,
            feature_names=[],
            target=self._target_name(),
            classes=classes,
            fingerprint=read.fingerprint,
            sources=[str(absolute(self.path))],
            modality="text",
        )

    def _checked(self) -> tuple[_Read, dict[str, np.ndarray]]:
        """The source read and checked (once per version of it), and each split's rows,
        a split that cannot be made raised as a ConfigError."""
        check_fractions(self.val, self.test)
        key = (type(self).__qualname__, self._version())
        if key not in _CHECKED:
            _CHECKED.clear()  # one data section at a time is what sweeps need
            try:
                _CHECKED[key] = self._read()
            except ConfigError as exc:
                _CHECKED[key] = exc.problems
        answer = _CHECKED[key]
        if isinstance(answer, list):
            raise ConfigError(answer)
        return answer, self._split(answer)

    def _split(self, read: _Read) -> dict[str, np.ndarray]:
        positions = np.arange(len(read.texts), dtype=np.int64)
        y = encode_labels(read.labels)[0] if read.task == "classification" else read.labels
        return {name: s.ids for name, s in split_rows(positions, y, read.task, self).items()}

    def _extra_names(self) -> list[str]:
        return []

    def _target_name(self) -> str:
        return "label"

    def _version(self) -> Hashable:
        raise NotImplementedError

    def _read(self) -> _Read:
        raise NotImplementedError


class TextCsv(_TextData):
    """A CSV file with a text column (or several) and a target column, one row per text.

    With `task: auto` the task is classification when the target is non-numeric or
    integer-valued with at most 20 distinct values, else regression (as for a csv); class
    labels become 0..k-1 in sorted order. Several `text` columns are joined with a space.
    Text cells are kept as written (an "NA" is a text). Ids are the `id` column's values,
    else the data rows' positions (from 0), as the csv step's are.

    Checked at validation, before any work, each problem naming the file and its data rows
    (counted from 1 after the header): a missing column (with the closest names), a file
    that is not UTF-8 (the byte offset), empty texts, empty target cells, a single class,
    an extra column that is not numbers or has empty cells, repeated ids, or fractions that
    leave a split empty.

    Parameters
    ----------
    path : str
        The CSV file (UTF-8); a relative path is taken from the current directory.
    target : str
        Name of the column to predict.
    text : str | list[str]
        The text column, or a list of them joined with a space.
    extras : list[str] | None
        Extra numeric columns the model gets beside the text (None = none).
    id : str | None
        Column of stable row ids (None = the data rows' positions, from 0).
    task : Literal["auto", "classification", "regression"]
        What the target is; auto decides from its values (see above).
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
        path: str,
        target: str,
        text: str | list[str] = "text",
        extras: list[str] | None = None,
        id: str | None = None,
        task: TextTask = "auto",
        val: float = 0.2,
        test: float = 0.2,
        stratify: bool = True,
        shuffle: bool = True,
        random_state: int | None = None,
    ):
        self.path = path
        self.target = target
        self.text = text
        self.extras = extras
        self.id = id
        self.task = task
        self.val = val
        self.test = test
        self.stratify = stratify
        self.shuffle = shuffle
        self.random_state = random_state

    def _extra_names(self) -> list[str]:
        return [str(c) for c in self.extras or []]

    def _target_name(self) -> str:
        return self.target

    def _options(self) -> dict[str, Any]:
        return {
            "text": text_columns(self.text),
            "target": self.target,
            "extras": self._extra_names(),
            "id": self.id,
            "task": self.task,
        }

    def _version(self) -> Hashable:
        file = absolute(self.path)
        if not file.is_file():
            what = "is a directory, not a file" if file.is_dir() else "not found"
            hint = "a relative path is taken from the current directory"
            if file.is_dir():
                hint = "for a folder of class folders of .txt files, use data.type: text_folder"
            raise ConfigError(Problem(f"CSV file {what}: {file}", path="data.path", hint=hint))
        stat = file.stat()
        options = json.dumps(self._options(), sort_keys=True)
        return str(file), stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, options

    def _read(self) -> _Read:
        file = absolute(self.path)
        data = _read_bytes(file)
        texts_columns = text_columns(self.text)
        extras = self._extra_names()
        header = _header(file, data, ConfigError)
        problems = _missing_columns(file, header, texts_columns, extras, "data")
        if self.target not in header:
            problems.insert(0, _column_problem(file, self.target, header, "data.target"))
        if self.id is not None and self.id not in header:
            problems.append(_column_problem(file, self.id, header, "data.id"))
        if problems:
            raise ConfigError(problems)
        wanted = list(dict.fromkeys([*texts_columns, self.target, *extras, *_given(self.id)]))
        frame = _frame(file, data, wanted, texts_columns, ConfigError, "data.path")
        if len(frame) == 0:
            raise ConfigError(Problem(f"{file} has a header but no data rows", path="data.path"))
        texts = _joined(frame, texts_columns)
        _check_texts(file, texts)
        target = frame[self.target]
        check_target_filled(target, self.target)
        if self.task != "classification":
            stray = stray_text(target, self.target, self.target)
            if stray is not None:
                raise ConfigError(stray)
        task = resolve_task(target, self.task, self.target)
        if task == "classification":
            check_classes(target, self.target)
            labels = target.to_numpy()
        else:
            labels = target.to_numpy(dtype=np.float64)
        digest = hashlib.sha256(json.dumps(self._options(), sort_keys=True).encode())
        digest.update(data)
        return _Read(
            texts=texts,
            labels=labels,
            ids=_ids(frame, self.id, file, ConfigError, "data.id"),
            extras=_extras(frame, extras, file, ConfigError, "data.extras"),
            task=task,
            fingerprint=digest.hexdigest(),
        )


class TextFolder(_TextData):
    """Texts in one folder per class, one `.txt` file each, split into train/val/test.

    Files are read as UTF-8. The classes are the class folders' names, sorted; ids are the
    files' paths relative to `path`. Hidden files are ignored, and so are other files
    beside the class folders (a README), but a file inside a class folder that does not
    end in .txt is an error.

    Checked at validation, each problem naming its file: a missing folder, no class
    folders, an empty class folder, a file that is not UTF-8 (the byte offset), an empty
    text, a single class, or fractions that leave a split empty.

    Parameters
    ----------
    path : str
        The folder; a relative path is taken from the current directory.
    val : float
        Fraction of all texts held out for validation (0 = no val split).
    test : float
        Fraction of all texts held out for testing (0 = no test split).
    stratify : bool
        Keep class proportions equal across splits (with shuffle only).
    shuffle : bool
        Shuffle texts before splitting; when false the last ones (in path order) become
        val and test.
    random_state : int | None
        Seed of the shuffle; filled from experiment.seed unless set.
    """

    def __init__(
        self,
        path: str,
        val: float = 0.2,
        test: float = 0.2,
        stratify: bool = True,
        shuffle: bool = True,
        random_state: int | None = None,
    ):
        self.path = path
        self.val = val
        self.test = test
        self.stratify = stratify
        self.shuffle = shuffle
        self.random_state = random_state

    def _version(self) -> Hashable:
        root = absolute(self.path)
        files = _class_files(root)
        stats = [(label, f.name, f.stat()) for label, f in files]
        return str(root), *((c, n, s.st_size, s.st_mtime_ns) for c, n, s in stats)

    def _read(self) -> _Read:
        root = absolute(self.path)
        files = _class_files(root)
        digest = hashlib.sha256(b"text_folder\0")
        texts, labels, ids, bad, empty = [], [], [], [], []
        for label, file in files:
            data = _read_bytes(file)
            name = file.relative_to(root).as_posix()
            digest.update(json.dumps([name, label]).encode() + len(data).to_bytes(8, "little"))
            digest.update(data)
            try:
                text = data.decode("utf-8").removeprefix("\ufeff")
            except UnicodeDecodeError as exc:
                bad.append(Problem(_not_utf8(file, exc), path="data.path", hint=UTF8_HINT))
                continue
            if not text.strip():
                empty.append(name)
            texts.append(text)
            labels.append(label)
            ids.append(name)
        if bad:
            raise ConfigError(bad[:SHOWN] + _more(len(bad), "file(s) that are not UTF-8"))
        if empty:
            raise ConfigError(
                Problem(
                    f"{len(empty)} empty text file(s) in {root}: {_first(empty)}",
                    path="data.path",
                    hint="write the text into those files, or remove them",
                )
            )
        classes = sorted(set(labels))
        if len(classes) < 2:
            raise ConfigError(
                Problem(
                    f"a single class folder in {root} ({classes[0]}/): a classifier needs two "
                    "classes at least",
                    path="data.path",
                    hint=FOLDER_HINT,
                )
            )
        return _Read(
            texts=texts,
            labels=np.asarray(labels, dtype=object),
            ids=np.asarray(ids, dtype=object),
            extras=None,
            task="classification",
            fingerprint=digest.hexdigest(),
        )


def read_texts(
    path: Path, text: str | list[str], extras: list[str] | None = None, id: str | None = None
) -> TextSplit:
    """The texts of a CSV (new rows to predict), read as `text_csv` reads its file: the
    `text` column(s) joined with a space, the `extras` columns as float32, the ids from
    the `id` column or the data rows' positions (from 0). No target is needed (`y` is
    zeros); a file that cannot be read this way is a UsageError naming what is wrong."""
    file = absolute(str(path))
    if not file.is_file():
        raise UsageError(f"CSV file not found: {file}")
    data = _read_bytes(file, UsageError)
    columns, extras = text_columns(text), [str(c) for c in extras or []]
    header = _header(file, data, UsageError)
    problems = _missing_columns(file, header, columns, extras, "")
    if id is not None and id not in header:
        problems.append(_column_problem(file, id, header, ""))
    if problems:
        raise UsageError("\n".join(p.render() for p in problems))
    wanted = list(dict.fromkeys([*columns, *extras, *_given(id)]))
    frame = _frame(file, data, wanted, columns, UsageError, "")
    texts = _joined(frame, columns)
    return TextSplit(
        texts,
        np.zeros(len(texts), dtype=np.int64),
        _ids(frame, id, file, UsageError, ""),
        _extras(frame, extras, file, UsageError, ""),
        extras,
    )


def text_columns(text: str | list[str]) -> list[str]:
    """The text column names of a `text` parameter (one name or a list of them)."""
    return [str(text)] if isinstance(text, str) else [str(c) for c in text]


def _given(name: str | None) -> list[str]:
    return [] if name is None else [name]


def _fail(error: type, key: str, message: str, hint: str | None = None) -> Exception:
    if error is ConfigError:
        return ConfigError(Problem(message, path=key, hint=hint))
    return error(f"{message}\n    {hint}" if hint else message)


def _read_bytes(file: Path, error: type = ConfigError) -> bytes:
    try:
        return file.read_bytes()
    except OSError as exc:
        raise _fail(error, "data.path", f"cannot read {file}: {exc.strerror or exc}") from exc


def _not_utf8(file: Path, exc: UnicodeDecodeError, where: str = "") -> str:
    byte = exc.object[exc.start : exc.start + 1].hex()
    return f"{file} is not UTF-8{where}: invalid byte 0x{byte} at byte offset {exc.start}"


def _header(file: Path, data: bytes, error: type) -> list[str]:
    """The CSV's column names, read from its first line, once the whole file proved to be
    UTF-8: bytes that are not are an error naming the data row and column they are in,
    and their byte offset in the file."""
    import pandas as pd

    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        where = _where_bytes(data, exc)
        raise _fail(error, "data.path", _not_utf8(file, exc, where), UTF8_HINT) from None

    try:
        header = pd.read_csv(
            io.BytesIO(data), nrows=0, encoding="utf-8-sig", encoding_errors="surrogateescape"
        )
    except pd.errors.EmptyDataError:
        raise _fail(error, "data.path", f"the CSV file is empty: {file}") from None
    except (pd.errors.ParserError, ValueError) as exc:
        raise _fail(error, "data.path", f"cannot read {file} as CSV: {exc}") from exc
    return [str(c) for c in header.columns]


def _frame(
    file: Path, data: bytes, columns: list[str], texts: list[str], error: type, key: str
) -> Any:
    """The `columns` of a CSV's bytes (UTF-8) as a DataFrame: `texts` columns as str,
    every value kept; the others as pandas reads them."""
    import pandas as pd

    missing = {c: _MISSING for c in columns if c not in texts}
    try:
        frame = pd.read_csv(
            io.BytesIO(data),
            usecols=columns,
            dtype={c: str for c in texts},
            keep_default_na=False,
            na_values=missing,
            encoding="utf-8-sig",
        )
    except (pd.errors.ParserError, ValueError) as exc:
        raise _fail(error, key or "data.path", f"cannot read {file} as CSV: {exc}") from exc
    frame.columns = [str(c) for c in frame.columns]
    return frame


def _where_bytes(data: bytes, exc: UnicodeDecodeError) -> str:
    """', data row R (column 'C')' for the first cell holding bytes that are not UTF-8
    (' (in the header)' for the header's); empty if the CSV cannot be read to tell."""
    import csv

    text = data.decode("utf-8", errors="surrogateescape")
    try:
        rows = csv.reader(io.StringIO(text, newline=""))
        header = next(rows, [])
        if any(_escaped(cell) for cell in header):
            return " (in the header)"
        for row, cells in enumerate(rows, start=1):
            for j, cell in enumerate(cells):
                if _escaped(cell):
                    name = header[j] if j < len(header) else f"#{j + 1}"
                    return f", data row {row} (column '{name}')"
    except csv.Error:
        pass
    return ""


def _escaped(cell: str) -> bool:
    """Whether a cell decoded with surrogateescape holds a byte that was not UTF-8."""
    return any("\udc80" <= ch <= "\udcff" for ch in cell)


def _column_problem(file: Path, name: str, header: list[str], key: str) -> Problem:
    return Problem(
        f"no column '{name}' in {file}", path=key, hint=did_you_mean(name, header, "column")
    )


def _missing_columns(
    file: Path, header: list[str], texts: list[str], extras: list[str], section: str
) -> list[Problem]:
    def key(name: str) -> str:
        return f"{section}.{name}" if section else ""

    problems = []
    if not texts:
        problems.append(Problem("no text column named", path=key("text")))
    problems += [_column_problem(file, c, header, key("text")) for c in texts if c not in header]
    problems += [_column_problem(file, c, header, key("extras")) for c in extras if c not in header]
    return problems


def _joined(frame: Any, columns: list[str]) -> list[str]:
    if len(columns) == 1:
        return frame[columns[0]].tolist()
    return [" ".join(parts) for parts in zip(*(frame[c].tolist() for c in columns), strict=True)]


def _check_texts(file: Path, texts: list[str]) -> None:
    empty = [row for row, text in enumerate(texts, start=1) if not text.strip()]
    if empty:
        raise ConfigError(
            Problem(
                f"{len(empty)} empty text(s) in {file}: data row(s) {_first(empty)}",
                path="data.text",
                hint=f"fill or drop those rows in the file; {ROWS_HINT}",
            )
        )


def _ids(frame: Any, column: str | None, file: Path, error: type, key: str) -> np.ndarray:
    if column is None:
        return np.arange(len(frame), dtype=np.int64)
    values = frame[column]
    if values.isna().any():
        rows = [int(i) + 1 for i in np.flatnonzero(values.isna().to_numpy())]
        raise _fail(error, key, f"id column '{column}' has empty cells: data row(s) {_first(rows)}")
    repeated = values.duplicated(keep=False).to_numpy()
    if repeated.any():
        rows = [int(i) + 1 for i in np.flatnonzero(repeated)]
        raise _fail(
            error,
            key,
            f"id column '{column}' repeats ids: data row(s) {_first(rows)}",
            f"ids name one row each; {ROWS_HINT}",
        )
    return np.asarray([_plain(v) for v in values.tolist()], dtype=object)


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _extras(frame: Any, columns: list[str], file: Path, error: type, key: str) -> np.ndarray | None:
    """The extra numeric columns as one (n, k) float32 array; None when there are none."""
    import pandas as pd

    if not columns:
        return None
    problems = []
    for name in columns:
        column = frame[name]
        if not pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
            present = column.dropna()
            text = present[pd.to_numeric(present, errors="coerce").isna().to_numpy()]
            row, value = (int(text.index[0]) + 1, text.iloc[0]) if len(text) else (None, None)
            problems.append(
                f"extra column '{name}' must hold numbers, but data row {row} is {value!r}"
            )
        elif column.isna().any():
            rows = [int(i) + 1 for i in np.flatnonzero(column.isna().to_numpy())]
            problems.append(f"extra column '{name}' has empty cells: data row(s) {_first(rows)}")
    if problems:
        hint = f"fix those cells in {file}, or leave the column out of extras; {ROWS_HINT}"
        if error is ConfigError:
            raise ConfigError([Problem(p, path=key, hint=hint) for p in problems])
        raise error("\n".join(problems) + f"\n    {hint}")
    return frame[columns].to_numpy(dtype=np.float32)


def _class_files(root: Path) -> list[tuple[str, Path]]:
    """(class, file) of every .txt file in `root`'s class folders, in id order."""
    if not root.is_dir():
        what = "is a file, not a folder" if root.exists() else "not found"
        hint = FOLDER_HINT + "; a relative path is taken from the current directory"
        if root.suffix.lower() == ".csv":
            hint = "for a CSV of texts, use data.type: text_csv; " + hint
        raise ConfigError(Problem(f"text folder {what}: {root}", path="data.path", hint=hint))
    entries = _visible(root)
    classes = [e.name for e in entries if e.is_dir()]
    problems = [
        Problem(
            f"text file outside any class folder: {e.path}",
            path="data.path",
            hint="move it into the folder of its class, or out of the data folder",
        )
        for e in entries
        if not e.is_dir() and e.name.endswith(TEXT_SUFFIX)
    ]
    if not classes:
        raise ConfigError(
            Problem(f"no class folders in {root}", path="data.path", hint=FOLDER_HINT)
        )
    found: list[tuple[str, Path]] = []
    for label in classes:
        inside = _visible(root / label)
        others = [e.name for e in inside if not (e.is_file() and e.name.endswith(TEXT_SUFFIX))]
        texts = [Path(e.path) for e in inside if e.is_file() and e.name.endswith(TEXT_SUFFIX)]
        if others:
            problems.append(
                Problem(
                    f"class folder {root / label} holds {len(others)} entr(ies) that are not "
                    f".txt files: {_first(others)}",
                    path="data.path",
                    hint="a class folder holds only .txt files, one per text",
                )
            )
        elif not texts:
            problems.append(
                Problem(
                    f"empty class folder: {root / label}",
                    path="data.path",
                    hint="add .txt files to it, or remove it",
                )
            )
        found += [(label, file) for file in texts]
    if problems:
        raise ConfigError(problems)
    return found


def _visible(folder: Path) -> list[os.DirEntry]:
    with os.scandir(folder) as entries:
        return sorted((e for e in entries if not e.name.startswith(".")), key=lambda e: e.name)


def _first(items: list[Any]) -> str:
    shown = ", ".join(map(str, items[:SHOWN]))
    return shown + (f" and {len(items) - SHOWN} more" if len(items) > SHOWN else "")


def _more(count: int, what: str) -> list[Problem]:
    if count <= SHOWN:
        return []
    return [Problem(f"and {count - SHOWN} more {what}", path="data.path")]
