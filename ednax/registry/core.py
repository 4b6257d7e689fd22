"""The registry: for each kind of step, names mapped to classes, and how to build them.

An entry is a name, a kind and a `module:attr` string; the class is imported only when it is
built, so listing the registry, the CLI's help and validation stay fast. Built-ins come from
`ednax.registry.builtins` (strings, so the registry imports no step module), plugins from
the `ednax.steps` entry-point group (a module whose `@register` decorators run on import,
or a callable that receives the registry) and from a config's `imports:` list.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ednax.errors import ConfigError, EdnaxError, Problem, Suggestions, UsageError
from ednax.registry.kinds import KINDS
from ednax.signature import Signature, load_target, read_signature, signature_of


class RegistryError(UsageError):
    pass


@dataclass
class Entry:
    kind: str
    name: str
    target: str
    tags: dict[str, Any] = field(default_factory=dict)
    _loaded: Any = None
    _signature: Signature | None = None

    def load(self) -> Any:
        if self._loaded is None:
            self._loaded = load_target(self.target)
        return self._loaded

    def signature(self) -> Signature:
        """Constructor parameters the config may set (engine-injected ones removed)."""
        if self._signature is None:
            if self._loaded is not None:
                sig = signature_of(self._loaded)
            else:
                sig = read_signature(self.target)
            self._signature = sig.without(KINDS[self.kind].injected)
        return self._signature

    @property
    def family(self) -> str | None:
        return self.tags.get("family")


class Registry:
    """Names to classes, per kind. Explicit object; duplicate names are an error."""

    def __init__(self, *, entry_points: bool = True) -> None:
        self._entries: dict[str, dict[str, Entry]] = {k: {} for k in KINDS}
        self._plugins_loaded = False
        self._use_entry_points = entry_points

    def add(self, kind: str, name: str, target: str, *, replace: bool = False, **tags: Any):
        """Register `module:attr` under `kind`/`name` without importing it."""
        entries = self._kind(kind)
        existing = entries.get(name)
        if existing and existing.target != target and not replace:
            raise RegistryError(
                f"duplicate {kind} name '{name}': already registered as {existing.target}, "
                f"now also {target}. Register it under another name or pass replace=True."
            )
        entries[name] = Entry(kind, name, target, dict(tags))
        return entries[name]

    def register(self, kind: str, name: str | None = None, **tags: Any) -> Callable:
        """Decorator: `@register("model", "my_net")` on a class (or function)."""

        def decorate(obj: Any) -> Any:
            entry_name = name or _snake(obj.__name__)
            target = f"{obj.__module__}:{obj.__qualname__}"
            entry = self.add(kind, entry_name, target, **tags)
            entry._loaded = obj
            return obj

        return decorate

    def get(self, kind: str, name: str) -> Entry:
        self.load_plugins()
        entries = self._kind(kind)
        if name not in entries:
            raise RegistryError(
                f"no {kind} named '{name}'. "
                + Suggestions(sorted(entries)).hint(name, f"{kind} name")
            )
        return entries[name]

    def build(self, kind: str, section: dict[str, Any], *, path: str | None = None, **injected):
        """The step a resolved section describes: its class built with the section's
        parameters (nested sections built first) and those of the engine-supplied
        `injected` arguments it accepts. A constructor that rejects a value becomes a
        ConfigError on the section's key path."""
        path = path or kind
        entry = self.get(kind, section["type"])
        params = {k: v for k, v in section.items() if k != "type"}
        for name, nested_kind in KINDS[kind].nested.items():
            if name in params:
                nested = KINDS[nested_kind].nested_section(params[name])
                if isinstance(nested, dict):
                    nested = self.build(nested_kind, nested, path=f"{path}.{name}", **injected)
                params[name] = nested
        cls = entry.load()
        supplied = {k: v for k, v in injected.items() if _accepts(cls, k)}
        try:
            return cls(**params, **supplied)
        except EdnaxError:
            raise
        except (TypeError, ValueError) as exc:
            raise ConfigError(
                Problem(
                    f"{section['type']} rejected its arguments: {exc}",
                    path=path,
                    hint=f"check the values under '{path}' (see `ednax registry {kind}`)",
                )
            ) from exc

    def make(self, kind: str, section: dict[str, Any], *, path: str | None = None, **injected):
        """What the engine uses of a section: the built step, or a recipe's product."""
        return KINDS[kind].product(self.build(kind, section, path=path, **injected))

    def names(self, kind: str) -> list[str]:
        self.load_plugins()
        return sorted(self._kind(kind))

    def entries(self, kind: str) -> list[Entry]:
        self.load_plugins()
        return [self._kind(kind)[n] for n in sorted(self._kind(kind))]

    def __contains__(self, key: tuple[str, str]) -> bool:
        kind, name = key
        self.load_plugins()
        return name in self._entries.get(kind, {})

    def _kind(self, kind: str) -> dict[str, Entry]:
        if kind not in self._entries:
            raise RegistryError(
                f"unknown kind '{kind}'. " + Suggestions(list(self._entries)).hint(kind, "kind")
            )
        return self._entries[kind]

    def load_plugins(self) -> None:
        """Built-ins, then the `ednax.steps` entry points of installed packages."""
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        from ednax.registry.builtins import BUILTINS

        for kind, name, target, tags in BUILTINS:
            self.add(kind, name, target, **tags)
        if not self._use_entry_points:
            return
        from importlib.metadata import entry_points

        for ep in entry_points(group="ednax.steps"):
            self._load_plugin(ep.value)

    def _load_plugin(self, value: str) -> None:
        module_name, _, attr = value.partition(":")
        module = importlib.import_module(module_name)
        if attr:
            getattr(module, attr)(self)

    def import_modules(self, modules: Iterable[str]) -> None:
        """Import user modules so that their `@register` decorators run."""
        self.load_plugins()
        for name in modules:
            if name in sys.modules:
                continue
            importlib.import_module(name)


def _accepts(cls: Any, name: str) -> bool:
    import inspect

    try:
        parameters = inspect.signature(cls).parameters
    except (TypeError, ValueError):
        return False
    return name in parameters


def _snake(name: str) -> str:
    out = []
    for i, ch in enumerate(name):
        if ch.isupper() and i and (not name[i - 1].isupper()):
            out.append("_")
        out.append(ch.lower())
    return "".join(out)


REGISTRY = Registry()
register = REGISTRY.register
