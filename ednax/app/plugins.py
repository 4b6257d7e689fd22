"""Plugin modules for the commands that start from a config file or from a bundle."""

from __future__ import annotations

import json
from pathlib import Path

from ednax.config.plugins import import_source_plugins
from ednax.config.source import read_source
from ednax.errors import UsageError
from ednax.registry import REGISTRY, Registry
from ednax.runs.code import CODE_DIR, recorded_code


def import_config_plugins(config_file: str | Path, registry: Registry = REGISTRY) -> None:
    """Import the `imports:` of a config file, as a run of it would."""
    import_source_plugins(read_source(config_file), registry)


def plugin_dirs(record: dict, bundle_code: Path | None = None) -> list[Path]:
    """Where a bundle's `imports:` live: beside the config file it was run from; with
    `bundle_code` (the bundle's folder), the bundle's own copy of them (code/) first."""
    beside = _config_folders(record)
    if bundle_code is None:
        return beside
    if not keeps_code(record, bundle_code):
        raise UsageError(
            f"run {record.get('id')} has no copy of its own code ({CODE_DIR}/): it imported "
            "no module of its own, or ran before ednax kept one; leave out "
            "--bundle-code"
        )
    return [bundle_code / CODE_DIR, *beside]


def keeps_code(record: dict, bundle: Path) -> bool:
    """Whether the bundle at `bundle` kept a copy of its own plugin modules (code/)."""
    return bool(recorded_code(record)) and (bundle / CODE_DIR).is_dir()


def _config_folders(record: dict) -> list[Path]:
    """The folder of the config file the run was run from; for a rerun (run from another
    bundle's config.yaml), that bundle's such folders too, back to the first run's."""
    folders: list[Path] = []
    while isinstance(record, dict) and record.get("config_file"):
        folder = Path(record["config_file"]).parent
        if folder in folders:
            break
        folders.append(folder)
        try:
            record = json.loads((folder / "run.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            break
    return folders
