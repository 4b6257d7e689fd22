"""`ednax run CONFIG -m ...`: the sweep side of `ednax run` (grids and Optuna searches).

Exit codes: 0 when every grid job completed, or when an Optuna search ends with at least
one completed trial (failed and pruned trials are part of a search); 1 when a grid job
failed or no trial completed (each failure is in sweep.json with its reason); 2 for a bad
config, override or search space, found before any job runs; 130 on Ctrl-C.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ednax.cli.output import console, say
from ednax.errors import mask_password


def run_multirun(
    config: Path, overrides: list[str], *, dry_run: bool, command: list[str], cache: bool = True
) -> int:
    """Plan, check and run the sweep; `cache=False` (`--no-cache`): every job fits its
    preprocessing afresh, neither reading nor filling the cache."""
    from ednax.sweep.launch import GRID, prepare_sweep, start_sweep

    plan = prepare_sweep(config, overrides, cache=cache)
    if dry_run:
        _print_plan(plan)
        return 0
    record = start_sweep(plan, command, say=say)
    if plan.kind == GRID:
        return _grid_summary(record)
    return _optuna_summary(record)


def _print_plan(plan: Any) -> None:
    if plan.kind == "grid":
        say(f"grid: {len(plan.jobs)} job(s), {plan.launcher} launcher")
        for index, job in enumerate(plan.jobs):
            say(f"  job {index + 1}: {mask_password(' '.join(job)) or '(no overrides)'}")
        return
    settings = plan.settings
    say(
        f"optuna: {settings.n_trials} trial(s), {settings.sampler['type']} sampler, "
        f"{settings.pruner['type']} pruner, {plan.launcher} launcher"
    )
    pairs = zip(settings.directions, settings.objectives, strict=True)
    say(f"  objective: {', '.join(f'{d} {o}' for d, o in pairs)}")
    for param in plan.params:
        say(f"  {param.key}: {param.describe()}")
    if plan.fixed:
        say(f"  every trial: {mask_password(' '.join(plan.fixed))}")


def _grid_summary(record: dict[str, Any]) -> int:
    from rich.table import Table

    monitor = record["monitor"]
    table = Table(show_edge=False, pad_edge=False)
    for column in ("job", "status", monitor, "overrides", "run"):
        table.add_column(column, justify="right" if column == monitor else "left")
    varying = _varying(job["overrides"] for job in record["jobs"])
    for job in record["jobs"]:
        shown = [o for o in job["overrides"] if o in varying] or job["overrides"]
        table.add_row(
            str(job["index"] + 1),
            _status(job["status"]),
            _number(job.get("value")),
            " ".join(shown),
            job.get("run_id") or "",
        )
    out = console()
    out.print(table)
    for best in record.get("best") or []:
        out.print(
            f"best: job {best['index'] + 1} ({monitor} {_number(best['value'])}) "
            f"{' '.join(best['overrides'])}",
            markup=False,
        )
        out.print(f"bundle: {best['bundle']}", markup=False)
    out.print(f"sweep: {_sweep_file(record)}", markup=False)
    failed = [job for job in record["jobs"] if job["status"] != "completed"]
    if failed:
        err = console(stderr=True)
        err.print(f"[bold red]{len(failed)} of {len(record['jobs'])} job(s) did not complete:[/]")
        for job in failed:
            reason = job.get("error") or job["status"]
            err.print(f"  job {job['index'] + 1}: {reason}", markup=False)
        return 1
    return 0


def _optuna_summary(record: dict[str, Any]) -> int:
    """Each trial had its line as it ended; here: the counts, the best trial(s), plots."""
    objectives = record["optuna"]["objectives"]
    out = console()
    counts = record.get("counts") or {}
    shown = ", ".join(f"{n} {status}" for status, n in counts.items())
    out.print(f"study {record['optuna']['study_name']}: {len(record['jobs'])} trial(s): {shown}")
    best = record.get("best") or []
    title = "best trial" if len(best) == 1 else f"best trials (Pareto front, {len(best)})"
    if best:
        out.print(f"[bold]{title}[/]")
    for trial in best:
        values = ", ".join(
            f"{o} {_number(v)}" for o, v in zip(objectives, trial.get("values") or [], strict=False)
        )
        out.print(f"  trial {trial['trial']}: {values}", markup=False)
        out.print(f"    params: {_params(trial.get('params') or {})}", markup=False)
        out.print(f"    metrics: {_metrics(trial.get('metrics') or {})}", markup=False)
        out.print(f"    bundle: {trial.get('bundle')}", markup=False)
    sweep_dir = Path(record["dir"])
    for plot in record.get("plots") or []:
        out.print(f"plot: {sweep_dir / plot}", markup=False)
    announced = record["optuna"].get("notes") or []  # printed when the search started
    for note in record.get("notes") or []:
        if note not in announced:
            out.print(f"note: {note}", style="dim", markup=False)
    out.print(f"sweep: {_sweep_file(record)}", markup=False)
    if not best:
        console(stderr=True).print(
            "[bold red]no trial completed:[/] see the errors in sweep.json and in the "
            "bundles' log.txt"
        )
        return 1
    return 0


def _sweep_file(record: dict[str, Any]) -> Path:
    return Path(record["dir"]) / "sweep.json"


def _varying(override_lists) -> set[str]:
    """Overrides that differ between jobs (the fixed ones say nothing in a table)."""
    lists = [list(o) for o in override_lists]
    if len(lists) < 2:
        return {o for overrides in lists for o in overrides}
    return {o for overrides in lists for o in overrides if not all(o in other for other in lists)}


def _status(status: str) -> str:
    colour = {"completed": "green", "pruned": "yellow", "failed": "red"}.get(status)
    return f"[{colour}]{status}[/]" if colour else status


def _number(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, (int, float)) else ""


def _params(params: dict[str, Any]) -> str:
    return " ".join(f"{k}={_short(v)}" for k, v in params.items())


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _metrics(metrics: dict[str, dict[str, float]]) -> str:
    return "  ".join(
        f"{split}/{name} {_number(value)}"
        for split, values in metrics.items()
        for name, value in values.items()
    )
