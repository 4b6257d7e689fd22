"""A run's own code: the source of the modules a config's `imports:` brought in from a
folder of the user's (beside the config, say), and of that folder's Python files they
import, fingerprinted in run.json and copied into the bundle.

    run.json   "code": {"my_model": {"path": "my_model.py", "sha256": "<64 hex>", "size": 812}}
    code/      my_model.py, helpers/__init__.py, ... (laid out as their module names)

(run.json has no "code" when the run imported no module of its own.)

Outside a git checkout this is the only record of what a plugin said when the run ran:
`ednax diff` shows a changed module with the unified diff of its two sources, `ednax show`
lists the modules, `ednax rerun` says when today's source differs and `--bundle-code` runs
the bundle's copy (code/ goes first on sys.path). Installed plugin packages are not copied
(their version is recorded under `classes`), nor is ednax. The code is provenance: it
changes no fingerprint of the config, so an edited plugin keeps the experiment's version.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

CODE_DIR = "code"
CODE_KEY = "code"  # run.json's field
_INSTALLED_PARTS = ("site-packages", "dist-packages")


@dataclass(frozen=True)
class Source:
    """One module of the run's own code: its name, its path under code/ (the layout its
    name gives, so that code/ can go on sys.path) and the file it was imported from."""

    module: str
    path: str
    file: Path


def own_sources(imports: Iterable[str]) -> list[Source]:
    """The user's modules behind `imports:` (already imported), in name order: each one
    found in a folder of the user's, and every module imported from those folders.

    A module named in `imports:` that was installed (site-packages) is left out, and so is
    what it imports; ednax's own modules never count, wherever ednax lies.
    """
    roots = set()
    for name in imports:
        found = _user_module(name, sys.modules.get(name))
        if found is not None:
            roots.add(_root_of(found))
    out = {}
    prefixes = tuple(os.path.join(os.path.normpath(root), "") for root in roots)
    for name, module in _modules_under(prefixes) if roots else ():
        found = _user_module(name, module)
        if found is not None and _root_of(found) in roots:
            out[name] = found
    return [out[name] for name in sorted(out)]


# Per set of folders, the modules found outside them (by name): a sweep worker asks once a
# trial, with the thousands of modules of torch and Lightning imported.
_OUTSIDE: dict[tuple[str, ...], dict[str, Any]] = {}


def _modules_under(prefixes: tuple[str, ...]) -> list[tuple[str, Any]]:
    """The imported modules whose file lies in a folder `prefixes` names (normalised,
    each ending in a separator). A module found outside is looked at again only if its
    name now stands for another module. (No object is made per module: thousands of
    them would set the garbage collector off over the whole heap.)"""
    outside = _OUTSIDE.setdefault(prefixes, {})
    found = []
    for name, module in sys.modules.copy().items():
        if outside.get(name) is module:
            continue
        file = getattr(module, "__file__", None)
        if isinstance(file, str) and os.path.normpath(file).startswith(prefixes):
            found.append((name, module))
        else:
            outside[name] = module
    return found


def _user_module(name: str, module: Any) -> Source | None:
    """The module's source, unless it is ednax's or installed."""
    found = _source_of(name, module)
    if found is None or name.partition(".")[0] == "ednax" or _installed(found.file):
        return None
    return found


def code_entries(sources: Iterable[Source]) -> tuple[dict[str, dict[str, Any]], dict[str, bytes]]:
    """run.json's "code" entry for `sources` and the bytes to copy into code/ (path: bytes).

    A module whose file cannot be read now is recorded with a null sha256 and not copied:
    provenance is never the reason a run fails."""
    entries: dict[str, dict[str, Any]] = {}
    files: dict[str, bytes] = {}
    for source in sources:
        try:
            data = source.file.read_bytes()
        except OSError:
            entries[source.module] = {"path": source.path, "sha256": None, "size": None}
            continue
        entries[source.module] = {"path": source.path, "sha256": sha256(data), "size": len(data)}
        files[source.path] = data
    return entries, files


def recorded_code(run: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The modules run.json recorded (empty for a bundle from before ednax recorded them)."""
    code = run.get(CODE_KEY)
    if not isinstance(code, dict):
        return {}
    return {str(k): v for k, v in code.items() if isinstance(v, dict)}


