"""Transformers checkpoints as a model's `pretrained` takes them: where one is (a local
directory, or a hub id read from the local cache unless the environment allows downloads),
loading it with every failure a ConfigError on `model.pretrained`, the load report for the
run's log, and transformers kept quiet meanwhile. The image backbones and the text
encoders share these rules.

transformers is imported inside the functions, never when this module is imported.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ednax.errors import ConfigError, Problem

# a run's export of its model (artifacts/pretrained/), as save_pretrained writes it
EXPORT_FOLDER = "pretrained"
EXPORT_FILES = ("config.json", "model.safetensors")
_LISTED = 4
_OFFLINE_VALUES = {"1", "true", "yes", "on"}


def locate(source: str, key: str = "model.pretrained") -> tuple[str, bool]:
    """Where `pretrained` is: (a local directory, True) or (a hub id, whether only the
    local cache may be read). A path that is no directory is a ConfigError at `key`."""
    path = Path(source).expanduser()
    if path.is_dir():
        return str(path), True
    if path.exists():
        raise ConfigError(
            Problem(
                f"{source} is a file; {key} takes a directory or a hub id",
                path=key,
                hint="for a .safetensors file use weights: {type: pretrained, path: ...}",
            )
        )
    if _looks_like_path(source):
        raise ConfigError(
            Problem(
                f"no directory {source}",
                path=key,
                hint="give a directory written by save_pretrained (a run's export), or a hub id",
            )
        )
    return source, offline()


def _looks_like_path(source: str) -> bool:
    """A hub id is `name` or `owner/name`; anything else is meant as a local path."""
    return (
        Path(source).expanduser().is_absolute()
        or source.startswith((".", "~"))
        or source.endswith(("/", os.sep))
        or source.count("/") > 1
        or (os.sep != "/" and os.sep in source)
    )


def offline() -> bool:
    """Whether the environment forbids downloads (HF_HUB_OFFLINE or TRANSFORMERS_OFFLINE),
    read when a model is built."""
    return any(
        os.environ.get(name, "").strip().lower() in _OFFLINE_VALUES
        for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """transformers' warnings, load reports and progress bars off, and back as they were."""
    from transformers.utils import logging

    verbosity = logging.get_verbosity()
    bars = logging.is_progress_bar_enabled()
    logging.set_verbosity_error()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        logging.set_verbosity(verbosity)
        if bars:
            logging.enable_progress_bar()


def from_pretrained(cls: Any, where: str, source: str, local_only: bool, **options: Any) -> Any:
    """`cls.from_pretrained`, from the local cache first; a hub id is downloaded only when
    it is not cached and the environment allows it."""
    try:
        return cls.from_pretrained(where, local_files_only=True, **options)
    except (OSError, ValueError) as exc:
        if Path(where).is_dir():
            raise _unreadable(source, exc) from exc
        if local_only:
            raise ConfigError(
                Problem(
                    f"no directory {source}, and no hub model {source} in the local cache",
                    path="model.pretrained",
                    hint="downloads are off (HF_HUB_OFFLINE); download it where they are on, "
                    "or give a directory written by save_pretrained",
                )
            ) from exc
    try:
        return cls.from_pretrained(where, **options)
    except (OSError, ValueError) as exc:
        raise ConfigError(
            Problem(
                f"no directory {source}, and the hub has no model {source} to download "
                f"({first_line(exc)})",
                path="model.pretrained",
                hint="check the hub id, or give a directory written by save_pretrained",
            )
        ) from exc


