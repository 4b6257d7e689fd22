"""An image run's `preprocess` checked before any work: image steps for image data (and
tabular ones for tabular data), and a pipeline that can work on the data's images (the
sizes training and evaluation leave it with agree; given statistics fit the channels)."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ednax.errors import ConfigError

if TYPE_CHECKING:
    from ednax.config.context import Resolving


def check_preprocess(r: Resolving, steps: list[dict], data_step: Any) -> None:
    """Problems of the resolved `steps` for the resolved data section (and its built step,
    None when it could not be built or checked)."""
    data = r.out.get("data")
    if data is None:
        return
    modality = _modality(r, "data", data["type"])
    mismatched = [
        i for i, s in enumerate(steps) if _modality(r, "preprocess", s["type"]) != modality
    ]
    for i in mismatched:
        _wrong_modality(r, i, steps[i]["type"], data["type"], modality)
    if modality == "image" and not mismatched:
        _check_pipeline(r, steps, data_step)
    elif modality == "tabular" and not mismatched and not r.problems:
        _check_columns(r, steps, data_step)


def _modality(r: Resolving, kind: str, name: str) -> str:
    return r.registry.get(kind, name).tags.get("modality", "tabular")


def _wrong_modality(r: Resolving, index: int, name: str, data: str, modality: str) -> None:
    fitting = [
        e.name
        for e in r.registry.entries("preprocess")
        if e.tags.get("modality", "tabular") == modality
    ]
    r.fail(
        f"preprocess[{index}].type",
        f"preprocess '{name}' is for {_modality(r, 'preprocess', name)} data; data '{data}' "
        f"is {modality} data",
        f"{modality} preprocess steps: {', '.join(fitting)}",
    )


def _check_columns(r: Resolving, steps: list[dict], data_step: Any) -> None:
    """A table's preprocess steps name columns it has (`columns: [islnd]` found now, not
    when the pipeline is fitted), as far as names are known before fitting."""
    feature_names = getattr(data_step, "feature_names", None)
    if not callable(feature_names):
        return
    from ednax.steps.preprocess import step_column_problems

    try:
        features = feature_names()
    except ConfigError:
        return  # the data step's own problem is reported already
    built = [
        r.registry.build("preprocess", s, path=f"preprocess[{i}]") for i, s in enumerate(steps)
    ]
    r.problems.extend(r.composed.locate(p) for p in step_column_problems(built, features))


def _check_pipeline(r: Resolving, steps: list[dict], data_step: Any) -> None:
    """Each step's values (`problems()`), then the pipeline on the data's image shape."""
    from ednax.steps.images.pipeline import ImagePipeline

    built = [
        r.registry.build("preprocess", s, path=f"preprocess[{i}]") for i, s in enumerate(steps)
    ]
    found = [
        replace(p, path=f"preprocess[{i}].{p.path}")
        for i, step in enumerate(built)
        for p in step.problems()
    ]
    if not found and data_step is not None:
        try:
            ImagePipeline(built, steps, data_step.input_shape())
        except ConfigError as exc:
            found = exc.problems
    r.problems.extend(r.composed.locate(p) for p in found)
