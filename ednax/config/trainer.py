"""Checks of the `trainer` section beyond its signature: that the train loop fits the
model's family, and a custom train loop (`trainer.module`) with its own parameters."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ednax.config.schema import check_params, join_path
from ednax.errors import Suggestions

if TYPE_CHECKING:
    from ednax.config.context import Resolving


def check_trainer(r: Resolving, section: dict[str, Any]) -> None:
    _check_family(r, section["type"])
    _check_logger(r, section.get("logger"))
    module = section.get("module")
    if module in r.registry.names("module"):
        entry = r.registry.get("module", module)
        r.classes["trainer.module"] = entry.target
        section["module_args"] = _module_args(r, entry, section.get("module_args") or {})
    elif module is None and section.get("module_args"):
        r.fail(
            "trainer.module_args",
            "module_args are the parameters of a custom train loop, and none is chosen",
            "set trainer.module to a registered module, or remove module_args",
        )
    elif module is not None:
        r.fail(
            "trainer.module",
            f"no train loop (module) named '{module}'",
            Suggestions(r.registry.names("module")).hint(module, "module")
            or "register a LightningModule with @register('module', name) "
            "and list its file in imports: (see docs/plugins.md)",
        )


def _check_logger(r: Resolving, logger: Any) -> None:
    """A logger whose package is missing, said now rather than when training starts (the
    logger steps are light: their packages are looked for, not imported)."""
    if not isinstance(logger, dict) or logger.get("type") not in r.registry.names("logger"):
        return
    package_problems = getattr(
        r.registry.get("logger", logger["type"]).load(), "package_problems", None
    )
    if callable(package_problems):
        r.problems.extend(r.composed.locate(p) for p in package_problems("trainer.logger.type"))


def _check_family(r: Resolving, name: str) -> None:
    entry = r.registry.get("trainer", name)
    if entry.family and entry.family != r.family:
        r.fail(
            "trainer.type",
            f"trainer '{name}' trains {entry.family} models, but model "
            f"'{r.out.get('model', {}).get('type')}' is a {r.family} model",
            f"use trainer '{r.default_type('trainer')}'",
        )


def _module_args(r: Resolving, entry: Any, args: dict[str, Any]) -> dict[str, Any] | None:
    """The custom train loop's own parameters, checked and with its defaults written."""
    values, issues = check_params(f"module:{entry.name}:{entry.target}", entry.signature(), args)
    for issue in issues:
        path = join_path("trainer.module_args", issue.loc)
        r.fail(path, f"{issue.message} (module '{entry.name}')", issue.hint)
    return (values or None) if not issues else args
