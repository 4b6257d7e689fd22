"""Schemas: a registered class's signature turned into a pydantic validator, and the
fixed sections (experiment, metrics) that belong to ednax itself."""

from __future__ import annotations

import re
import typing
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from ednax.errors import Suggestions
from ednax.signature import Signature


class ExperimentSection(BaseModel):
    """What the runs are called and grouped as, and how they are seeded."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(
        None, description="experiment name; runs go to <runs_dir>/<name>/ (default: file name)"
    )
    seed: int = Field(
        0, description="seeds python, numpy and torch; the random_state of every step"
    )
    tags: list[str] = Field(default_factory=list, description="free labels to filter runs by")
    runs_dir: str = Field("runs", description="where bundles are written")
    notes: str = Field("", description="a line about this experiment, kept in run.json")


class MetricsSection(BaseModel):
    """Which scores are computed on every split, and which one decides the best model."""

    model_config = ConfigDict(extra="forbid")

    names: list[str] | None = Field(
        None, description="metric names (default: by task; see `ednax registry metric`)"
    )
    monitor: str | None = Field(
        None, description="split/metric that picks the best checkpoint, e.g. val/accuracy"
    )
    mode: Literal["min", "max"] | None = Field(
        None, description="whether the monitored metric is better high (max) or low (min)"
    )


class EvaluationSection(BaseModel):
    """How the model is scored: one holdout split, or k folds over the train and val rows."""

    model_config = ConfigDict(extra="forbid")

    strategy: Literal["holdout", "kfold", "stratified_kfold", "repeated_kfold"] = Field(
        "holdout",
        description="holdout: the data step's splits; the k-fold kinds pool train and val "
        "(repeated_kfold is stratified for classification)",
    )
    folds: int = Field(5, ge=2, description="number of folds (k)")
    repeats: int = Field(1, ge=1, description="repetitions of the k folds (repeated_kfold)")
    shuffle: bool = Field(True, description="shuffle rows before cutting folds")
    random_state: int | None = Field(
        None, description="seed of the fold split; filled from experiment.seed unless set"
    )


FIXED_SECTIONS: dict[str, type[BaseModel]] = {
    "experiment": ExperimentSection,
    "evaluation": EvaluationSection,
    "metrics": MetricsSection,
}


_VALIDATORS: dict[str, type[BaseModel]] = {}


def _validator(key: str, signature: Signature) -> type[BaseModel]:
    if key in _VALIDATORS:
        return _VALIDATORS[key]
    fields: dict[str, Any] = {}
    for param in signature.params.values():
        default = ... if param.required else param.default
        fields[param.name] = (param.annotation, default)
    _VALIDATORS[key] = create_model(
        "Params_" + re.sub(r"\W", "_", key),
        __config__=ConfigDict(extra="forbid", arbitrary_types_allowed=True),
        **fields,
    )
    return _VALIDATORS[key]


class ParamIssue:
    """One problem with one parameter, relative to its section. `unknown` is the name of
    an unknown parameter (it may belong to another section)."""

    def __init__(self, loc: str, message: str, hint: str | None = None, unknown: str | None = None):
        self.loc, self.message, self.hint, self.unknown = loc, message, hint, unknown


def check_params(
    key: str, signature: Signature, params: dict[str, Any], noun: str = "parameter"
) -> tuple[dict[str, Any], list[ParamIssue]]:
    """Validate `params` against `signature`; return all values (defaults filled) and issues.
    `noun` is what an unknown name is called ("key" in a nested section)."""
    validator = _validator(key, signature)
    try:
        validated = validator.model_validate(params)
    except ValidationError as exc:
        return {}, _dedupe([_issue(e, signature, noun) for e in exc.errors()])
    values = validated.model_dump(mode="json")
    return {name: values[name] for name in signature.params}, []


def fixed_fields(section: str) -> list[str]:
    """The keys of one of ednax's own sections (`metrics`: names, monitor, mode)."""
    model = FIXED_SECTIONS.get(section)
    return list(model.model_fields) if model is not None else []


def check_fixed(section: str, values: Any) -> tuple[dict[str, Any], list[ParamIssue]]:
    model = FIXED_SECTIONS[section]
    if values is None:
        values = {}
    if not isinstance(values, dict):
        return {}, [ParamIssue("", f"'{section}' must be a mapping, got {values!r}")]
    try:
        return model.model_validate(values).model_dump(mode="json"), []
    except ValidationError as exc:
        fields = list(model.model_fields)
        sig_like = Signature({f: None for f in fields})  # names only, for suggestions
        return {}, [_issue(e, sig_like) for e in exc.errors()]


def _issue(error: dict, signature: Signature, noun: str = "parameter") -> ParamIssue:
    loc = _loc(error["loc"])
    kind = error["type"]
    if kind == "extra_forbidden":
        name = str(error["loc"][0])
        hint = Suggestions(list(signature.params)).hint(name, noun)
        return ParamIssue(loc, f"unknown {noun} '{name}'", hint or None, unknown=name)
    if kind == "missing":
        return ParamIssue(loc, "missing required parameter", "set it in the config")
    got = error.get("input")
    if kind == "literal_error" and isinstance(got, str):
        choices = _literal_choices(signature, error["loc"])
        return ParamIssue(
            loc, f"'{got}' is not one of the choices", Suggestions(choices).hint(got, "choice")
        )
    return ParamIssue(loc, f"{error['msg']}; got {got!r}", _expected(error, signature))


def _literal_choices(signature: Signature, loc: tuple) -> list[str]:
    param = signature.params.get(str(loc[0])) if loc else None
    annotation = getattr(param, "annotation", None)
    choices: list[str] = []
    for part in (annotation, *typing.get_args(annotation)):
        if typing.get_origin(part) is Literal:
            choices += [str(c) for c in typing.get_args(part)]
    return choices


def _expected(error: dict, signature: Signature) -> str | None:
    head = str(error["loc"][0]) if error["loc"] else ""
    param = signature.params.get(head)
    type_text = getattr(param, "type_text", None)
    return f"expected {type_text}" if type_text else None


def _loc(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _is_type_tag(part):
            continue
        else:
            out += f".{part}" if out else str(part)
    return out


def _is_type_tag(part: Any) -> bool:
    # pydantic adds the union member tried ('int', 'list[int]', 'literal[...]') to the loc
    return isinstance(part, str) and ("[" in part or part in _TYPE_TAGS)


_TYPE_TAGS = {"int", "float", "str", "bool", "none", "list", "dict", "tuple", "function-plain"}


def _dedupe(issues: list[ParamIssue]) -> list[ParamIssue]:
    """One issue per location: a union type yields one pydantic error per member."""
    by_loc: dict[str, ParamIssue] = {}
    for issue in issues:
        by_loc.setdefault(issue.loc, issue)
    return list(by_loc.values())


def join_path(prefix: str, loc: str) -> str:
    """A key path inside a section: `trainer` + `max_epochs`, `preprocess` + `[0]`."""
    if not loc:
        return prefix
    return f"{prefix}{loc}" if loc.startswith("[") else f"{prefix}.{loc}"
