"""Image data steps: a folder of class folders (`image_folder`), or a CSV naming each image
and its class (`image_csv`).

Both check at validation (`infer_task()`) all that a listing and the image headers can
tell, so that a config fails before any work. The headers are read once per version of the
files (names, sizes, modification times), so a sweep's jobs share them; `load()` lists the
files again (stats only), reuses the headers, and hands on `ImageSplit`s whose pixels are
decoded only when the fit asks for them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from math import ceil
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ednax.errors import ConfigError, Problem
from ednax.steps.base import SPLITS, Dataset, Step
from ednax.steps.csv_columns import absolute
from ednax.steps.images.files import ImageSplit, unreadable
from ednax.steps.images.listing import (
    SHOWN,
    Listing,
    common_size,
    header_sizes,
    list_csv,
    list_folder,
)
from ednax.steps.splits import check_fractions, split_rows


@dataclass
class _Headers:
    """What the files of one version tell: every image's size, and (once loaded) the
    fingerprint of their bytes."""

    sizes: list[tuple[int, int]]
    fingerprint: str | None = None


# The headers (or the problems) of the files last checked, by their listing's version.
_CHECKED: dict[tuple, _Headers | list[Problem]] = {}


class _ImageData(Step):
    """What both image data steps share; a subclass lists its files in `_listing()`."""

    path: str
    channels: int
    size: int | list[int] | None
    val: float
    test: float
    stratify: bool
    shuffle: bool
    random_state: int | None

    def infer_task(self) -> str:
        """Classification; checks the files and the split first (see the class doc)."""
        self._checked()
        return "classification"

    def input_shape(self) -> tuple[int, int, int]:
        """(channels, height, width) of the decoded images, from the checked headers."""
        _listing, _headers, size = self._checked()
        return (self.channels, *size)

    def load(self) -> Dataset:
        listing, headers, size = self._checked()
        rows = self._split(listing)
        ids = np.asarray(listing.ids, dtype=object)
        splits = {
            name: ImageSplit(
                [listing.files[i] for i in chosen],
                listing.y[chosen],
                ids[chosen],
                channels=self.channels,
                size=size,
            )
            for name, chosen in rows.items()
        }
        if headers.fingerprint is None:
            headers.fingerprint = _fingerprint(listing)
        return Dataset(
            splits=splits,
            task="classification",
            feature_names=[],
            target=self._target_name(),
            classes=listing.classes,
            input_shape=(self.channels, *size),
            fingerprint=headers.fingerprint,
            sources=[str(absolute(self.path))],
            modality="image",
        )

    def _listing(self) -> Listing:
        raise NotImplementedError

    def _target_name(self) -> str:
        return "label"

    def _checked(self) -> tuple[Listing, _Headers, tuple[int, int]]:
        """The files, their headers and the decoded size; every problem raised as a
        ConfigError, that of a split that would be empty included. Listed once per step
        object: validation asks it twice (the task, then the image shape)."""
        if getattr(self, "_checked_once", None) is None:
            self._checked_once = self._check()
        return self._checked_once

    def _check(self) -> tuple[Listing, _Headers, tuple[int, int]]:
        check_fractions(self.val, self.test)
        wanted = _wanted_size(self.size, self.channels)
        listing = self._listing()
        headers = _headers_of(listing)
        size = wanted or common_size(listing, headers.sizes)
        if listing.parts is None:
            _check_cuts(listing, self.val, self.test, self.stratify and self.shuffle)
        return listing, headers, size

    def _split(self, listing: Listing) -> dict[str, np.ndarray]:
        """Each split's rows: indices into the listing."""
        if listing.parts is not None:
            parts = np.asarray(listing.parts)
            chosen = {name: np.flatnonzero(parts == name) for name in SPLITS}
            return {name: rows for name, rows in chosen.items() if len(rows)}
        positions = np.arange(len(listing), dtype=np.int64)
        splits = split_rows(positions, listing.y, "classification", self)
        return {name: split.ids for name, split in splits.items()}


