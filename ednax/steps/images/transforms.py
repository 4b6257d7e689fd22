"""Image preprocess steps: deterministic transforms for every split, augmentations for train.

An image run's `preprocess:` list holds these steps, applied in their order to whole
batches on the training device (through kornia), not to one image at a time. Each step
says where it applies in its `splits` parameter, which the resolved config shows:

- `all`: resize, center_crop, to_grayscale, normalize — deterministic; they run on the
  train, val and test batches and on the images `ednax predict` is given;
- `train`: random_resized_crop, random_crop, horizontal_flip, color_jitter,
  rand_augment, trivial_augment, random_erasing, mixup, cutmix — random; they run on
  training batches only, and are skipped everywhere else.

Batches arrive as uint8 (n, channels, height, width) and are scaled to [0, 1] floats
before the first step. `normalize` without `mean` and `std` computes them per channel on
the train split (after the deterministic steps before it); they are saved with the run
for predict. mixup and cutmix mix pairs of images and their targets (a run's loss sees
soft targets; train metrics still count the original labels).

A step class builds its kornia layer in `layer()` (kornia is imported only there), says
what it does to the image shape in `shape_after()`, and checks its values in `problems()`.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from annotated_types import Interval

from ednax.errors import Problem
from ednax.steps.base import Step

Shape = tuple[int, int, int]
EveryBatch = Literal["all"]
TrainBatches = Literal["train"]


class ImageTransform(Step):
    """Base of image preprocess steps (see the module docstring)."""

    train_only: ClassVar[bool] = False
    mixes: ClassVar[bool] = False  # mixes images and targets (mixup, cutmix)
    weights_pair: ClassVar[bool] = True  # a mix's weight is the paired image's share
    splits: str

    def layer(self, shape: Shape, fitted: dict[str, Any] | None = None) -> Any:
        raise NotImplementedError

    def shape_after(self, shape: Shape) -> Shape:
        return shape

    def problems(self) -> list[Problem]:
        return []

    def path(self, index: int, name: str) -> str:
        return f"preprocess[{index}].{name}"


def _pair(size: int | list[int]) -> tuple[int, int]:
    if isinstance(size, int):
        return (size, size)
    return (int(size[0]), int(size[1]))


def _size_problems(size: int | list[int]) -> list[Problem]:
    values = [size] if isinstance(size, int) else list(size)
    if len(values) not in (1, 2) or any(v < 1 for v in values):
        return [Problem(f"must be a positive int or [height, width], got {size}", path="size")]
    return []


class Resize(ImageTransform):
    """Resize every image to `size` (bilinear, antialiased when shrinking).

    Parameters
    ----------
    size : int | list[int]
        The new size: an int for a square, or [height, width].
    splits : Literal["all"]
        Where it applies: every split (a deterministic step).
    """

    def __init__(self, size: int | list[int], *, splits: EveryBatch = "all"):
        self.size = size
        self.splits = splits

    def layer(self, shape: Shape, fitted: dict[str, Any] | None = None) -> Any:
        import kornia.augmentation as K

        return K.Resize(_pair(self.size), antialias=True)

    def shape_after(self, shape: Shape) -> Shape:
        return (shape[0], *_pair(self.size))

    def problems(self) -> list[Problem]:
        return _size_problems(self.size)


class CenterCrop(ImageTransform):
    """Crop the center `size` of every image.

    Parameters
    ----------
    size : int | list[int]
        The crop: an int for a square, or [height, width]; at most the image's size.
    splits : Literal["all"]
        Where it applies: every split (a deterministic step).
    """

    def __init__(self, size: int | list[int], *, splits: EveryBatch = "all"):
        self.size = size
        self.splits = splits

    def layer(self, shape: Shape, fitted: dict[str, Any] | None = None) -> Any:
        import kornia.augmentation as K

        return K.CenterCrop(_pair(self.size))

    def shape_after(self, shape: Shape) -> Shape:
        return (shape[0], *_pair(self.size))

    def problems(self) -> list[Problem]:
        return _size_problems(self.size)


class ToGrayscale(ImageTransform):
    """Turn RGB images into one channel of luminance (a 1-channel image passes unchanged).

    Parameters
    ----------
    splits : Literal["all"]
        Where it applies: every split (a deterministic step).
    """

    def __init__(self, *, splits: EveryBatch = "all"):
        self.splits = splits

    def layer(self, shape: Shape, fitted: dict[str, Any] | None = None) -> Any:
        import kornia.color

        return kornia.color.RgbToGrayscale() if shape[0] == 3 else None

    def shape_after(self, shape: Shape) -> Shape:
        return (1, shape[1], shape[2])


class Normalize(ImageTransform):
    """Subtract a per-channel mean and divide by a per-channel standard deviation.

    Pixels are in [0, 1] here. Without `mean` and `std`, both are computed on the train
    split (after the deterministic steps listed before this one) and saved with the run.

    Parameters
    ----------
    mean : list[float] | None
        One value per channel (e.g. [0.485, 0.456, 0.406]); None = computed on train.
    std : list[float] | None
        One value per channel, each > 0; None = computed on train.
    splits : Literal["all"]
        Where it applies: every split (a deterministic step).
    """

    def __init__(
        self,
        *,
        mean: list[float] | None = None,
        std: list[float] | None = None,
        splits: EveryBatch = "all",
    ):
        self.mean = mean
        self.std = std
        self.splits = splits

    @property
    def needs_fit(self) -> bool:
        return self.mean is None or self.std is None

    def layer(self, shape: Shape, fitted: dict[str, Any] | None = None) -> Any:
        import kornia.augmentation as K
        import torch

        values = fitted or {}
        mean = self.mean if self.mean is not None else values["mean"]
        std = self.std if self.std is not None else values["std"]
        return K.Normalize(mean=torch.tensor(mean), std=torch.tensor(std))

    def channel_problems(self, channels: int, index: int) -> list[Problem]:
        """Given statistics must have one value per channel of the images they meet."""
        found = []
        for name in ("mean", "std"):
            values = getattr(self, name)
            if values is not None and len(values) != channels:
                found.append(
                    Problem(
                        f"has {len(values)} values; the images here have {channels} channel(s)",
                        path=self.path(index, name),
                        hint=f"give {channels} value(s), or leave it out to compute it on train",
                    )
                )
        return found

    def problems(self) -> list[Problem]:
        if self.std is not None and any(v <= 0 for v in self.std):
            return [Problem(f"every value must be > 0, got {self.std}", path="std")]
        return []


class RandomResizedCrop(ImageTransform):
    """Crop a random part of each training image and resize it to `size`.

    The crop's area and aspect ratio are drawn from ranges. Val, test and predict see the
    whole image instead, so put a `resize` to the same size before or after for them (the
    shapes are checked).

    Parameters
    ----------
    size : int | list[int]
        The output size: an int for a square, or [height, width].
    scale : list[float]
        Range of the crop's area as a fraction of the image's.
    ratio : list[float]
        Range of the crop's aspect ratio (width / height).
    p : float
        Probability of cropping an image (otherwise it is resized whole).
    splits : Literal["train"]
        Where it applies: training batches only (a random step).
    """

    train_only = True

    def __init__(
        self,
        size: int | list[int],
        *,
        scale: list[float] = (0.08, 1.0),
        ratio: list[float] = (0.75, 4 / 3),
        p: Annotated[float, Interval(ge=0, le=1)] = 1.0,
        splits: TrainBatches = "train",
    ):
        self.size = size
        self.scale = list(scale)
        self.ratio = list(ratio)
        self.p = p
        self.splits = splits

    def layer(self, shape: Shape, fitted: dict[str, Any] | None = None) -> Any:
        import kornia.augmentation as K

        return K.RandomResizedCrop(
            _pair(self.size), scale=tuple(self.scale), ratio=tuple(self.ratio), p=self.p
        )

    def shape_after(self, shape: Shape) -> Shape:
        return (shape[0], *_pair(self.size))

    def problems(self) -> list[Problem]:
        return _size_problems(self.size) + _range_problems(self, "scale", 0.0, 1.0)


class RandomCrop(ImageTransform):
    """Pad each training image by `padding` pixels, then crop a random `size` of it.

    The classic CIFAR augmentation is random_crop with size 32 and padding 4.

    Parameters
    ----------
    size : int | list[int] | None
        The crop: an int for a square, or [height, width]; None = the image's own size.
    padding : int
        Pixels of padding on every side before cropping.
    padding_mode : Literal["constant", "reflect", "replicate"]
        How the padding is filled: zeros, a mirror of the border, or the border repeated.
    splits : Literal["train"]
        Where it applies: training batches only (a random step).
    """

    train_only = True

    def __init__(
        self,
        size: int | list[int] | None = None,
        *,
        padding: Annotated[int, Interval(ge=0)] = 4,
        padding_mode: Literal["constant", "reflect", "replicate"] = "constant",
        splits: TrainBatches = "train",
    ):
        self.size = size
        self.padding = padding
        self.padding_mode = padding_mode
        self.splits = splits

    def layer(self, shape: Shape, fitted: dict[str, Any] | None = None) -> Any:
        import kornia.augmentation as K

        size = _pair(self.size) if self.size is not None else shape[1:]
        return K.RandomCrop(size, padding=self.padding, padding_mode=self.padding_mode)

    def shape_after(self, shape: Shape) -> Shape:
        return shape if self.size is None else (shape[0], *_pair(self.size))

    def problems(self) -> list[Problem]:
        return [] if self.size is None else _size_problems(self.size)


class HorizontalFlip(ImageTransform):
    """Mirror training images left to right, each with probability `p`.

    Parameters
    ----------
    p : float
        Probability of flipping an image.
    splits : Literal["train"]
        Where it applies: training batches only (a random step).
    """

    train_only = True

    def __init__(
        self, *, p: Annotated[float, Interval(ge=0, le=1)] = 0.5, splits: TrainBatches = "train"
    ):
        self.p = p
        self.splits = splits

    def layer(self, shape: Shape, fitted: dict[str, Any] | None = None) -> Any:
        import kornia.augmentation as K

        return K.RandomHorizontalFlip(p=self.p)


class ColorJitter(ImageTransform):
    """Change brightness, contrast, saturation and hue of training images at random.

    Saturation and hue only act on RGB images.

    Parameters
    ----------
    brightness : float
        Largest change of brightness, as a factor in [1 - b, 1 + b].
    contrast : float
        Largest change of contrast, as a factor in [1 - c, 1 + c].
    saturation : float
        Largest change of saturation, as a factor in [1 - s, 1 + s].
    hue : float
        Largest shift of hue, in [-h, h], at most 0.5.
    p : float
        Probability of jittering an image.
    splits : Literal["train"]
        Where it applies: training batches only (a random step).
    """

    train_only = True

    def __init__(
        self,
        *,
        brightness: Annotated[float, Interval(ge=0)] = 0.2,
        contrast: Annotated[float, Interval(ge=0)] = 0.2,
        saturation: Annotated[float, Interval(ge=0)] = 0.2,
        hue: Annotated[float, Interval(ge=0, le=0.5)] = 0.0,
        p: Annotated[float, Interval(ge=0, le=1)] = 1.0,
        splits: TrainBatches = "train",
    ):
        self.brightness = brightness
        self.contrast = contrast
        self.saturation = saturation
        self.hue = hue
        self.p = p
        self.splits = splits

    def layer(self, shape: Shape, fitted: dict[str, Any] | None = None) -> Any:
        import kornia.augmentation as K

        color = shape[0] == 3
        return K.ColorJitter(
            brightness=self.brightness,
            contrast=self.contrast,
            saturation=self.saturation if color else 0.0,
            hue=self.hue if color else 0.0,
            p=self.p,
        )


class RandAugment(ImageTransform):
    """RandAugment: `n` operations drawn at random per image, each of strength `m` (of 30).

    Parameters
    ----------
    n : int
        Operations applied to each image.
    m : int
        Strength of every operation, 0 to 30.
    splits : Literal["train"]
        Where it applies: training batches only (a random step).
    """

    train_only = True

    def __init__(
        self,
        *,
        n: Annotated[int, Interval(ge=1)] = 2,
        m: Annotated[int, Interval(ge=0, le=30)] = 9,
        splits: TrainBatches = "train",
    ):
        self.n = n
        self.m = m
        self.splits = splits

    def layer(self, shape: Shape, fitted: dict[str, Any] | None = None) -> Any:
        from kornia.augmentation.auto import RandAugment as KorniaRandAugment

        return KorniaRandAugment(n=self.n, m=self.m)


class TrivialAugment(ImageTransform):
    """TrivialAugment: one operation of random strength per image, no parameters to tune.

    Parameters
    ----------
    splits : Literal["train"]
        Where it applies: training batches only (a random step).
    """

    train_only = True

    def __init__(self, *, splits: TrainBatches = "train"):
        self.splits = splits

    def layer(self, shape: Shape, fitted: dict[str, Any] | None = None) -> Any:
        from kornia.augmentation.auto import TrivialAugment as KorniaTrivialAugment

        return KorniaTrivialAugment()


class RandomErasing(ImageTransform):
    """Erase a random rectangle of training images (cutout), each with probability `p`.

    Parameters
    ----------
    p : float
        Probability of erasing a rectangle of an image.
    scale : list[float]
        Range of the rectangle's area as a fraction of the image's.
    ratio : list[float]
        Range of the rectangle's aspect ratio.
    value : float
        The value the rectangle is filled with (after the steps before this one).
    splits : Literal["train"]
        Where it applies: training batches only (a random step).
    """

    train_only = True

    def __init__(
        self,
        *,
        p: Annotated[float, Interval(ge=0, le=1)] = 0.5,
        scale: list[float] = (0.02, 0.33),
        ratio: list[float] = (0.3, 3.3),
        value: float = 0.0,
        splits: TrainBatches = "train",
    ):
        self.p = p
        self.scale = list(scale)
        self.ratio = list(ratio)
        self.value = value
        self.splits = splits

    def layer(self, shape: Shape, fitted: dict[str, Any] | None = None) -> Any:
        import kornia.augmentation as K

        return K.RandomErasing(
            scale=tuple(self.scale), ratio=tuple(self.ratio), value=self.value, p=self.p
        )

    def problems(self) -> list[Problem]:
        return _range_problems(self, "scale", 0.0, 1.0)


class MixUp(ImageTransform):
    """MixUp: blend each training image and its target with another of the batch.

    The other image's weight is drawn uniformly from `strength`. Classification only.

    Parameters
    ----------
    strength : list[float]
        Range [low, high] within [0, 1] of the other image's weight.
    p : float
        Probability of mixing a batch.
    splits : Literal["train"]
        Where it applies: training batches only (a random step).
    """

    train_only = True
    mixes = True

    def __init__(
        self,
        *,
        strength: list[float] = (0.0, 0.5),
        p: Annotated[float, Interval(ge=0, le=1)] = 1.0,
        splits: TrainBatches = "train",
    ):
        self.strength = list(strength)
        self.p = p
        self.splits = splits

    def layer(self, shape: Shape, fitted: dict[str, Any] | None = None) -> Any:
        import kornia.augmentation as K

        return K.RandomMixUpV2(
            lambda_val=tuple(self.strength), p=self.p, data_keys=["input", "class"]
        )

    def problems(self) -> list[Problem]:
        return _range_problems(self, "strength", 0.0, 1.0)


class CutMix(ImageTransform):
    """CutMix: paste a random rectangle of another training image of the batch into each.

    The targets are weighted by the pasted area. Classification only.

    Parameters
    ----------
    beta : float
        Parameter of the Beta distribution of the kept area (1 = uniform).
    p : float
        Probability of mixing a batch.
    splits : Literal["train"]
        Where it applies: training batches only (a random step).
    """

    train_only = True
    mixes = True
    weights_pair = False

    def __init__(
        self,
        *,
        beta: Annotated[float, Interval(gt=0)] = 1.0,
        p: Annotated[float, Interval(ge=0, le=1)] = 1.0,
        splits: TrainBatches = "train",
    ):
        self.beta = beta
        self.p = p
        self.splits = splits

    def layer(self, shape: Shape, fitted: dict[str, Any] | None = None) -> Any:
        import kornia.augmentation as K

        return K.RandomCutMixV2(
            beta=self.beta, p=self.p, data_keys=["input", "class"], use_correct_lambda=True
        )


def _range_problems(step: Any, name: str, low: float, high: float) -> list[Problem]:
    values = getattr(step, name)
    if len(values) != 2 or not low <= values[0] <= values[1] <= high:
        return [Problem(f"must be [min, max] within [{low:g}, {high:g}], got {values}", path=name)]
    return []
