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

from ednax.errors import Problem

STEP_SECTIONS = ("data", "model", "weights", "loss", "optimizer", "scheduler", "trainer", "save")
# Sections holding a list of steps, and the registry kind of each item.
LIST_SECTIONS = {"preprocess": "preprocess", "callbacks": "callback"}


@dataclass
class ResolvedConfig:
    """Every section with every default written out, and what the config layer learnt."""

    data: dict[str, Any]
    family: str
    task: str | None
    classes: dict[str, str]
    config_file: Path
    overrides: list[str] = field(default_factory=list)
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

    def structure(self) -> dict[str, str]:
        """The class chosen per step: same experiment + same structure = same version."""
        out = {s: self.data[s]["type"] for s in STEP_SECTIONS if s in self.data}
        out["preprocess"] = ",".join(p["type"] for p in self.data.get("preprocess", []))
        if self.data.get("callbacks"):  # absent when empty: older runs keep their fingerprint
            out["callbacks"] = ",".join(c["type"] for c in self.data["callbacks"])
        return out

    def fingerprints(self) -> dict[str, str]:
        return {
            "config": digest(self.data),
            "structure": digest({"experiment": self.experiment["name"], **self.structure()}),
        }


def digest(value: Any) -> str:
    """A short stable hash of a JSON-able value."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
