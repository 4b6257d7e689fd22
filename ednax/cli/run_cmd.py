"""`ednax run` and `ednax validate`."""

from __future__ import annotations

from pathlib import Path

import typer

from ednax.cli.output import command, console, metrics_table, say
from ednax.errors import masked

CONFIG = typer.Argument(..., help="the experiment's YAML file", show_default=False)
OVERRIDES = typer.Argument(
    None, help="Hydra overrides: key=value, section=class, +key=value, ~key", show_default=False
)
DEBUG = typer.Option(False, "--debug", help="show tracebacks")


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
    if multirun:
        from ednax.cli.sweep_cmd import run_multirun

        return run_multirun(
            config, overrides or [], dry_run=dry_run, command=_command(), cache=not no_cache
        )
    from ednax.app import running

    if dry_run:
        _print_yaml(masked(running.validate(config, overrides or []).data))
        return 0
    _summary(running.run(config, overrides or [], _options(cache=not no_cache)))
    return 0


def resume(
    run: str = typer.Argument(..., help="a bundle path, a run id (or unique prefix), latest"),
    runs_dir: Path = typer.Option(Path("runs"), help="where to look for run ids"),
    debug: bool = DEBUG,
) -> int:
    """Continue an interrupted or failed run from its last checkpoint, into the same bundle."""
    from ednax.app import running

    _summary(running.resume(run, runs_dir, _options()))
    return 0


def validate(
    config: Path = CONFIG,
    overrides: list[str] = OVERRIDES,
    multirun: bool = typer.Option(
        False,
        "-m",
        "--multirun",
        help="check a sweep as `run -m` does before any job: every job of a grid, every "
        "corner of an Optuna search space",
    ),
    debug: bool = DEBUG,
) -> int:
    """Check a config (and overrides) without running anything."""
    if multirun:
        from ednax.cli.sweep_cmd import run_multirun

        run_multirun(config, overrides or [], dry_run=True, command=_command())
        say(f"ok: {config} is valid as a sweep")
        return 0
    from ednax.app import running

    resolved = running.validate(config, overrides or [])
    steps = ", ".join(f"{k}={v}" for k, v in resolved.structure().items() if v)
    say(f"ok: {config} is valid ({resolved.family}, task {resolved.task or 'from data'})")
    say(f"steps: {steps}")
    for line in resolved.notes:
        say(f"note: {line}")
    return 0


def _options(cache: bool = True):
    from ednax.app.running import RunOptions

    return RunOptions(say=say, cache=cache, command=_command())


def _summary(result) -> None:
    """The metrics and where the bundle is; nothing from a DDP process other than rank 0."""
    if result is None:
        return
    out = console()
    out.print(metrics_table(result.metrics))
    out.print(f"[bold green]{result.status}[/] run [bold]{result.bundle.run_id}[/]")
    out.print(f"bundle: {result.bundle.path}", markup=False)


def _print_yaml(data: dict) -> None:
    import yaml

    print(yaml.safe_dump(data, sort_keys=False, default_flow_style=False), end="")


def _command() -> list[str]:
    import sys

    return ["ednax", *sys.argv[1:]]
