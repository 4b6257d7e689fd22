"""Finding bundles: a reference (a bundle path, a run id, a unique prefix of one, or
`latest` / `latest~N`) turned into a bundle directory under a runs directory."""

from __future__ import annotations

from pathlib import Path

from ednax.errors import UsageError
from ednax.runs.bundle import RUN_FILE


def is_bundle(path: Path) -> bool:
    return (path / RUN_FILE).is_file()


def bundles(runs_dir: Path, experiment: str | None = None) -> list[Path]:
    """Every bundle under `runs_dir` (one experiment's when given), oldest first by id;
    sweep folders are looked into as well."""
    if not runs_dir.is_dir():
        return []
    pattern = f"{experiment}/**/{RUN_FILE}" if experiment else f"*/**/{RUN_FILE}"
    found = [p.parent for p in runs_dir.glob(pattern)]
    return sorted(found, key=lambda p: p.name)


def find_run(ref: str, runs_dir: Path = Path("runs"), experiment: str | None = None) -> Path:
    candidate = Path(ref).expanduser()
    if is_bundle(candidate):
        return candidate
    known = bundles(runs_dir, experiment)
    if ref == "latest" or ref.startswith("latest~"):
        return _latest(ref, known, runs_dir)
    matches = [p for p in known if p.name.startswith(ref)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        where = f"{runs_dir}/{experiment}" if experiment else str(runs_dir)
        raise UsageError(
            f"no run '{ref}': it is neither a bundle folder nor a run id under {where}"
            + (f"; latest runs: {', '.join(p.name for p in known[-3:])}" if known else "")
        )
    listed = "\n  ".join(str(p) for p in matches[:10])
    raise UsageError(f"'{ref}' matches {len(matches)} runs; give more of the id:\n  {listed}")


def _latest(ref: str, known: list[Path], runs_dir: Path) -> Path:
    back = ref.partition("~")[2]
    if back and not back.isdigit():
        raise UsageError(f"'{ref}': write latest~N with N a number (latest~1 is the one before)")
    steps = int(back or 0)
    if steps >= len(known):
        raise UsageError(f"'{ref}': there are only {len(known)} runs under {runs_dir}")
    return known[-1 - steps]
