"""One bundle at a glance, as plain data (`ednax show`; drawn by `ednax.runs.details`).

    details = run_details(record)     # record from the index, or `store.find_record`

Everything is read from the bundle's files, whatever state they are in: run facts, steps
(the name in the config, the class that ran, its version), overrides, the parameters
changed from their class's default, metrics, provenance, artifacts with sizes, and the
bundle's other files.

The defaults come from run.json's `defaults` (recorded at start: per step section path,
each parameter's default as its class's signature declares it; required parameters have
none). A bundle written before runs recorded them has `non_default` None.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ednax.runs.bundle import ARTIFACTS_DIR
from ednax.runs.code import CODE_DIR, recorded_code, short_digest
from ednax.runs.reader import BundleFiles
from ednax.runs.record import RunRecord
from ednax.runs.values import same_value


def run_details(record: RunRecord) -> dict[str, Any]:
    """What `ednax show` says of a run."""
    files = record.files
    run = files.run
    config = files.config or {}
    steps = _steps(config, files.run_dict("classes"))
    return {
        "id": record.id,
        "experiment": record.experiment,
        "version": record.version,
        "status": record.status,
        "problem": record.problem,
        "error": run.get("error"),
        "path": str(files.path),
        "started_at": record.started_at,
        "ended_at": record.ended_at,
        "duration_s": record.duration_s,
        "command": run.get("command"),
        "config_file": run.get("config_file"),
        "tags": run.get("tags") or [],
        "notes": run.get("notes") or "",
        "sweep": run.get("sweep"),
        "trial": run.get("trial"),
        "training": run.get("training"),
        "steps": steps,
        "overrides": files.overrides,
        "monitor": record.monitor,
        "metrics": files.metrics_by_split,
        "provenance": _provenance(files),
        "artifacts": _artifacts(files.path, files.run_dict("artifacts")),
        "files": _files(files.path),
        "non_default": non_default_params(config, steps, files.defaults, run.get("seed")),
    }


def step_section(config: dict[str, Any], step: str) -> Any:
    """config["preprocess"][0] for "preprocess[0]", config["model"] for "model"."""
    name, _, rest = step.partition("[")
    value = config.get(name)
    if rest and isinstance(value, list):
        index = rest.rstrip("]")
        position = int(index) if index.isdigit() else -1
        return value[position] if 0 <= position < len(value) else None
    return value


def non_default_params(
    config: dict[str, Any],
    steps: list[dict[str, Any]],
    defaults: dict[str, dict[str, Any]] | None,
    seed: Any,
) -> list[dict[str, Any]] | None:
    """Parameters whose value differs from their recorded default, or that have none
    (required); None when the bundle recorded no defaults. `random_state` with a null
    default, filled from the seed, is left out. A step without recorded defaults (its
    class's signature could not be read) is skipped."""
    if defaults is None:
        return None
    out = []
    for step in steps:
        section = step_section(config, step["step"])
        declared = defaults.get(step["step"])
        if isinstance(section, dict) and declared is not None:
            out += _changed_in_step(step["step"], section, declared, seed)
    return out


def _changed_in_step(
    step: str, section: dict[str, Any], declared: dict[str, Any], seed: Any
) -> list[dict[str, Any]]:
    out = []
    for name, value in section.items():
        if name == "type":
            continue
        required = name not in declared
        default = None if required else declared[name]
        if name == "random_state" and not required and default is None and value == seed:
            continue
        if required or not same_value(value, default):
            out.append(
                {"key": f"{step}.{name}", "value": value, "default": default, "required": required}
            )
    return out


def _steps(config: dict[str, Any], classes: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for step, entry in classes.items():
        section = step_section(config, step)
        entry = entry if isinstance(entry, dict) else {}
        out.append(
            {
                "step": step,
                "type": section.get("type") if isinstance(section, dict) else None,
                "class": entry.get("class"),
                "version": entry.get("version"),
            }
        )
    return out


def _provenance(files: BundleFiles) -> dict[str, Any]:
    run, env = files.run, files.env

    def part(name: str) -> dict[str, Any]:
        value = env.get(name)
        return value if isinstance(value, dict) else {}

    return {
        "seed": run.get("seed"),
        "fingerprints": run.get("fingerprints") or {},
        "git": env.get("git") if isinstance(env.get("git"), dict) else None,
        "code_patch": files.patch_size,
        "python": part("python").get("version"),
        "platform": " ".join(str(v) for v in part("platform").values() if v),
        "host": env.get("hostname") or run.get("host"),
        "gpu": env.get("gpu") or [],
        "packages": {k: v for k, v in part("packages").items() if v},
        "cwd": run.get("cwd"),
        "code": _own_code(files.path, run),
    }


def _own_code(path: Path, run: dict[str, Any]) -> list[dict[str, Any]]:
    """The config's own plugin modules run.json recorded, and whether code/ has each."""
    out = []
    for module, entry in recorded_code(run).items():
        file = entry.get("path")
        copied = isinstance(file, str) and (path / CODE_DIR / file).is_file()
        out.append(
            {
                "module": module,
                "path": file,
                "digest": short_digest(entry.get("sha256")),
                "size": entry.get("size"),
                "copied": copied,
            }
        )
    return out


def _artifacts(path: Path, recorded: dict[str, Any]) -> list[dict[str, Any]]:
    """Files under artifacts/ with their sizes, whether run.json recorded them, and the
    recorded ones that are missing."""
    folder = path / ARTIFACTS_DIR
    out = []
    seen = set()
    if folder.is_dir():
        for file in sorted(p for p in folder.rglob("*") if p.is_file()):
            name = file.relative_to(folder).as_posix()
            if name.rsplit("/", 1)[-1].startswith("."):
                continue  # a temporary file of an atomic write
            seen.add(name)
            out.append({"name": name, "size": file.stat().st_size, "recorded": name in recorded})
    for name, entry in recorded.items():
        if name not in seen:
            size = entry.get("size") if isinstance(entry, dict) else None
            out.append({"name": name, "size": size, "recorded": True, "missing": True})
    return out


def _files(path: Path) -> list[dict[str, Any]]:
    try:
        files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
    except OSError:
        return []
    return [{"name": p.name, "size": p.stat().st_size} for p in files]
