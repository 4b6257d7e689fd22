"""How one sweep job ended: what its process records in sweep.json (a grid job) or tells
the study (an Optuna trial), and what a sweep reads back from a bundle whose process died
before telling."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

INTERRUPTED = "interrupted (Ctrl-C or SIGTERM)"


@dataclass
class Outcome:
    """How one job ended."""

    status: str
    overrides: list[str]
    run_id: str | None = None
    bundle: str | None = None
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    value: float | None = None
    error: str | None = None
    state: str | None = None  # an Optuna trial's final state

    def fields(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "run_id": self.run_id,
            "bundle": self.bundle,
            "value": self.value,
            "metrics": self.metrics,
            "error": self.error,
        }
