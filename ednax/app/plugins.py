"""Plugin modules for the commands that start from a config file or from a bundle."""

from __future__ import annotations

from pathlib import Path

from ednax.config.plugins import import_source_plugins
from ednax.config.source import read_source
from ednax.registry import REGISTRY, Registry


def import_config_plugins(config_file: str | Path, registry: Registry = REGISTRY) -> None:
    """Import the `imports:` of a config file, as a run of it would."""
    import_source_plugins(read_source(config_file), registry)


def plugin_dirs(record: dict) -> list[Path]:
    """Where a bundle's `imports:` live: beside the config file it was run from."""
    config_file = record.get("config_file")
    return [Path(config_file).parent] if config_file else []
