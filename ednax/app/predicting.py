"""Predict with a finished run, from its bundle alone: `load` a run, then `predict` rows
(a DataFrame, a dict of columns, a list of records), a csv or Parquet file, or a split of
the run's own data. The same checks and artifacts serve `ednax predict` and the Python API."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import yaml

from ednax.app.plugins import keeps_code, plugin_dirs
from ednax.config.plugins import import_plugins
from ednax.engine.predict import Predictions, Predictor, check_frame, known_targets, read_input
from ednax.engine.predict_images import images_to_predict
from ednax.errors import Problem, Suggestions, UsageError
from ednax.registry import REGISTRY
from ednax.runs.bundle import METRICS_FILE, Bundle
from ednax.runs.store import find_run


class LoadedRun:
    """A bundle's fitted preprocessing and model, checked and ready to predict.

    Its pickles are unpickled only if this user's ednax signed them, unless `trust` (the
    user vouches for the bundle: `trusted_warning` says so); their sha256 is always checked.
    Its plugin modules are today's, beside the config it was run from; with `bundle_code`,
    the bundle's own copy of them (code/).
    """

    def __init__(
        self,
        bundle: Bundle,
        fold: str | None = None,
        *,
        trust: bool = False,
        bundle_code: bool = False,
    ):
        self.bundle = bundle
        self.trust = trust
        self.bundle_code = bundle_code
        self.record = bundle.read_run()
        self.config = yaml.safe_load((bundle.path / "config.yaml").read_text())
        _import_plugins(bundle, self.record, self.config, bundle_code)
        family = self.record.get("family", "sklearn")
        fold_name = _fold(self.config, fold)
        self.predictor = Predictor(bundle, self.config, family, fold_name, trust=trust)

    @property
    def trusted_warning(self) -> str | None:
        """What to tell the user when the bundle's pickles are loaded on their word."""
        if not self.trust:
            return None
        return (
            f"trusting {self.path}: its pickles are unpickled without checking that this "
            "user's ednax wrote them (their sha256 is still checked); unpickling runs any "
            "code they hold, so use --trust only for a bundle whose origin you know"
        )

    @property
    def id(self) -> str:
        return self.bundle.run_id

    @property
    def path(self) -> Path:
        return self.bundle.path

    def __repr__(self) -> str:
        return f"LoadedRun(id={self.id!r}, path='{self.path}')"

    def predict(self, rows: Any, id_column: str | None = None) -> Any:
        """Predictions for `rows` as a DataFrame: the columns `ednax predict` writes."""
        return self.predictions(rows, id_column).to_frame()

    def predictions(self, rows: Any, id_column: str | None = None) -> Predictions:
        if self.modality == "text":
            return self.predictor.predict_texts(self._texts_of(_frame(rows), id_column))
        frame = _frame(rows)
        ids, X = check_frame(frame, self.predictor.schema, id_column, "the input")
        predictions = self.predictor.predict(X, ids)
        predictions.truth = known_targets(frame, self.predictor.schema)
        return predictions

    @property
    def modality(self) -> str:
        return self.predictor.schema.get("modality", "tabular")

    def predict_csv(self, path: str | Path, id_column: str | None = None) -> Predictions:
        """Predictions for a CSV of rows (or a .parquet file, or a folder of them); for an
        image run, a folder of images or a CSV of image paths (`id_column`, default `path`)."""
        if self.modality == "image":
            images = images_to_predict(Path(path), self.predictor.schema, id_column)
            return self.predictor.predict_images(images)
        if self.modality == "text":
            return self.predictor.predict_texts(self._read_texts(Path(path), id_column))
        ids, X, truth = read_input(Path(path), self.predictor.schema, id_column)
        predictions = self.predictor.predict(X, ids)
        predictions.truth = truth  # scored where the file has the run's target column
        return predictions

    def predict_split(self, split: str) -> Predictions:
        """The run's own data step loaded again, and one of its splits predicted."""
        from ednax.app.running import bundle_config

        resolved = bundle_config(self.bundle, self.record, bundle_code=self.bundle_code)
        dataset = REGISTRY.build("data", resolved["data"]).load()
        if split not in dataset.splits:
            splits = sorted(dataset.splits)
            raise UsageError(
                f"data:{split}: the run's data has no split '{split}'; "
                + Suggestions(splits).hint(split, "split")
            )
        chosen = dataset.splits[split]
        if dataset.modality == "image":
            predictions = self.predictor.predict_images(chosen)
        elif dataset.modality == "text":
            predictions = self.predictor.predict_texts(chosen)
        else:
            predictions = self.predictor.predict(chosen.X, chosen.ids.tolist())
        predictions.truth = getattr(chosen, "y", None)
        return predictions

    def scores(self, predictions: Predictions) -> dict[str, float]:
        """The run's metrics (`metrics.names`) of predictions whose true targets are known,
        scored as training scored its splits; empty when they are not known. A metric the
        rows cannot give (roc_auc of rows of one class) is left out."""
        from ednax.engine.metrics import build_metrics

        if predictions.truth is None:
            return {}
        task = self.record.get("task") or self.predictor.schema["task"]
        scores = {}
        for name, metric in build_metrics(self.config["metrics"]["names"], task).items():
            try:
                value = float(metric(predictions.truth, predictions.values, predictions.proba))
            except (ValueError, ZeroDivisionError):
                continue
            if math.isfinite(value):
                scores[name] = value
        return scores

    def as_recorded(self, scores: dict[str, float], split: str) -> bool | None:
        """Whether `scores` of `split` are what the run recorded for it (a torch run scored
        its splits in float32: the same to about 1e-7); None when it recorded none of them."""
        recorded = {k: v for k, v in self.recorded_scores(split).items() if k in scores}
        if not recorded:
            return None
        return all(
            math.isclose(v, scores[k], rel_tol=1e-6, abs_tol=1e-9) for k, v in recorded.items()
        )

    def recorded_scores(self, split: str) -> dict[str, float]:
        """What the run's metrics.json recorded for `split` (of the fold predicting)."""
        from ednax.runs.reader import flat_metrics, read_json

        recorded, _ = read_json(self.path / METRICS_FILE)
        flat = flat_metrics(recorded) if isinstance(recorded, dict) else {}
        fold = self.predictor.prefix  # a k-fold run's folds are recorded under folds/
        prefix = f"folds/{fold}{split}/" if fold else f"{split}/"
        return {k.removeprefix(prefix): v for k, v in flat.items() if k.startswith(prefix)}

    def text_columns(self) -> tuple[list[str], list[str], str | None]:
        """A text run's text columns, extra columns and id column, as its data step named
        them (a text_folder run's texts are read from a `text` column)."""
        from ednax.steps.text.data import text_columns

        data = self.config.get("data") or {}
        return text_columns(data.get("text", "text")), self.predictor.text_extras, data.get("id")

    def _read_texts(self, path: Path, id_column: str | None) -> Any:
        """The texts of a CSV, read as the run's data step read its own; ids from
        `id_column`, else the data step's id column when the file has it, else row numbers."""
        import pandas as pd

        from ednax.steps.text.data import read_texts

        text, extras, id_name = self.text_columns()
        if id_column is None and id_name is not None and path.is_file():
            header = pd.read_csv(path, nrows=0, dtype=str).columns
            id_column = id_name if id_name in header else None
        return read_texts(path, text, extras, id=id_column)

    def _texts_of(self, frame: Any, id_column: str | None) -> Any:
        """A DataFrame's texts (rows given to `predict`) as a TextSplit."""
        import numpy as np

        from ednax.steps.text.tokens import TextSplit

        text, extras, _ = self.text_columns()
        wanted = [*text, *extras, *([id_column] if id_column else [])]
        missing = [c for c in wanted if c not in frame.columns]
        if missing:
            raise UsageError(
                f"the rows have no column {', '.join(map(repr, missing))} (the run reads "
                f"texts from {', '.join(text)}"
                + (f" and the extra columns {', '.join(extras)})" if extras else ")")
            )
        texts = frame[text].astype(str).agg(" ".join, axis=1).tolist() if len(frame) else []
        ids = frame[id_column].tolist() if id_column else list(range(len(frame)))
        values = frame[extras].to_numpy(dtype=np.float32) if extras else None
        return TextSplit(texts, np.zeros(len(texts)), np.asarray(ids, dtype=object), values, extras)


