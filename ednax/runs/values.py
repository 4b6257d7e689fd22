"""Config values as the diff and the comparison see them: dotted keys, a marker for a key
one side lacks, and equality by kind."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ednax.runs.reader import is_number


class _Missing:
    """A key one side does not have (distinct from a value of None)."""

    def __repr__(self) -> str:
        return "(none)"


MISSING: Any = _Missing()


def same_value(x: Any, y: Any) -> bool:
    """Equal, and of the same kind: 1 and 1.0 are the same number, True and 1 are not."""
    if is_number(x) and is_number(y):
        return x == y
    return type(x) is type(y) and x == y


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Dotted keys with list items indexed: {"model": {"hidden": [64, 32]}} ->
    {"model.hidden[0]": 64, "model.hidden[1]": 32}. Empty dicts and lists are leaves;
    MISSING flattens to nothing."""
    out: dict[str, Any] = {}
    if value is MISSING:
        return out
    if isinstance(value, dict) and value:
        for key, item in value.items():
            out.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(value, list) and value:
        for i, item in enumerate(value):
            out.update(flatten(item, f"{prefix}[{i}]"))
    else:
        out[prefix] = value
    return out


def union(a: Iterable[str], b: Iterable[str]) -> list[str]:
    """The keys of both, in order of first appearance."""
    return list(dict.fromkeys([*a, *b]))
