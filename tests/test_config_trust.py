"""What no config may do, refused before anything runs (exit 2, located, nothing written):
name code for Hydra to call, expand YAML aliases without bound, or point the csv step at
rows that cannot train a model."""

from __future__ import annotations

import resource
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from ednax.config.resolve import load_config
from ednax.errors import ConfigError
from ednax.steps.data import Csv
from tests.conftest import SAMPLES, Result, line_of, write

IRIS = (SAMPLES / "iris-sklearn.yaml").read_text()
WINE_OPTUNA = SAMPLES / "wine-optuna.yaml"
GRID = ("-m", "model.n_estimators=5,10")  # a 2-job grid
COMMANDS = {"validate": ("validate",), "run": ("run",), "sweep": ("run", *GRID)}


def assert_refused(result: Result, workdir: Path, *needles: str) -> None:
    assert result.code == 2, f"exit {result.code}, expected 2:\n{result.text}"
    for needle in needles:
        assert needle in result.text, f"{needle!r} missing from:\n{result.text}"
    assert "Traceback" not in result.text and "internal error" not in result.text, result.text
    assert not (workdir / "runs").exists(), "a bundle or sweep folder was created"


def problems_of(excinfo) -> list[str]:
    return [p.render() for p in excinfo.value.problems]


# ---------------------------------------------------------------- no code from a config


def callback_file(sentinel: Path) -> str:
    return IRIS + textwrap.dedent(
        f"""\
        hydra:
          callbacks:
            x:
              _target_: pathlib.Path.touch
              _args_: [{sentinel}]
        """
    )


@pytest.mark.parametrize("command", COMMANDS)
def test_a_hydra_callback_in_the_file_is_refused(cli, workdir, command):
    sentinel = workdir / "SENTINEL"
    text = callback_file(sentinel)
    config = write(workdir / "bad.yaml", text)
    result = cli(*COMMANDS[command][:1], config, *COMMANDS[command][1:])
    at = f"bad.yaml:{line_of(text, '_target_: pathlib.Path.touch')}"
    assert_refused(result, workdir, f"{at} hydra.callbacks.x._target_", "'pathlib.Path.touch'")
    assert not sentinel.exists()


@pytest.mark.parametrize("command", COMMANDS)
def test_a_hydra_callback_on_the_command_line_is_refused(cli, workdir, command):
    sentinel = workdir / "SENTINEL"
    config = write(workdir / "iris.yaml", IRIS)
    target = "+hydra.callbacks.x._target_=pathlib.Path.touch"
    args = (target, f"+hydra.callbacks.x._args_=[{sentinel}]")
    result = cli(*COMMANDS[command][:1], config, *COMMANDS[command][1:], *args)
    assert_refused(
        result, workdir, "hydra.callbacks.x._target_", f"set on the command line by '{target}'"
    )
    assert not sentinel.exists()


def test_a_callback_brought_in_by_a_config_group_is_refused(cli, workdir):
    sentinel = workdir / "SENTINEL"
    hydra_section = callback_file(sentinel).removeprefix(IRIS)
    write(workdir / "extra" / "evil.yaml", "# @package _global_\n" + hydra_section)
    config = write(workdir / "grouped.yaml", "defaults:\n  - extra: evil\n  - _self_\n" + IRIS)
    for args in (("validate", config), ("run", config, *GRID)):
        result = cli(*args)
        assert_refused(result, workdir, "hydra.callbacks.x._target_", "extra=evil")
    assert not sentinel.exists()


def test_a_launcher_of_the_users_own_is_refused_but_hydras_pass(cli, workdir):
    write(workdir / "hydra" / "launcher" / "mine.yaml", "_target_: pathlib.Path.touch\n")
    config = write(workdir / "iris.yaml", IRIS)
    result = cli("run", config, *GRID, "hydra/launcher=mine")
    assert_refused(result, workdir, "hydra.launcher._target_", "hydra/launcher=mine")
    for launcher in ("joblib", "submitit_local"):
        planned = cli("run", config, *GRID, "--dry-run", f"hydra/launcher={launcher}")
        assert planned.code == 0, planned.text


