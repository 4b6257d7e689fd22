"""How the CLI shows things: rich on a terminal, plain text otherwise."""

from __future__ import annotations

import contextlib
import os
import sys
import traceback
from functools import lru_cache
from typing import Any

from ednax.errors import ConfigError, EdnaxError, UsageError, did_you_mean, fault_of


@lru_cache(maxsize=2)
def console(stderr: bool = False):
    return _console(stderr=stderr, highlight=False, soft_wrap=True)


def _console(stderr: bool = False, **options: Any):
    """A rich console that outlives its reader (`ednax run ... | head`): once the pipe is
    closed, what is left to say goes to the null device and the command carries on.
    Rich's own way exits 1, which would stop a run midway and leave its bundle
    `running`."""
    from rich.console import Console

    class ClosedPipeQuiet(Console):
        def on_broken_pipe(self) -> None:
            stream = sys.stderr if stderr else sys.stdout
            with contextlib.suppress(OSError, ValueError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())

    return ClosedPipeQuiet(stderr=stderr, **options)


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
        for problem in exc.in_reading_order():
            err.print("  " + problem.render().replace("\n", "\n  "), markup=False)
        return exc.exit_code
    if isinstance(exc, EdnaxError):
        err.print(f"[bold red]{exc.title}:[/] ", end="")
        err.print(exc.render(), markup=False)
        return exc.exit_code
    fault = fault_of(exc)  # the machine refused: a full disk, a read-only folder
    if fault is not None:
        err.print("[bold red]failed:[/] ", end="")
        err.print(fault.render(), markup=False)
        return fault.exit_code
    err.print(f"[bold red]internal error:[/] {type(exc).__name__}: ", end="")
    err.print(str(exc), markup=False)
    if not debug:
        err.print("run again with --debug for the traceback", style="dim")
    return 1


def metrics_table(metrics: dict[str, Any], title: str | None = None) -> Any:
    """Splits by metrics; k-fold results show the mean over folds and its std."""
    from ednax.runs.details import metrics_table as table

    return table(metrics, title)


def is_terminal() -> bool:
    return sys.stdout.isatty()


def command(function):
    """Wrap a command: ednax errors become a message and an exit code (2 for bad input,
    1 for a failed run), Ctrl-C (or SIGTERM during a run) exits 130 with one line, however
    often it is pressed; `--debug` adds the traceback."""
    import functools

    import typer

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        from ednax.engine.signals import first_stop_only

        try:
            with first_stop_only():  # Ctrl-C pressed again does not cut the exit short
                code = function(*args, **kwargs)
        except KeyboardInterrupt:
            console(stderr=True).print("interrupted", style="bold yellow")
            raise typer.Exit(130) from None
        except Exception as exc:
            raise typer.Exit(report_error(exc, debug=kwargs.get("debug", False))) from None
        raise typer.Exit(code or 0)

    return wrapper


def table_console():
    """The terminal's console; off a terminal, one wide enough that tables never wrap."""
    if is_terminal():
        return console()
    return _console(width=10_000, highlight=False, soft_wrap=True)


def write_json(data: Any) -> None:
    import json

    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def write_text(text: str) -> None:
    sys.stdout.write(text)


def usage_error(message: str) -> UsageError:
    return UsageError(message)


def choice(value: str, choices: tuple[str, ...], option: str) -> str:
    """`value` if it is one of `choices`, else a usage error naming them."""
    if value in choices:
        return value
    hint = did_you_mean(value, choices, "value")
    raise usage_error(
        f"{option} '{value}' is not one of {', '.join(choices)}"
        + (f"; {hint}" if hint and "did you mean" in hint else "")
    )


def comma_choices(values: list[str] | None, choices: tuple[str, ...], option: str) -> set[str]:
    """The values of a repeatable option that also takes a,b lists, each one of `choices`."""
    wanted = {v.strip() for value in values or [] for v in value.split(",") if v.strip()}
    for value in wanted:
        choice(value, choices, option)
    return wanted
