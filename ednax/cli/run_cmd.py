"""`ednax run` and `ednax validate`."""

from __future__ import annotations

from pathlib import Path

import typer

from ednax.cli.output import command, console, metrics_table, say

CONFIG = typer.Argument(..., help="the experiment's YAML file", show_default=False)
OVERRIDES = typer.Argument(
    None, help="Hydra overrides: key=value, section=class, +key=value, ~key", show_default=False
)
DEBUG = typer.Option(False, "--debug", help="show tracebacks")
NO_CACHE = "EDNAX_NO_CACHE"


def register(app: typer.Typer) -> None:
    app.command("run")(command(run))
    app.command("validate")(command(validate))
    app.command("resume")(command(resume))


def run(
    config: Path = CONFIG,
    overrides: list[str] = OVERRIDES,
    multirun: bool = typer.Option(
        False,
        "-m",
        "--multirun",
        help="sweep: one run per combination of the overrides' values (a=1,2 b=x,y), "
        "or the Optuna search of a config with hydra/sweeper=ednax_optuna",
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="print the fully resolved config (with -m: the jobs) and stop"
    ),
    no_cache: bool = typer.Option(
        False, "--no-cache", help="fit the preprocessing afresh; neither read nor fill the cache"
    ),
    debug: bool = DEBUG,
) -> int:
    """Run an experiment: compose, validate, train, and write a run bundle."""
    if no_cache:
        import os

        os.environ[NO_CACHE] = "1"  # an environment variable reaches sweep jobs' processes too
    if multirun:
        from ednax.cli.sweep_cmd import run_multirun

        return run_multirun(config, overrides or [], dry_run=dry_run, command=_command())
    from ednax.config.resolve import load_config

    resolved = load_config(config, overrides or [])
    if dry_run:
        _print_yaml(resolved.data)
        return 0
    from ednax.engine.distributed import is_other_rank, run_other_rank

    if is_other_rank():
        run_other_rank(resolved)
        return 0
    from ednax.engine.experiment import Experiment

    result = Experiment(resolved, command=_command(), say=say).run()
    _summary(result)
    return 0


def resume(
    run: str = typer.Argument(..., help="a bundle path, a run id (or unique prefix), latest"),
    runs_dir: Path = typer.Option(Path("runs"), help="where to look for run ids"),
    debug: bool = DEBUG,
) -> int:
    """Continue an interrupted or failed run from its last checkpoint, into the same bundle."""
    import sys

    from ednax.config.resolve import load_config
    from ednax.engine.distributed import is_other_rank, run_other_rank
    from ednax.engine.experiment import Experiment
    from ednax.runs.bundle import Bundle
    from ednax.runs.store import find_run

    bundle = Bundle.open(find_run(run, runs_dir))
    record = bundle.read_run()
    other_rank = is_other_rank()
    if not other_rank:  # rank 0 has already taken the bundle over
        _check_resumable(bundle, record)
    plugin_dir = str(Path(record.get("config_file") or bundle.path).parent)
    if plugin_dir not in sys.path:
        sys.path.insert(0, plugin_dir)  # the original config's imports: live there
    resolved = load_config(bundle.path / "config.yaml")
    last = bundle.artifacts_dir / "last.ckpt"
    resume_from = last if resolved.family == "torch" and last.is_file() else None
    if other_rank:
        run_other_rank(resolved, resume_from)
        return 0
    _restore_history(bundle, resume_from, resolved.family)
    say(
        f"resuming {bundle.path} ({record['status']}) "
        + (f"from {last.name}" if resume_from else "from the start: no checkpoint was saved")
    )
    experiment = Experiment(resolved, bundle=bundle, resume_from=resume_from, say=say)
    _summary(experiment.run())
    return 0


def _check_resumable(bundle, record: dict) -> None:
    import socket

    from ednax.errors import UsageError

    status = record.get("status")
    if status in ("completed", "pruned"):
        raise UsageError(f"run {bundle.run_id} is {status}: there is nothing to resume")
    pid, host = record.get("pid"), record.get("host")
    from ednax.runs.provenance import process_alive

    if status == "running" and pid and host == socket.gethostname() and process_alive(pid):
        raise UsageError(f"run {bundle.run_id} is still running (pid {pid}); stop it first")


def _restore_history(bundle, resume_from: Path | None, family: str) -> None:
    """history.csv as the checkpoint left it: epochs after it are trained again."""
    if family != "torch":
        return
    from ednax.engine.torch import history_before

    bundle.write_history(history_before(resume_from) if resume_from else [])


def _summary(result) -> None:
    out = console()
    out.print(metrics_table(result.metrics))
    out.print(f"[bold green]{result.status}[/] run [bold]{result.bundle.run_id}[/]")
    out.print(f"bundle: {result.bundle.path}", markup=False)


def validate(
    config: Path = CONFIG,
    overrides: list[str] = OVERRIDES,
    debug: bool = DEBUG,
) -> int:
    """Check a config (and overrides) without running anything."""
    from ednax.config.resolve import load_config

    resolved = load_config(config, overrides or [])
    steps = ", ".join(f"{k}={v}" for k, v in resolved.structure().items() if v)
    say(f"ok: {config} is valid ({resolved.family}, task {resolved.task or 'from data'})")
    say(f"steps: {steps}")
    return 0


def _print_yaml(data: dict) -> None:
    import yaml

    print(yaml.safe_dump(data, sort_keys=False, default_flow_style=False), end="")


def _command() -> list[str]:
    import sys

    return ["ednax", *sys.argv[1:]]
