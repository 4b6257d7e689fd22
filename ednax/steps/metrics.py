"""Built-in metrics: callables `(y_true, y_pred, y_proba=None) -> float`.

For classification `y_true` and `y_pred` are class indices 0..k-1 and `y_proba` (when the
model has predict_proba) has one column per class of the dataset. Each class says which
tasks it applies to, whether larger is better, and whether it needs probabilities.
Macro averages count a class that is absent from a split as 0 without a warning.
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
        from sklearn import metrics

        score = getattr(metrics, self.sklearn_score)
        return float(score(y_true, y_pred, average="macro", zero_division=0))


class F1Macro(_MacroAverage):
    """F1 score averaged over classes with equal weight."""

    sklearn_score = "f1_score"

    def __init__(self) -> None:
        pass


class PrecisionMacro(_MacroAverage):
    """Precision averaged over classes with equal weight."""

    sklearn_score = "precision_score"

    def __init__(self) -> None:
        pass


class RecallMacro(_MacroAverage):
    """Recall averaged over classes with equal weight (balanced accuracy)."""

    sklearn_score = "recall_score"

    def __init__(self) -> None:
        pass


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
