"""The images `ednax predict` is given for an image run: a folder or a CSV of image paths.

A folder gives every image file under it (subfolders included, sorted; hidden files
skipped); a CSV gives the images its `path` column names, relative to the CSV's folder. The
images are decoded as the run's data step decoded its own (channels, size, from
data_schema.json), and each is predicted under its path as written (relative to the folder,
or as in the CSV).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ednax.errors import UsageError
from ednax.steps.images.files import IMAGE_SUFFIXES, ImageSplit

PATH_COLUMN = "path"


def images_to_predict(source: Path, schema: dict[str, Any], column: str | None) -> ImageSplit:
    """The images of `source` (a folder or a CSV) as a split without targets."""
    image = schema["image"]
    if source.is_dir():
        ids, files = _folder_images(source)
    elif source.is_file():
        ids, files = _csv_images(source, column or PATH_COLUMN)
    else:
        raise UsageError(f"input not found: {source} (give a folder of images or a CSV)")
    if not files:
        raise UsageError(f"{source} holds no image files ({', '.join(IMAGE_SUFFIXES)})")
    return ImageSplit(
        files,
        np.zeros(len(files), dtype=np.int64),
        np.asarray(ids, dtype=object),
        channels=int(image["channels"]),
        size=tuple(image["size"]),
    )


def _folder_images(folder: Path) -> tuple[list[str], list[Path]]:
    files = sorted(
        p
        for p in folder.rglob("*")
        if p.is_file()
        and p.suffix.lower() in IMAGE_SUFFIXES
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )
    return [p.relative_to(folder).as_posix() for p in files], files


def _csv_images(path: Path, column: str) -> tuple[list[str], list[Path]]:
    from ednax.steps.csv_columns import read_csv

    frame = read_csv(path, "source", UsageError, dtype=str, keep_default_na=False)
    if column not in frame.columns:
        raise UsageError(
            f"{path} has no column '{column}' of image paths (its columns: "
            f"{', '.join(map(str, frame.columns))}); name it 'path' or pass --id-column"
        )
    ids = frame[column].tolist()
    files = []
    for row, name in enumerate(ids, start=1):
        file = (path.parent / name) if name else None
        if file is None or not file.is_file():
            raise UsageError(f"{path} row {row}: image file not found: {name!r}")
        files.append(file)
    return ids, files
