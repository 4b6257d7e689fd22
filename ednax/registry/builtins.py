"""The built-in entries: registered lazily as `module:attr`, like any plugin's."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ednax.registry import Registry

# (kind, name, target, tags)
TABULAR = [
    ("data", "sklearn_toy", "ednax.steps.data:SklearnToy", {}),
    ("data", "csv", "ednax.steps.data:Csv", {}),
    ("data", "synthetic", "ednax.steps.data:Synthetic", {}),
    ("preprocess", "standard_scaler", "ednax.steps.preprocess:StandardScaler", {}),
    ("preprocess", "minmax_scaler", "ednax.steps.preprocess:MinMaxScaler", {}),
    ("preprocess", "one_hot", "ednax.steps.preprocess:OneHot", {}),
    ("preprocess", "impute", "ednax.steps.preprocess:Impute", {}),
    ("preprocess", "pca", "ednax.steps.preprocess:PCA", {}),
    ("model", "random_forest", "ednax.steps.estimators:RandomForest", {"family": "sklearn"}),
    (
        "model",
        "gradient_boosting",
        "ednax.steps.estimators:GradientBoosting",
        {"family": "sklearn"},
    ),
    (
        "model",
        "logistic_regression",
        "ednax.steps.estimators:LogisticRegression",
        {"family": "sklearn"},
    ),
    ("model", "svm", "ednax.steps.estimators:SVM", {"family": "sklearn"}),
    ("model", "knn", "ednax.steps.estimators:KNN", {"family": "sklearn"}),
    (
        "model",
        "linear_regression",
        "ednax.steps.estimators:LinearRegression",
        {"family": "sklearn"},
    ),
    ("model", "ridge", "ednax.steps.estimators:Ridge", {"family": "sklearn"}),
    ("metric", "accuracy", "ednax.steps.metrics:Accuracy", {}),
    ("metric", "f1_macro", "ednax.steps.metrics:F1Macro", {}),
    ("metric", "precision_macro", "ednax.steps.metrics:PrecisionMacro", {}),
    ("metric", "recall_macro", "ednax.steps.metrics:RecallMacro", {}),
    ("metric", "roc_auc", "ednax.steps.metrics:RocAuc", {}),
    ("metric", "rmse", "ednax.steps.metrics:RMSE", {}),
    ("metric", "mae", "ednax.steps.metrics:MAE", {}),
    ("metric", "r2", "ednax.steps.metrics:R2", {}),
    ("trainer", "sklearn", "ednax.steps.trainers:SklearnFit", {"family": "sklearn"}),
    ("save", "bundle", "ednax.steps.save:Bundle", {}),
]


def register_builtins(registry: Registry) -> None:
    from ednax.steps.catalog_torch import TORCH

    for kind, name, target, tags in (*TABULAR, *TORCH):
        registry.add(kind, name, target, **tags)
