"""Run, validate, resume and rerun: a config (or a bundle) to a finished run bundle.

Each function resolves the config, hands a distributed fit's other processes to the
engine's scratch runner (they return None: rank 0 owns the bundle), and runs the
experiment with the caller's options.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ednax.app.plugins import plugin_dirs
from ednax.config.resolve import load_config
from ednax.engine.distributed import is_other_rank, run_other_rank
from ednax.engine.spec import ResolvedConfig
from ednax.errors import ConfigError, UsageError
from ednax.runs.bundle import METRICS_FILE, Bundle
from ednax.runs.code import code_entries, drift, own_sources, recorded_code
from ednax.runs.provenance import process_alive

if TYPE_CHECKING:  # the engine is imported when a run starts: validate stays light
    from ednax.engine.experiment import Experiment, RunResult


def _print(line: str) -> None:
    print(line, flush=True)


@dataclass(frozen=True)
class RunOptions:
    """How a run is carried out, as the caller chose.

    `say` receives the run's progress lines; `cache` reads and fills the preprocessing
    cache; `command` is recorded in run.json (default: this process's argv); `interactive`
    says whether progress may draw bars (None: whether stdout is a terminal).
    """

    say: Callable[[str], None] = _print
    cache: bool = True
    command: list[str] | None = None
    interactive: bool | None = None

    def experiment(self, config: ResolvedConfig, **kwargs) -> Experiment:
        from ednax.engine.experiment import Experiment

        return Experiment(
            config,
            say=self.say,
            command=self.command,
            cache=self.cache,
            interactive=self.interactive,
            **kwargs,
        )


def validate(config_file: str | Path, overrides: Sequence[str] = ()) -> ResolvedConfig:
    """The resolved config, or a ConfigError listing every problem; nothing runs. An
    estimator config's estimator is built, unfitted, for scikit-learn's own checks. A
    config with a sweep's parameters has its plan checked too, as `run -m --dry-run`
    checks it (every misspelt key of the search space reported)."""
    resolved = load_config(config_file, list(overrides))
    from ednax.engine.sklearn import estimator_problems
    from ednax.sweep.launch import declares_search, prepare_sweep

    problems = estimator_problems(resolved)
    if problems:
        raise ConfigError(problems)
    if declares_search(config_file, list(overrides)):
        prepare_sweep(config_file, list(overrides))
    return resolved


def run(
    config_file: str | Path, overrides: Sequence[str] = (), options: RunOptions | None = None
) -> RunResult | None:
    """Compose, validate and run a config into a new bundle."""
    options = options or RunOptions()
    resolved = load_config(config_file, list(overrides))
    if is_other_rank():
        run_other_rank(resolved)
        return None
    return options.experiment(resolved).run()


def rerun(
    run_ref: str,
    overrides: Sequence[str] = (),
    runs_dir: str | Path = "runs",
    options: RunOptions | None = None,
    *,
    bundle_code: bool = False,
) -> RunResult | None:
    """A bundle's resolved config run again (with overrides on top) into a new bundle:
    with today's plugin modules (saying where they differ from the bundle's copy), or with
    `bundle_code` the bundle's copy of them (its code/)."""
    options = options or RunOptions()
    bundle = _find_bundle(run_ref, runs_dir)
    record = bundle.read_run()
    resolved = bundle_config(bundle, record, overrides, bundle_code=bundle_code)
    if is_other_rank():  # a DDP process Lightning started by running the command again
        run_other_rank(resolved)
        return None
    lineage = {"rerun_of": record["id"], "rerun_bundle": str(bundle.path)}
    if bundle_code:
        lineage["rerun_code"] = "bundle"
        options.say(f"rerun with the bundle's copy of its own code ({bundle.path / 'code'})")
    else:
        _say_code_drift(record, resolved, options)
    result = options.experiment(resolved, lineage=lineage).run()
    _say_reproduced(bundle, result, options)
    return result


