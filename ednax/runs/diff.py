"""What differs between two runs (or resolved configs): config, metrics, provenance.

    side_a = side_from_bundle(record_a.files)           # ednax.runs.sides
    side_b = side_from_bundle(record_b.files)
    result = diff_sides(side_a, side_b)
    result.config      # one Change per changed dotted key, list items indexed (model.hidden[1])
    result.metrics     # every metric of either side, with new - old
    result.provenance  # seed, git, python and package versions, data fingerprint, classes,
                       # own code (a changed module carries the unified diff of its source)

A step whose class changed is ONE change (`model: random_forest -> logistic_regression`)
carrying the parameters of both classes, not a wall of added and removed keys. The steps of
`preprocess` are matched by class (a step inserted in front does not make every later step
look changed). Drawn by `ednax.runs.diff_report`.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import zip_longest
from typing import Any

from ednax.runs.values import MISSING, flatten, same_value, union

SAME, CHANGED, ADDED, REMOVED, CLASS = "same", "changed", "added", "removed", "class"


@dataclass
class Side:
    """One side of a diff: a run's bundle, or a config composed with overrides."""

    label: str
    config: dict[str, Any]
    metrics: dict[str, float] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    monitor: str | None = None
    kind: str = "run"
    info: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    # The source of each own plugin module (`ednax.runs.code`), for the diff of a changed one.
    code: dict[str, str] = field(default_factory=dict)
    code_paths: dict[str, str] = field(default_factory=dict)


@dataclass
class Change:
    key: str
    change: str
    a: Any = MISSING
    b: Any = MISSING
    delta: float | None = None
    params: list[Change] = field(default_factory=list)
    diff: str | None = None  # a changed module of the run's own code: its unified diff

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
        if self.diff is not None:
            out["diff"] = self.diff
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
    for section in union(a, b):
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
    for key in union(a, b):
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
    for key in union(a.provenance, b.provenance):
        if key.startswith("classes.") and key.partition(".")[2] in switched:
            continue
        av, bv = a.provenance.get(key, MISSING), b.provenance.get(key, MISSING)
        own_code = key.startswith("code.")  # a config's side knows its code too
        if MISSING in (av, bv) and "config" in (a.kind, b.kind) and not own_code:
            continue  # a config does not know it (data fingerprint, code patch)
        change = _change(av, bv)
        if change != SAME or include_same:
            diff = _code_diff(a, b, key[len("code.") :]) if own_code and change != SAME else None
            out.append(Change(key, change, av, bv, diff=diff))
    return out


def _code_diff(a: Side, b: Side, module: str) -> str | None:
    """The unified diff of a module's source from A to B, when both sides have it."""
    from ednax.runs.code import unified_diff

    if module not in a.code or module not in b.code:
        return None
    path = b.code_paths.get(module) or a.code_paths.get(module)
    return unified_diff(module, path, a.code[module], b.code[module])


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
    for key in union(a, b):
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


def _is_step(value: Any) -> bool:
    return isinstance(value, dict) and "type" in value


def _step_list(value: Any) -> bool:
    return value is MISSING or (isinstance(value, list) and all(_is_step(item) for item in value))


def _has_steps(value: Any) -> bool:
    return isinstance(value, list) and bool(value)


def _type_of(step: Any) -> Any:
    return step.get("type") if isinstance(step, dict) else None
