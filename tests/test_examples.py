"""examples/custom_loop runs through the real CLI, and docs/plugins.md's code is real code."""

from __future__ import annotations

import ast
import csv
import json
import re
from pathlib import Path

import pytest

from ednax.registry import Registry
from tests.conftest import REPO, Result, bundle_files, run_cli

EXAMPLE = REPO / "examples" / "custom_loop"
PLUGINS_DOC = REPO / "docs" / "plugins.md"


@pytest.fixture(scope="module")
def example_run(tmp_path_factory) -> tuple[Result, Path]:
    """`ednax run examples/custom_loop/config.yaml` from a scratch directory, once."""
    cwd = tmp_path_factory.mktemp("custom-loop")
    result = run_cli("run", EXAMPLE / "config.yaml", "trainer.progress=plain", cwd=cwd)
    assert result.code == 0, result.text
    bundles = [p.parent for p in bundle_files(cwd / "runs", "*/*/run.json")]
    assert len(bundles) == 1, bundles
    return result, bundles[0]


@pytest.mark.slow
def test_custom_loop_example_completes_with_its_own_classes(example_run):
    _, bundle = example_run
    run = json.loads((bundle / "run.json").read_text())
    assert run["status"] == "completed"
    assert run["classes"]["model"]["class"] == "custom_steps:ResidualMLP"
    assert run["classes"]["loss"]["class"] == "custom_steps:FocalLoss"
    assert json.loads((bundle / "metrics.json").read_text())["test"]["accuracy"] >= 0.9


@pytest.mark.slow
def test_custom_loop_records_its_penalty_every_epoch(example_run):
    result, bundle = example_run
    with (bundle / "history.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == list(range(1, 16))
    penalties = [float(r["train/penalty"]) for r in rows]
    assert all(p > 0 for p in penalties)
    assert re.search(r"epoch 15/15 .*train/penalty \d", result.out)


def python_blocks(markdown: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```$", markdown, re.MULTILINE | re.DOTALL)


def test_plugins_doc_code_compiles_and_registers_documented_classes(monkeypatch):
    blocks = python_blocks(PLUGINS_DOC.read_text())
    assert len(blocks) >= 6
    scratch = Registry(entry_points=False)
    monkeypatch.setattr("ednax.registry.register", scratch.register)
    for i, block in enumerate(blocks):
        code = compile(block, f"docs/plugins.md python block {i}", "exec")
        if "@register" in block:  # a plugin definition: run it into the scratch registry
            exec(code, {"__name__": f"plugins_doc_block_{i}"})
    shown = {
        (entry.kind, entry.name): entry
        for kind in ("model", "loss", "metric", "module", "logger")
        for entry in scratch.entries(kind)
        if entry.target.startswith("plugins_doc_block_")
    }
    assert set(shown) == {
        ("model", "extra_trees"),
        ("model", "residual_mlp"),
        ("loss", "focal"),
        ("metric", "error_rate"),
        ("module", "l2_penalty"),
        ("module", "with_grad_norm"),
        ("logger", "jsonl"),
    }
    for entry in shown.values():
        signature = entry.signature()
        assert signature.doc, entry.name
        for param in signature.params.values():  # what `ednax registry` shows
            assert param.doc and param.type_text != "Any", (entry.name, param.name)


def class_sources(source: str) -> dict[str, str]:
    return {
        node.name: ast.unparse(node)
        for node in ast.parse(source).body
        if isinstance(node, ast.ClassDef)
    }


def test_plugins_doc_shows_the_example_classes_as_they_are():
    example = class_sources((EXAMPLE / "custom_steps.py").read_text())
    documented = {}
    for block in python_blocks(PLUGINS_DOC.read_text()):
        documented.update(class_sources(block))
    for name in ("ResidualMLP", "FocalLoss", "L2PenaltyLoop"):
        assert documented[name] == example[name], f"docs/plugins.md's {name} differs"


def test_module_args_reach_the_custom_loop(tmp_path):
    result = run_cli(
        "run",
        EXAMPLE / "config.yaml",
        "trainer.max_epochs=2",
        "trainer.module_args.strength=0",
        cwd=tmp_path,
    )
    assert result.code == 0, result.text
    (bundle,) = [p.parent for p in bundle_files(tmp_path / "runs", "*/*/run.json")]
    with (bundle / "history.csv").open() as f:
        assert [float(r["train/penalty"]) for r in csv.DictReader(f)] == [0.0, 0.0]
    assert "strength: 0" in (bundle / "config.yaml").read_text()


@pytest.mark.parametrize(
    ("overrides", "needles"),
    [
        (
            ["trainer.module_args.strenght=0.5"],
            ["trainer.module_args.strenght", "unknown parameter", "did you mean 'strength'"],
        ),
        (
            ["trainer.module_args.strength=lots"],
            ["trainer.module_args.strength", "(module 'l2_penalty')"],
        ),
        (["trainer.module=null"], ["trainer.module_args", "none is chosen"]),
    ],
)
def test_bad_module_args_are_reported_on_their_key(tmp_path, overrides, needles):
    result = run_cli("validate", EXAMPLE / "config.yaml", *overrides, cwd=tmp_path)
    assert result.code == 2, result.text
    for needle in needles:
        assert needle in result.text, result.text
    assert "Traceback" not in result.text