def _say_reproduced(original: Bundle, result: RunResult, options: RunOptions) -> None:
    """Whether the rerun's metrics are the run's, which is what a rerun is most often for;
    with overrides, how they moved."""
    from ednax.runs.reader import flat_metrics, read_json

    if result.status != "completed":
        return
    before, _ = read_json(original.path / METRICS_FILE)
    after, _ = read_json(result.bundle.path / METRICS_FILE)
    if not isinstance(before, dict) or not isinstance(after, dict):
        return
    before, after = flat_metrics(before), flat_metrics(after)
    run_id = original.run_id
    moved = [k for k in sorted(before.keys() | after.keys()) if before.get(k) != after.get(k)]
    if not moved:
        options.say(f"metrics: the same as run {run_id}'s")
        return
    shown = ", ".join(f"{k} {_number(before.get(k))} -> {_number(after.get(k))}" for k in moved[:4])
    more = f" and {len(moved) - 4} more" if len(moved) > 4 else ""
    options.say(f"metrics differ from run {run_id}'s: {shown}{more}")


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"


def _say_code_drift(record: dict, resolved: ResolvedConfig, options: RunOptions) -> None:
    """Warn when today's own plugin modules differ from those the run recorded."""
    today, _ = code_entries(own_sources(resolved.get("imports") or []))
    lines = drift(recorded_code(record), today)
    if not lines:
        return
    options.say(f"warning: today's code differs from run {record['id']}'s (its code/):")
    for line in lines:
        options.say(f"  {line}")
    options.say(
        f"  this rerun runs today's code; `ednax rerun {record['id']} --bundle-code` "
        "runs the bundle's copy"
    )


def resume(
    run_ref: str, runs_dir: str | Path = "runs", options: RunOptions | None = None
) -> RunResult | None:
    """Continue an interrupted or failed run from its last checkpoint, into its bundle."""
    options = options or RunOptions()
    bundle = _find_bundle(run_ref, runs_dir)
    record = bundle.read_run()
    other_rank = is_other_rank()
    if not other_rank:  # rank 0 has already taken the bundle over
        _check_resumable(bundle, record)
    resolved = bundle_config(bundle, record)
    last = bundle.artifacts_dir / "last.ckpt"
    resume_from = last if resolved.family == "torch" and last.is_file() else None
    if other_rank:
        run_other_rank(resolved, resume_from)
        return None
    how = f"from {last.name}" if resume_from else "from the start: no checkpoint was saved"
    options.say(f"resuming {bundle.path} ({record['status']}) {how}")
    try:
        return options.experiment(resolved, bundle=bundle, resume_from=resume_from).run()
    finally:
        if record.get("sweep"):  # a sweep's job: its sweep.json says how it ended too
            _tell_sweep(bundle, options)


def _find_bundle(run_ref: str, runs_dir: str | Path) -> Bundle:
    """The bundle a run id, prefix, path or `latest` names. The runs index (sqlite3) is
    imported here, by the commands that look a run up, not by every run."""
    from ednax.runs.store import find_run

    return Bundle.open(find_run(run_ref, Path(runs_dir)))


def _tell_sweep(bundle: Bundle, options: RunOptions) -> None:
    from ednax.sweep.resumed import tell_sweep

    note = tell_sweep(bundle.path)
    if note:
        options.say(note)


def bundle_config(
    bundle: Bundle, record: dict, overrides: Sequence[str] = (), *, bundle_code: bool = False
) -> ResolvedConfig:
    dirs = plugin_dirs(record, bundle.path if bundle_code else None)
    return load_config(bundle.path / "config.yaml", list(overrides), plugin_dirs=dirs)


def _check_resumable(bundle: Bundle, record: dict) -> None:
    status = record.get("status")
    if status in ("completed", "pruned"):
        raise UsageError(f"run {bundle.run_id} is {status}: there is nothing to resume")
    pid, host = record.get("pid"), record.get("host")
    if status == "running" and pid and host == socket.gethostname() and process_alive(pid):
        raise UsageError(f"run {bundle.run_id} is still running (pid {pid}); stop it first")
