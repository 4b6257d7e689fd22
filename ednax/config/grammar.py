"""An override as Hydra's grammar reads it (`key=value`, `+key=...`, `~key`, a sweep),
each text parsed once a process: a sweep composes every trial with the same fixed
overrides (and checks them first), and Hydra's ANTLR parser takes about half a
millisecond an override."""

from __future__ import annotations

import copy
import functools
from typing import Any


def parse_override(text: str) -> Any:
    """Hydra's `Override` of `text`, a copy of its own (callers may keep or change its
    value); raises hydra.errors.OverrideParseException."""
    return copy.deepcopy(_parsed(text))


@functools.lru_cache(maxsize=1024)
def _parsed(text: str) -> Any:
    return _parser().parse_overrides([text])[0]


@functools.cache
def _parser() -> Any:
    from hydra.core.override_parser.overrides_parser import OverridesParser

    return OverridesParser.create()
