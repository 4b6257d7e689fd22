"""How the CLI shows things: rich on a terminal, plain text otherwise."""

from __future__ import annotations

import sys
import traceback
from functools import lru_cache
from typing import Any

from ednax.errors import ConfigError, EdnaxError


@lru_cache(maxsize=2)
def console(stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


def say(line: str) -> None:
    console().print(line, markup=False)


def report_error(exc: BaseException, *, debug: bool) -> int:
    """Print an error for people; a traceback only with --debug. Returns the exit code."""
    err = console(stderr=True)
    if debug:
        err.print("".join(traceback.format_exception(exc)), markup=False)
    if isinstance(exc, ConfigError):
        count = len(exc.problems)
        err.print(f"[bold red]{exc.title}[/] ({count} problem{'s' if count > 1 else ''}):")
        for problem in exc.problems:
            err.print("  " + problem.render().replace("\n", "\n  "), markup=False)
        return exc.exit_code
    if isinstance(exc, EdnaxError):
        err.print(f"[bold red]{exc.title}:[/] ", end="")
        err.print(exc.render(), markup=False)
        return exc.exit_code
    err.print(f"[bold red]internal error:[/] {type(exc).__name__}: ", end="")
    err.print(str(exc), markup=False)
    if not debug:
        err.print("run again with --debug for the traceback", style="dim")
    return 1


def metrics_table(metrics: dict[str, Any], title: str | None = None) -> Any:
    """Splits by metrics; k-fold results show the mean over folds and its std."""
    from rich.table import Table

    splits = {k: v for k, v in metrics.items() if k not in ("std", "folds")}
    std = metrics.get("std", {})
    names = list(dict.fromkeys(n for values in splits.values() for n in values))
    table = Table(title=title, show_edge=False, pad_edge=False)
    table.add_column("split" if not std else f"split (mean ± std of {len(metrics['folds'])})")
    for name in names:
        table.add_column(name, justify="right")
    for split, values in splits.items():
        cells = [_fmt(values.get(n), std.get(split, {}).get(n)) for n in names]
        table.add_row(split, *cells)
    return table


def _fmt(value: float | None, spread: float | None = None) -> str:
    if value is None:
        return ""
    return f"{value:.4f}" if spread is None else f"{value:.4f} ± {spread:.4f}"


def is_terminal() -> bool:
    return sys.stdout.isatty()


def command(function):
    """Wrap a command: ednax errors become a message and an exit code (2 for bad input,
    1 for a failed run), Ctrl-C exits 130; `--debug` adds the traceback."""
    import functools

    import typer

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        try:
            code = function(*args, **kwargs)
        except KeyboardInterrupt:
            console(stderr=True).print("interrupted", style="bold yellow")
            raise typer.Exit(130) from None
        except Exception as exc:
            raise typer.Exit(report_error(exc, debug=kwargs.get("debug", False))) from None
        raise typer.Exit(code or 0)

    return wrapper
