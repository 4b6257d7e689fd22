"""Finding bundles: a reference (a bundle path, a run id, a unique prefix of one, or
`latest` / `latest~N`) turned into a bundle directory under a runs directory.

A reference may also name the experiment: `iris-mlp/latest`, `iris-mlp/20261125-0843`,
`runs/iris-mlp/latest~2`. Ids and prefixes are looked up in the runs directory's index
(`ednax.runs.index`), which also sees bundles inside sweep folders.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ednax.errors import UsageError, did_you_mean
from ednax.runs.bundle import (
    ARTIFACTS_DIR,
    CONFIG_FILE,
    ENV_FILE,
    METRICS_FILE,
    OVERRIDES_FILE,
    PATCH_FILE,
    RUN_FILE,
)
from ednax.runs.index import (
    CORRUPT,
    RUN_ID,
    RunIndex,
    RunRecord,
    list_runs,
    read_json,
    read_record,
)

_CANDIDATES_SHOWN = 10


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


def find_run(
    ref: str,
    runs_dir: Path = Path("runs"),
    experiment: str | None = None,
    *,
    incomplete: bool = False,
) -> Path:
    """The bundle folder `ref` names; a UsageError listing candidates when it names none
    or several.

    With `incomplete`, a bundle without a readable run.json (killed while starting) may be
    named too, so that `ednax show` can say what is wrong with it.
    """
    candidate = Path(ref).expanduser()
    if is_bundle(candidate):
        return candidate
    return find_record(ref, Path(runs_dir), experiment, incomplete=incomplete).path


def find_record(
    ref: str,
    runs_dir: Path = Path("runs"),
    experiment: str | None = None,
    *,
    incomplete: bool = False,
) -> RunRecord:
    """Like `find_run`, with what the index knows of the run."""
    return RunFinder(runs_dir, experiment).find(ref, incomplete=incomplete)


def find_records(
    refs: list[str], runs_dir: Path = Path("runs"), experiment: str | None = None
) -> list[RunRecord]:
    """Each reference resolved, in order; a run named twice counts once."""
    finder = RunFinder(runs_dir, experiment)
    found: dict[Path, RunRecord] = {}
    for ref in refs:
        record = finder.find(ref)
        found.setdefault(record.path.resolve(), record)
    return list(found.values())


class RunFinder:
    """Resolves references in one runs directory, listing each experiment at most once.

    A full run id is looked up in the index directly (and checked on disk); a prefix or
    `latest` needs the index caught up with every bundle first.
    """

    def __init__(self, runs_dir: Path = Path("runs"), experiment: str | None = None):
        self.runs_dir = Path(runs_dir)
        self.experiment = experiment
        self._listed: dict[tuple[Path, str | None], list[RunRecord]] = {}

    def find(self, ref: str, *, incomplete: bool = False) -> RunRecord:
        candidate = Path(ref).expanduser()
        if is_bundle(candidate) or (incomplete and _looks_like_bundle(candidate)):
            return read_record(candidate)
        runs_dir, experiment, name = _split_ref(ref, self.runs_dir, self.experiment)
        if RUN_ID.fullmatch(name):
            hits = [
                r
                for r in RunIndex(runs_dir).lookup(name)
                if (incomplete or r.has_run_file) and experiment in (None, r.experiment)
            ]
            if len(hits) == 1:
                return hits[0]
        known = self._known(runs_dir, experiment)
        if not incomplete:
            known = [r for r in known if r.has_run_file]
        if name == "latest" or name.startswith("latest~"):
            usable = [r for r in known if r.status != CORRUPT]
            return _latest(name, usable, runs_dir, experiment)
        exact = [r for r in known if r.id == name]
        matches = exact or [
            r for r in known if r.id.startswith(name) or _folder_name(r).startswith(name)
        ]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise UsageError(_unknown_message(ref, name, known, runs_dir, experiment))
        listed = "\n  ".join(_describe(r) for r in matches[-_CANDIDATES_SHOWN:])
        more = len(matches) - _CANDIDATES_SHOWN
        raise UsageError(
            f"'{ref}' matches {len(matches)} runs; give more of the id:\n  {listed}"
            + (f"\n  ... and {more} more" if more > 0 else "")
        )

    def _known(self, runs_dir: Path, experiment: str | None) -> list[RunRecord]:
        key = (runs_dir, experiment)
        if key not in self._listed:
            check_runs_dir(runs_dir)
            check_experiment(runs_dir, experiment)
            self._listed[key] = list_runs(runs_dir, experiment)
        return self._listed[key]


def experiments(runs_dir: Path) -> list[str]:
    if not runs_dir.is_dir():
        return []
    return sorted(p.name for p in runs_dir.iterdir() if p.is_dir() and not p.name.startswith("."))


def check_experiment(runs_dir: Path, experiment: str | None) -> None:
    """A UsageError naming the experiments there are when `experiment` is not one."""
    if experiment is None:
        return
    check_runs_dir(runs_dir)
    if not (runs_dir / experiment).is_dir():
        known = experiments(runs_dir)
        hint = did_you_mean(experiment, known, "experiment")
        raise UsageError(
            f"no experiment '{experiment}' under {runs_dir}" + (f"; {hint}" if hint else "")
        )


def check_runs_dir(runs_dir: Path) -> None:
    if not runs_dir.is_dir():
        raise UsageError(
            f"no runs directory '{runs_dir}' here: run an experiment first, or pass "
            "--runs-dir (the experiment's runs_dir)"
        )


def _split_ref(ref: str, runs_dir: Path, experiment: str | None) -> tuple[Path, str | None, str]:
    """`iris-mlp/latest` or `runs/iris-mlp/latest`: the experiment comes with the name."""
    if "/" not in ref.strip("/"):
        return runs_dir, experiment, ref
    head, _, name = ref.rstrip("/").rpartition("/")
    head_path = Path(head).expanduser()
    if (runs_dir / head).is_dir() and "/" not in head:
        return runs_dir, head, name
    if head_path.is_dir():
        return head_path.parent, head_path.name, name
    raise UsageError(
        f"no run '{ref}': it is not a bundle folder, and '{head}' is neither an experiment "
        f"under {runs_dir} nor a folder"
    )


def _latest(ref: str, known: list[RunRecord], runs_dir: Path, experiment: str | None) -> RunRecord:
    back = ref.partition("~")[2]
    if back and not back.isdigit():
        raise UsageError(f"'{ref}': write latest~N with N a number (latest~1 is the one before)")
    steps = int(back or 0)
    where = f"{runs_dir}/{experiment}" if experiment else str(runs_dir)
    if steps >= len(known):
        raise UsageError(f"'{ref}': there are only {len(known)} runs under {where}")
    return known[-1 - steps]


def _unknown_message(
    ref: str, name: str, known: list[RunRecord], runs_dir: Path, experiment: str | None
) -> str:
    where = f"{runs_dir}/{experiment}" if experiment else str(runs_dir)
    message = f"no run '{ref}': it is neither a bundle folder nor a run id under {where}"
    if RUN_ID.fullmatch(name) or len(name) >= 8:
        import difflib

        near = difflib.get_close_matches(name, [r.id for r in known[-2000:]], n=3, cutoff=0.8)
        if near:
            return message + "; did you mean " + " or ".join(near) + "?"
    if known:
        latest = "\n  ".join(_describe(r) for r in known[-3:])
        message += f"; the latest runs are:\n  {latest}"
    return message


def _folder_name(record: RunRecord) -> str:
    return record.rel.rpartition("/")[2]


def _describe(record: RunRecord) -> str:
    return f"{record.id}  {record.experiment}  {record.status}  ({record.rel})"


def _looks_like_bundle(path: Path) -> bool:
    return path.is_dir() and (
        RUN_ID.fullmatch(path.name) is not None or (path / CONFIG_FILE).is_file()
    )


# --- one bundle at a glance ---------------------------------------------------------------


def describe(record: RunRecord) -> dict[str, Any]:
    """Everything `ednax show` says of a bundle, from its files, whatever state they are
    in: run facts, steps (the name in the config, the class that ran, its version),
    overrides, metrics, provenance, artifacts with sizes, and the bundle's other files."""
    from ednax.runs.diff import read_yaml

    path = record.path
    run = _json_object(path / RUN_FILE)
    config = read_yaml(path / CONFIG_FILE)
    config = config if isinstance(config, dict) else {}
    overrides = read_yaml(path / OVERRIDES_FILE)
    classes = run.get("classes") if isinstance(run.get("classes"), dict) else {}
    return {
        "id": record.id,
        "experiment": record.experiment,
        "version": record.version,
        "status": record.status,
        "problem": record.problem,
        "error": run.get("error"),
        "path": str(path),
        "started_at": record.started_at,
        "ended_at": record.ended_at,
        "duration_s": record.duration_s,
        "command": run.get("command"),
        "config_file": run.get("config_file"),
        "tags": run.get("tags") or [],
        "notes": run.get("notes") or "",
        "sweep": run.get("sweep"),
        "trial": run.get("trial"),
        "steps": _steps(config, classes),
        "overrides": overrides if isinstance(overrides, list) else [],
        "monitor": record.monitor,
        "metrics": _json_object(path / METRICS_FILE),
        "provenance": _provenance(run, _json_object(path / ENV_FILE), path),
        "artifacts": _artifacts(path, run.get("artifacts") or {}),
        "files": _files(path),
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


def _json_object(path: Path) -> dict[str, Any]:
    data, _ = read_json(path)
    return data if isinstance(data, dict) else {}


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


def _provenance(run: dict[str, Any], env: dict[str, Any], path: Path) -> dict[str, Any]:
    def part(name: str) -> dict[str, Any]:
        value = env.get(name)
        return value if isinstance(value, dict) else {}

    patch = path / PATCH_FILE
    return {
        "seed": run.get("seed"),
        "fingerprints": run.get("fingerprints") or {},
        "git": env.get("git") if isinstance(env.get("git"), dict) else None,
        "code_patch": patch.stat().st_size if patch.is_file() else None,
        "python": part("python").get("version"),
        "platform": " ".join(str(v) for v in part("platform").values() if v),
        "host": env.get("hostname") or run.get("host"),
        "gpu": env.get("gpu") or [],
        "packages": {k: v for k, v in part("packages").items() if v},
        "cwd": run.get("cwd"),
    }


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
