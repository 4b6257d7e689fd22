"""The `ednax` command. Imports nothing heavy: commands import what they need when run."""

from __future__ import annotations

import typer

from ednax import memory
from ednax.cli import (
    diff_cmd,
    export_cmd,
    plot_cmd,
    registry_cmd,
    reuse_cmd,
    run_cmd,
    runs_cmd,
    schema_cmd,
    serve_cmd,
)
from ednax.cli.exit import leave

app = typer.Typer(
    name="ednax",
    help="Run ML experiments from one YAML config; keep every run as a bundle.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
run_cmd.register(app)
registry_cmd.register(app)
reuse_cmd.register(app)
serve_cmd.register(app)
runs_cmd.register(app)
diff_cmd.register(app)
plot_cmd.register(app)
schema_cmd.register(app)
export_cmd.register(app)


def entry() -> None:
    memory.freeze_while_starting()
    try:
        app(prog_name="ednax")
    except SystemExit as done:
        leave(done.code)
    leave(0)
