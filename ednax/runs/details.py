"""One run at a glance for people (`ednax show`, from `ednax.runs.describe.run_details`):
its classes per step, the parameters changed from their class's default, metrics,
provenance and files; and a metrics table (also shown after `ednax run`). Drawn with rich,
imported only when drawn; `print_details` prints onto the console it is given."""

from __future__ import annotations

from typing import Any

from ednax.runs.format import (
    format_duration,
    format_size,
    format_value,
    local_time,
    mean_and_spread,
)
from ednax.runs.training import summaries, training_line


def print_details(out, d: dict[str, Any]) -> None:
    """A run at a glance, from `run_details`."""
    _print_summary(out, d)
    if d["steps"]:
        out.print()
        out.print(_steps_table(d["steps"]))
    out.print()
    _print_changed(out, d)
    out.print()
    _print_metrics(out, d)
    out.print()
    _print_provenance(out, d["provenance"])
    out.print()
    _print_artifacts(out, d)


def _print_summary(out, d: dict[str, Any]) -> None:
    import shlex

    version = f" {d['version']}" if d["version"] else ""
    out.print(f"[bold]run {d['id']}[/]  {d['experiment']}{version}  [bold]{d['status']}[/]")
    if d["problem"]:
        out.print(f"problem: {d['problem']}", markup=False, style="yellow")
    if d["error"]:
        out.print(f"error: {d['error']}", markup=False, style="red")
    when = local_time(d["started_at"]) + (
        f", {format_duration(d['duration_s'])}" if d["duration_s"] is not None else ""
    )
    _field(out, "started", when)
    _field(out, "bundle", d["path"])
    if d["command"]:
        _field(out, "command", shlex.join(str(c) for c in d["command"]))
    for name in ("tags", "notes", "sweep", "trial"):
        if d[name]:
            _field(out, name, format_value(d[name]))
    for fold, summary in summaries(d.get("training")).items():
        _field(out, f"{fold} training" if fold else "training", training_line(summary))


def _steps_table(steps: list[dict[str, Any]]):
    from rich.table import Table

    table = Table(title="steps", title_justify="left", show_edge=False, pad_edge=False)
    for name in ("step", "type", "class", "version"):
        table.add_column(name)
    for s in steps:
        table.add_row(*(str(s[k] or "") for k in ("step", "type", "class", "version")))
    return table


def _print_changed(out, d: dict[str, Any]) -> None:
    out.print("[bold]changed[/]")
    if d["overrides"]:
        _field(out, "command line", " ".join(str(o) for o in d["overrides"]))
    changed = d["non_default"]
    if changed is None:
        out.print(
            "  parameters changed from their defaults: not recorded (this bundle predates "
            "run.json's defaults)",
            markup=False,
            style="dim",
        )
        return
    for p in changed:
        default = "no default" if p["required"] else f"default {format_value(p['default'])}"
        out.print(f"  {p['key']} = {format_value(p['value'])}", end="", markup=False)
        out.print(f"  ({default})", markup=False, style="dim")
    if not d["overrides"] and not changed:
        out.print("  nothing: every parameter has its class's default", markup=False)


def _print_metrics(out, d: dict[str, Any]) -> None:
    if not d["metrics"]:
        out.print("[bold]metrics[/]: none")
        return
    metrics = {k: v for k, v in d["metrics"].items() if isinstance(v, dict)}
    monitor = f" (monitored: {d['monitor']})" if d["monitor"] else ""
    out.print(metrics_table(metrics, title=f"metrics{monitor}"))


def _print_provenance(out, p: dict[str, Any]) -> None:
    out.print("[bold]provenance[/]")
    _field(out, "seed", format_value(p["seed"]))
    for name, value in p["fingerprints"].items():
        _field(out, f"fingerprint {name}", str(value))
    _field(out, "git", _git_line(p))
    if p["python"]:
        _field(out, "python", f"{p['python']}  {p['platform']}  host {p['host']}")
    if p["gpu"]:
        _field(out, "gpu", ", ".join(p["gpu"]))
    if p["packages"]:
        _field(out, "packages", "  ".join(f"{k} {v}" for k, v in p["packages"].items()))
    for c in p.get("code") or []:
        where = f"code/{c['path']}" if c["copied"] else "not copied"
        size = f" {format_size(c['size'])}" if c["size"] is not None else ""
        _field(out, f"code {c['module']}", f"{c['path']}  {c['digest']}{size}  ({where})")


def _git_line(p: dict[str, Any]) -> str:
    git = p["git"]
    if not git:
        return "not a git work tree"
    patch = f", code.patch {format_size(p['code_patch'])}" if p["code_patch"] else ""
    dirty = f" (dirty{patch})" if git.get("dirty") else ""
    return f"{git.get('commit')} on {git.get('branch')}{dirty}"


def _print_artifacts(out, d: dict[str, Any]) -> None:
    out.print("[bold]artifacts[/]")
    for a in d["artifacts"]:
        note = "  missing" if a.get("missing") else ("" if a["recorded"] else "  (not in run.json)")
        out.print(f"  {a['name']:<32} {format_size(a['size']):>9}{note}", markup=False)
    if not d["artifacts"]:
        out.print("  none", markup=False)
    files = "  ".join(f"{f['name']} {format_size(f['size'])}" for f in d["files"])
    _field(out, "files", files or "none")


def _field(out, name: str, value: str) -> None:
    out.print(f"  {name + ':':<22} ", end="", markup=False, style="dim")
    out.print(value, markup=False)


def metrics_table(metrics: dict[str, Any], title: str | None = None):
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
        cells = [mean_and_spread(values.get(n), std.get(split, {}).get(n)) for n in names]
        table.add_row(split, *cells)
    return table