def load_checkpoint(
    source: str,
    model_type: str,
    model_class: Any,
    out_features: int,
    adjust: Callable[[Any], list[str]],
) -> tuple[Any, dict[str, Any], int, list[str]]:
    """A `model_type` checkpoint loaded into `model_class` with its head replaced to
    `out_features`: (model in train mode, transformers' loading info, the checkpoint's
    number of classes, notes for the load report). `adjust` fits the checkpoint's config
    to the data (channels, image size, tokens, dropout) before the weights are read, and
    returns what it has to say."""
    from transformers import AutoConfig

    where, local_only = locate(source)

    def read(cls: Any, **options: Any) -> Any:
        return from_pretrained(cls, where, source, local_only, **options)

    config = read(AutoConfig)
    if getattr(config, "model_type", None) != model_type:
        raise ConfigError(
            Problem(
                f"{source} holds a {getattr(config, 'model_type', 'unknown')} model, "
                f"not a {model_type} one",
                path="model.pretrained",
                hint=f"use the model type that fits it, or a {model_type} checkpoint",
            )
        )
    notes = adjust(config)
    classes = int(config.num_labels)
    config.num_labels = out_features
    model, info = read(
        model_class,
        config=config,
        ignore_mismatched_sizes=True,
        output_loading_info=True,
        use_safetensors=True,
    )
    model.train()  # from_pretrained leaves the model in eval mode; a run trains it
    return model, info, classes, notes


def unused_sizes(config: Any, sizes: dict[str, tuple[str, Any]]) -> list[str]:
    """The note for the sizes a config asked for that differ from the checkpoint's, which
    decide; `sizes` maps the checkpoint config's names to (the parameter, its value)."""
    differ = [
        f"{key} {value} (checkpoint {plain(getattr(config, name))})"
        for name, (key, value) in sizes.items()
        if hasattr(config, name) and plain(getattr(config, name)) != value
    ]
    if not differ:
        return []
    return ["architecture from the checkpoint, not the config: " + ", ".join(differ)]


def export(model: Any, directory: str | os.PathLike) -> Path:
    """Write a transformers model as transformers does (config.json and
    model.safetensors) into `directory`, for another run's `model.pretrained` or
    `weights: pretrained`. The tensors keep the names they have in the model
    (`save_original_format=False`), so that `weights: pretrained` finds every one."""
    directory = Path(directory)
    with quiet_transformers():
        model.save_pretrained(directory, save_original_format=False)
    return directory


def _unreadable(source: str, exc: BaseException) -> ConfigError:
    return ConfigError(
        Problem(
            f"cannot load {source}: {first_line(exc)}",
            path="model.pretrained",
            hint="the directory needs config.json and model.safetensors (as save_pretrained "
            "writes them); pickled pytorch_model.bin files are not read",
        )
    )


def load_report(
    name: str, source: str, model: Any, info: dict[str, Any], classes: int, notes: list[str]
) -> str:
    missing = sorted(info.get("missing_keys", ()))
    mismatched = sorted(info.get("mismatched_keys", ()))
    unexpected = sorted(info.get("unexpected_keys", ()))
    fresh = set(missing) | {key for key, *_ in mismatched}
    loaded = [k for k in model.state_dict() if k not in fresh]
    parts = [f"model: {name} from {source}, {len(loaded)} tensors loaded"]
    labels = model.config.num_labels
    head = [key for key, *_ in mismatched if key.startswith("classifier")]
    if head:
        shapes = [f"{k} {list(a)} -> {list(b)}" for k, a, b in mismatched if k in head]
        parts.append(
            f"new head for {labels} classes (the checkpoint had {classes}): " + listed(shapes)
        )
    elif labels == classes and not any(key.startswith("classifier") for key in missing):
        parts.append(f"head loaded ({classes} classes, as the data's)")
    others = [f"{k} {list(a)} -> {list(b)}" for k, a, b in mismatched if k not in head]
    if others:
        parts.append("initialised fresh, shapes differ: " + listed(others))
    if missing:
        parts.append("initialised fresh, not in the checkpoint: " + listed(missing))
    if unexpected:
        parts.append("unused, not in the model: " + listed(unexpected))
    return "; ".join(parts + notes)


def plain(value: Any) -> Any:
    return list(value) if isinstance(value, (list, tuple)) else value


def listed(items: list[str]) -> str:
    text = ", ".join(items[:_LISTED])
    return text + (f" and {len(items) - _LISTED} more" if len(items) > _LISTED else "")


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
