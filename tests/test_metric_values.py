"""ednax's accuracy and macro averages give scikit-learn's values to the last bit, for
class indices with classes absent from a split, predicted but absent, or all right."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as sk

from ednax.steps.metrics import Accuracy, F1Macro, PrecisionMacro, RecallMacro

MACRO = [
    (F1Macro, sk.f1_score),
    (PrecisionMacro, sk.precision_score),
    (RecallMacro, sk.recall_score),
]


def cases():
    rng = np.random.default_rng(0)
    for n in (1, 2, 7, 30, 151):
        for classes in (1, 2, 3, 5):
            y_true = rng.integers(0, classes, n)
            yield y_true, rng.integers(0, classes, n)
            yield y_true, rng.integers(0, classes + 2, n)  # classes the split lacks
            yield y_true, y_true.copy()
    yield np.array([2, 2, 4]), np.array([2, 3, 4])  # classes 0, 1 in neither


@pytest.mark.parametrize(("ours", "theirs"), MACRO)
def test_macro_averages_equal_scikit_learns(ours, theirs):
    for y_true, y_pred in cases():
        expected = float(theirs(y_true, y_pred, average="macro", zero_division=0))
        assert ours()(y_true, y_pred) == expected, (y_true, y_pred)


def test_accuracy_equals_scikit_learns():
    for y_true, y_pred in cases():
        assert Accuracy()(y_true, y_pred) == float(sk.accuracy_score(y_true, y_pred))


def test_labels_that_are_not_class_indices_still_score():
    y_true, y_pred = np.array(["a", "b", "b"]), np.array(["a", "a", "b"])
    assert F1Macro()(y_true, y_pred) == pytest.approx(2 / 3)
    assert Accuracy()([0, 1, 1], [0, 0, 1]) == pytest.approx(2 / 3)
