"""The two sides `ednax diff` compares, as plain data (`ednax.runs.diff.Side`): a run's
bundle, or a config file resolved now with what a run of it would record."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ednax.errors import UsageError, masked
from ednax.runs.bundle import CONFIG_FILE, ENV_FILE, RUN_FILE
from ednax.runs.code import Source, bundle_texts, code_entries, digests, recorded_code, source_texts
from ednax.runs.diff import Side
from ednax.runs.reader import BundleFiles
from ednax.runs.values import MISSING


def side_from_bundle(files: BundleFiles, label: str | None = None) -> Side:
    """A run's side: config.yaml, metrics.json, and provenance from run.json and env.json.

    A bundle with no readable config.yaml cannot be diffed (UsageError); missing metrics or
    provenance are noted in `problems` and the rest is compared.
    """
    config = files.config
    if config is None:
        raise UsageError(f"cannot diff {files.path}: its {CONFIG_FILE} is missing or unreadable")
    run = files.run
    problems = [
        f"{name} is {problem}"
        for name, problem in ((RUN_FILE, files.run_problem), (ENV_FILE, files.env_problem))
        if problem
    ]
    metrics_trouble = files.metrics_trouble(run.get("status"))
    if metrics_trouble:
        problems.append(metrics_trouble)
    code = recorded_code(run)
    return Side(
        label=label or str(run.get("id") or files.path.name),
        config=config,
        metrics=files.metrics,
        provenance=run_provenance(run, files.env, files),
        monitor=files.monitor.name,
        kind="run",
        info={
            "id": run.get("id") or files.path.name,
            "experiment": run.get("experiment"),
            "status": run.get("status"),
            "path": str(files.path),
        },
        problems=problems,
        code=bundle_texts(files.path, code),
        code_paths={module: str(entry.get("path")) for module, entry in code.items()},
    )


def side_from_config(
    config: dict[str, Any],
    *,
    file: str,
    overrides: list[str],
    classes: Mapping[str, str] | None = None,
    packages: Iterable[str] = (),
    cwd: Path | None = None,
    code: Iterable[Source] = (),
) -> Side:
    """A config's side: what a run of it would record now (seed, the classes it would
    run, this checkout's git state, the installed versions of `packages`, the sources of
    its own plugin modules `code`), masked as the bundle writer masks a record."""
    from ednax.runs.provenance import class_versions, collect_env, git_state

    config, overrides = masked(config), masked(list(overrides))

    env = collect_env(packages)
    env["git"] = git_state(cwd or Path.cwd())
    code = list(code)
    run = {
        "seed": config.get("experiment", {}).get("seed"),
        "classes": class_versions(dict(classes or {})),
        "code": code_entries(code)[0],
    }
    section = config.get("metrics") if isinstance(config.get("metrics"), dict) else {}
    return Side(
        label=" ".join([file, *overrides]),
        config=config,
        provenance=run_provenance(run, env, None),
        monitor=section.get("monitor"),
        kind="config",
        info={"file": file, "overrides": list(overrides)},
        code=source_texts(code),
        code_paths={source.module: source.path for source in code},
    )


def run_provenance(
    run: dict[str, Any], env: dict[str, Any], files: BundleFiles | None
) -> dict[str, Any]:
    """The flat provenance record compared between two sides (`files`: the bundle's, for
    its code.patch; None for a config)."""
    out: dict[str, Any] = {"seed": run.get("seed", MISSING)}
    if env:
        git = env.get("git") if isinstance(env.get("git"), dict) else {}
        out["git.commit"] = git.get("commit")
        out["git.branch"] = git.get("branch")
        out["git.dirty"] = git.get("dirty")
        if files is not None:
            out["git.patch"] = files.patch_digest()
        python = env.get("python") if isinstance(env.get("python"), dict) else {}
        out["python"] = python.get("version")
        for name, version in (env.get("packages") or {}).items():
            out[f"packages.{name}"] = version
    fingerprints = run.get("fingerprints") if isinstance(run.get("fingerprints"), dict) else {}
    if "data" in fingerprints:
        out["fingerprints.data"] = fingerprints["data"]
    for step, entry in (run.get("classes") or {}).items():
        if isinstance(entry, dict):
            version = entry.get("version")
            out[f"classes.{step}"] = f"{entry.get('class')}" + (f" {version}" if version else "")
    for module, digest in digests(recorded_code(run)).items():
        out[f"code.{module}"] = digest
    return out