def test_ednax_optuna_and_its_settings_pass(cli):
    result = cli("run", WINE_OPTUNA, "-m", "--dry-run", "hydra.sweeper.n_trials=3")
    assert result.code == 0, result.text


@pytest.mark.parametrize(
    ("section", "path"),
    [
        ("hydra: {sweeper: {_target_: pathlib.Path.touch}}", "hydra.sweeper._target_"),
        ("hydra: {launcher: {_target_: os.system}}", "hydra.launcher._target_"),
        ("hydra: {job: {x: [{_target_: os.system}]}}", "hydra.job.x[0]._target_"),
        ("hydra: {callbacks: {x: {}}}", "hydra.callbacks.x"),
        ("hydra: {job_logging: {handlers: {h: {class: os.system}}}}", "handlers.h.class"),
        ("hydra: {hydra_logging: {formatters: {f: {'()': os.system}}}}", "formatters.f.()"),
        ("hydra: {job_logging: {handlers: {h: {stream: 'ext://os.x'}}}}", "handlers.h.stream"),
        ("hydra: {searchpath: ['pkg://antigravity']}", "hydra.searchpath[0]"),
    ],
)
def test_code_anywhere_in_the_hydra_section_is_refused(workdir, section, path):
    config = write(workdir / "bad.yaml", IRIS + section + "\n")
    with pytest.raises(ConfigError) as excinfo:
        load_config(config)
    assert any(
        f"bad.yaml:{IRIS.count(chr(10)) + 1} " in p and path in p for p in problems_of(excinfo)
    )


@pytest.mark.parametrize(
    ("override", "path"),
    [
        ("+hydra={callbacks: {x: {_target_: os.system}}}", "hydra.callbacks.x._target_"),
        ("hydra.sweeper._target_=os.system", "hydra.sweeper._target_"),
        ("+model._target_=os.system", "model._target_"),
        ("hydra/callbacks=mine", "hydra/callbacks"),
        ("hydra.searchpath=[pkg://antigravity]", "hydra.searchpath[0]"),
    ],
)
def test_code_in_an_override_is_refused(workdir, override, path):
    config = write(workdir / "iris.yaml", IRIS)
    with pytest.raises(ConfigError) as excinfo:
        load_config(config, [override])
    assert any(
        path in p and f"set on the command line by '{override}'" in p for p in problems_of(excinfo)
    )


def test_hydras_own_logging_and_an_empty_callbacks_section_pass(workdir):
    handler = "{class: logging.StreamHandler, stream: 'ext://sys.stderr'}"
    section = f"hydra: {{callbacks: {{}}, job_logging: {{handlers: {{h: {handler}}}}}}}\n"
    assert load_config(write(workdir / "ok.yaml", IRIS + section)).family == "sklearn"


# ---------------------------------------------------------------- bounded YAML


