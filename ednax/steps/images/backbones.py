"""Image classifiers from transformers: `resnet`, `convnext` and `vit`, new or pretrained.

Each class is an `nn.Module` holding a transformers `...ForImageClassification` as `model`.
Built new, its sizes are the constructor's parameters and the data's (`input_shape`: the
channels, and for a ViT the image size; `out_features`: the classes). With `pretrained` (a
directory written by `save_pretrained`, or a hub id) the architecture is the checkpoint's,
its classification head replaced when the data's classes differ in number, and what was
loaded is told in `load_report` for the run's log. `forward` maps a float (n, C, H, W)
batch to (n, out_features) logits.

A pretrained model whose channels differ from the data's takes 1-channel images repeated to
3 or 3-channel images averaged to 1; a pretrained ViT interpolates its position embeddings
to another square image size.

transformers is imported when a model is built, never when this module is imported: the
registry reads these signatures from the source, and the CLI starts without it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from ednax.errors import ConfigError, Problem
from ednax.steps.pretrained import (
    export,
    load_checkpoint,
    load_report,
    quiet_transformers,
    unused_sizes,
)
from ednax.steps.pretrained import plain as _plain

LayerType = Literal["basic", "bottleneck"]


class _ImageClassifier(nn.Module):
    """What the three backbones share: building, loading, forward, groups and export."""

    name = ""  # the registered name, in messages
    model_type = ""  # transformers' model_type of the checkpoints this class loads
    size_names: tuple[str, ...] = ()  # constructor parameters that size the architecture

    model: Any
    load_report: str | None
    image_shape: tuple[int, int, int]

    # What a subclass says: its transformers classes and the config of its sizes.
    def _classes(self) -> tuple[Any, Any]:
        raise NotImplementedError

    def _sizes(self) -> dict[str, Any]:
        return {name: _plain(getattr(self, name)) for name in self.size_names}

    def _config_values(self) -> dict[str, Any]:
        """The transformers config's values besides channels and labels."""
        return self._sizes()

    def _check(self) -> None:
        """Sizes that do not fit each other or the images: a ValueError naming the key."""

    def _fit_images(self, config: Any, notes: list[str]) -> None:
        """A pretrained checkpoint's config checked against the data's image size."""

    def _forward_options(self, images: torch.Tensor) -> dict[str, Any]:
        return {}

    # Shared.
    def _build(self) -> None:
        self.image_shape = image_shape(self.name, self.input_shape)
        if self.out_features < 1:
            raise ValueError(f"{self.name} needs at least one output, got {self.out_features}")
        if self.pretrained is None:  # else the checkpoint's sizes decide
            self._check()
        with quiet_transformers():
            if self.pretrained is None:
                config_class, model_class = self._classes()
                config = config_class(
                    num_channels=self.image_shape[0],
                    num_labels=self.out_features,
                    **self._config_values(),
                )
                self.model = model_class(config)
                self.load_report = None
            else:
                self.model, self.load_report = self._load_pretrained(self.pretrained)
        self.channels = int(self.model.config.num_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        images = self._images(x)
        return self.model(pixel_values=images, **self._forward_options(images)).logits

    def _images(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim == 2:  # rows of flattened pixels
            x = x.reshape(x.shape[0], *self.image_shape)
        channels = x.shape[1]
        if channels == self.channels:
            return x
        if channels == 1 and self.channels == 3:
            return x.expand(-1, 3, -1, -1)
        if channels == 3 and self.channels == 1:
            return x.mean(dim=1, keepdim=True)
        raise ValueError(f"{self.name} takes {self.channels}-channel images, got {channels}")

    def param_groups(self) -> dict[str, list[str]]:
        """Parameter-name prefixes by group: `backbone` (all but the head), `head` (the
        classifier), `stem` (the first layers on the pixels) and `stage1`... (each stage of
        blocks, or each transformer layer of a ViT), the input side first."""
        base_name = self.model.base_model_prefix
        base = getattr(self.model, base_name)
        groups = {"backbone": [f"model.{base_name}"], "head": ["model.classifier"]}
        stem = next(iter(base.named_children()), None)
        if stem is not None:
            groups["stem"] = [f"model.{base_name}.{stem[0]}"]
        stages = next(
            ((n, m) for n, m in base.named_modules() if isinstance(m, nn.ModuleList)), None
        )
        if stages is not None:
            for i in range(len(stages[1])):
                groups[f"stage{i + 1}"] = [f"model.{base_name}.{stages[0]}.{i}"]
        return groups

    def export_pretrained(self, directory: str | os.PathLike) -> Path:
        """The model written for another run's `model.pretrained` (`pretrained.export`)."""
        return export(self.model, directory)

    def _load_pretrained(self, source: str) -> tuple[Any, str]:
        _, model_class = self._classes()
        model, info, classes, notes = load_checkpoint(
            source, self.model_type, model_class, self.out_features, self._fit_checkpoint
        )
        return model, load_report(self.name, source, model, info, classes, notes)

    def _fit_checkpoint(self, config: Any) -> list[str]:
        notes = unused_sizes(config, {name: (name, value) for name, value in self._sizes().items()})
        self._fit_channels(config, notes)
        self._fit_images(config, notes)
        return notes

    def _fit_channels(self, config: Any, notes: list[str]) -> None:
        data, checkpoint = self.image_shape[0], int(config.num_channels)
        if data == checkpoint:
            return
        if {data, checkpoint} != {1, 3}:
            raise ConfigError(
                Problem(
                    f"{self.pretrained} takes {checkpoint}-channel images, the data has {data}",
                    path="model.pretrained",
                    hint=f"give it {checkpoint}-channel images",
                )
            )
        how = "repeated" if data == 1 else "averaged"
        notes.append(f"{data}-channel images {how} to the checkpoint's {checkpoint}")


class ResNet(_ImageClassifier):
    """A ResNet image classifier (transformers' ResNetForImageClassification).

    A stem (a stride-2 convolution and max pooling), then one stage of residual blocks per
    entry of hidden_sizes, each after the first halving the image; global pooling, a linear
    head. Any image size fits.

    Parameters
    ----------
    embedding_size : int
        Channels of the stem convolution.
    hidden_sizes : list[int]
        Channels of each stage, input side first.
    depths : list[int]
        Residual blocks of each stage; as many entries as hidden_sizes.
    layer_type : Literal["basic", "bottleneck"]
        Residual block: two 3x3 convolutions (basic, ResNet-18/34) or 1x1-3x3-1x1 (bottleneck).
    pretrained : str | None
        Start from a checkpoint: a directory written by `save_pretrained` (or another run's
        export), or a hub id such as microsoft/resnet-18 (from the local cache unless the
        environment allows downloads). Its architecture replaces the sizes above.
    out_features : int
        Number of outputs: classes, or 1 for regression (supplied by the engine).
    input_shape : tuple[int, ...] | None
        Image shape (channels, height, width) (supplied by the engine).
    """

    name = "resnet"
    model_type = "resnet"
    size_names = ("embedding_size", "hidden_sizes", "depths", "layer_type")

    def __init__(
        self,
        *,
        embedding_size: int = 16,
        hidden_sizes: list[int] = (16, 32, 64),
        depths: list[int] = (1, 1, 1),
        layer_type: LayerType = "basic",
        pretrained: str | None = None,
        out_features: int,
        input_shape: tuple[int, ...] | None = None,
    ):
        super().__init__()
        self.embedding_size = embedding_size
        self.hidden_sizes = list(hidden_sizes)
        self.depths = list(depths)
        self.layer_type = layer_type
        self.pretrained = pretrained
        self.out_features = out_features
        self.input_shape = input_shape
        self._build()

    def _classes(self) -> tuple[Any, Any]:
        from transformers import ResNetConfig, ResNetForImageClassification

        return ResNetConfig, ResNetForImageClassification

    def _check(self) -> None:
        _positive("embedding_size", [self.embedding_size])
        _stages(self.hidden_sizes, self.depths)


class ConvNext(_ImageClassifier):
    """A ConvNeXt image classifier (transformers' ConvNextForImageClassification).

    A 4x4 patch stem, then one stage of ConvNeXt blocks per entry of hidden_sizes, each
    after the first halving the image; a layer norm and a linear head. The image must keep
    at least one pixel to the last stage: 16x16 fits three stages, 32x32 four.

    Parameters
    ----------
    hidden_sizes : list[int]
        Channels of each stage, input side first.
    depths : list[int]
        Blocks of each stage; as many entries as hidden_sizes.
    pretrained : str | None
        Start from a checkpoint: a directory written by `save_pretrained` (or another run's
        export), or a hub id such as facebook/convnext-tiny-224 (from the local cache unless
        the environment allows downloads). Its architecture replaces the sizes above.
    out_features : int
        Number of outputs: classes, or 1 for regression (supplied by the engine).
    input_shape : tuple[int, ...] | None
        Image shape (channels, height, width) (supplied by the engine).
    """

    name = "convnext"
    model_type = "convnext"
    size_names = ("hidden_sizes", "depths")

    def __init__(
        self,
        *,
        hidden_sizes: list[int] = (16, 32, 64),
        depths: list[int] = (1, 1, 1),
        pretrained: str | None = None,
        out_features: int,
        input_shape: tuple[int, ...] | None = None,
    ):
        super().__init__()
        self.hidden_sizes = list(hidden_sizes)
        self.depths = list(depths)
        self.pretrained = pretrained
        self.out_features = out_features
        self.input_shape = input_shape
        self._build()

    def _classes(self) -> tuple[Any, Any]:
        from transformers import ConvNextConfig, ConvNextForImageClassification

        return ConvNextConfig, ConvNextForImageClassification

    def _config_values(self) -> dict[str, Any]:
        return {**super()._config_values(), "num_stages": len(self.hidden_sizes)}

    def _check(self) -> None:
        _stages(self.hidden_sizes, self.depths)
        _convnext_fits(self.image_shape, len(self.hidden_sizes), 4, "hidden_sizes")

    def _fit_images(self, config: Any, notes: list[str]) -> None:
        try:
            _convnext_fits(self.image_shape, int(config.num_stages), int(config.patch_size), "")
        except ValueError as exc:
            raise ConfigError(Problem(str(exc), path="model.pretrained")) from exc


class ViT(_ImageClassifier):
    """A Vision Transformer image classifier (transformers' ViTForImageClassification).

    The image is cut into patch_size x patch_size patches, each embedded into a token; a
    class token and position embeddings are added, then transformer layers, and a linear
    head on the class token. Built new, it fits the data's image size exactly.

    Parameters
    ----------
    hidden_size : int
        Width of the tokens.
    num_hidden_layers : int
        Transformer layers.
    num_attention_heads : int
        Attention heads of each layer; must divide hidden_size.
    intermediate_size : int
        Width of the feed-forward block of each layer.
    patch_size : int
        Side of the square patches, in pixels.
    pretrained : str | None
        Start from a checkpoint: a directory written by `save_pretrained` (or another run's
        export), or a hub id such as google/vit-base-patch16-224 (from the local cache unless
        the environment allows downloads). Its architecture replaces the sizes above; its
        position embeddings are interpolated to another square image size.
    out_features : int
        Number of outputs: classes, or 1 for regression (supplied by the engine).
    input_shape : tuple[int, ...] | None
        Image shape (channels, height, width) (supplied by the engine).
    """

    name = "vit"
    model_type = "vit"
    size_names = (
        "hidden_size",
        "num_hidden_layers",
        "num_attention_heads",
        "intermediate_size",
        "patch_size",
    )

    def __init__(
        self,
        *,
        hidden_size: int = 64,
        num_hidden_layers: int = 4,
        num_attention_heads: int = 4,
        intermediate_size: int = 128,
        patch_size: int = 4,
        pretrained: str | None = None,
        out_features: int,
        input_shape: tuple[int, ...] | None = None,
    ):
        super().__init__()
        self.hidden_size = hidden_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.intermediate_size = intermediate_size
        self.patch_size = patch_size
        self.pretrained = pretrained
        self.out_features = out_features
        self.input_shape = input_shape
        self._interpolate = False
        self._build()

    def _classes(self) -> tuple[Any, Any]:
        from transformers import ViTConfig, ViTForImageClassification

        return ViTConfig, ViTForImageClassification

    def _config_values(self) -> dict[str, Any]:
        height, width = self.image_shape[1:]
        size: Any = height if height == width else [height, width]
        return {**super()._config_values(), "image_size": size}

    def _check(self) -> None:
        _positive("hidden_size", [self.hidden_size])
        _positive("num_hidden_layers", [self.num_hidden_layers])
        _positive("num_attention_heads", [self.num_attention_heads])
        _positive("intermediate_size", [self.intermediate_size])
        _positive("patch_size", [self.patch_size])
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"num_attention_heads {self.num_attention_heads} must divide "
                f"hidden_size {self.hidden_size}"
            )
        if self.patch_size > min(self.image_shape[1:]):
            height, width = self.image_shape[1:]
            raise ValueError(f"patch_size {self.patch_size} exceeds the {height}x{width} images")

    def _fit_images(self, config: Any, notes: list[str]) -> None:
        height, width = self.image_shape[1:]
        size = config.image_size
        trained = tuple(size) if isinstance(size, (list, tuple)) else (size, size)
        if trained == (height, width):
            return
        if trained[0] != trained[1] or int(config.patch_size) > min(height, width):
            raise ConfigError(
                Problem(
                    f"{self.pretrained} was trained on {trained[0]}x{trained[1]} images with "
                    f"{config.patch_size}-pixel patches and cannot take {height}x{width} ones",
                    path="model.pretrained",
                    hint=f"resize the images to {trained[0]}x{trained[1]} (preprocess: resize)",
                )
            )
        self._interpolate = True
        notes.append(
            f"position embeddings interpolated from {trained[0]}x{trained[1]} "
            f"to {height}x{width} images"
        )

    def _forward_options(self, images: torch.Tensor) -> dict[str, Any]:
        return {"interpolate_pos_encoding": True} if self._interpolate else {}


def image_shape(name: str, input_shape: tuple[int, ...] | None) -> tuple[int, int, int]:
    """(channels, height, width) of the data's images; a ValueError for other data."""
    if input_shape is None:
        raise ValueError(
            f"{name} needs image data: the dataset has no input_shape (use mlp for tabular data)"
        )
    shape = tuple(int(s) for s in input_shape)
    if len(shape) == 2:
        shape = (1, *shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"{name} expects a (channels, height, width) input_shape, got {shape}")
    return shape


def _stages(hidden_sizes: list[int], depths: list[int]) -> None:
    if not hidden_sizes:
        raise ValueError("hidden_sizes needs at least one stage")
    if len(hidden_sizes) != len(depths):
        raise ValueError(
            f"hidden_sizes {hidden_sizes} and depths {depths} need one entry per stage each"
        )
    _positive("hidden_sizes", hidden_sizes)
    _positive("depths", depths)


def _positive(key: str, values: list[int]) -> None:
    if any(int(v) < 1 for v in values):
        raise ValueError(f"{key} must be >= 1, got {values if len(values) > 1 else values[0]}")


def _convnext_fits(shape: tuple[int, int, int], stages: int, patch: int, key: str) -> None:
    side = min(shape[1:]) // patch
    fits = 0
    while side >= 1 and fits < stages:
        fits += 1
        side //= 2
    if fits < stages:
        raise ValueError(
            f"convnext's {stages} stages shrink {shape[1]}x{shape[2]} images below one pixel; "
            f"{fits} fit" + (f": shorten {key} and depths, or use larger images" if key else "")
        )
