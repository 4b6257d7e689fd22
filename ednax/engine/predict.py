"""Predict with a finished run: its fitted preprocessing and model, on new rows.

Everything comes from the bundle: the raw feature schema the model was trained on
(artifacts/data_schema.json), the fitted preprocessing, and the estimator or the best
checkpoint. An artifact is used only if its sha256 matches the one run.json recorded, and
nothing is unpickled from outside the bundle's artifacts/. A pickle is unpickled only if
its hmac, too, verifies with this user's secret (ednax.runs.trust): a sha256 beside the
file is rewritten as easily as the file. `trust=True` (`ednax predict --trust`) skips that
check for a bundle the user vouches for; the sha256 is still checked. Checkpoints are read
with `torch.load(..., weights_only=True)`, which cannot run code, and need no signature.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import pickle
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ednax.errors import Suggestions, UsageError
from ednax.runs import trust as signatures
from ednax.runs.bundle import Bundle
from ednax.steps.pretrained import EXPORT_FILES, EXPORT_FOLDER


@dataclass
class Predictions:
    ids: list[Any]
    values: np.ndarray
    proba: np.ndarray | None
    classes: list[Any] | None
    id_name: str = "id"  # "path" for images
    truth: np.ndarray | None = None  # the rows' true targets, where known (`known_targets`)

    def to_csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        header = [self.id_name, "prediction"]
        if self.proba is not None and self.classes is not None:
            header += [f"proba_{c}" for c in self.classes]
        writer.writerow(header)
        for i, row_id in enumerate(self.ids):
            row = [row_id, self._label(i)]
            if self.proba is not None and self.classes is not None:
                row += [f"{p:.6g}" for p in self.proba[i]]
            writer.writerow(row)
        return out.getvalue()

    def to_frame(self) -> Any:
        """The columns `to_csv` writes, as a pandas DataFrame (values not rounded)."""
        import pandas as pd

        if self.classes is None:
            values = [float(v) for v in self.values]
        else:
            values = [self.classes[int(v)] for v in self.values]
        data: dict[str, Any] = {self.id_name: list(self.ids), "prediction": values}
        if self.proba is not None and self.classes is not None:
            for k, c in enumerate(self.classes):
                data[f"proba_{c}"] = self.proba[:, k]
        return pd.DataFrame(data)

    def _label(self, i: int) -> Any:
        if self.classes is None:
            return f"{float(self.values[i]):.6g}"
        return self.classes[int(self.values[i])]


class Predictor:
    """A bundle's fitted preprocessing and model, checked and loaded once."""

    def __init__(
        self,
        bundle: Bundle,
        config: dict[str, Any],
        family: str,
        fold: str = "",
        *,
        trust: bool = False,
    ):
        """`config` is the run's resolved config (its config.yaml); `fold` a k-fold run's
        fold whose model predicts; `trust` unpickles the bundle's pickles without checking
        that this user's ednax signed them (their sha256 is still checked)."""
        self.bundle = bundle
        self.config = config
        self.family = family
        self.prefix = f"{fold}/" if fold else ""
        self.trust = trust
        self.record = bundle.read_run()
        self.schema = json.loads(self._read("data_schema.json")[1])
        self._loaded: dict[Any, Any] = {}  # artifacts loaded once, for every later call

    @property
    def features(self) -> list[str]:
        return [f["name"] for f in self.schema["features"]]

    def verified(self, name: str) -> Path:
        """artifacts/<name>, if it is there and its checksum is the one run.json recorded
        (for a file read by something that cannot run code: json, a weights_only load)."""
        return self._read(name)[0]

    def unpickled(self, name: str) -> Any:
        """artifacts/<name> unpickled, from the very bytes whose sha256 and hmac were
        checked: unless the bundle is trusted, a pickle this user's ednax did not sign is
        refused before a byte of it is loaded. Loaded once; later calls share the object."""
        if name in self._loaded:
            return self._loaded[name]
        _, data = self._read(name)
        if not self.trust:
            recorded = self.record["artifacts"][name]
            if "hmac" not in recorded:
                self._refuse(name, signatures.UNSIGNED)
            if not signatures.artifact_signed(data, recorded["hmac"]):
                self._refuse(name, signatures.NOT_SIGNED)
        return self._loaded.setdefault(name, pickle.loads(data))

    def _missing(self, name: str) -> str:
        """Why the bundle has no `name`: a run that did not complete says how it ended."""
        status = self.record.get("status")
        if status in (None, "completed"):
            return f"{self.bundle.path} has no recorded artifact {name}; was the run completed?"
        error = str(self.record.get("error") or "").strip().splitlines()
        why = f" ({error[0]})" if error else ""
        return (
            f"run {self.bundle.run_id} {status}{why}: it left no {name} to predict with; "
            "predict with a completed run (`ednax runs -s completed`)"
        )

    def _read(self, name: str) -> tuple[Path, bytes]:
        artifacts = self.bundle.path / "artifacts"
        path = (artifacts / name).resolve()
        if artifacts.resolve() not in path.parents:
            raise UsageError(f"artifact {name} is outside {artifacts}; refusing to load it")
        recorded = (self.record.get("artifacts") or {}).get(name)
        if not isinstance(recorded, dict) or not path.is_file():
            raise UsageError(self._missing(name))
        data = path.read_bytes()
        digest, expected = hashlib.sha256(data).hexdigest(), str(recorded.get("sha256"))
        if digest != expected:
            raise UsageError(
                f"artifact {path} was changed after the run (sha256 {digest[:12]}..., "
                f"recorded {expected[:12]}...); refusing to load it"
            )
        return path, data

    def _refuse(self, name: str, reason: str) -> None:
        path = self.bundle.path / "artifacts" / name
        raise UsageError(
            f"refusing to unpickle {path}: it is {reason}. Unpickling a file runs whatever "
            f"code it holds.\n    This user's secret is {signatures.secret_path()}. If you "
            "know where this bundle came from and trust whoever wrote it, load it "
            f"deliberately: ednax predict --trust {self.bundle.path} ... (to serve it: "
            f"ednax serve --trust {self.bundle.path}; in Python: ednax.load(run, "
            "trust=True)); see docs/security.md"
        )

    def predict(self, X: np.ndarray, ids: list[Any]) -> Predictions:
        pipeline = self.unpickled(self.prefix + "preprocess.pkl")
        X = np.asarray(pipeline.transform(X), dtype=np.float64)
        if self.family == "torch":
            values, proba = self._predict_torch(X)
        else:
            values, proba = self._predict_estimator(X)
        return Predictions(ids, values, proba, self.schema.get("classes"))

    def predict_images(self, images: Any) -> Predictions:
        """Predictions for an ImageSplit, through the run's fitted image preprocessing
        (preprocess.json, no pickle) and best checkpoint, `_eval_rows` images at a time."""
        import torch

        from ednax.engine.lightning.module import predictions

        module = self._loaded_module(int(np.prod(self.schema["input_shape"])))
        module.inputs = self._image_inputs()
        rows = self._eval_rows()
        chunks = [module.outputs(torch.from_numpy(batch), rows) for batch in images.chunks(rows)]
        values, proba = predictions(torch.cat(chunks), self.schema["task"])
        ids = [str(i) for i in images.ids]
        return Predictions(ids, values, proba, self.schema.get("classes"), id_name="path")

    def predict_texts(self, texts: Any) -> Predictions:
        """Predictions for a TextSplit: tokenized by the run's fitted tokenizer
        (tokenizer.json, no pickle), then the best checkpoint on batches padded as
        training's evaluation padded them, `_eval_rows` texts at a time."""
        from ednax.engine.lightning.evaluation import token_outputs
        from ednax.engine.lightning.module import predictions

        tokenizer = self._tokenizer()
        vocabulary = tokenizer.vocabulary
        module = self._loaded_module(len(texts.extra_names), vocabulary)
        trainer = self.config.get("trainer") or {}
        width = vocabulary.max_length if trainer.get("padding") == "max_length" else None
        tokens = tokenizer.encode(texts)
        outputs = token_outputs(module, tokens, vocabulary.pad_id, self._eval_rows(), "cpu", width)
        values, proba = predictions(outputs, self.schema["task"])
        return Predictions(list(texts.ids), values, proba, self.schema.get("classes"))

    @property
    def text_extras(self) -> list[str]:
        """The extra numeric columns a text run's model takes beside the text."""
        return list((self.schema.get("text") or {}).get("extras") or [])

    def _tokenizer(self) -> Any:
        """The run's fitted tokenizer, its files checked against run.json first."""
        from ednax.steps.text.tokenizers import TOKENIZER_JSON, TOKENIZER_STATE, load_fitted

        if "tokenizer" not in self._loaded:
            for name in (TOKENIZER_JSON, TOKENIZER_STATE):
                self.verified(self.prefix + name)
            folder = self.bundle.path / "artifacts" / self.prefix
            self._loaded["tokenizer"] = load_fitted(folder)
        return self._loaded["tokenizer"]

    def _image_inputs(self) -> Any:
        from ednax.engine.lightning.inputs import Inputs
        from ednax.engine.preprocessing import IMAGE_PREPROCESS, image_pipeline_from_state

        state = json.loads(self.verified(self.prefix + IMAGE_PREPROCESS).read_text())
        classes = self.schema.get("classes")
        return Inputs(image_pipeline_from_state(state), classes=classes and len(classes), seed=0)

    def _predict_estimator(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        return estimator_outputs(self.unpickled(self.prefix + "model.pkl"), X)

    def _predict_torch(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """The run's train loop (`trainer.module`, or the built-in) with the checkpoint's
        weights: its forward, as training's evaluation ran it for predictions.csv."""
        import torch

        from ednax.engine.lightning.module import predictions

        module = self._loaded_module(X.shape[1])
        outputs = module.outputs(torch.from_numpy(X.astype(np.float32)), self._eval_rows())
        return predictions(outputs, self.schema["task"])

    def _loaded_module(self, in_features: int, vocabulary: Any = None) -> Any:
        """The run's train loop with the best checkpoint's weights, in its precision; built
        once. A text run's model is sized by its tokenizer's `vocabulary`."""
        import torch

        if ("module", in_features) in self._loaded:
            return self._loaded["module", in_features]
        module = self._train_loop(in_features, vocabulary)
        state = torch.load(self._checkpoint(), map_location="cpu", weights_only=True)
        state = state["state_dict"]
        first = next(iter(module.state_dict()), None)
        if first in state and state[first].is_floating_point():
            module.to(state[first].dtype)  # a 64-true or bf16-true run's precision
        module.load_state_dict(state)
        return self._loaded.setdefault(("module", in_features), module)

    def _train_loop(self, in_features: int, vocabulary: Any = None) -> Any:
        from ednax.engine.lightning import assemble
        from ednax.engine.lightning.setup import module_class
        from ednax.registry import REGISTRY

        task, classes = self.schema["task"], self.schema.get("classes")
        shape = self.schema.get("input_shape")
        out_features = len(classes) if classes is not None else 1
        sizes = {
            "in_features": in_features,
            "out_features": out_features,
            "input_shape": tuple(shape) if shape else None,
            "task": task,
        }
        if vocabulary is not None:
            sizes = assemble.text_sizes(vocabulary, in_features, out_features, task)
        trainer = self.config.get("trainer") or {}
        return assemble.train_loop(
            module_class(trainer.get("module"), REGISTRY),
            trainer.get("module_args"),
            model=assemble.model_for(sizes, self._model_section(), REGISTRY),
            loss=assemble.loss_for(task, classes and len(classes), self.config["loss"], REGISTRY),
            task=task,
        )

    def _model_section(self) -> dict:
        """The config's model; a pretrained one built from the bundle's own export of it
        (artifacts/pretrained/: config.json and the best weights as safetensors, checked),
        so that predicting needs neither the directory nor the hub the run started from.
        The checkpoint's weights are loaded over it either way."""
        section = dict(self.config["model"])
        export = [f"{self.prefix}{EXPORT_FOLDER}/{name}" for name in EXPORT_FILES]
        recorded = self.record.get("artifacts", {})
        if section.get("pretrained") and all(name in recorded for name in export):
            section["pretrained"] = str(self.verified(export[0]).parent)
            self.verified(export[1])
        return section

    def _eval_rows(self) -> int:
        """Rows per forward pass, as the trainer's evaluation took them (eval_batch_size)."""
        trainer = self.config.get("trainer") or {}
        return int(trainer.get("eval_batch_size") or max(int(trainer.get("batch_size", 32)), 1024))

    def _checkpoint(self) -> Path:
        recorded = self.record.get("artifacts", {})
        for name in (self.prefix + "best.ckpt", self.prefix + "last.ckpt"):
            if name in recorded:
                return self.verified(name)
        if self.record.get("status") not in (None, "completed"):
            raise UsageError(self._missing("checkpoint"))
        raise UsageError(f"{self.bundle.path} kept no checkpoint (save.checkpoints: none)")


def estimator_outputs(estimator: Any, X: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """A fitted estimator's predictions of the preprocessed `X`, and its probabilities
    (None for an estimator without `predict_proba`)."""
    if not hasattr(estimator, "predict_proba"):
        return estimator.predict(X), None
    proba = estimator.predict_proba(X)
    if _predicts_by_proba(estimator):  # the forest's trees run once, not twice
        return estimator.classes_.take(np.argmax(proba, axis=1), axis=0), proba
    return estimator.predict(X), proba


def _predicts_by_proba(estimator: Any) -> bool:
    """Whether `predict` is, by its definition, the class of highest `predict_proba`: a
    scikit-learn forest classifier's (random forest, extra trees) is exactly that. A fitted
    forest has imported its module: without it, nothing here is a forest (and importing
    sklearn.ensemble would cost a tenth of a second)."""
    forests = sys.modules.get("sklearn.ensemble._forest")
    if forests is None:
        return False
    forest_predict = forests.ForestClassifier.predict  # for both forests
    return type(estimator).predict is forest_predict and getattr(estimator, "n_outputs_", 1) == 1


def read_input(path: Path, schema: dict[str, Any], id_column: str | None) -> tuple:
    """(ids, X, truth) of a csv, or of a .parquet file or folder of them, to predict on,
    checked against the training schema: every problem (missing, extra, non-numeric,
    unseen category) reported at once; `truth`, the rows' targets (`known_targets`)."""
    from ednax.steps.csv_columns import read_csv
    from ednax.steps.data_sources import PARQUET_SUFFIX, read_parquet

    if path.suffix == PARQUET_SUFFIX or path.is_dir():
        frame = read_parquet(path)
    else:
        frame = read_csv(path, "source", UsageError)
    ids, X = check_frame(frame, schema, id_column, str(path), data_rows=True)
    return ids, X, known_targets(frame, schema)


def known_targets(frame: Any, schema: dict[str, Any]) -> np.ndarray | None:
    """The target column of rows to predict, encoded as training encoded it (class
    indices, or numbers), when every row has a target the run knows; else None."""
    import pandas as pd

    from ednax.steps.csv_columns import category

    target = schema.get("target")
    if not target or target not in frame.columns or frame[target].isna().any():
        return None
    column, classes = frame[target], schema.get("classes")
    if classes is None:
        numbers = pd.to_numeric(column, errors="coerce")
        return None if numbers.isna().any() else numbers.to_numpy(dtype=float)
    index = {category(c): i for i, c in enumerate(classes)}
    codes = [index.get(category(v)) for v in column]
    return None if None in codes else np.asarray(codes)


def check_frame(
    frame: Any,
    schema: dict[str, Any],
    id_column: str | None,
    what: str,
    *,
    data_rows: bool = False,
) -> tuple:
    """(ids, X) of a DataFrame to predict on, checked against the training schema: every
    problem reported at once, naming `what` the rows came from (a file, "the input"). A
    row is named by its position from 0 (a request's list), or with `data_rows` (a file)
    as a data row counted from 1, as the data step's checks name a training file's."""
    from ednax.steps.csv_columns import feature_matrix

    frame.columns = [str(c) for c in frame.columns]
    if id_column is None and schema.get("id") in frame.columns:  # the run's data.id
        id_column = schema["id"]
    problems = column_problems(frame, schema, id_column, data_rows=data_rows)
    if problems:
        raise UsageError(
            f"{what} does not match what the model was trained on:\n  " + "\n  ".join(problems)
        )
    if not len(frame):
        raise UsageError(f"{what} holds no rows to predict")
    features = [f["name"] for f in schema["features"]]
    ids = frame[id_column].tolist() if id_column else list(range(len(frame)))
    categorical = [f["name"] for f in schema["features"] if f["kind"] == "categorical"]
    return ids, feature_matrix(frame[features], categorical)


def column_problems(
    frame: Any, schema: dict[str, Any], id_column: str | None, *, data_rows: bool = False
) -> list[str]:
    features = {f["name"]: f for f in schema["features"]}
    allowed = set(features) | {schema.get("target"), schema.get("id"), id_column}
    allowed |= set(schema.get("dropped") or ())  # the run's data.drop
    extra = [name for name in frame.columns if name not in allowed]
    problems = [
        f"column '{name}' is missing (the model was trained on it)" + _written_as(name, extra)
        for name in features
        if name not in frame.columns
    ]
    problems += [
        f"column '{name}' was not in the training data; remove it"
        + (" or pass it as --id-column" if id_column is None else "")
        for name in extra
    ]
    if id_column is not None and id_column not in frame.columns:
        problems.append(f"the id column '{id_column}' is not in the file")
    for name, spec in features.items():
        if name in frame.columns:
            problems += _value_problems(frame[name], spec, data_rows)
    return problems


def _written_as(name: str, extra: list[str]) -> str:
    """'; is it 'Island'?' when a column the model was not trained on is `name` in
    another case or with a typo."""
    near = Suggestions(extra).near(name)
    return f"; is it '{near[0]}'?" if near else ""


def _value_problems(column: Any, spec: dict[str, Any], data_rows: bool) -> list[str]:
    import pandas as pd

    from ednax.steps.csv_columns import category

    present = column.notna()
    if spec["kind"] == "numeric":
        numbers = pd.to_numeric(column, errors="coerce")
        bad = present & numbers.isna()
        if bad.any():
            at = int(np.flatnonzero(bad.to_numpy())[0])
            row = f"data row {at + 1}" if data_rows else f"row {at}"
            return [f"column '{spec['name']}' must be numeric; {row} holds {column.iloc[at]!r}"]
        return []
    seen = set(spec.get("categories", []))
    unseen = sorted({category(v) for v in column[present]} - seen)
    if unseen and spec.get("unseen") != "encoded":  # the fitted encoder refuses them
        return [
            f"column '{spec['name']}' has categories not seen in training: {unseen[:5]}"
            f" (known: {sorted(seen)[:10]})"
        ]
    return []
