"""Image files as a split: decoded lazily one file at a time, or all at once into memory.

An `ImageSplit` holds the paths of its images, their class indices and ids (the paths as
the data step names them, relative to its folder or CSV). `read(i)` decodes one image with
Pillow to a uint8 array of shape (channels, height, width); `X` decodes them all into one
(n, channels, height, width) uint8 array, once. The loader chooses which of the two a fit
uses (`trainer.loader`); both give the same pixels.

A file that is not an image, truncated or unreadable is a `ConfigError` naming it: it is
the data's problem, for the user to fix, not a crash.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from ednax.errors import ConfigError, Problem

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_DECODE_THREADS = min(8, os.cpu_count() or 1)
_CHUNK = 256  # images a decoding thread takes at a time
# Below this many pixels an image's decode is mostly Pillow's Python (opening the file,
# parsing its header), which holds the GIL: threads then take turns and lose to one (8,000
# 32x32 PNGs: 1.85x slower on two threads). Above it the C decoder dominates and releases
# the GIL (256x256 JPEG: 0.6x the time on two threads).
_THREADED_PIXELS = 128 * 128
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm")


class ImageSplit:
    """The images of one split. `size` is (height, width) to resize to on decode, or None
    when every image already has the same size (`shape` says which)."""

    def __init__(
        self,
        files: Sequence[Path],
        y: np.ndarray,
        ids: np.ndarray,
        *,
        channels: int,
        size: tuple[int, int],
    ):
        self.files = list(files)
        self.y = np.asarray(y)
        self.ids = np.asarray(ids, dtype=object)
        self.channels = channels
        self.size = tuple(size)
        self._decoded: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.files)

    @property
    def shape(self) -> tuple[int, int, int]:
        """(channels, height, width) of every decoded image."""
        return (self.channels, *self.size)

    @property
    def nbytes(self) -> int:
        """Bytes of the whole split decoded (uint8)."""
        return len(self) * int(np.prod(self.shape))

    def read(self, i: int) -> np.ndarray:
        if self._decoded is not None:
            return self._decoded[i]
        return decode(self.files[i], self.channels, self.size)

    @property
    def X(self) -> np.ndarray:
        """Every image decoded, (n, channels, height, width) uint8; decoded once, by a few
        threads where the images are large enough for Pillow's decoder, which runs without
        the GIL, to dominate (`_THREADED_PIXELS`)."""
        if self._decoded is None:
            out = np.empty((len(self), *self.shape), dtype=np.uint8)

            def read_into(rows: range) -> None:
                for i in rows:
                    out[i] = decode(self.files[i], self.channels, self.size)

            chunks = [range(i, min(i + _CHUNK, len(self))) for i in range(0, len(self), _CHUNK)]
            if self.size[0] * self.size[1] < _THREADED_PIXELS or len(chunks) == 1:
                read_into(range(len(self)))
            else:
                with ThreadPoolExecutor(max_workers=_DECODE_THREADS) as pool:
                    list(pool.map(read_into, chunks))
            self._decoded = out
        return self._decoded

    @property
    def decoded(self) -> np.ndarray | None:
        """The decoded images if `X` was asked for already, else None."""
        return self._decoded

    def chunks(self, rows: int) -> Iterator[np.ndarray]:
        """The images in order, `rows` at a time, as uint8 arrays (from memory if decoded,
        else read from their files, never all at once)."""
        for start in range(0, len(self), rows):
            stop = min(start + rows, len(self))
            if self._decoded is not None:
                yield self._decoded[start:stop]
            else:
                yield np.stack([self.read(i) for i in range(start, stop)])

    @classmethod
    def joined(cls, parts: Sequence[ImageSplit]) -> ImageSplit:
        """The images of `parts`, in their order, as one split."""
        first = parts[0]
        return cls(
            [f for p in parts for f in p.files],
            np.concatenate([p.y for p in parts]),
            np.concatenate([p.ids for p in parts]),
            channels=first.channels,
            size=first.size,
        )

    def subset(self, rows: np.ndarray) -> ImageSplit:
        """The images at `rows` (indices into this split), as a split of their own."""
        rows = np.asarray(rows, dtype=np.int64)
        return ImageSplit(
            [self.files[i] for i in rows],
            self.y[rows],
            self.ids[rows],
            channels=self.channels,
            size=self.size,
        )


def decode(path: Path, channels: int, size: tuple[int, int] | None) -> np.ndarray:
    """One image as uint8 (channels, height, width): converted to grayscale (1 channel) or
    RGB (3), resized to `size` (height, width) with bilinear filtering when given."""
    from PIL import Image, UnidentifiedImageError

    mode = "L" if channels == 1 else "RGB"
    try:
        with Image.open(path) as image:
            image = image.convert(mode) if image.mode != mode else image
            if size is not None and image.size != (size[1], size[0]):
                image = image.resize((size[1], size[0]), Image.Resampling.BILINEAR)
            pixels = np.asarray(image, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise unreadable(path, exc) from exc
    pixels = pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)
    return np.ascontiguousarray(pixels)


def image_size(path: Path) -> tuple[int, int]:
    """(height, width) of an image, from its header alone (the pixels are not decoded).
    A PNG's is read from its IHDR chunk directly: a fifth of the time Pillow takes to
    open the file, which counts when validation reads tens of thousands of headers."""
    from PIL import Image, UnidentifiedImageError

    try:
        with open(path, "rb") as handle:
            head = handle.read(24)
    except OSError as exc:
        raise unreadable(path, exc) from exc
    if head[:8] == _PNG_SIGNATURE and head[12:16] == b"IHDR":
        width, height = struct.unpack(">II", head[16:24])
        if width and height:
            return height, width
    try:
        with Image.open(path) as image:
            width, height = image.size
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise unreadable(path, exc) from exc
    return height, width


def unreadable(path: Path, exc: BaseException) -> ConfigError:
    reason = str(exc) or type(exc).__name__
    return ConfigError(
        Problem(
            f"cannot read image {path}: {reason}",
            path="data.path",
            hint="remove or replace the file; every file in the data must be a readable image",
        )
    )


def fit_in_memory(splits: Any, budget_mb: float) -> bool:
    """Whether image splits decoded take at most `budget_mb` MiB (with their targets)."""
    return sum(s.nbytes + len(s) * 8 for s in splits) <= budget_mb * 2**20


def decode_all(splits: Any) -> None:
    """Decode every split into memory once (`ImageSplit.X`)."""
    for split in splits:
        _ = split.X
