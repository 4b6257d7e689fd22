"""What the section checkers (`fixed`, `paths`, `trainer`) see of the resolver: the
composed config, what is resolved so far, and where problems go."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ednax.config.compose import Composed
    from ednax.errors import Problem
    from ednax.registry import Registry


class Resolving(Protocol):
    composed: Composed
    registry: Registry
    raw: dict[str, Any]
    out: dict[str, Any]
    problems: list[Problem]
    notes: list[str]
    classes: dict[str, str]
    task: str | None
    family: str

    @property
    def seed(self) -> int: ...

    def fail(self, path: str, message: str, hint: str | None = None) -> None: ...

    def default_type(self, kind: str) -> Any: ...

    def check_task_fit(self, kind: str, name: str, path: str) -> None: ...
