"""Built-in torch entries (models, weights, losses, optimizers, schedulers, trainer)."""

TORCH: list = []
