"""Built-in torch entries (models, weights, losses, optimizers, schedulers, trainer)."""

_TORCH_FAMILY = {"family": "torch"}

# (kind, name, target, tags)
TORCH: list = [
    ("model", "mlp", "ednax.steps.nets:MLP", _TORCH_FAMILY),
    ("model", "cnn", "ednax.steps.nets:CNN", _TORCH_FAMILY),
    ("model", "linear", "ednax.steps.nets:Linear", _TORCH_FAMILY),
    ("weights", "none", "ednax.steps.weights:NoWeights", {}),
    ("weights", "checkpoint", "ednax.steps.weights:Checkpoint", {}),
    ("weights", "run", "ednax.steps.weights:FromRun", {}),
    ("weights", "xavier", "ednax.steps.weights:Xavier", {}),
    ("weights", "kaiming", "ednax.steps.weights:Kaiming", {}),
    ("loss", "cross_entropy", "ednax.steps.losses:CrossEntropy", {}),
    ("loss", "bce_with_logits", "ednax.steps.losses:BCEWithLogits", {}),
    ("loss", "mse", "ednax.steps.losses:MSE", {}),
    ("loss", "l1", "ednax.steps.losses:L1", {}),
    ("loss", "huber", "ednax.steps.losses:Huber", {}),
    ("optimizer", "adam", "ednax.steps.optim:Adam", {}),
    ("optimizer", "adamw", "ednax.steps.optim:AdamW", {}),
    ("optimizer", "sgd", "ednax.steps.optim:SGD", {}),
    ("optimizer", "rmsprop", "ednax.steps.optim:RMSprop", {}),
    ("scheduler", "none", "ednax.steps.schedulers:NoSchedule", {}),
    ("scheduler", "step", "ednax.steps.schedulers:StepDecay", {}),
    ("scheduler", "cosine", "ednax.steps.schedulers:Cosine", {}),
    ("scheduler", "onecycle", "ednax.steps.schedulers:OneCycle", {}),
    ("scheduler", "plateau", "ednax.steps.schedulers:Plateau", {}),
    ("trainer", "lightning", "ednax.steps.trainers_torch:Lightning", _TORCH_FAMILY),
    ("callback", "time_limit", "ednax.steps.callbacks:TimeLimit", {}),
]
