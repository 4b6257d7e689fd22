"""Built-in optimizers.

Pattern of the kind: an optimizer step stores its config plus the engine-supplied `params`
(the model's parameters); `build()` imports torch and returns the `torch.optim.Optimizer`.
A value torch rejects (a negative learning rate) raises ValueError there, which the engine
reports as a config error on the offending key (`optimizer.lr`).
"""

from __future__ import annotations

from typing import Annotated, Any

from annotated_types import Ge, Gt

from ednax.steps.base import Step


class Adam(Step):
    """Adam: adaptive moment estimation.

    Parameters
    ----------
    lr : float
        Learning rate.
    weight_decay : float
        L2 penalty added to the gradients (coupled, as in the original Adam).
    betas : list[float]
        Decay rates of the first and second moment estimates.
    eps : float
        Term added to the denominator for numerical stability.
    amsgrad : bool
        Use the AMSGrad variant.
    params : Any
        The parameters to optimise (supplied by the engine).
    """

    def __init__(
        self,
        *,
        lr: Annotated[float, Gt(0)] = 1e-3,
        weight_decay: Annotated[float, Ge(0)] = 0.0,
        betas: list[float] = (0.9, 0.999),
        eps: Annotated[float, Gt(0)] = 1e-8,
        amsgrad: bool = False,
        params: Any = None,
    ):
        self.lr = lr
        self.weight_decay = weight_decay
        self.betas = betas
        self.eps = eps
        self.amsgrad = amsgrad
        self.params = params

    def build(self) -> Any:
        import torch

        return torch.optim.Adam(
            self.params,
            lr=self.lr,
            weight_decay=self.weight_decay,
            betas=_pair(self.betas),
            eps=self.eps,
            amsgrad=self.amsgrad,
        )


class AdamW(Step):
    """AdamW: Adam with decoupled weight decay.

    Parameters
    ----------
    lr : float
        Learning rate.
    weight_decay : float
        Decoupled weight decay coefficient.
    betas : list[float]
        Decay rates of the first and second moment estimates.
    eps : float
        Term added to the denominator for numerical stability.
    amsgrad : bool
        Use the AMSGrad variant.
    params : Any
        The parameters to optimise (supplied by the engine).
    """

    def __init__(
        self,
        *,
        lr: Annotated[float, Gt(0)] = 1e-3,
        weight_decay: Annotated[float, Ge(0)] = 0.01,
        betas: list[float] = (0.9, 0.999),
        eps: Annotated[float, Gt(0)] = 1e-8,
        amsgrad: bool = False,
        params: Any = None,
    ):
        self.lr = lr
        self.weight_decay = weight_decay
        self.betas = betas
        self.eps = eps
        self.amsgrad = amsgrad
        self.params = params

    def build(self) -> Any:
        import torch

        return torch.optim.AdamW(
            self.params,
            lr=self.lr,
            weight_decay=self.weight_decay,
            betas=_pair(self.betas),
            eps=self.eps,
            amsgrad=self.amsgrad,
        )


class SGD(Step):
    """Stochastic gradient descent, with optional (Nesterov) momentum.

    Parameters
    ----------
    lr : float
        Learning rate.
    momentum : float
        Momentum factor (0 = plain SGD).
    nesterov : bool
        Use Nesterov momentum (needs momentum > 0 and dampening 0).
    dampening : float
        Dampening for momentum.
    weight_decay : float
        L2 penalty added to the gradients.
    params : Any
        The parameters to optimise (supplied by the engine).
    """

    def __init__(
        self,
        *,
        lr: Annotated[float, Gt(0)] = 0.01,
        momentum: Annotated[float, Ge(0)] = 0.0,
        nesterov: bool = False,
        dampening: float = 0.0,
        weight_decay: Annotated[float, Ge(0)] = 0.0,
        params: Any = None,
    ):
        self.lr = lr
        self.momentum = momentum
        self.nesterov = nesterov
        self.dampening = dampening
        self.weight_decay = weight_decay
        self.params = params

    def build(self) -> Any:
        import torch

        return torch.optim.SGD(
            self.params,
            lr=self.lr,
            momentum=self.momentum,
            nesterov=self.nesterov,
            dampening=self.dampening,
            weight_decay=self.weight_decay,
        )


class RMSprop(Step):
    """RMSprop: gradients scaled by a running average of their squares.

    Parameters
    ----------
    lr : float
        Learning rate.
    alpha : float
        Smoothing constant of the squared-gradient average.
    momentum : float
        Momentum factor.
    eps : float
        Term added to the denominator for numerical stability.
    centered : bool
        Normalise by an estimate of the gradient's variance instead of its second moment.
    weight_decay : float
        L2 penalty added to the gradients.
    params : Any
        The parameters to optimise (supplied by the engine).
    """

    def __init__(
        self,
        *,
        lr: Annotated[float, Gt(0)] = 0.01,
        alpha: float = 0.99,
        momentum: Annotated[float, Ge(0)] = 0.0,
        eps: Annotated[float, Gt(0)] = 1e-8,
        centered: bool = False,
        weight_decay: Annotated[float, Ge(0)] = 0.0,
        params: Any = None,
    ):
        self.lr = lr
        self.alpha = alpha
        self.momentum = momentum
        self.eps = eps
        self.centered = centered
        self.weight_decay = weight_decay
        self.params = params

    def build(self) -> Any:
        import torch

        return torch.optim.RMSprop(
            self.params,
            lr=self.lr,
            alpha=self.alpha,
            momentum=self.momentum,
            eps=self.eps,
            centered=self.centered,
            weight_decay=self.weight_decay,
        )


def _pair(betas: list[float]) -> tuple[float, float]:
    if len(betas) != 2:
        raise ValueError(f"Invalid betas: expected two values, got {list(betas)}")
    return float(betas[0]), float(betas[1])
