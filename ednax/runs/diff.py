"""What differs between two runs (or resolved configs): config, metrics, provenance.

    side_a = side_from_bundle(Path("runs/iris-sklearn/20261125-084337-c55105"))
    side_b = side_from_bundle(...)
    result = diff_sides(side_a, side_b)
    result.config      # one Change per changed dotted key, list items indexed (model.hidden[1])
    result.metrics     # every metric of either side, with new - old
    result.provenance  # seed, git, python and package versions, data fingerprint, classes

A step whose class changed is ONE change (`model: random_forest -> logistic_regression`)
carrying the parameters of both classes, not a wall of added and removed keys. The steps of
`preprocess` are matched by class (a step inserted in front does not make every later step
look changed).
"""

from __future__ import annotations

import difflib
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from itertools import zip_longest
from pathlib import Path
from typing import Any

from ednax.errors import UsageError
from ednax.runs.bundle import CONFIG_FILE, ENV_FILE, METRICS_FILE, PATCH_FILE, RUN_FILE
from ednax.runs.index import flat_metrics, read_json


class _Missing:
    """A key one side does not have (distinct from a value of None)."""

    def __repr__(self) -> str:
        return "(none)"


MISSING: Any = _Missing()
SAME, CHANGED, ADDED, REMOVED, CLASS = "same", "changed", "added", "removed", "class"


@dataclass
class Side:
    """One side of a diff: a run's bundle, or a config composed with overrides."""

    label: str
    config: dict[str, Any]
    metrics: dict[str, float] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    monitor: str | None = None
    mode: str | None = None
    kind: str = "run"
    info: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


@dataclass
class Change:
    key: str
    change: str
    a: Any = MISSING
    b: Any = MISSING
    delta: float | None = None
    params: list[Change] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"key": self.key, "change": self.change}
        if self.a is not MISSING:
            out["a"] = self.a
        if self.b is not MISSING:
            out["b"] = self.b
        if self.delta is not None:
            out["delta"] = self.delta
        if self.change == CLASS:
            out["params"] = [p.to_json() for p in self.params]
        return out


@dataclass
class Diff:
    a: Side
    b: Side
    config: list[Change]
    metrics: list[Change]
    provenance: list[Change]

    @property
    def differs(self) -> bool:
        """Whether anything shown differs: config, metrics or provenance."""
        return any(c.change != SAME for c in (*self.config, *self.metrics, *self.provenance))

    @property
    def monitor(self) -> str | None:
        return self.b.monitor or self.a.monitor

    def to_json(self) -> dict[str, Any]:
        return {
            "a": {"label": self.a.label, "kind": self.a.kind, **self.a.info},
            "b": {"label": self.b.label, "kind": self.b.kind, **self.b.info},
            "differs": self.differs,
            "monitor": self.monitor,
            "config": [c.to_json() for c in self.config],
            "metrics": [c.to_json() for c in self.metrics],
            "provenance": [c.to_json() for c in self.provenance],
            "problems": {"a": self.a.problems, "b": self.b.problems},
        }


# --- sides --------------------------------------------------------------------------------


def side_from_bundle(path: Path, label: str | None = None) -> Side:
    """A run's side: config.yaml, metrics.json, and provenance from run.json and env.json.

    A bundle with no readable config.yaml cannot be diffed (UsageError); missing metrics or
    provenance are noted in `problems` and the rest is compared.
    """
    config = read_yaml(path / CONFIG_FILE)
    if not isinstance(config, dict):
        raise UsageError(f"cannot diff {path}: its {CONFIG_FILE} is missing or unreadable")
    run, run_problem = read_json(path / RUN_FILE)
    run = run if isinstance(run, dict) else {}
    metrics, metrics_problem = read_json(path / METRICS_FILE)
    env, env_problem = read_json(path / ENV_FILE)
    problems = [
        f"{name} is {problem}"
        for name, problem in ((RUN_FILE, run_problem), (ENV_FILE, env_problem))
        if problem
    ]
    if metrics_problem and (metrics_problem != "missing" or run.get("status") == "completed"):
        problems.append(f"{METRICS_FILE} is {metrics_problem}")
    section = config.get("metrics") if isinstance(config.get("metrics"), dict) else {}
    return Side(
        label=label or str(run.get("id") or path.name),
        config=config,
        metrics=flat_metrics(metrics) if isinstance(metrics, dict) else {},
        provenance=run_provenance(run, env if isinstance(env, dict) else {}, path),
        monitor=section.get("monitor"),
        mode=section.get("mode"),
        kind="run",
        info={
            "id": run.get("id") or path.name,
            "experiment": run.get("experiment"),
            "status": run.get("status"),
            "path": str(path),
        },
        problems=problems,
    )


