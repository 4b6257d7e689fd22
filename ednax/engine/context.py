"""What a fit needs of the run it belongs to (the `Experiment` provides it): the resolved
config, the bundle, the built `save` step, and where to tell the user."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ednax.engine.spec import ResolvedConfig
    from ednax.runs.bundle import Bundle


class RunContext(Protocol):
    config: ResolvedConfig
    bundle: Bundle
    save: Any
    callbacks: list
    sweep: dict | None
    interactive: bool | None

    def say(self, line: str) -> None: ...

    def note(self, line: str) -> None: ...
