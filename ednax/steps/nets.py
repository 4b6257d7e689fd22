"""Built-in torch models: `mlp` and `linear` for tabular rows, `cnn` for small images.

Every model is an `nn.Module` whose constructor is its config schema. The engine supplies
the sizes from the data (`in_features`, `out_features`, `input_shape`), so they never
appear in a config. A model maps a float batch of shape (n, in_features) to outputs of
shape (n, out_features): class logits for classification, one column for regression.
"""

from __future__ import annotations

from typing import Annotated, Literal

import torch
from annotated_types import Interval
from torch import nn

Activation = Literal["relu", "gelu", "tanh", "sigmoid", "silu", "leaky_relu", "elu"]
Pooling = Literal["max", "avg", "none"]

_ACTIVATIONS = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "silu": nn.SiLU,
    "leaky_relu": nn.LeakyReLU,
    "elu": nn.ELU,
}


class MLP(nn.Module):
    """A multilayer perceptron: linear layers with activation, optional batch norm and dropout.

    Parameters
    ----------
    hidden : list[int]
        Width of each hidden layer, input side first; [] makes a linear model.
    activation : Literal["relu", "gelu", "tanh", "sigmoid", "silu", "leaky_relu", "elu"]
        Non-linearity after each hidden layer.
    dropout : float
        Probability of zeroing a hidden unit during training (0 = no dropout).
    batch_norm : bool
        Add batch normalisation after each hidden linear layer.
    in_features : int
        Number of input columns (supplied by the engine from the data).
    out_features : int
        Number of outputs: classes, or 1 for regression (supplied by the engine).
    """

    def __init__(
        self,
        *,
        hidden: list[int] = (64, 64),
        activation: Activation = "relu",
        dropout: Annotated[float, Interval(ge=0, lt=1)] = 0.0,
        batch_norm: bool = False,
        in_features: int,
        out_features: int,
    ):
        super().__init__()
        self.hidden = list(hidden)
        self.activation = activation
        self.dropout = dropout
        self.batch_norm = batch_norm
        self.in_features = in_features
        self.out_features = out_features
        self.net = _mlp_layers(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Linear(nn.Module):
    """One linear layer: logistic regression for classification, linear regression otherwise.

    Parameters
    ----------
    bias : bool
        Learn an intercept per output.
    in_features : int
        Number of input columns (supplied by the engine from the data).
    out_features : int
        Number of outputs: classes, or 1 for regression (supplied by the engine).
    """

    def __init__(self, *, bias: bool = True, in_features: int, out_features: int):
        super().__init__()
        self.bias = bias
        self.in_features = in_features
        self.out_features = out_features
        self.net = nn.Linear(in_features, out_features, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class CNN(nn.Module):
    """A small convolutional network for images such as digits 8x8: conv blocks, then a linear head.

    Each block is a same-padded convolution, optional batch norm, the activation and a 2x2
    pooling (skipped once the image is down to one pixel). Rows arrive flattened and are
    reshaped to the data's `input_shape`.

    Parameters
    ----------
    channels : list[int]
        Output channels of each convolution block.
    kernel_size : int
        Side of the square convolution kernels.
    pooling : Literal["max", "avg", "none"]
        Pooling after each block.
    activation : Literal["relu", "gelu", "tanh", "sigmoid", "silu", "leaky_relu", "elu"]
        Non-linearity after each convolution.
    batch_norm : bool
        Add batch normalisation after each convolution.
    dropout : float
        Dropout probability before the linear head (0 = no dropout).
    in_features : int
        Number of input columns, the product of input_shape (supplied by the engine).
    out_features : int
        Number of outputs: classes, or 1 for regression (supplied by the engine).
    input_shape : tuple[int, ...] | None
        Image shape (channels, height, width) or (height, width) (supplied by the engine).
    """

    def __init__(
        self,
        *,
        channels: list[int] = (16, 32),
        kernel_size: int = 3,
        pooling: Pooling = "max",
        activation: Activation = "relu",
        batch_norm: bool = False,
        dropout: Annotated[float, Interval(ge=0, lt=1)] = 0.0,
        in_features: int,
        out_features: int,
        input_shape: tuple[int, ...] | None = None,
    ):
        super().__init__()
        self.channels = list(channels)
        self.kernel_size = kernel_size
        self.pooling = pooling
        self.activation = activation
        self.batch_norm = batch_norm
        self.dropout = dropout
        self.in_features = in_features
        self.out_features = out_features
        self.input_shape = input_shape
        self.image_shape, self.features, self.head = _cnn_layers(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(x.shape[0], *self.image_shape)
        return self.head(self.features(x))


def _mlp_layers(spec: MLP) -> nn.Sequential:
    layers: list[nn.Module] = []
    width = spec.in_features
    for size in spec.hidden:
        if size < 1:
            raise ValueError(f"hidden layer sizes must be >= 1, got {list(spec.hidden)}")
        layers.append(nn.Linear(width, size))
        if spec.batch_norm:
            layers.append(nn.BatchNorm1d(size))
        layers.append(_ACTIVATIONS[spec.activation]())
        if spec.dropout:
            layers.append(nn.Dropout(spec.dropout))
        width = size
    layers.append(nn.Linear(width, spec.out_features))
    return nn.Sequential(*layers)


def _cnn_layers(spec: CNN) -> tuple[tuple[int, int, int], nn.Sequential, nn.Sequential]:
    shape = _image_shape(spec.input_shape, spec.in_features)
    if spec.kernel_size < 1:
        raise ValueError(f"kernel_size must be >= 1, got {spec.kernel_size}")
    channels, height, width = shape
    pad = spec.kernel_size // 2
    blocks: list[nn.Module] = []
    for out_channels in spec.channels:
        blocks.append(nn.Conv2d(channels, out_channels, spec.kernel_size, padding=pad))
        height = height + 2 * pad - spec.kernel_size + 1
        width = width + 2 * pad - spec.kernel_size + 1
        if spec.batch_norm:
            blocks.append(nn.BatchNorm2d(out_channels))
        blocks.append(_ACTIVATIONS[spec.activation]())
        if spec.pooling != "none" and min(height, width) >= 2:
            blocks.append(nn.MaxPool2d(2) if spec.pooling == "max" else nn.AvgPool2d(2))
            height, width = height // 2, width // 2
        channels = out_channels
    head: list[nn.Module] = [nn.Flatten()]
    if spec.dropout:
        head.append(nn.Dropout(spec.dropout))
    head.append(nn.Linear(channels * height * width, spec.out_features))
    return shape, nn.Sequential(*blocks), nn.Sequential(*head)


def _image_shape(input_shape: tuple[int, ...] | None, in_features: int) -> tuple[int, int, int]:
    if input_shape is None:
        raise ValueError(
            "cnn needs image data: the dataset has no input_shape (use mlp for tabular data)"
        )
    shape = tuple(int(s) for s in input_shape)
    if len(shape) == 2:
        shape = (1, *shape)
    if len(shape) != 3:
        raise ValueError(f"cnn expects a (channels, height, width) input_shape, got {shape}")
    if shape[0] * shape[1] * shape[2] != in_features:
        raise ValueError(f"input_shape {shape} does not match {in_features} input columns")
    return shape
