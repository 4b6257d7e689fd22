"""A run's own code (issue 15, item 1): the plugin modules a config's `imports:` brings in
from beside it are fingerprinted in run.json and copied into the bundle's code/; `diff`
shows a changed one with its unified diff, `show` lists them, `rerun` says when today's
source differs and `--bundle-code` runs the bundle's copy. Outside a git checkout."""

from __future__ import annotations

import hashlib
import importlib
import json
import sys
from pathlib import Path

import pytest

from ednax.app.plugins import plugin_dirs
from ednax.errors import UsageError
from ednax.runs.code import code_entries, drift, own_sources
from tests.conftest import bundle_of, read_json, run_cli, write

CONFIG = """\
imports: [stump_plugin]
experiment: {name: own-code, seed: 0}
data: {type: sklearn_toy, dataset: iris, val: 0.2, test: 0.2}
model: {type: stump}
"""
PLUGIN = """\
from ednax.registry import register

import stump_depth


@register("model", "stump", family="sklearn")
class Stump:
    \"\"\"A shallow decision tree, as deep as stump_depth says.

    Parameters
    ----------
    random_state : int | None
        Seed of the tree.
    \"\"\"

    def __init__(self, random_state: int | None = None):
        self.random_state = random_state

    def build(self, task):
        from sklearn.tree import DecisionTreeClassifier

        return DecisionTreeClassifier(
            max_depth=stump_depth.DEPTH, random_state=self.random_state
        )
"""


def _project(folder: Path, depth: int) -> None:
    write(folder / "cfg.yaml", CONFIG)
    write(folder / "stump_plugin.py", PLUGIN)
    write(folder / "stump_depth.py", f"DEPTH = {depth}\n")


def _run(*args: str, cwd: Path):
    result = run_cli(*args, cwd=cwd)
    assert result.code == 0, result.text
    return result


@pytest.mark.slow
def test_an_edited_plugin_shows_in_diff_show_and_rerun(workdir: Path):
    _project(workdir, depth=1)
    first = bundle_of(_run("run", "cfg.yaml", cwd=workdir), workdir)
    run = read_json(first / "run.json")
    source = (workdir / "stump_depth.py").read_bytes()
    assert run["code"]["stump_depth"] == {
        "path": "stump_depth.py",
        "sha256": hashlib.sha256(source).hexdigest(),
        "size": len(source),
    }
    assert set(run["code"]) == {"stump_plugin", "stump_depth"}  # nothing of ednax
    assert (first / "code" / "stump_plugin.py").read_text() == PLUGIN
    assert (first / "code" / "stump_depth.py").read_bytes() == source

    write(workdir / "stump_depth.py", "DEPTH = 3\n")  # no git here: only code/ knows
    second = bundle_of(_run("run", "cfg.yaml", cwd=workdir), workdir)
    assert read_json(second / "metrics.json") != read_json(first / "metrics.json")
    # Provenance, not structure: the experiment's fingerprints (its version) stay.
    assert read_json(second / "run.json")["fingerprints"] == run["fingerprints"]

    diff = _run("diff", first.name, second.name, cwd=workdir).out
    assert "code.stump_depth" in diff and "code.stump_plugin" not in diff
    assert "--- A/stump_depth.py\n+++ B/stump_depth.py" in diff
    assert "-DEPTH = 1\n+DEPTH = 3" in diff
    as_json = json.loads(_run("diff", first.name, second.name, "-f", "json", cwd=workdir).out)
    (change,) = [c for c in as_json["provenance"] if c["key"] == "code.stump_depth"]
    assert change["change"] == "changed" and "+DEPTH = 3" in change["diff"]
    against_file = _run("diff", first.name, "cfg.yaml", cwd=workdir).out  # the file now
    assert "-DEPTH = 1\n+DEPTH = 3" in against_file
    assert "```diff" in _run("diff", first.name, second.name, "-f", "md", cwd=workdir).out

    shown = _run("show", first.name, cwd=workdir).out
    assert "code stump_depth" in shown and "code/stump_depth.py" in shown
    assert "code stump_plugin" in shown

    today = _run("rerun", first.name, cwd=workdir)
    assert "today's code differs" in today.out and "stump_depth (stump_depth.py)" in today.out
    assert f"ednax rerun {first.name} --bundle-code" in today.out
    assert "stump_plugin (" not in today.out  # unchanged: not named
    assert read_json(bundle_of(today, workdir) / "metrics.json") == read_json(
        second / "metrics.json"
    )

    again = _run("rerun", first.name, "--bundle-code", cwd=workdir)
    assert "today's code differs" not in again.out
    rerun_bundle = bundle_of(again, workdir)
    assert read_json(rerun_bundle / "metrics.json") == read_json(first / "metrics.json")
    recorded = read_json(rerun_bundle / "run.json")
    assert recorded["code"] == run["code"] and recorded["rerun_code"] == "bundle"