class ImageFolder(_ImageData):
    """Images in one folder per class, split into train/val/test.

    Two layouts: `path/<class>/<image>`, split by `val` and `test` (stratified and seeded),
    or `path/train/<class>/<image>` with optional `path/val/` and `path/test/` alike, whose
    folders are the splits (`val`, `test`, `stratify` and `shuffle` are then ignored, and a
    class of val/ or test/ needs a folder in train/). The classes are the class folders'
    names, sorted; ids are the files' paths relative to `path`. Image files end in one of
    `IMAGE_SUFFIXES` (any case); hidden files are ignored, and so are other files beside
    the class folders (a README), but any other file or folder inside a class folder is an
    error.

    The listing and every image's header are checked at validation: a missing folder, no
    class folders, an empty class folder, a file that is not an image or whose header
    cannot be read, images of several sizes without `size`, a single class, or fractions
    that leave a split empty.

    Parameters
    ----------
    path : str
        The folder; a relative path is taken from the current directory.
    channels : Literal[1, 3]
        Channels decoded: 1 = grayscale, 3 = RGB (any image converts to either).
    size : int | list[int] | None
        Resize every image on decode to [height, width] (one number = square); None keeps
        the images' size, which must then be the same for all.
    val : float
        Fraction of all images held out for validation (0 = no val split).
    test : float
        Fraction of all images held out for testing (0 = no test split).
    stratify : bool
        Keep class proportions equal across splits (with shuffle only).
    shuffle : bool
        Shuffle images before splitting; when false the last ones (in path order) become
        val and test.
    random_state : int | None
        Seed of the shuffle; filled from experiment.seed unless set.
    """

    def __init__(
        self,
        path: str,
        channels: Literal[1, 3] = 3,
        size: int | list[int] | None = None,
        val: float = 0.2,
        test: float = 0.2,
        stratify: bool = True,
        shuffle: bool = True,
        random_state: int | None = None,
    ):
        self.path = path
        self.channels = channels
        self.size = size
        self.val = val
        self.test = test
        self.stratify = stratify
        self.shuffle = shuffle
        self.random_state = random_state

    def _listing(self) -> Listing:
        return list_folder(absolute(self.path))


class ImageCsv(_ImageData):
    """Images named by a CSV, one row per image with its class, split into train/val/test.

    Image paths are taken from the CSV's folder (an absolute path stays as it is); the
    classes are the target column's values, sorted; ids are the paths as the CSV writes
    them. Other columns are ignored. Checked at validation, each problem naming its data
    row (counted from 1 after the header): an empty cell, a missing file, a file named
    twice, a file whose image header cannot be read, images of several sizes without
    `size`, a single class, or fractions that leave a split empty.

    Parameters
    ----------
    path : str
        The CSV file; a relative path is taken from the current directory.
    image : str
        Column holding each image's path, relative to the CSV's folder.
    target : str
        Column holding each image's class.
    channels : Literal[1, 3]
        Channels decoded: 1 = grayscale, 3 = RGB (any image converts to either).
    size : int | list[int] | None
        Resize every image on decode to [height, width] (one number = square); None keeps
        the images' size, which must then be the same for all.
    val : float
        Fraction of all images held out for validation (0 = no val split).
    test : float
        Fraction of all images held out for testing (0 = no test split).
    stratify : bool
        Keep class proportions equal across splits (with shuffle only).
    shuffle : bool
        Shuffle images before splitting; when false the last rows become val and test.
    random_state : int | None
        Seed of the shuffle; filled from experiment.seed unless set.
    """

    def __init__(
        self,
        path: str,
        image: str = "path",
        target: str = "label",
        channels: Literal[1, 3] = 3,
        size: int | list[int] | None = None,
        val: float = 0.2,
        test: float = 0.2,
        stratify: bool = True,
        shuffle: bool = True,
        random_state: int | None = None,
    ):
        self.path = path
        self.image = image
        self.target = target
        self.channels = channels
        self.size = size
        self.val = val
        self.test = test
        self.stratify = stratify
        self.shuffle = shuffle
        self.random_state = random_state

    def _listing(self) -> Listing:
        return list_csv(absolute(self.path), self.image, self.target)

    def _target_name(self) -> str:
        return self.target


