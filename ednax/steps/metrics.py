"""Built-in metrics: callables `(y_true, y_pred, y_proba=None) -> float`.

For classification `y_true` and `y_pred` are class indices 0..k-1 and `y_proba` (when the
model has predict_proba) has one column per class of the dataset. Each class says which
tasks it applies to, whether larger is better, and whether it needs probabilities.
Macro averages count a class that is absent from a split as 0 without a warning.

Accuracy and the macro averages of class indices are counted with numpy (`_label_counts`),
by scikit-learn's formulas on the same labels, so the values are scikit-learn's to the
last bit; scikit-learn's own input checks cost milliseconds a call, and a torch run scores
every split after every epoch. Other inputs go to scikit-learn.
"""

from __future__ import annotations

from typing import Any

import numpy as np

CLASSIFICATION = ("classification",)
REGRESSION = ("regression",)


class Accuracy:
    """Fraction of rows whose predicted class is right."""

    tasks = CLASSIFICATION
    greater_is_better = True
    needs_proba = False

    def __init__(self) -> None:
        pass

    def __call__(self, y_true: Any, y_pred: Any, y_proba: Any = None) -> float:
        if _class_indices(y_true, y_pred):
            return float(np.average(y_true == y_pred))
        from sklearn.metrics import accuracy_score

        return float(accuracy_score(y_true, y_pred))


class _MacroAverage:
    """A label metric of scikit-learn averaged over classes with equal weight; a class
    absent from a split counts as 0 without a warning."""

    tasks = CLASSIFICATION
    greater_is_better = True
    needs_proba = False
    sklearn_score = ""

    def __call__(self, y_true: Any, y_pred: Any, y_proba: Any = None) -> float:
        if _class_indices(y_true, y_pred):
            return float(np.average(self._per_class(*_label_counts(y_true, y_pred))))
        from sklearn import metrics

        score = getattr(metrics, self.sklearn_score)
        return float(score(y_true, y_pred, average="macro", zero_division=0))

    @staticmethod
    def _per_class(tp: np.ndarray, true: np.ndarray, pred: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class F1Macro(_MacroAverage):
    """F1 score averaged over classes with equal weight."""

    sklearn_score = "f1_score"

    def __init__(self) -> None:
        pass

    @staticmethod
    def _per_class(tp: np.ndarray, true: np.ndarray, pred: np.ndarray) -> np.ndarray:
        return _divide(2.0 * tp, 1.0 * true + pred)


class PrecisionMacro(_MacroAverage):
    """Precision averaged over classes with equal weight."""

    sklearn_score = "precision_score"

    def __init__(self) -> None:
        pass

    @staticmethod
    def _per_class(tp: np.ndarray, true: np.ndarray, pred: np.ndarray) -> np.ndarray:
        return _divide(tp, pred)


class RecallMacro(_MacroAverage):
    """Recall averaged over classes with equal weight (balanced accuracy)."""

    sklearn_score = "recall_score"

    def __init__(self) -> None:
        pass

    @staticmethod
    def _per_class(tp: np.ndarray, true: np.ndarray, pred: np.ndarray) -> np.ndarray:
        return _divide(tp, true)


def _class_indices(y_true: Any, y_pred: Any) -> bool:
    """Whether both are non-empty 1-D integer arrays of one length (what ednax's own
    scoring passes), so that numpy may count them."""
    return (
        isinstance(y_true, np.ndarray)
        and isinstance(y_pred, np.ndarray)
        and y_true.ndim == y_pred.ndim == 1
        and 0 < len(y_true) == len(y_pred)
        and y_true.dtype.kind in "iu"
        and y_pred.dtype.kind in "iu"
        and min(y_true.min(), y_pred.min()) >= 0
    )


def _label_counts(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, ...]:
    """True positives, true and predicted counts of each label present in either array
    (scikit-learn's labels when none are given)."""
    size = int(max(y_true.max(), y_pred.max())) + 1
    true = np.bincount(y_true, minlength=size)
    pred = np.bincount(y_pred, minlength=size)
    tp = np.bincount(y_true[y_true == y_pred], minlength=size)
    present = (true + pred) > 0
    return tp[present], true[present], pred[present]


def _divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, 0 where the denominator is 0 (zero_division=0)."""
    out = np.zeros(len(denominator), dtype=np.float64)
    np.divide(numerator, denominator, out=out, where=denominator != 0)
    return out


class RocAuc:
    """Area under the ROC curve; multiclass: one-vs-rest, macro-averaged over classes.

    Classes absent from the split's `y_true` are left out of the average, and a split with
    a single class present scores NaN (the area is undefined).
    """

    tasks = CLASSIFICATION
    greater_is_better = True
    needs_proba = True

    def __init__(self) -> None:
        pass

    def __call__(self, y_true: Any, y_pred: Any, y_proba: Any = None) -> float:
        from sklearn.metrics import roc_auc_score

        if y_proba is None:
            raise ValueError("roc_auc needs predicted probabilities (a model with predict_proba)")
        y_true = np.asarray(y_true)
        proba = np.asarray(y_proba, dtype=np.float64)
        present = np.unique(y_true)
        if len(present) < 2:
            return float("nan")
        if proba.ndim == 1:
            return float(roc_auc_score(y_true, proba))
        if proba.shape[1] == 2:
            return float(roc_auc_score(y_true, proba[:, 1]))
        scores = [roc_auc_score(y_true == c, proba[:, int(c)]) for c in present]
        return float(np.mean(scores))


class RMSE:
    """Root mean squared error."""

    tasks = REGRESSION
    greater_is_better = False
    needs_proba = False

    def __init__(self) -> None:
        pass

    def __call__(self, y_true: Any, y_pred: Any, y_proba: Any = None) -> float:
        from sklearn.metrics import mean_squared_error

        return float(np.sqrt(mean_squared_error(y_true, y_pred)))


class MAE:
    """Mean absolute error."""

    tasks = REGRESSION
    greater_is_better = False
    needs_proba = False

    def __init__(self) -> None:
        pass

    def __call__(self, y_true: Any, y_pred: Any, y_proba: Any = None) -> float:
        from sklearn.metrics import mean_absolute_error

        return float(mean_absolute_error(y_true, y_pred))


class R2:
    """Coefficient of determination (1 is perfect, 0 is predicting the mean)."""

    tasks = REGRESSION
    greater_is_better = True
    needs_proba = False

    def __init__(self) -> None:
        pass

    def __call__(self, y_true: Any, y_pred: Any, y_proba: Any = None) -> float:
        from sklearn.metrics import r2_score

        return float(r2_score(y_true, y_pred))
