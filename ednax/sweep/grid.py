"""A grid sweep's jobs: every combination of the entries' values.

A grid takes what can be enumerated: lists and `choice(...)`, `range(...)`, and
`glob(...)` over a step's classes (`model=glob(*forest*)`); an entry with one value is set
in every job. Each value stays the exact override text the user wrote, composed by ednax
like any command line.
"""

from __future__ import annotations

import itertools

from ednax.errors import ConfigError, Problem
from ednax.sweep.overrides import Entry, glob_values


def grid_axes(entries: list[Entry], step_names: dict[str, list[str]]) -> list[list[str]]:
    """For each entry, the overrides of its values (one for a fixed entry)."""
    from hydra.core.override_parser.types import Glob

    problems: list[Problem] = []
    axes: list[list[str]] = []
    for entry in entries:
        override = entry.override
        if not entry.is_sweep:
            axes.append([entry.fixed_text()])
            continue
        if override.is_interval_sweep():
            problems.append(
                entry.origin.problem(
                    "interval() has no list of values to run: a grid takes lists, "
                    "choice(), range() or glob()",
                    "search intervals with the Optuna sweeper: hydra/sweeper=ednax_optuna",
                )
            )
            continue
        if isinstance(override.value(), Glob):
            values = glob_values(entry, step_names, problems)
        else:
            values = list(override.sweep_string_iterator())
        if not values:
            problems.append(entry.origin.problem("the sweep has no values"))
            continue
        axes.append([f"{entry.key}={value}" for value in values])
    if problems:
        raise ConfigError(problems)
    return axes


def grid_jobs(axes: list[list[str]]) -> list[list[str]]:
    """Every combination of the axes' values, the last axis varying fastest."""
    return [list(combination) for combination in itertools.product(*axes)]