def _wanted_size(size: Any, channels: Any) -> tuple[int, int] | None:
    """`size` as (height, width), None to keep the images' own; bad values are problems."""
    problems = []
    if channels not in (1, 3):
        problems.append(Problem(f"must be 1 or 3, got {channels!r}", path="data.channels"))
    dims = [size, size] if isinstance(size, int) else size
    is_size = isinstance(dims, list | tuple) and len(dims) == 2
    if size is not None and not (is_size and all(_positive_int(d) for d in dims)):
        problems.append(
            Problem(
                f"must be a positive number or [height, width], got {size!r}",
                path="data.size",
                hint="e.g. size: 64, or size: [64, 48]",
            )
        )
    if problems:
        raise ConfigError(problems)
    return None if size is None else (int(dims[0]), int(dims[1]))


def _check_cuts(listing: Listing, val: float, test: float, stratified: bool) -> None:
    """The cuts `split_rows` will make, checked as scikit-learn's train_test_split checks
    them, without importing it (seconds, at validation): each cut leaves images on both
    sides and, stratified, every class has two images and each side one image per class.
    The val cut is checked as if each class kept two images after the test cut; a cut it
    lets pass that scikit-learn refuses still fails at load, as a ConfigError."""
    if val == 0 and test == 0:
        return
    counts = np.bincount(listing.y)
    if stratified and counts.min() < 2:
        lone = [str(listing.classes[i]) for i, count in enumerate(counts) if count < 2]
        raise ConfigError(
            Problem(
                f"a single image in class(es) {', '.join(lone[:SHOWN])}: too few for a "
                "stratified split",
                path="data.stratify",
                hint="add images to those classes, or set data.stratify: false",
            )
        )
    need = len(counts) if stratified else 1
    rest = len(listing)
    if test > 0:
        rest = _cut("test", test, test, f"{rest} images", rest, need)
    if val > 0:
        source = f"the {rest} images left after test" if test > 0 else f"{rest} images"
        _cut("val", val, val / (1 - test), source, rest, need)


def _cut(name: str, fraction: float, share: float, source: str, rest: int, need: int) -> int:
    """The images left after taking `share` of `rest` (as train_test_split rounds it)."""
    taken = ceil(share * rest)
    left = rest - taken
    if left > 0 and min(taken, left) >= need:
        return left
    reason = (
        "leaving none for training"
        if left == 0
        else f"leaving {left}; a stratified split needs {need} (one per class) on each side"
    )
    raise ConfigError(
        Problem(
            f"{name}: {fraction:g} takes {taken} of {source}, {reason}",
            path=f"data.{name}",
            hint="use other fractions or more images"
            + (", or set data.stratify: false" if need > 1 else ""),
        )
    )


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _headers_of(listing: Listing) -> _Headers:
    """The listing's headers, read once per version of its files."""
    if listing.version not in _CHECKED:
        _CHECKED.clear()  # one data source at a time is what sweeps need
        try:
            _CHECKED[listing.version] = _Headers(header_sizes(listing))
        except ConfigError as exc:
            _CHECKED[listing.version] = exc.problems
    answer = _CHECKED[listing.version]
    if isinstance(answer, list):
        raise ConfigError(answer)
    return answer


def _fingerprint(listing: Listing) -> str:
    """sha256 over every image's id, class and bytes, in listing order."""
    digest = hashlib.sha256()
    for i, file in enumerate(listing.files):
        label = listing.classes[int(listing.y[i])]
        digest.update(json.dumps([listing.ids[i], label], default=str).encode())
        data = _bytes_of(file)
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.hexdigest()


def _bytes_of(file: Path) -> bytes:
    try:
        return file.read_bytes()
    except OSError as exc:  # gone or unreadable since it was listed
        raise unreadable(file, exc) from exc
