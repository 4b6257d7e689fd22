"""Whole-file writes that never leave a truncated file behind.

Each writer fills a uniquely named temporary file next to the target, then renames it over
the target with `os.replace`. A rename within one directory is atomic, so a reader (or a
run killed halfway) sees either the old file or the new one, never half of either. If
writing fails, the temporary file is removed and the target is left as it was.

Files are not fsynced: the guarantee is against a killed process, which is what happens to
runs (Ctrl-C, SIGKILL, a crash), not against the machine losing power. A bundle writes a
dozen small files and rewrites run.json as it goes; syncing each one would cost more than
a short scikit-learn fit.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import yaml

_TEMP_SUFFIX = ".tmp"


def write_text(path: str | os.PathLike[str], text: str) -> None:
    """Replace `path` with `text`, encoded as UTF-8."""
    write_bytes(path, text.encode("utf-8"))


def write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Replace `path` with `data`."""
    with open_atomic(path, "wb") as handle:
        handle.write(data)


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Replace `path` with `obj` as indented JSON (keys in insertion order).

    Values JSON has no type for are converted: numpy/torch scalars and arrays through their
    `tolist()`, sets to lists, anything else (paths, dates) to `str`.
    """
    text = json.dumps(obj, indent=2, sort_keys=False, default=_json_default)
    write_text(path, text + "\n")  # one write: json.dump writes each token on its own


# libyaml's emitter writes the same text as PyYAML's own, four times faster
SAFE_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
YAML_STYLE = {"sort_keys": False, "default_flow_style": False, "allow_unicode": True}


def write_yaml(path: str | os.PathLike[str], obj: Any) -> None:
    """Replace `path` with `obj` as block-style YAML (plain Python types only)."""
    with open_atomic(path, "w") as handle:
        yaml.dump(obj, handle, Dumper=SAFE_DUMPER, **YAML_STYLE)


@contextlib.contextmanager
def open_atomic(path: str | os.PathLike[str], mode: str = "w") -> Iterator[IO[Any]]:
    """Open a temporary file that replaces `path` when the `with` block ends without error.

    `mode` is "w" (text, UTF-8, no newline translation, as the csv module wants) or "wb".
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"open_atomic mode must be 'w' or 'wb', not {mode!r}")
    target = Path(path)
    temp, fd = _create_temp_beside(target)
    try:
        if mode == "wb":
            handle: IO[Any] = os.fdopen(fd, "wb")
        else:
            handle = os.fdopen(fd, "w", encoding="utf-8", newline="")
        with handle:
            yield handle
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def _create_temp_beside(target: Path) -> tuple[Path, int]:
    # O_EXCL with a random name is as safe as mkstemp, but the file gets the usual
    # 0o666 & ~umask permissions instead of mkstemp's 0o600, so shared run
    # directories stay readable by the group.
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        temp = target.with_name(f".{target.name}.{secrets.token_hex(6)}{_TEMP_SUFFIX}")
        try:
            return temp, os.open(temp, flags, 0o666)
        except FileExistsError:
            continue


def _json_default(value: Any) -> Any:
    tolist = getattr(value, "tolist", None)
    if callable(tolist):
        return tolist()
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    return str(value)


def remove_temp_files(folder: str | os.PathLike[str]) -> int:
    """Delete the temporary files writers left under `folder` (a write cut short by a full
    disk or a kill): hidden files ending in .tmp. Returns how many were removed."""
    removed = 0
    for temp in Path(folder).rglob(f".*{_TEMP_SUFFIX}"):
        with contextlib.suppress(OSError):
            temp.unlink()
            removed += 1
    return removed