def side_from_config(
    config: dict[str, Any],
    *,
    file: str,
    overrides: list[str],
    classes: Mapping[str, str] | None = None,
    packages: Iterable[str] = (),
    cwd: Path | None = None,
) -> Side:
    """A config's side: what a run of it would record now (seed, the classes it would
    run, this checkout's git state, the installed versions of `packages`)."""
    from ednax.runs.provenance import class_versions, collect_env, git_state

    env = collect_env(packages)
    env["git"] = git_state(cwd or Path.cwd())
    run = {
        "seed": config.get("experiment", {}).get("seed"),
        "classes": class_versions(dict(classes or {})),
    }
    provenance = run_provenance(run, env, None)
    section = config.get("metrics") if isinstance(config.get("metrics"), dict) else {}
    label = " ".join([file, *overrides])
    return Side(
        label=label,
        config=config,
        provenance=provenance,
        monitor=section.get("monitor"),
        mode=section.get("mode"),
        kind="config",
        info={"file": file, "overrides": list(overrides)},
    )


def run_provenance(run: dict[str, Any], env: dict[str, Any], path: Path | None) -> dict[str, Any]:
    """The flat provenance record compared between two sides."""
    out: dict[str, Any] = {"seed": run.get("seed", MISSING)}
    if env:
        git = env.get("git") if isinstance(env.get("git"), dict) else {}
        out["git.commit"] = git.get("commit")
        out["git.branch"] = git.get("branch")
        out["git.dirty"] = git.get("dirty")
        if path is not None:
            out["git.patch"] = _patch_digest(path / PATCH_FILE)
        python = env.get("python") if isinstance(env.get("python"), dict) else {}
        out["python"] = python.get("version")
        for name, version in (env.get("packages") or {}).items():
            out[f"packages.{name}"] = version
    fingerprints = run.get("fingerprints") if isinstance(run.get("fingerprints"), dict) else {}
    if "data" in fingerprints:
        out["fingerprints.data"] = fingerprints["data"]
    for step, entry in (run.get("classes") or {}).items():
        if isinstance(entry, dict):
            version = entry.get("version")
            out[f"classes.{step}"] = f"{entry.get('class')}" + (f" {version}" if version else "")
    return out


def _patch_digest(path: Path) -> str | None:
    try:
        return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    except OSError:
        return None


