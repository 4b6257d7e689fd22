"""`ednax predict` and `ednax rerun`: reuse a finished run from its bundle alone."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from ednax.cli.output import command, console, say

RUN = typer.Argument(..., help="a bundle path, a run id (or unique prefix), latest")
RUNS_DIR = typer.Option(Path("runs"), "--runs-dir", help="where to look for run ids")
DEBUG = typer.Option(False, "--debug", help="show tracebacks")


def register(app: typer.Typer) -> None:
    app.command("predict")(command(predict))
    app.command("rerun")(command(rerun))


def predict(
    run: str = RUN,
    source: str = typer.Argument(
        ..., help="a csv file, or data:<split> for a split of the run's own data step"
    ),
    output: Path = typer.Option(None, "-o", "--output", help="csv to write (default: stdout)"),
    id_column: str = typer.Option(None, "--id-column", help="a column of the csv to use as id"),
    fold: str = typer.Option(None, "--fold", help="for a k-fold run: the fold's model to use"),
    runs_dir: Path = RUNS_DIR,
    debug: bool = DEBUG,
) -> int:
    """Predict with a run's fitted preprocessing and model (estimator or best checkpoint)."""
    import yaml

    from ednax.engine.predict import Predictor, read_input_csv
    from ednax.runs.bundle import Bundle
    from ednax.runs.store import find_run

    bundle = Bundle.open(find_run(run, runs_dir))
    config = yaml.safe_load((bundle.path / "config.yaml").read_text())
    _import_plugins(bundle, config)
    family = bundle.read_run().get("family", "sklearn")
    predictor = Predictor(bundle, config["model"], family, _fold(config, fold))
    if source.startswith("data:"):
        ids, X = _own_split(bundle, source.partition(":")[2])
    else:
        ids, X = read_input_csv(Path(source), predictor.schema, id_column)
    text = predictor.predict(X, ids).to_csv()
    if output is None:
        sys.stdout.write(text)
        return 0
    from ednax.runs.atomic import write_text

    write_text(output, text)
    console(stderr=True).print(f"wrote {len(ids)} predictions to {output}", markup=False)
    return 0


def rerun(
    run: str = RUN,
    overrides: list[str] = typer.Argument(None, help="overrides on top of the run's config"),
    runs_dir: Path = RUNS_DIR,
    debug: bool = DEBUG,
) -> int:
    """Run a bundle's resolved config again into a new bundle (with optional overrides)."""
    from ednax.cli.run_cmd import _summary
    from ednax.config.resolve import load_config
    from ednax.engine.experiment import Experiment
    from ednax.runs.bundle import Bundle
    from ednax.runs.store import find_run

    bundle = Bundle.open(find_run(run, runs_dir))
    _import_plugins(bundle, {})
    resolved = load_config(bundle.path / "config.yaml", overrides or [])
    from ednax.engine.distributed import is_other_rank, run_other_rank

    if is_other_rank():  # a DDP process Lightning started by running this command again
        run_other_rank(resolved)
        return 0
    lineage = {"rerun_of": bundle.read_run()["id"], "rerun_bundle": str(bundle.path)}
    experiment = Experiment(resolved, command=["ednax", *sys.argv[1:]], say=say, lineage=lineage)
    _summary(experiment.run())
    return 0


def _import_plugins(bundle, config: dict) -> None:
    """Make the original config's folder importable: its `imports:` modules live there."""
    folder = Path(bundle.read_run().get("config_file") or bundle.path).parent
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    if config.get("imports"):
        from ednax.registry import REGISTRY

        REGISTRY.import_modules(config["imports"])


def _fold(config: dict, fold: str | None) -> str:
    """The fold whose model predicts: none for a holdout run, one named for a k-fold run."""
    from ednax.errors import UsageError

    evaluation = config.get("evaluation") or {"strategy": "holdout"}
    if evaluation["strategy"] == "holdout":
        if fold:
            raise UsageError("--fold is for k-fold runs; this run used a holdout split")
        return ""
    folds = evaluation["folds"] * evaluation.get("repeats", 1)
    names = [f"fold-{k}" for k in range(folds)]
    if fold not in names:
        raise UsageError(
            f"this run trained one model per fold ({evaluation['strategy']}); "
            f"choose one with --fold {names[0]} (folds: {', '.join(names)})"
        )
    return fold


def _own_split(bundle, split: str):
    from ednax.config.resolve import load_config
    from ednax.engine.build import build
    from ednax.errors import UsageError

    resolved = load_config(bundle.path / "config.yaml")
    dataset = build("data", resolved["data"]).load()
    if split not in dataset.splits:
        raise UsageError(f"data:{split}: the run's data has splits {sorted(dataset.splits)}")
    chosen = dataset.splits[split]
    return chosen.ids.tolist(), chosen.X
