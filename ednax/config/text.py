"""A text run's `preprocess` checked before any work: exactly one tokenizer step, its
values (`problems()`: a saved tokenizer's folder and pad token, say); and a model that
reads token ids for text data: a built-in model for other data refused on text, a text
model refused on other data. (A plugin's model is the user's choice: any module taking
`input_ids` and `attention_mask` will do.)

Steps of the wrong modality (a tokenizer on tabular data, a scaler on text) are refused by
`config.images.check_preprocess`, which checks every run's preprocess steps against its
data; this module adds what only text needs.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ednax.config.context import Resolving

EXAMPLE = "preprocess: [{type: wordpiece, vocab_size: 8000}]"


def check_text_preprocess(r: Resolving, steps: list[dict]) -> None:
    """Problems of the resolved `steps` of a text run (nothing for other data, or while a
    step of the list failed to resolve: its own problem says why)."""
    data = r.out.get("data")
    if data is None or _modality(r, "data", data["type"]) != "text":
        return
    raw = r.raw.get("preprocess") or []
    if not isinstance(raw, list) or len(raw) != len(steps):
        return
    tokenizers = [i for i, s in enumerate(steps) if _modality(r, "preprocess", s["type"]) == "text"]
    if len(tokenizers) != len(steps):
        return  # a step for other data: refused with its index already
    names = ", ".join(_text_steps(r))
    if not tokenizers:
        r.fail(
            "preprocess",
            f"text data (data '{data['type']}') needs a tokenizer step in preprocess",
            f"add one, e.g. {EXAMPLE}; tokenizers: {names}",
        )
        return
    if len(tokenizers) > 1:
        listed = ", ".join(f"preprocess[{i}] ({steps[i]['type']})" for i in tokenizers)
        r.fail(
            f"preprocess[{tokenizers[1]}]",
            f"a text run has one tokenizer; preprocess has {len(tokenizers)}: {listed}",
            "keep one tokenizer step in preprocess",
        )
        return
    step = r.registry.build("preprocess", steps[0], path="preprocess[0]")
    problems = getattr(step, "problems", None)
    if callable(problems):
        r.problems.extend(
            r.composed.locate(replace(p, path=f"preprocess[0].{p.path}")) for p in problems()
        )


def check_text_model(r: Resolving, model: dict) -> None:
    data = r.out.get("data")
    if data is None:
        return
    entry = r.registry.get("model", model["type"])
    data_modality = _modality(r, "data", data["type"])
    model_modality = entry.tags.get("modality", "tabular")
    built_in = entry.target.startswith("ednax.")
    if data_modality == "text" and model_modality != "text" and built_in:
        r.fail(
            "model.type",
            f"model '{model['type']}' is for {model_modality} data; data '{data['type']}' is "
            "text: its model reads token ids",
            f"text models: {', '.join(_text_models(r))}",
        )
    elif model_modality == "text" and data_modality != "text":
        r.fail(
            "model.type",
            f"model '{model['type']}' reads token ids; data '{data['type']}' is "
            f"{data_modality} data",
            "use it with text data (text_csv, text_folder), or choose a model for this data",
        )


def check_text_trainer(r: Resolving, trainer: dict) -> None:
    """The trainer's text-batch options (`bucket_by_length`, `padding`) on other data."""
    from ednax.steps.trainers_torch import text_option_problems

    data = r.out.get("data")
    if data is not None:
        modality = _modality(r, "data", data["type"])
        r.problems.extend(r.composed.locate(p) for p in text_option_problems(trainer, modality))


def _text_models(r: Resolving) -> list[str]:
    return [e.name for e in r.registry.entries("model") if e.tags.get("modality") == "text"]


def _modality(r: Resolving, kind: str, name: str) -> str:
    return r.registry.get(kind, name).tags.get("modality", "tabular")


def _text_steps(r: Resolving) -> list[str]:
    return [e.name for e in r.registry.entries("preprocess") if e.tags.get("modality") == "text"]
