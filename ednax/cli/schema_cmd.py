"""`ednax schema`: the JSON Schema of a config file, for editors."""

from __future__ import annotations

from pathlib import Path

import typer

from ednax.cli.output import command, say, write_text


def register(app: typer.Typer) -> None:
    app.command("schema")(command(schema))


def schema(
    output: Path = typer.Option(
        None, "-o", "--output", help="write the schema to this file (default: print it)"
    ),
    config: Path = typer.Option(
        None, "--config", help="also describe the classes this config's imports: register"
    ),
    debug: bool = typer.Option(False, "--debug", help="show tracebacks"),
) -> int:
    """Write the JSON Schema of a config file: completion, docs on hover and errors as you
    type in an editor (see docs/editors.md)."""
    from ednax.config import json_schema
    from ednax.registry import REGISTRY

    if config is not None:
        from ednax.app.plugins import import_config_plugins

        import_config_plugins(config, REGISTRY)
    if output is None:
        write_text(json_schema.render(REGISTRY))
        return 0
    json_schema.write(output, REGISTRY)
    say(f"wrote {output}")
    return 0
