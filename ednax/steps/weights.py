"""Built-in initial weights: none, a checkpoint file, another run's bundle, safetensors
(pretrained), init schemes.

Pattern of the kind: a weights step stores its config; `apply(model)` changes the freshly
built model's parameters in place and returns a one-line note for the run's log (or None).
Files are read with `torch.load(..., weights_only=True)`, which refuses to unpickle
arbitrary objects, or with safetensors, which holds tensors only. A missing file or
parameters that do not fit the model are config errors that name the file and the layers.
"""

from __future__ import annotations

import json
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
# How `pretrained` may rename a file's tensors to the model's (strip, add): as they are,
# without a wrapper's prefix, or with "model." added (a transformers model's own names,
# into an ednax backbone that holds that model as its `model`).
_RENAMES = (("", ""), ("model.", ""), ("module.", ""), ("", "model."))
_SAFETENSORS = "model.safetensors"
_SAFETENSORS_INDEX = "model.safetensors.index.json"
_LISTED = 8
_LISTED_LOADED = 3


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


class Pretrained(Step):
    """Start from the tensors of a safetensors file, loading those that fit the model.

    Tensors are matched to the model's by name, as they are or with one prefix changed,
    whichever matches most: a wrapper's `model.` or `module.` stripped, or `model.` added
    (a transformers directory's names, `resnet.embedder...`, are the ednax backbone's
    `model.resnet.embedder...`). A tensor whose shape differs from the model's (a head for
    another number of classes) keeps the model's fresh values. The note for the log counts
    and names what was loaded, mismatched, skipped (not in the model) and missing (not in
    the file). Nothing is unpickled: pytorch_model.bin files are not read.

    Parameters
    ----------
    path : str
        A .safetensors file, or a directory holding model.safetensors (as transformers'
        save_pretrained and the image models' export write it).
    """

    def __init__(self, *, path: str):
        self.path = path

    def apply(self, model: Any) -> str | None:
        files = safetensors_files(Path(self.path).expanduser())
        state: dict[str, Any] = {}
        for file in files:
            state.update(read_safetensors(file))
        own = model.state_dict()
        state, renamed = _renamed_to_fit(state, own)
        present = [k for k in own if k in state]  # in the model's order
        loaded = [k for k in present if tuple(state[k].shape) == tuple(own[k].shape)]
        mismatched = [k for k in present if tuple(state[k].shape) != tuple(own[k].shape)]
        skipped = [k for k in state if k not in own]
        missing = [k for k in own if k not in state]
        if not loaded:
            raise ConfigError(
                Problem(
                    f"none of the {len(state)} tensors in {self.path} fit the model: "
                    + _describe_misfit(state, own, missing, skipped, mismatched),
                    path="weights.path",
                    hint="the file's tensor names must be the model's (see "
                    "model.state_dict()), or differ by a model./module. prefix",
                )
            )
        model.load_state_dict({k: state[k] for k in loaded}, strict=False)
        source = files[0] if len(files) == 1 else Path(self.path)
        parts = [
            f"weights: loaded {len(loaded)} tensors from {source}{renamed} "
            f"({_more(loaded[:_LISTED_LOADED], len(loaded))})"
        ]
        if mismatched:
            shapes = [
                f"{k} (file {list(state[k].shape)}, model {list(own[k].shape)})"
                for k in mismatched[:_LISTED]
            ]
            parts.append(
                f"mismatched {len(mismatched)}, kept fresh: {_more(shapes, len(mismatched))}"
            )
        if skipped:
            parts.append(f"skipped {len(skipped)}, not in the model: {_names(skipped)}")
        if missing:
            parts.append(f"missing {len(missing)}, kept fresh: {_names(missing)}")
        return "; ".join(parts)


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


def safetensors_files(path: Path) -> list[Path]:
    """The safetensors files of `path`: itself, or a directory's model.safetensors (or the
    shards its model.safetensors.index.json names)."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise ConfigError(Problem(f"no file or directory {path}", path="weights.path"))
    if (path / _SAFETENSORS).is_file():
        return [path / _SAFETENSORS]
    index = path / _SAFETENSORS_INDEX
    if index.is_file():
        try:
            shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        except (ValueError, KeyError, TypeError, AttributeError, OSError) as exc:
            raise ConfigError(
                Problem(f"cannot read {index}: {_first_line(exc)}", path="weights.path")
            ) from exc
        return [path / shard for shard in shards]
    found = sorted(p.name for p in path.glob("*.safetensors"))
    hint = f"it has: {', '.join(found)}; name one as the path" if found else None
    raise ConfigError(
        Problem(
            f"no {_SAFETENSORS} in {path}",
            path="weights.path",
            hint=hint
            or "give a .safetensors file, or a directory written by save_pretrained "
            "(pickled .bin/.pt files are read by weights: checkpoint)",
        )
    )


def read_safetensors(file: Path) -> dict[str, Any]:
    """The tensors of a safetensors file, on the CPU; a ConfigError if it is not one."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if not file.is_file():
        raise ConfigError(Problem(f"weights file not found: {file}", path="weights.path"))
    try:
        return load_file(str(file), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise ConfigError(
            Problem(
                f"{file} is not a safetensors file: {_first_line(exc)}",
                path="weights.path",
                hint="a torch .pt/.ckpt file is read by weights: {type: checkpoint, path: ...}",
            )
        ) from exc


def _renamed_to_fit(state: dict[str, Any], own: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """`state` with the prefix change of `_RENAMES` that matches most of `own`'s names, and
    a note of the change ("" when the names are kept)."""
    best, best_count, note = state, len(set(state) & set(own)), ""
    for strip, add in _RENAMES[1:]:
        renamed = {
            (add + k[len(strip) :] if k.startswith(strip) else k): v for k, v in state.items()
        }
        count = len(set(renamed) & set(own))
        if count > best_count and len(renamed) == len(state):
            change = f"'{strip}' removed" if strip else f"'{add}' added"
            best, best_count, note = renamed, count, f" (names with {change})"
    return best, note


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