def bomb(levels: int = 10, width: int = 10) -> str:
    """A "billion laughs": `width ** levels` values from about 600 bytes."""
    lines = [
        "experiment: {name: bomb}",
        "data: {type: sklearn_toy, dataset: iris}",
        "model: random_forest",
        "a0: &a0 [" + ",".join(["lol"] * width) + "]",
    ]
    for level in range(1, levels):
        lines.append(f"a{level}: &a{level} [" + ",".join([f"*a{level - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


def peak_of(*args: str, cwd: Path) -> tuple[Result, float, float]:
    """`ednax ARGS` in a fresh process, its wall time and peak RSS (MB): measured by a
    wrapper whose only child is ednax, so other tests' children do not count."""
    wrapper = textwrap.dedent(
        """\
        import resource, subprocess, sys, time
        start = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "ednax", *sys.argv[1:]],
                              capture_output=True, text=True, timeout=60)
        wall = time.monotonic() - start
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        print(proc.returncode, wall, peak)
        sys.stdout.write(proc.stdout)
        sys.stderr.write(proc.stderr)
        """
    )
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    proc = subprocess.run(
        [sys.executable, "-c", wrapper, *args], cwd=cwd, capture_output=True, text=True, timeout=90
    )
    assert resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss >= before
    first, _, out = proc.stdout.partition("\n")
    code, wall, peak = first.split()
    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux
    return Result(int(code), out, proc.stderr), float(wall), int(peak) * scale / 2**20


def test_an_alias_bomb_is_refused_quickly_and_small(workdir):
    text = bomb()
    assert 500 < len(text.encode()) < 700
    config = write(workdir / "bomb.yaml", text)
    result, wall, peak = peak_of("validate", str(config), cwd=workdir)
    assert_refused(result, workdir, "bomb.yaml:", "aliases expand to more than", "alias (*name)")
    assert wall < 5, wall
    assert peak < 400, peak
    line = int(result.err.split("bomb.yaml:")[1].split(":")[0])
    assert text.splitlines()[line - 1].lstrip().startswith("a")  # a line with aliases
    assert "*a" in text.splitlines()[line - 1]


def test_ordinary_anchors_and_aliases_still_work(workdir):
    text = textwrap.dedent(
        """\
        experiment: {name: anchors, seed: 0}
        data: {type: sklearn_toy, dataset: iris, val: &fraction 0.2, test: *fraction}
        preprocess: [&scaler {type: standard_scaler}, *scaler]
        model: &forest {type: random_forest, n_estimators: 10}
        metrics: {names: [accuracy], monitor: val/accuracy}
        hydra: {sweeper: {params: {model.n_estimators: '5,10'}}}
        """
    )
    resolved = load_config(write(workdir / "anchors.yaml", text))
    assert resolved["data"]["test"] == 0.2
    assert [s["type"] for s in resolved["preprocess"]] == ["standard_scaler"] * 2


@pytest.mark.parametrize(
    ("tail", "needle"),
    [
        ("x: &x [1, *x]\n", "the alias *x is inside its own anchor &x"),
        ("x: " + "[" * 200 + "]" * 200 + "\n", "lists and mappings nest more than 100 levels deep"),
    ],
)
def test_self_containing_and_deeply_nested_yaml_is_refused(workdir, tail, needle):
    config = write(workdir / "odd.yaml", IRIS + tail)
    with pytest.raises(ConfigError) as excinfo:
        load_config(config)
    assert any(f"odd.yaml:{IRIS.count(chr(10)) + 1}: {needle}" in p for p in problems_of(excinfo))


def test_a_bomb_in_a_config_group_file_is_refused_before_hydra_reads_it(workdir):
    group_bomb = "type: random_forest\n" + bomb().split("model: random_forest\n")[1]
    write(workdir / "model" / "bomb.yaml", group_bomb)
    write(workdir / "extra" / "bomb.yaml", group_bomb)
    config = write(workdir / "iris.yaml", IRIS)
    grouped = write(workdir / "grouped.yaml", "defaults:\n  - extra: bomb\n  - _self_\n" + IRIS)
    for path, overrides in ((config, ["model=bomb"]), (grouped, []), (config, ["+extra=bomb"])):
        start = time.monotonic()
        with pytest.raises(ConfigError) as excinfo:
            load_config(path, overrides)
        assert time.monotonic() - start < 5
        assert any("bomb.yaml:" in p and "aliases expand" in p for p in problems_of(excinfo))


# ---------------------------------------------------------------- csv rows at validation


def csv_config(workdir: Path, rows: str, **data) -> Path:
    write(workdir / "table.csv", rows)
    extra = "".join(f", {k}: {v}" for k, v in data.items())
    return write(
        workdir / "table.yaml",
        "experiment: {name: table}\n"
        f"data: {{type: csv, path: table.csv, target: y{extra}}}\n"
        "preprocess: [{type: impute, strategy: median}]\n"
        "model: {type: random_forest, n_estimators: 5}\n",
    )


def numbers(n: int = 12, stray: dict[int, str] | None = None, classes: int = 2) -> str:
    """A csv of two numeric features and a class label; `stray` puts text in column b at
    those data rows (1-based)."""
    lines = ["a,b,y"]
    for row in range(1, n + 1):
        b = (stray or {}).get(row, str(row * 1.5))
        lines.append(f"{row},{b},{row % classes}")
    return "\n".join(lines) + "\n"


CSV_CASES = {
    "stray_text": (
        numbers(stray={5: "n/a?", 9: "12 kg"}),
        ("data.path", "column 'b' holds numbers, but data row 5 is 'n/a?'", "1 more row"),
    ),
    "empty_file": ("", ("data.path", "the CSV file is empty")),
    "header_only": ("a,b,y\n", ("data.path", "has a header but no data rows")),
    "single_class": (
        numbers(classes=1),
        ("data.target", "target column 'y' holds a single class", "12 data rows is 0"),
    ),
}


@pytest.mark.parametrize("command", ["validate", "run"])
@pytest.mark.parametrize("name", CSV_CASES)
def test_rows_that_cannot_train_are_refused_at_validation(cli, workdir, command, name):
    rows, needles = CSV_CASES[name]
    config = csv_config(workdir, rows)
    assert_refused(cli(command, config), workdir, "table.yaml:2", *needles)


def test_a_numeric_column_with_stray_text_is_one_problem_not_also_a_text_column(cli, workdir):
    # 40 distinct values: as text it would be a column of ids, which it is not
    result = cli("validate", csv_config(workdir, numbers(n=40, stray={6: "12 kg"})))
    assert_refused(result, workdir, "column 'b' holds numbers, but data row 6 is '12 kg'")
    assert "(1 problem)" in result.text and "distinct values" not in result.text


def test_the_stray_text_rule(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # text in half the values or more: a categorical column, as before
    write(
        tmp_path / "mostly_text.csv",
        "b,y\n" + "".join(f"{v},{i % 2}\n" for i, v in enumerate("ab3c4d")),
    )
    data = Csv(path="mostly_text.csv", target="y", stratify=False)
    assert data.infer_task() == "classification"
    assert data.load().splits["train"].X.dtype == object
    # numbers but for one: refused, naming the row and value, at validation and at load
    write(tmp_path / "stray.csv", numbers(stray={3: "?"}))
    for step in (
        Csv(path="stray.csv", target="y").infer_task,
        Csv(path="stray.csv", target="y").load,
    ):
        with pytest.raises(ConfigError) as excinfo:
            step()
        assert "column 'b' holds numbers, but data row 3 is '?'" in problems_of(excinfo)[0]
    # a target of class labels that are mostly numbers: fine when the task says so
    write(
        tmp_path / "labels.csv", "a,y\n" + "".join(f"{i},{v}\n" for i, v in enumerate("1212121x"))
    )
    with pytest.raises(ConfigError) as excinfo:
        Csv(path="labels.csv", target="y").infer_task()
    assert "data.task: classification" in problems_of(excinfo)[0]
    labels = Csv(path="labels.csv", target="y", task="classification", stratify=False)
    assert labels.infer_task() == "classification"


def test_empty_target_cells_are_named_by_data_row_at_validation(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rows = numbers().splitlines()
    rows[4] = rows[4].rsplit(",", 1)[0] + ","  # data row 4
    write(tmp_path / "holes.csv", "\n".join(rows) + "\n")
    with pytest.raises(ConfigError) as excinfo:
        Csv(path="holes.csv", target="y").infer_task()
    assert "has 1 empty cell(s) (first data rows: 4)" in problems_of(excinfo)[0]


def test_a_changed_file_is_checked_again(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = write(tmp_path / "t.csv", numbers())
    assert Csv(path="t.csv", target="y").infer_task() == "classification"
    path.write_text(numbers(classes=1) + "13,1.0,0\n")
    with pytest.raises(ConfigError):
        Csv(path="t.csv", target="y").infer_task()


def test_the_sample_csv_still_validates():
    assert load_config(SAMPLES / "csv-example.yaml").task == "classification"
