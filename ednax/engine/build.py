"""Build a step from its resolved config section: registry name -> class -> instance."""

from __future__ import annotations

from typing import Any

from ednax.errors import ConfigError, EdnaxError, Problem
from ednax.registry import REGISTRY, Registry


def build(
    kind: str,
    section: dict[str, Any],
    *,
    path: str | None = None,
    registry: Registry = REGISTRY,
    **injected: Any,
) -> Any:
    """Instantiate `section["type"]` of `kind` with the section's other keys as arguments.

    `injected` are engine-supplied arguments (input sizes, the optimizer's params...).
    A constructor that rejects a value becomes a ConfigError on the section's key path.
    """
    path = path or kind
    params = {k: v for k, v in section.items() if k != "type"}
    cls = registry.get(kind, section["type"]).load()
    accepted = registry.get(kind, section["type"]).signature().params
    try:
        return cls(**params, **{k: v for k, v in injected.items() if _accepts(cls, k, accepted)})
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


def _accepts(cls: Any, name: str, accepted: dict) -> bool:
    import inspect

    if name in accepted:
        return True
    try:
        return name in inspect.signature(cls).parameters
    except (TypeError, ValueError):
        return False