def test_own_sources_are_the_users_modules_laid_out_by_name(tmp_path: Path, monkeypatch):
    write(tmp_path / "pkg_own" / "__init__.py", "from pkg_own import inner\n")
    write(tmp_path / "pkg_own" / "inner.py", "import own_helper\nVALUE = 2\n")
    write(tmp_path / "own_helper.py", "import json\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    names = ("pkg_own", "pkg_own.inner", "own_helper")
    try:
        importlib.import_module("pkg_own")
        found = {s.module: s.path for s in own_sources(["pkg_own", "json", "ednax"])}
        assert found == {
            "pkg_own": "pkg_own/__init__.py",
            "pkg_own.inner": "pkg_own/inner.py",
            "own_helper": "own_helper.py",
        }
        entries, files = code_entries(own_sources(["pkg_own"]))
        assert files["pkg_own/inner.py"] == b"import own_helper\nVALUE = 2\n"
        assert entries["own_helper"]["size"] == len("import json\n")
        assert drift(entries, entries) == []
        changed = {**entries, "own_helper": {**entries["own_helper"], "sha256": "0" * 64}}
        (line,) = drift(changed, entries)
        assert line.startswith("own_helper (own_helper.py) differs")
    finally:
        for name in names:
            sys.modules.pop(name, None)


def test_an_installed_plugin_is_not_own_code():
    assert own_sources(["json", "yaml", "ednax.steps.base"]) == []


def test_bundle_code_needs_a_bundle_that_kept_its_code(tmp_path: Path):
    with pytest.raises(UsageError, match="no copy of its own code"):
        plugin_dirs({"id": "r1", "config_file": str(tmp_path / "c.yaml")}, tmp_path)
    (tmp_path / "code").mkdir()
    record = {"id": "r1", "config_file": str(tmp_path / "c.yaml"), "code": {"m": {}}}
    assert plugin_dirs(record, tmp_path) == [tmp_path / "code", tmp_path]


def test_a_rerun_of_a_rerun_finds_the_first_runs_plugin_folder(tmp_path: Path):
    first, second = tmp_path / "runs" / "a", tmp_path / "runs" / "b"
    write(first / "run.json", json.dumps({"config_file": str(tmp_path / "cfg.yaml")}))
    write(second / "run.json", json.dumps({"config_file": str(first / "config.yaml")}))
    record = {"config_file": str(second / "config.yaml")}
    assert plugin_dirs(record) == [second, first, tmp_path]


def test_predict_with_the_bundles_copy_of_code_that_is_gone_today(workdir: Path):
    _project(workdir, depth=2)
    first = bundle_of(_run("run", "cfg.yaml", cwd=workdir), workdir)
    before = _run("predict", first.name, "data:test", cwd=workdir).out
    (workdir / "stump_plugin.py").unlink()  # the project moved on
    (workdir / "stump_depth.py").unlink()

    today = run_cli("predict", first.name, "data:test", cwd=workdir)
    assert today.code == 2, today.text
    assert "stump_plugin" in today.err and "--bundle-code" in today.err

    again = _run("predict", first.name, "data:test", "--bundle-code", cwd=workdir)
    assert again.out == before
