"""The validated, resolved config as the engine receives it.

The config layer builds it; the engine only reads it. It holds plain data (dicts of
JSON-able values), never raw YAML.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ednax.errors import Problem, masked
from ednax.vocabulary import REPORTING_SECTIONS, STEP_SECTIONS, Monitor


@dataclass
class ResolvedConfig:
    """Every section with every default written out, and what the config layer learnt."""

    data: dict[str, Any]
    family: str
    task: str | None
    classes: dict[str, str]
    config_file: Path
    overrides: list[str] = field(default_factory=list)
    # Each scored metric's direction ("max": higher is better) and each step section's
    # parameter defaults, as the config layer found them; both go into run.json.
    directions: dict[str, str] = field(default_factory=dict)
    defaults: dict[str, dict[str, Any]] = field(default_factory=dict)
    # What the config layer chose for the user that they should hear about (a monitor on
    # the training rows for want of a validation split): said when the run starts, and by
    # `ednax validate`.
    notes: list[str] = field(default_factory=list)
    locate: Callable[[Problem], Problem] = field(default=lambda p: p, repr=False, compare=False)

    def __getitem__(self, section: str) -> Any:
        return self.data[section]

    def get(self, section: str, default: Any = None) -> Any:
        return self.data.get(section, default)

    @property
    def experiment(self) -> dict[str, Any]:
        return self.data["experiment"]

    @property
    def seed(self) -> int:
        return int(self.data["experiment"]["seed"])

    @property
    def monitor(self) -> dict[str, str] | None:
        """The monitored value and its direction, as run.json records them."""
        metrics = self.data.get("metrics") or {}
        if not metrics.get("monitor"):
            return None
        return {"name": metrics["monitor"], "mode": metrics["mode"]}

    def monitored(self) -> Monitor | None:
        metrics = self.data.get("metrics") or {}
        return Monitor.parse(metrics["monitor"]) if metrics.get("monitor") else None

    def structure(self) -> dict[str, str]:
        """The class chosen per step: same experiment + same structure = same version. Where
        the run is reported (`tracker`) is no part of it."""
        steps = [s for s in STEP_SECTIONS if s not in REPORTING_SECTIONS]
        out = {s: self.data[s]["type"] for s in steps if s in self.data}
        out["preprocess"] = ",".join(p["type"] for p in self.data.get("preprocess", []))
        if self.data.get("callbacks"):  # absent when empty: older runs keep their fingerprint
            out["callbacks"] = ",".join(c["type"] for c in self.data["callbacks"])
        return out

    def experiment_data(self) -> dict[str, Any]:
        """The sections that make the experiment: all but where it is reported (`tracker`),
        so that switching tracking on changes no fingerprint."""
        return {k: v for k, v in self.data.items() if k not in REPORTING_SECTIONS}

    def fingerprints(self) -> dict[str, str]:
        return {
            "config": digest(self.experiment_data()),
            "structure": digest({"experiment": self.experiment["name"], **self.structure()}),
        }


def digest(value: Any) -> str:
    """A short stable hash of a JSON-able value, taken with URL passwords masked: a record
    keeps neither a password nor a hash that would confirm a guess of it."""
    text = json.dumps(masked(value), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
