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


def register(app: typer.Typer) -> None:
    app.command("run")(command(run))
    app.command("validate")(command(validate))


def run(
    config: Path = CONFIG,
    overrides: list[str] = OVERRIDES,
    dry_run: bool = typer.Option(
        False, "--dry-run", help="print the fully resolved config and stop"
    ),
    debug: bool = DEBUG,
) -> int:
    """Run an experiment: compose, validate, train, and write a run bundle."""
    from ednax.config.resolve import load_config

    resolved = load_config(config, overrides or [])
    if dry_run:
        _print_yaml(resolved.data)
        return 0
    from ednax.engine.experiment import Experiment

    result = Experiment(resolved, command=_command(), say=say).run()
    out = console()
    out.print(metrics_table(result.metrics))
    out.print(f"[bold green]{result.status}[/] run [bold]{result.bundle.run_id}[/]")
    out.print(f"bundle: {result.bundle.path}", markup=False)
    return 0


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
