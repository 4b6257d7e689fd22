"""`ednax registry` and `ednax docs`: what can be named in a config."""

from __future__ import annotations

from pathlib import Path

import typer

from ednax.cli.output import command, console, table_console


def register(app: typer.Typer) -> None:
    app.command("registry")(command(registry))
    app.command("docs")(command(docs))


def registry(
    kind: str = typer.Argument(None, help="one kind (data, model, ...); all when omitted"),
    name: str = typer.Argument(None, help="one class of that kind (model random_forest)"),
    config: Path = typer.Option(
        None, "--config", help="also list the classes this config's imports: register"
    ),
    debug: bool = typer.Option(False, "--debug", help="show tracebacks"),
) -> int:
    """List registered classes of each kind with their parameters (of one kind, or one
    class: `ednax registry model random_forest`)."""
    from rich.table import Table

    from ednax.config.reference import default_text
    from ednax.registry import KINDS, REGISTRY

    if config is not None:
        from ednax.app.plugins import import_config_plugins

        import_config_plugins(config, REGISTRY)

    kinds = [kind] if kind else list(KINDS)
    out = table_console()  # off a terminal, as wide as the descriptions: never cut mid-word
    for each in kinds:
        entries = [REGISTRY.get(each, name)] if name else REGISTRY.entries(each)
        table = Table(title=f"{each}: {KINDS[each].doc}", title_justify="left", show_lines=False)
        for column in ("name", "parameter", "type", "default", "description"):
            table.add_column(column, overflow="fold")
        for entry in entries:
            sig = entry.signature()
            table.add_row(f"[bold]{entry.name}[/]", "", "", "", sig.doc)
            for p in sig.params.values():
                table.add_row("", p.name, p.type_text, default_text(p), p.doc)
        out.print(table)
    return 0


def docs(
    directory: Path = typer.Argument(Path("config-reference"), help="where to write"),
    debug: bool = typer.Option(False, "--debug", help="show tracebacks"),
) -> int:
    """Write the config reference (one markdown file per kind) from the registry."""
    from ednax.config import reference
    from ednax.registry import Registry

    written = reference.write(directory, Registry(entry_points=False))
    console().print(f"wrote {len(written)} files to {directory}", markup=False)
    return 0
