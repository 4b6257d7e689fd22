"""Built-in learning-rate schedules.

Pattern of the kind: a scheduler step stores its config plus what the engine supplies
(`optimizer`, `max_epochs`, `steps_per_epoch`: optimizer steps per epoch, after gradient
accumulation); `build()` imports torch and returns a `torch.optim.lr_scheduler` object,
or None for no schedule. The class attribute `interval` says when the engine steps it:
"epoch" (after each training epoch) or "step" (after each optimizer step). A schedule with
a `monitor` attribute (plateau) is stepped with that metric's value for the epoch.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from ednax.steps.base import Step

Interval = Literal["epoch", "step"]


class NoSchedule(Step):
    """A constant learning rate.

    Parameters
    ----------
    optimizer : Any
        The optimizer to schedule (supplied by the engine).
    """

    interval: ClassVar[Interval] = "epoch"

    def __init__(self, *, optimizer: Any = None):
        self.optimizer = optimizer

    def build(self) -> Any:
        return None


class StepDecay(Step):
    """Multiply the learning rate by `gamma` every `step_size` epochs.

    Parameters
    ----------
    step_size : int
        Epochs between two decays (>= 1).
    gamma : float
        Factor applied at each decay.
    optimizer : Any
        The optimizer to schedule (supplied by the engine).
    """

    interval: ClassVar[Interval] = "epoch"

    def __init__(self, *, step_size: int = 10, gamma: float = 0.1, optimizer: Any = None):
        self.step_size = step_size
        self.gamma = gamma
        self.optimizer = optimizer

    def build(self) -> Any:
        from torch.optim.lr_scheduler import StepLR

        if self.step_size < 1:
            raise ValueError(f"step_size must be >= 1, got {self.step_size}")
        return StepLR(self.optimizer, step_size=self.step_size, gamma=self.gamma)


class Cosine(Step):
    """Cosine annealing from the optimizer's learning rate down to `eta_min` over all epochs.

    Parameters
    ----------
    eta_min : float
        Learning rate reached at the last epoch.
    optimizer : Any
        The optimizer to schedule (supplied by the engine).
    max_epochs : int
        Number of training epochs (supplied by the engine).
    """

    interval: ClassVar[Interval] = "epoch"

    def __init__(self, *, eta_min: float = 0.0, optimizer: Any = None, max_epochs: int = 1):
        self.eta_min = eta_min
        self.optimizer = optimizer
        self.max_epochs = max_epochs

    def build(self) -> Any:
        from torch.optim.lr_scheduler import CosineAnnealingLR

        if self.eta_min < 0:
            raise ValueError(f"eta_min must be >= 0, got {self.eta_min}")
        return CosineAnnealingLR(
            self.optimizer, T_max=max(self.max_epochs, 1), eta_min=self.eta_min
        )


class OneCycle(Step):
    """The one-cycle policy: warm up to `max_lr`, then anneal far below the start, per batch.

    Parameters
    ----------
    max_lr : float | None
        Peak learning rate; None uses the optimizer's lr.
    pct_start : float
        Fraction of the steps spent warming up, in (0, 1).
    anneal_strategy : Literal["cos", "linear"]
        Shape of the warm-up and annealing curves.
    div_factor : float
        The starting learning rate is max_lr / div_factor.
    final_div_factor : float
        The final learning rate is the starting one / final_div_factor.
    three_phase : bool
        Anneal back to the starting rate before the final decay (three phases, not two).
    optimizer : Any
        The optimizer to schedule (supplied by the engine).
    max_epochs : int
        Number of training epochs (supplied by the engine).
    steps_per_epoch : int
        Optimizer steps per epoch (supplied by the engine).
    """

    interval: ClassVar[Interval] = "step"

    def __init__(
        self,
        *,
        max_lr: float | None = None,
        pct_start: float = 0.3,
        anneal_strategy: Literal["cos", "linear"] = "cos",
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
        three_phase: bool = False,
        optimizer: Any = None,
        max_epochs: int = 1,
        steps_per_epoch: int = 1,
    ):
        self.max_lr = max_lr
        self.pct_start = pct_start
        self.anneal_strategy = anneal_strategy
        self.div_factor = div_factor
        self.final_div_factor = final_div_factor
        self.three_phase = three_phase
        self.optimizer = optimizer
        self.max_epochs = max_epochs
        self.steps_per_epoch = steps_per_epoch

    def build(self) -> Any:
        from torch.optim.lr_scheduler import OneCycleLR

        max_lr = self.max_lr if self.max_lr is not None else self.optimizer.param_groups[0]["lr"]
        if max_lr <= 0:
            raise ValueError(f"max_lr must be > 0, got {max_lr}")
        return OneCycleLR(
            self.optimizer,
            max_lr=max_lr,
            total_steps=self.max_epochs * self.steps_per_epoch,
            pct_start=self.pct_start,
            anneal_strategy=self.anneal_strategy,
            div_factor=self.div_factor,
            final_div_factor=self.final_div_factor,
            three_phase=self.three_phase,
        )


class Plateau(Step):
    """Reduce the learning rate when a monitored metric stops improving.

    Parameters
    ----------
    monitor : str
        Metric watched, as logged per epoch: "val/loss", "val/accuracy", "train/loss", ...
    mode : Literal["min", "max"]
        Whether the monitored metric improves downwards (loss) or upwards (accuracy).
    factor : float
        Factor in (0, 1) applied to the learning rate on a plateau.
    patience : int
        Epochs without improvement before the rate is reduced.
    threshold : float
        Smallest relative change that counts as an improvement.
    cooldown : int
        Epochs to wait after a reduction before watching again.
    min_lr : float
        Lower bound of the learning rate.
    optimizer : Any
        The optimizer to schedule (supplied by the engine).
    """

    interval: ClassVar[Interval] = "epoch"

    def __init__(
        self,
        *,
        monitor: str = "val/loss",
        mode: Literal["min", "max"] = "min",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        cooldown: int = 0,
        min_lr: float = 0.0,
        optimizer: Any = None,
    ):
        self.monitor = monitor
        self.mode = mode
        self.factor = factor
        self.patience = patience
        self.threshold = threshold
        self.cooldown = cooldown
        self.min_lr = min_lr
        self.optimizer = optimizer

    def build(self) -> Any:
        from torch.optim.lr_scheduler import ReduceLROnPlateau

        if self.patience < 0:
            raise ValueError(f"patience must be >= 0, got {self.patience}")
        return ReduceLROnPlateau(
            self.optimizer,
            mode=self.mode,
            factor=self.factor,
            patience=self.patience,
            threshold=self.threshold,
            cooldown=self.cooldown,
            min_lr=self.min_lr,
        )