def read_yaml(path: Path) -> Any:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        with open(path, encoding="utf-8") as handle:
            return yaml.load(handle, Loader=loader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None


# --- diff ---------------------------------------------------------------------------------


def diff_sides(a: Side, b: Side, *, include_same: bool = False) -> Diff:
    """Compare two sides. `include_same` adds unchanged config and provenance keys;
    metrics are always all listed (they are the outcome being compared), when both sides
    are runs."""
    config = config_changes(a.config, b.config, include_same)
    # A config file has no metrics yet: nothing to compare, and no difference.
    both_runs = a.kind == "run" and b.kind == "run"
    metrics = metric_changes(a.metrics, b.metrics) if both_runs else []
    provenance = provenance_changes(a, b, config, include_same)
    return Diff(a, b, config, metrics, provenance)


def config_changes(a: Mapping[str, Any], b: Mapping[str, Any], include_same: bool) -> list[Change]:
    out: list[Change] = []
    for section in _union(a, b):
        av, bv = a.get(section, MISSING), b.get(section, MISSING)
        if _step_list(av) and _step_list(bv) and (_has_steps(av) or _has_steps(bv)):
            out += _step_list_changes(section, av, bv, include_same)
        elif _is_step(av) or _is_step(bv):
            out += _step_changes(section, av, bv, include_same)
        else:
            out += _value_changes(flatten(av, section), flatten(bv, section), include_same)
    return out


def metric_changes(a: Mapping[str, float], b: Mapping[str, float]) -> list[Change]:
    out = []
    for key in _union(a, b):
        av, bv = a.get(key, MISSING), b.get(key, MISSING)
        change = _change(av, bv)
        delta = bv - av if av is not MISSING and bv is not MISSING else None
        out.append(Change(key, change, av, bv, delta))
    return out


def provenance_changes(a: Side, b: Side, config: list[Change], include_same: bool) -> list[Change]:
    # A step whose class changed is shown in the config already; its classes.<step> row
    # would only repeat it. Same-named classes that resolve differently (a plugin
    # shadowing a built-in, a new version) are shown.
    switched = {c.key for c in config if c.change == CLASS}
    out = []
    for key in _union(a.provenance, b.provenance):
        if key.startswith("classes.") and key.partition(".")[2] in switched:
            continue
        av, bv = a.provenance.get(key, MISSING), b.provenance.get(key, MISSING)
        if MISSING in (av, bv) and "config" in (a.kind, b.kind):
            continue  # a config does not know it (data fingerprint, code patch)
        change = _change(av, bv)
        if change != SAME or include_same:
            out.append(Change(key, change, av, bv))
    return out


def _step_changes(key: str, av: Any, bv: Any, include_same: bool) -> list[Change]:
    a_type = av.get("type", MISSING) if _is_step(av) else MISSING
    b_type = bv.get("type", MISSING) if _is_step(bv) else MISSING
    if same_value(a_type, b_type):
        return _value_changes(flatten(av, key), flatten(bv, key), include_same)
    params = _value_changes(_params(key, av), _params(key, bv), include_same=True)
    return [Change(key, CLASS, a_type, b_type, params=params)]


def _params(key: str, step: Any) -> dict[str, Any]:
    if not _is_step(step):
        return {}
    out: dict[str, Any] = {}
    for name, value in step.items():
        if name != "type":
            out.update(flatten(value, f"{key}.{name}"))
    return out


def _step_list_changes(key: str, al: Any, bl: Any, include_same: bool) -> list[Change]:
    al = al if isinstance(al, list) else []
    bl = bl if isinstance(bl, list) else []
    matcher = difflib.SequenceMatcher(
        None, [_type_of(s) for s in al], [_type_of(s) for s in bl], autojunk=False
    )
    out: list[Change] = []
    for _tag, i1, i2, j1, j2 in matcher.get_opcodes():
        for i, j in zip_longest(range(i1, i2), range(j1, j2)):
            av = al[i] if i is not None else MISSING
            bv = bl[j] if j is not None else MISSING
            out += _step_changes(_item_key(key, i, j), av, bv, include_same)
    return out


def _item_key(key: str, i: int | None, j: int | None) -> str:
    if i is None or j is None or i == j:
        return f"{key}[{j if i is None else i}]"
    return f"{key}[{i}->{j}]"


def _value_changes(a: Mapping[str, Any], b: Mapping[str, Any], include_same: bool) -> list[Change]:
    out = []
    for key in _union(a, b):
        av, bv = a.get(key, MISSING), b.get(key, MISSING)
        change = _change(av, bv)
        if change != SAME or include_same:
            out.append(Change(key, change, av, bv))
    return out


def _change(av: Any, bv: Any) -> str:
    if av is MISSING:
        return SAME if bv is MISSING else ADDED
    if bv is MISSING:
        return REMOVED
    return SAME if same_value(av, bv) else CHANGED


def same_value(x: Any, y: Any) -> bool:
    """Equal, and of the same kind: 1 and 1.0 are the same number, True and 1 are not."""
    if _is_number(x) and _is_number(y):
        return x == y
    return type(x) is type(y) and x == y


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_step(value: Any) -> bool:
    return isinstance(value, dict) and "type" in value


def _step_list(value: Any) -> bool:
    return value is MISSING or (isinstance(value, list) and all(_is_step(item) for item in value))


def _has_steps(value: Any) -> bool:
    return isinstance(value, list) and bool(value)


def _type_of(step: Any) -> Any:
    return step.get("type") if isinstance(step, dict) else None


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Dotted keys with list items indexed: {"model": {"hidden": [64, 32]}} ->
    {"model.hidden[0]": 64, "model.hidden[1]": 32}. Empty dicts and lists are leaves;
    MISSING flattens to nothing."""
    out: dict[str, Any] = {}
    if value is MISSING:
        return out
    if isinstance(value, dict) and value:
        for key, item in value.items():
            out.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(value, list) and value:
        for i, item in enumerate(value):
            out.update(flatten(item, f"{prefix}[{i}]"))
    else:
        out[prefix] = value
    return out


def _union(a: Iterable[str], b: Iterable[str]) -> list[str]:
    return list(dict.fromkeys([*a, *b]))


# --- text ---------------------------------------------------------------------------------


def format_value(value: Any) -> str:
    """A config value as a person reads it (YAML-like); MISSING as "(none)"."""
    if value is MISSING:
        return "(none)"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (list, dict)):
        return json.dumps(value, default=str)
    return str(value)


def format_metric(value: Any) -> str:
    if value is MISSING or value is None:
        return "(none)" if value is MISSING else ""
    if abs(value) >= 1e5:
        return f"{value:.4g}"
    return f"{value:.4f}"


def format_delta(value: float | None) -> str:
    if value is None:
        return ""
    return "0" if value == 0 else f"{value:+.4f}"


def side_title(side: Side) -> str:
    if side.kind == "config":
        return side.label
    info = side.info
    parts = [str(info.get("id")), str(info.get("experiment") or ""), str(info.get("status") or "")]
    return "  ".join(p for p in parts if p) + f"  ({info.get('path')})"


def to_markdown(result: Diff) -> str:
    lines = [
        "| | run |",
        "|---|---|",
        f"| A | {_md(side_title(result.a))} |",
        f"| B | {_md(side_title(result.b))} |",
        "",
        "## config",
        "",
    ]
    if result.config:
        lines += ["| key | A | B |", "|---|---|---|"]
        for change in result.config:
            if change.change == CLASS:
                cells = (f"**{change.key}** (class)", change.a, change.b)
                lines.append(_md_row(*cells))
                lines += [_md_row(p.key, p.a, p.b) for p in change.params]
            else:
                lines.append(_md_row(change.key, change.a, change.b))
    else:
        lines.append("no differences")
    lines += ["", "## metrics", ""]
    if result.metrics:
        lines += ["| metric | A | B | delta |", "|---|---:|---:|---:|"]
        for change in result.metrics:
            name = f"**{change.key}**" if change.key == result.monitor else change.key
            lines.append(
                f"| {name} | {format_metric(change.a)} | {format_metric(change.b)} "
                f"| {format_delta(change.delta)} |"
            )
    else:
        lines.append("no metrics")
    lines += ["", "## provenance", ""]
    if result.provenance:
        lines += ["| key | A | B |", "|---|---|---|"]
        lines += [_md_row(c.key, c.a, c.b) for c in result.provenance]
    else:
        lines.append("no differences")
    return "\n".join(lines) + "\n"


def _md_row(key: str, a: Any, b: Any) -> str:
    return f"| {_md(key)} | {_md(format_value(a))} | {_md(format_value(b))} |"


def _md(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")
