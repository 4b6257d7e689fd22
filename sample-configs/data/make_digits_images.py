"""Make `digits-images/`: scikit-learn's handwritten digits as a folder of PNG files.

The first 100 images of each digit in `sklearn.datasets.load_digits` (1000 in all, 10
balanced classes), each written as `digits-images/<digit>/<index>.png`, where <index> is
the image's row in load_digits (zero-padded to four places). The 8x8 images, whose values
run 0..16, are scaled to 0..255 and upscaled to 16x16 grayscale by repeating each pixel
2x2 (nearest neighbour): the pixels stay exactly the data's, and the bytes depend on no
resampling filter's implementation, so the files are the same on every run.

Re-make it (the folder is replaced) from the repository root with:

    python sample-configs/data/make_digits_images.py
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits

OUT = Path(__file__).resolve().parent / "digits-images"
PER_DIGIT = 100
SCALE = 2


def digit_images(per_digit: int) -> list[tuple[int, int, np.ndarray]]:
    """(index, digit, 8x8 uint8 image) of the first `per_digit` images of each digit."""
    digits = load_digits()
    pixels = np.rint(digits.images * (255 / 16)).astype(np.uint8)
    chosen = []
    for digit in range(10):
        for index in np.flatnonzero(digits.target == digit)[:per_digit]:
            chosen.append((int(index), digit, pixels[index]))
    return chosen


def upscaled(image: np.ndarray) -> np.ndarray:
    return np.kron(image, np.ones((SCALE, SCALE), dtype=np.uint8))


def main() -> None:
    if OUT.exists():
        shutil.rmtree(OUT)
    for index, digit, image in digit_images(PER_DIGIT):
        folder = OUT / str(digit)
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(upscaled(image)).save(folder / f"{index:04d}.png", optimize=True)
    files = sorted(OUT.rglob("*.png"))
    print(f"{len(files)} images, {sum(f.stat().st_size for f in files)} bytes in {OUT}")


if __name__ == "__main__":
    main()
