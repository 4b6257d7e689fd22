"""Built-in initial weights: none, a checkpoint file, another run's bundle, init schemes.

Pattern of the kind: a weights step stores its config; `apply(model)` changes the freshly
built model's parameters in place and returns a one-line note for the run's log (or None).
Files are read with `torch.load(..., weights_only=True)`, which refuses to unpickle
arbitrary objects. A missing file or parameters that do not fit the model are config
errors that name the file and the layers.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any, Literal

from ednax.errors import ConfigError, Problem
from ednax.steps.base import Step

Which = Literal["best", "last"]
Distribution = Literal["uniform", "normal"]

# Prefixes that wrap a model's own parameter names in common checkpoint formats:
# an ednax/Lightning checkpoint ("model."), DistributedDataParallel ("module.").
_WRAPPER_PREFIXES = ("model.", "module.")
_LISTED = 8


class NoWeights(Step):
    """Keep the model's default initialisation (PyTorch's, seeded by experiment.seed)."""

    def __init__(self):
        pass

    def apply(self, model: Any) -> str | None:
        return None


class Checkpoint(Step):
    """Start from the parameters in a checkpoint file: a Lightning/ednax .ckpt or a .pt state_dict.

    Parameters
    ----------
    path : str
        The checkpoint file.
    strict : bool
        Every model parameter must be in the file with its shape; false loads only those that fit.
    """

    def __init__(self, *, path: str, strict: bool = True):
        self.path = path
        self.strict = strict

    def apply(self, model: Any) -> str | None:
        file = Path(self.path).expanduser()
        if not file.is_file():
            raise ConfigError(Problem(f"checkpoint file not found: {file}", path="weights.path"))
        return load_weights(model, file, strict=self.strict)


class FromRun(Step):
    """Start from another run's weights: its best or last checkpoint in artifacts/.

    Parameters
    ----------
    path : str
        The other run's bundle directory (runs/<experiment>/<run-id>).
    which : Literal["best", "last"]
        Its best checkpoint (by its monitored metric) or the one of its last epoch.
    strict : bool
        Every model parameter must be in the file with its shape; false loads only those that fit.
    """

    def __init__(self, *, path: str, which: Which = "best", strict: bool = True):
        self.path = path
        self.which = which
        self.strict = strict

    def apply(self, model: Any) -> str | None:
        bundle = Path(self.path).expanduser()
        if not bundle.is_dir():
            raise ConfigError(Problem(f"no run bundle at {bundle}", path="weights.path"))
        file = bundle / "artifacts" / f"{self.which}.ckpt"
        if not file.is_file():
            kept = sorted(p.stem for p in (bundle / "artifacts").glob("*.ckpt"))
            hint = f"it has: {', '.join(kept)}" if kept else "it kept no checkpoints"
            raise ConfigError(
                Problem(f"run {bundle} has no {file.name}", path="weights.which", hint=hint)
            )
        return load_weights(model, file, strict=self.strict)


class Xavier(Step):
    """Xavier/Glorot initialisation of every linear and convolution weight; biases set to 0.

    Parameters
    ----------
    gain : float
        Scaling factor of the weights.
    distribution : Literal["uniform", "normal"]
        Draw the weights from a uniform or a normal distribution.
    """

    def __init__(self, *, gain: float = 1.0, distribution: Distribution = "uniform"):
        self.gain = gain
        self.distribution = distribution

    def apply(self, model: Any) -> str | None:
        from torch.nn import init

        fill = init.xavier_uniform_ if self.distribution == "uniform" else init.xavier_normal_
        count = _init_weights(model, lambda w: fill(w, gain=self.gain))
        return f"weights: xavier_{self.distribution} on {count} layers"


class Kaiming(Step):
    """Kaiming/He initialisation of every linear and convolution weight; biases set to 0.

    Parameters
    ----------
    nonlinearity : Literal["relu", "leaky_relu"]
        The activation that follows the layers.
    mode : Literal["fan_in", "fan_out"]
        Preserve the variance of activations (fan_in) or of gradients (fan_out).
    distribution : Literal["uniform", "normal"]
        Draw the weights from a uniform or a normal distribution.
    """

    def __init__(
        self,
        *,
        nonlinearity: Literal["relu", "leaky_relu"] = "relu",
        mode: Literal["fan_in", "fan_out"] = "fan_in",
        distribution: Distribution = "uniform",
    ):
        self.nonlinearity = nonlinearity
        self.mode = mode
        self.distribution = distribution

    def apply(self, model: Any) -> str | None:
        from torch.nn import init

        fill = init.kaiming_uniform_ if self.distribution == "uniform" else init.kaiming_normal_
        slope = 0.01 if self.nonlinearity == "leaky_relu" else 0.0
        count = _init_weights(
            model, lambda w: fill(w, a=slope, mode=self.mode, nonlinearity=self.nonlinearity)
        )
        return f"weights: kaiming_{self.distribution} on {count} layers"


def load_weights(model: Any, file: Path, *, strict: bool = True) -> str:
    """Copy the tensors of `file` into `model`; a ConfigError names what does not fit."""
    state = _fit_names(read_state_dict(file), model.state_dict())
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    mismatched = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if strict and (missing or unexpected or mismatched):
        raise ConfigError(
            Problem(
                f"the weights in {file} do not fit the model: "
                + _describe_misfit(state, own, missing, unexpected, mismatched),
                path="weights.path",
                hint="set weights.strict: false to load only the layers that fit",
            )
        )
    fitting = {k: v for k, v in state.items() if k in own and k not in mismatched}
    if not fitting:
        raise ConfigError(
            Problem(
                f"none of the weights in {file} fit the model: "
                + _describe_misfit(state, own, missing, unexpected, mismatched),
                path="weights.path",
            )
        )
    model.load_state_dict(fitting, strict=False)
    note = f"weights: loaded {len(fitting)} tensors from {file}"
    skipped = missing + [k for k in mismatched if k not in missing]
    return note + (f"; kept fresh: {_names(skipped)}" if skipped else "")


def read_state_dict(file: Path) -> dict[str, Any]:
    """The parameter tensors stored in `file`, loaded with weights_only=True."""
    import torch

    try:
        obj = torch.load(file, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise ConfigError(
            Problem(
                f"{file} holds python objects besides tensors and is not loaded "
                f"(torch.load weights_only=True refused it): {_first_line(exc)}",
                path="weights.path",
                hint="re-save it as a plain state_dict: torch.save(model.state_dict(), path)",
            )
        ) from exc
    except (RuntimeError, EOFError, OSError) as exc:
        raise ConfigError(
            Problem(
                f"cannot read {file} as a torch checkpoint: {_first_line(exc)}", path="weights.path"
            )
        ) from exc
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not any(torch.is_tensor(v) for v in obj.values()):
        raise ConfigError(Problem(f"{file} holds no state_dict of tensors", path="weights.path"))
    return {k: v for k, v in obj.items() if torch.is_tensor(v)}


def _fit_names(state: dict[str, Any], own: dict[str, Any]) -> dict[str, Any]:
    if set(state) & set(own):
        return state
    for prefix in _WRAPPER_PREFIXES:
        stripped = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
        if set(stripped) & set(own):
            return stripped
    return state


def _describe_misfit(state, own, missing, unexpected, mismatched) -> str:
    parts = []
    if mismatched:
        shapes = [
            f"{k} (file {list(state[k].shape)}, model {list(own[k].shape)})"
            for k in mismatched[:_LISTED]
        ]
        parts.append("shape mismatch in " + _more(shapes, len(mismatched)))
    if missing:
        parts.append("missing from the file: " + _names(missing))
    if unexpected:
        parts.append("not in the model: " + _names(unexpected))
    return "; ".join(parts)


def _names(keys: list[str]) -> str:
    return _more(keys[:_LISTED], len(keys))


def _more(items: list[str], total: int) -> str:
    text = ", ".join(items)
    return text + (f" and {total - len(items)} more" if total > len(items) else "")


def _init_weights(model: Any, fill: Any) -> int:
    from torch.nn import init

    count = 0
    for module in model.modules():
        weight = getattr(module, "weight", None)
        if weight is None or not hasattr(weight, "dim") or weight.dim() < 2:
            continue
        fill(weight.data)
        bias = getattr(module, "bias", None)
        if bias is not None and hasattr(bias, "data"):
            init.zeros_(bias.data)
        count += 1
    return count


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