def bundle_texts(bundle: Path, recorded: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """The source of each recorded module as the bundle's code/ keeps it (those it has)."""
    out = {}
    for module, entry in recorded.items():
        path = entry.get("path")
        if isinstance(path, str) and _inside(path):
            text = _read_text(bundle / CODE_DIR / path)
            if text is not None:
                out[module] = text
    return out


def source_texts(sources: Iterable[Source]) -> dict[str, str]:
    """Today's source of each module (those that can be read)."""
    out = {}
    for source in sources:
        text = _read_text(source.file)
        if text is not None:
            out[source.module] = text
    return out


def digests(recorded: Mapping[str, Mapping[str, Any]]) -> dict[str, str | None]:
    """Per module, "sha256:<12 hex>" as `ednax diff` and `ednax show` print it."""
    return {module: short_digest(entry.get("sha256")) for module, entry in recorded.items()}


def short_digest(sha: Any) -> str | None:
    return f"sha256:{sha[:12]}" if isinstance(sha, str) and sha else None


def drift(
    recorded: Mapping[str, Mapping[str, Any]], today: Mapping[str, Mapping[str, Any]]
) -> list[str]:
    """How today's own code differs from a bundle's, one line per module ([] when it is
    the same, or when the bundle recorded none)."""
    if not recorded:
        return []
    lines = []
    for module in sorted({*recorded, *today}):
        was, now = recorded.get(module), today.get(module)
        if now is None:
            lines.append(f"{module} ({was.get('path')}) is not imported today")
        elif was is None:
            lines.append(f"{module} ({now.get('path')}) is imported now, not by the run")
        elif was.get("sha256") != now.get("sha256"):
            lines.append(
                f"{module} ({now.get('path')}) differs: the run had "
                f"{short_digest(was.get('sha256'))}, today {short_digest(now.get('sha256'))}"
            )
    return lines


def unified_diff(module: str, path: str | None, a: str, b: str) -> str:
    """The unified diff of a module's source from side A to side B."""
    name = path or module
    lines = difflib.unified_diff(
        a.splitlines(keepends=True),
        b.splitlines(keepends=True),
        fromfile=f"A/{name}",
        tofile=f"B/{name}",
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _source_of(name: str, module: Any) -> Source | None:
    """The module's .py file and its path under code/, if it is a plain source file laid
    out as its name says (a package's __init__.py, a module's name.py)."""
    file = getattr(module, "__file__", None)
    if not isinstance(file, str) or not file.endswith(".py") or name.startswith("__"):
        return None
    path = Path(file)
    parts = name.split(".")
    if path.name == "__init__.py":
        relative = PurePosixPath(*parts, "__init__.py")
    else:
        relative = PurePosixPath(*parts[:-1], f"{parts[-1]}.py")
    if tuple(path.parts[-len(relative.parts) :]) != relative.parts:
        return None
    return Source(name, relative.as_posix(), path)


def _root_of(source: Source) -> Path:
    """The folder the module was imported from (the sys.path entry)."""
    return source.file.parents[len(PurePosixPath(source.path).parts) - 1]


def _installed(file: Path) -> bool:
    if any(part in _INSTALLED_PARTS for part in file.parts):
        return True
    prefixes = {sys.prefix, sys.base_prefix, sys.exec_prefix}
    return any(file.is_relative_to(prefix) for prefix in prefixes)


def _inside(path: str) -> bool:
    parts = PurePosixPath(path).parts
    return bool(parts) and not path.startswith("/") and ".." not in parts


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
