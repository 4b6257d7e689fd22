"""The image files of a data step, found and checked before any pixel is decoded: a
folder of class folders (or of train/, val/ and test/ folders of class folders), or a CSV
naming one image and its class per row.

A listing costs names and stats; the image headers cost one small read per file. Every
problem either can tell is a `ConfigError` naming the file and the key to fix, so that
`ednax validate` reports it.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ednax.errors import ConfigError, Problem, did_you_mean
from ednax.steps.csv_columns import (
    ROWS_HINT,
    check_classes,
    check_target,
    check_target_filled,
    read_csv,
)
from ednax.steps.images.files import IMAGE_SUFFIXES, image_size
from ednax.steps.splits import encode_labels

SPLIT_FOLDERS = ("train", "val", "test")
LAYOUT_HINT = (
    "data.path is a folder with one folder of images per class (path/<class>/<image>), "
    "or with train/ (and val/, test/) folders of class folders"
)
# Problems of one kind shown in full before the rest are counted.
SHOWN = 5


@dataclass
class Listing:
    """Every image of a data source, in a fixed order, with its class index in `y`.

    `ids` name the files as the data step reports them; `parts` gives each file's split
    folder in the train/val/test layout (None when fractions decide the split); `rows`
    each file's CSV data row, for messages; `version` tells one state of the files (names,
    sizes, modification times) from another.
    """

    files: list[Path]
    ids: list[str]
    y: np.ndarray
    classes: list[Any]
    parts: list[str] | None
    rows: list[int] | None
    version: tuple

    def __len__(self) -> int:
        return len(self.files)

    def name(self, i: int) -> str:
        """File `i` as a message names it (with its CSV data row, for a CSV)."""
        if self.rows is None:
            return str(self.files[i])
        return f"{self.files[i]} (data row {self.rows[i]})"


@dataclass
class _Found:
    id: str
    file: Path
    label: str
    part: str | None
    stat: os.stat_result


def list_folder(root: Path) -> Listing:
    """The images under `root`: one folder per class, or train/ (val/, test/) of them."""
    problems: list[Problem] = []
    folders = _subfolders(root, problems)
    split_layout = any(name in SPLIT_FOLDERS for name in folders)
    if not split_layout:
        _require_class_folders(root, folders)
        found = _images_of_classes(root, folders, "", None, problems)
        classes = folders
    else:
        _check_split_layout(root, folders)
        classes, found = _split_folders(root, folders, problems)
    _raise_collected(problems)
    _require_two_classes(classes, root)
    found.sort(key=lambda f: f.id)
    index = {label: i for i, label in enumerate(classes)}
    return Listing(
        files=[f.file for f in found],
        ids=[f.id for f in found],
        y=np.array([index[f.label] for f in found], dtype=np.int64),
        classes=classes,
        parts=[str(f.part) for f in found] if split_layout else None,
        rows=None,
        version=(str(root), *((f.id, f.stat.st_size, f.stat.st_mtime_ns) for f in found)),
    )


def _subfolders(folder: Path, problems: list[Problem]) -> list[str]:
    """The visible folders in `folder`, sorted; an image beside them belongs to no class
    and is a problem, other files (a README, a licence) are left alone."""
    if not folder.is_dir():
        what = "is a file, not a folder" if folder.exists() else "not found"
        hint = LAYOUT_HINT + "; a relative path is taken from the current directory"
        if folder.suffix.lower() == ".csv":
            hint = "for a CSV naming the images, use data.type: image_csv; " + hint
        raise ConfigError(Problem(f"image folder {what}: {folder}", path="data.path", hint=hint))
    names = []
    for entry in _visible(folder):
        if entry.is_dir():
            names.append(entry.name)
        elif _is_image_name(entry.name):
            problems.append(
                Problem(
                    f"image outside any class folder: {entry.path}",
                    path="data.path",
                    hint="move it into the folder of its class, or out of the data folder",
                )
            )
    return sorted(names)


def _visible(folder: Path) -> list[os.DirEntry]:
    with os.scandir(folder) as entries:
        return sorted((e for e in entries if not e.name.startswith(".")), key=lambda e: e.name)


def _is_image_name(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in IMAGE_SUFFIXES  # a Path a file costs 5 us


def _require_class_folders(folder: Path, names: list[str]) -> None:
    if not names:
        raise ConfigError(
            Problem(f"no class folders in {folder}", path="data.path", hint=LAYOUT_HINT)
        )


def _check_split_layout(root: Path, folders: list[str]) -> None:
    others = [name for name in folders if name not in SPLIT_FOLDERS]
    if "train" not in folders:
        present = ", ".join(f"{name}/" for name in folders if name in SPLIT_FOLDERS)
        raise ConfigError(
            Problem(
                f"{root} has {present} but no train/ folder",
                path="data.path",
                hint="add train/ with one folder per class beside val/ and test/, or rename "
                "those folders if they are classes",
            )
        )
    if others:
        raise ConfigError(
            Problem(
                f"{root} mixes split folders (train/) with other folders "
                f"({', '.join(f'{name}/' for name in others[:SHOWN])})",
                path="data.path",
                hint="put the class folders under train/ (and val/, test/), or rename train/ "
                "if it is a class; " + LAYOUT_HINT,
            )
        )


def _split_folders(
    root: Path, folders: list[str], problems: list[Problem]
) -> tuple[list[str], list[_Found]]:
    """The classes (train/'s class folders) and the images of train/, val/ and test/."""
    found: list[_Found] = []
    classes: list[str] = []
    for part in (name for name in SPLIT_FOLDERS if name in folders):
        folder = root / part
        class_folders = _subfolders(folder, problems)
        _require_class_folders(folder, class_folders)
        if part == "train":
            classes = class_folders
        else:
            problems.extend(_unknown_classes(folder, class_folders, classes))
        found += _images_of_classes(folder, class_folders, f"{part}/", part, problems)
    return classes, found


def _unknown_classes(folder: Path, names: list[str], classes: list[str]) -> list[Problem]:
    return [
        Problem(
            f"class folder {folder / name} has no counterpart in train/",
            path="data.path",
            hint="every class of val/ and test/ needs a folder in train/; "
            + (did_you_mean(name, classes, "class") or "train/ has no such class"),
        )
        for name in names
        if name not in classes
    ]


def _images_of_classes(
    folder: Path, classes: list[str], prefix: str, part: str | None, problems: list[Problem]
) -> list[_Found]:
    found = []
    for label in classes:
        class_folder = folder / label
        entries = _visible(class_folder)
        if not entries:
            problems.append(
                Problem(
                    f"empty class folder: {class_folder}",
                    path="data.path",
                    hint="put the images of that class in it, or remove it",
                )
            )
        for entry in entries:
            problem = _not_an_image(entry, class_folder, folder)
            if problem is not None:
                problems.append(problem)
                continue
            relative = f"{prefix}{label}/{entry.name}"
            found.append(_Found(relative, Path(entry.path), label, part, entry.stat()))
    return found


def _not_an_image(entry: os.DirEntry, class_folder: Path, folder: Path) -> Problem | None:
    if entry.is_dir():
        return Problem(
            f"folder inside a class folder: {entry.path}",
            path="data.path",
            hint=f"a class folder holds image files only; move the images of "
            f"{entry.name}/ up into {class_folder}, or out of {folder}",
        )
    if not _is_image_name(entry.name):
        return Problem(
            f"not an image file: {entry.path}",
            path="data.path",
            hint=f"image files end in {', '.join(IMAGE_SUFFIXES)} (in any case); remove the "
            f"file or move it out of {folder} (hidden files are ignored)",
        )
    return None


def _require_two_classes(classes: list[Any], where: Path) -> None:
    if len(classes) < 2:
        raise ConfigError(
            Problem(
                f"a single class ({classes[0]!r}) in {where}",
                path="data.path",
                hint="a classifier needs at least two classes: add a folder of images per class",
            )
        )


def list_csv(csv: Path, image: str, target: str) -> Listing:
    """The images a CSV names in its `image` column (relative to its folder), with their
    classes in `target`; each problem names the data row."""
    frame = read_csv(csv, "data.path", ConfigError)
    frame.columns = columns = [str(c) for c in frame.columns]
    _check_image_column(image, columns, csv)
    check_target(target, columns, csv)
    if len(frame) == 0:
        raise ConfigError(
            Problem(f"{csv} has a header but no data rows", path="data.path", hint=ROWS_HINT)
        )
    _check_cells_filled(frame[image], image)
    check_target_filled(frame[target], target)
    check_classes(frame[target], target)
    cells = [str(cell) for cell in frame[image]]
    files = [csv.parent / cell for cell in cells]
    rows = list(range(1, len(files) + 1))
    stats = _stats_of(files, rows, csv.parent)
    _check_distinct(files, rows)
    y, classes = encode_labels(frame[target].to_numpy())
    own = csv.stat()
    return Listing(
        files=files,
        ids=cells,
        y=y,
        classes=classes,
        parts=None,
        rows=rows,
        version=(
            str(csv),
            own.st_size,
            own.st_mtime_ns,
            *((s.st_size, s.st_mtime_ns) for s in stats),
        ),
    )


def _check_image_column(image: str, columns: list[str], csv: Path) -> None:
    if image not in columns:
        raise ConfigError(
            Problem(
                f"no column '{image}' in {csv}",
                path="data.image",
                hint=did_you_mean(image, columns, "column"),
            )
        )


def _check_cells_filled(cells: Any, column: str) -> None:
    empty = np.flatnonzero(cells.isna().to_numpy() | (cells.astype(str).str.strip() == ""))
    if len(empty):
        rows = ", ".join(str(int(i) + 1) for i in empty[:SHOWN])
        raise ConfigError(
            Problem(
                f"image column '{column}' has {len(empty)} empty cell(s) (first data rows: {rows})",
                path="data.image",
                hint=f"name an image file in every row, or drop those rows; {ROWS_HINT}",
            )
        )


def _stats_of(files: list[Path], rows: list[int], folder: Path) -> list[os.stat_result]:
    stats, problems = [], []
    for file, row in zip(files, rows, strict=True):
        try:
            stats.append(file.stat())
        except OSError:
            problems.append(
                Problem(
                    f"data row {row}: image file not found: {file}",
                    path="data.path",
                    hint=f"image paths are taken from the CSV's folder ({folder}); {ROWS_HINT}",
                )
            )
            continue
        if not file.is_file():
            problems.append(
                Problem(f"data row {row}: not a file: {file}", path="data.path", hint=ROWS_HINT)
            )
    _raise_collected(problems)
    return stats


def _check_distinct(files: list[Path], rows: list[int]) -> None:
    """One row per image: a file named twice could land in two splits."""
    first: dict[str, int] = {}
    problems = []
    for file, row in zip(files, rows, strict=True):
        real = os.path.realpath(file)
        if real in first:
            problems.append(
                Problem(
                    f"data rows {first[real]} and {row} name the same image {file}",
                    path="data.path",
                    hint="list each image once, so that no image is in two splits",
                )
            )
        first.setdefault(real, row)
    _raise_collected(problems)


def header_sizes(listing: Listing) -> list[tuple[int, int]]:
    """(height, width) of every image, from its header; every unreadable one a problem."""
    sizes, problems = [], []
    for i, file in enumerate(listing.files):
        try:
            sizes.append(image_size(file))
        except ConfigError as exc:
            row = "" if listing.rows is None else f"data row {listing.rows[i]}: "
            problems += [Problem(row + p.message, p.path, hint=p.hint) for p in exc.problems]
    _raise_collected(problems)
    return sizes


def common_size(listing: Listing, sizes: list[tuple[int, int]]) -> tuple[int, int]:
    """The one size of every image; mixed sizes are a problem naming two files."""
    odd = next((i for i, size in enumerate(sizes) if size != sizes[0]), None)
    if odd is None:
        return sizes[0]
    (h0, w0), (h1, w1) = sizes[0], sizes[odd]
    raise ConfigError(
        Problem(
            f"images differ in size (height x width): {listing.name(0)} is {h0}x{w0}, "
            f"{listing.name(odd)} is {h1}x{w1} ({len(Counter(sizes))} sizes in all)",
            path="data.size",
            hint="set data.size to resize every image on decode: one number for a square "
            "(size: 64) or [height, width]",
        )
    )


def _raise_collected(problems: list[Problem]) -> None:
    if not problems:
        return
    shown = problems[:SHOWN]
    if len(problems) > SHOWN:
        rest = len(problems) - SHOWN
        shown.append(Problem(f"... and {rest} more problems of the data", path=problems[0].path))
    raise ConfigError(shown)