def load(
    run: str | Path,
    runs_dir: str | Path = "runs",
    fold: str | None = None,
    *,
    trust: bool = False,
    bundle_code: bool = False,
) -> LoadedRun:
    """A run by bundle path, id (or unique prefix), `latest` or `EXPERIMENT/latest`;
    `trust` loads pickles this user's ednax did not sign (docs/security.md); `bundle_code`
    imports the bundle's copy of its plugin modules instead of today's."""
    bundle = Bundle.open(find_run(str(run), Path(runs_dir)))
    return LoadedRun(bundle, fold, trust=trust, bundle_code=bundle_code)


def _frame(rows: Any) -> Any:
    import pandas as pd

    if isinstance(rows, pd.DataFrame):
        return rows.copy()
    if isinstance(rows, dict) or (
        isinstance(rows, list) and all(isinstance(r, dict) for r in rows)
    ):
        return pd.DataFrame(rows)
    raise UsageError(
        f"cannot predict on a {type(rows).__name__}: give a DataFrame, a dict of columns "
        "or a list of records (dicts)"
    )


def _import_plugins(bundle: Bundle, record: dict, config: dict, bundle_code: bool) -> None:
    """The original config's `imports:` (they live beside it; with `bundle_code`, the
    bundle's copy of them first), for classes they register."""

    kept = not bundle_code and keeps_code(record, bundle.path)

    def locate(message: str, path: str, hint: str | None) -> Problem:
        if kept and message.startswith("cannot import"):
            hint = (
                f"{hint}; or use the bundle's copy of it (code/): --bundle-code"
                if hint
                else "use the bundle's copy of it (code/): --bundle-code"
            )
        return Problem(message, path=path, file=str(bundle.path / "config.yaml"), hint=hint)

    names = list(config.get("imports") or [])
    folders = plugin_dirs(record, bundle.path if bundle_code else None)
    import_plugins(names, folders=folders, registry=REGISTRY, locate=locate)


def _fold(config: dict, fold: str | None) -> str:
    """The fold whose model predicts: none for a holdout run, one named for a k-fold run."""
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
