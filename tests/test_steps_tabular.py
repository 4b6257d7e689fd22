"""The tabular built-in steps: data loading and splits, preprocessing, estimators, metrics."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import pathlib
import pickle
import warnings

import numpy as np
import pytest

from ednax.errors import ConfigError, UsageError
from ednax.registry.builtins import TABULAR
from ednax.signature import load_target, read_signature_statically, signature_of
from ednax.steps import estimators as est
from ednax.steps import metrics
from ednax.steps import preprocess as pre
from ednax.steps.data import Csv, SklearnToy, Synthetic

SAMPLE_DATA = pathlib.Path(__file__).resolve().parents[1] / "sample-configs" / "data"

TOY_SIZES = {"iris": 150, "wine": 178, "breast_cancer": 569, "digits": 1797, "diabetes": 442}


def problem_of(excinfo: pytest.ExceptionInfo) -> object:
    return excinfo.value.problems[0]


# ---------------------------------------------------------------- data: toy sets


@pytest.mark.parametrize("name", sorted(TOY_SIZES))
def test_toy_dataset_splits_cover_every_row_once(name):
    ds = SklearnToy(dataset=name, random_state=0).load()
    n = TOY_SIZES[name]
    ids = np.concatenate([ds.splits[s].ids for s in ("train", "val", "test")])
    assert sorted(ids.tolist()) == list(range(n))
    assert abs(len(ds.splits["test"]) - 0.2 * n) <= 1
    assert abs(len(ds.splits["val"]) - 0.2 * n) <= 1
    for split in ds.splits.values():
        assert split.X.shape == (len(split), len(ds.feature_names))
        assert split.X.dtype == np.float64
    json.dumps(ds.classes)  # the bundle records classes as JSON


@pytest.mark.parametrize(
    ("name", "task", "classes"),
    [
        ("iris", "classification", ["setosa", "versicolor", "virginica"]),
        ("breast_cancer", "classification", ["malignant", "benign"]),
        ("digits", "classification", list(range(10))),
        ("diabetes", "regression", None),
    ],
)
def test_toy_dataset_task_and_classes(name, task, classes):
    ds = SklearnToy(dataset=name, random_state=0).load()
    assert ds.task == task
    assert ds.classes == classes
    y = ds.splits["train"].y
    if task == "classification":
        assert y.dtype == np.int64
        assert set(np.unique(y)) == set(range(len(classes)))
    else:
        assert y.dtype == np.float64


def test_digits_keeps_image_shape_with_flat_rows():
    ds = SklearnToy(dataset="digits", random_state=0).load()
    assert ds.input_shape == (1, 8, 8)
    assert ds.splits["train"].X.shape[1] == 64


def test_stratified_split_keeps_class_proportions():
    ds = SklearnToy(dataset="iris", val=0.2, test=0.2, random_state=3).load()
    for name in ("val", "test"):
        assert np.bincount(ds.splits[name].y).tolist() == [10, 10, 10]


def test_seed_makes_splits_reproducible():
    first = SklearnToy(dataset="wine", random_state=7).load()
    again = SklearnToy(dataset="wine", random_state=7).load()
    other = SklearnToy(dataset="wine", random_state=8).load()
    assert np.array_equal(first.splits["test"].ids, again.splits["test"].ids)
    assert not np.array_equal(first.splits["test"].ids, other.splits["test"].ids)
    assert first.fingerprint == again.fingerprint == other.fingerprint


def test_zero_fraction_leaves_that_split_out():
    ds = SklearnToy(dataset="iris", val=0.0, test=0.3, random_state=0).load()
    assert set(ds.splits) == {"train", "test"}
    assert len(ds.splits["test"]) == 45


def test_no_shuffle_takes_the_last_rows_for_test():
    ds = Synthetic(n_samples=100, val=0.1, test=0.2, shuffle=False).load()
    assert ds.splits["test"].ids.tolist() == list(range(80, 100))
    assert ds.splits["val"].ids.tolist() == list(range(70, 80))


@pytest.mark.parametrize(
    ("val", "test", "key"),
    [(-0.1, 0.2, "data.val"), (0.2, 1.5, "data.test"), (0.5, 0.5, "data.test")],
)
def test_bad_fractions_are_config_errors_on_their_key(val, test, key):
    with pytest.raises(ConfigError) as excinfo:
        SklearnToy(dataset="iris", val=val, test=test).load()
    assert problem_of(excinfo).path == key


def test_impossible_stratified_split_suggests_turning_stratify_off():
    with pytest.raises(ConfigError) as excinfo:
        Synthetic(n_samples=20, n_classes=2, val=0.0, test=0.05, random_state=0).load()
    assert problem_of(excinfo).path == "data.test"
    assert "stratify" in problem_of(excinfo).hint


# ---------------------------------------------------------------- data: synthetic


def test_synthetic_is_reproducible_with_a_seed():
    a = Synthetic(n_samples=200, n_features=6, n_informative=3, random_state=1).load()
    b = Synthetic(n_samples=200, n_features=6, n_informative=3, random_state=1).load()
    c = Synthetic(n_samples=200, n_features=6, n_informative=3, random_state=2).load()
    assert a.fingerprint == b.fingerprint != c.fingerprint
    assert np.array_equal(a.splits["train"].X, b.splits["train"].X)
    assert a.feature_names == [f"x{i}" for i in range(6)]


def test_synthetic_regression_and_multiclass():
    reg = Synthetic(task="regression", n_samples=100, n_features=4, n_informative=2).load()
    assert reg.task == "regression" and reg.classes is None
    clf = Synthetic(n_samples=300, n_classes=3, random_state=0).load()
    assert clf.classes == [0, 1, 2]


def test_synthetic_more_informative_than_features_is_a_config_error():
    with pytest.raises(ConfigError) as excinfo:
        Synthetic(n_features=3, n_informative=5).load()
    assert problem_of(excinfo).path == "data.n_informative"


# ---------------------------------------------------------------- data: csv


@pytest.fixture
def mixed_csv(tmp_path):
    rng = np.random.default_rng(0)
    lines = ["size,color,weight,label"]
    for i in range(60):
        color = ["red", "green", "blue"][i % 3]
        weight = "" if i in (4, 17) else f"{rng.normal(10, 2):.2f}"
        lines.append(f"{i % 7},{color},{weight},{'yes' if i % 2 else 'no'}")
    path = tmp_path / "mixed.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_csv_with_text_column_loads_as_object_features(mixed_csv):
    ds = Csv(path=str(mixed_csv), target="label", random_state=0).load()
    assert ds.task == "classification"
    assert ds.classes == ["no", "yes"]
    assert ds.feature_names == ["size", "color", "weight"]
    assert ds.sources == [str(mixed_csv)]
    assert ds.fingerprint == hashlib.sha256(mixed_csv.read_bytes()).hexdigest()
    X = ds.splits["train"].X
    assert X.dtype == object
    assert {type(v) for v in X[:, 1]} == {str}


def test_csv_features_one_hot_to_numeric(mixed_csv):
    ds = Csv(path=str(mixed_csv), target="label", random_state=0).load()
    pipe = pre.make_pipeline([pre.Impute(), pre.OneHot()], ds.feature_names)
    pipe.fit(ds.splits["train"].X)
    X = pipe.transform(ds.splits["test"].X)
    assert X.dtype == np.float64 and not np.isnan(X).any()
    names = pre.output_feature_names(pipe, ds.feature_names)
    assert sorted(names) == ["color_blue", "color_green", "color_red", "size", "weight"]
    assert X.shape[1] == len(names)


def test_csv_relative_path_resolves_against_working_directory(mixed_csv, monkeypatch):
    monkeypatch.chdir(mixed_csv.parent)
    ds = Csv(path="mixed.csv", target="label", features=["weight", "size"]).load()
    assert ds.sources == [str(mixed_csv)]
    assert ds.feature_names == ["weight", "size"]
    assert ds.splits["train"].X.dtype == np.float64


def test_csv_task_auto_rule(tmp_path):
    path = tmp_path / "numbers.csv"
    rows = [f"{i},{i % 3},{i * 0.37:.2f},{i * 3}" for i in range(50)]
    path.write_text("x,grade,price,count\n" + "\n".join(rows) + "\n")
    assert Csv(path=str(path), target="grade").load().task == "classification"
    assert Csv(path=str(path), target="price").load().task == "regression"
    many = Csv(path=str(path), target="count", stratify=False).load()
    assert many.task == "regression"  # integer, but more than 20 distinct values
    forced = Csv(path=str(path), target="grade", task="regression").load()
    assert forced.task == "regression"


def test_csv_regression_on_text_target_is_a_config_error(mixed_csv):
    with pytest.raises(ConfigError) as excinfo:
        Csv(path=str(mixed_csv), target="label", task="regression").load()
    assert problem_of(excinfo).path == "data.task"


def test_csv_missing_file_names_the_absolute_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as excinfo:
        Csv(path="nowhere.csv", target="y").load()
    assert problem_of(excinfo).path == "data.path"
    assert str(tmp_path / "nowhere.csv") in problem_of(excinfo).message


def test_csv_missing_target_suggests_the_nearest_column(mixed_csv):
    with pytest.raises(ConfigError) as excinfo:
        Csv(path=str(mixed_csv), target="lable").load()
    assert problem_of(excinfo).path == "data.target"
    assert "'label'" in problem_of(excinfo).hint


def test_csv_missing_feature_suggests_the_nearest_column(mixed_csv):
    with pytest.raises(ConfigError) as excinfo:
        Csv(path=str(mixed_csv), target="label", features=["size", "colour"]).load()
    assert problem_of(excinfo).path == "data.features"
    assert "'color'" in problem_of(excinfo).hint


def test_sample_penguins_are_learnable_and_new_rows_predictable():
    data = Csv(path=str(SAMPLE_DATA / "penguins-mini.csv"), target="species", random_state=0)
    ds = data.load()
    assert ds.classes == ["Adelie", "Chinstrap", "Gentoo"]
    assert sum(len(s) for s in ds.splits.values()) == 120
    pipe = pre.make_pipeline([pre.Impute(), pre.OneHot()], ds.feature_names)
    train, test = ds.splits["train"], ds.splits["test"]
    model = est.RandomForest(random_state=0).build(ds.task)
    model.fit(pipe.fit_transform(train.X), train.y)
    accuracy = metrics.Accuracy()(test.y, model.predict(pipe.transform(test.X)))
    assert accuracy > 0.8
    new = data.read_features(str(SAMPLE_DATA / "penguins-new.csv"), ds.feature_names)
    assert model.predict(pipe.transform(new)).shape == (10,)


def test_read_features_without_a_trained_column_is_a_usage_error(mixed_csv):
    with pytest.raises(UsageError):
        Csv(path=str(mixed_csv), target="label").read_features(str(mixed_csv), ["size", "mass"])


# ---------------------------------------------------------------- preprocess


@pytest.fixture
def numeric_split():
    rng = np.random.default_rng(0)
    train = rng.normal([5.0, -3.0, 100.0], [1.0, 2.0, 10.0], size=(80, 3))
    val = rng.normal([6.0, -3.0, 120.0], [1.0, 2.0, 10.0], size=(20, 3))
    return train, val, ["a", "b", "c"]


def fitted(steps, train, names):
    pipe = pre.make_pipeline(steps, names)
    pipe.fit(train)
    return pipe


def test_standard_scaler_uses_train_statistics_only(numeric_split):
    train, val, names = numeric_split
    pipe = fitted([pre.StandardScaler()], train, names)
    out_train, out_val = pipe.transform(train), pipe.transform(val)
    assert np.allclose(out_train.mean(axis=0), 0, atol=1e-9)
    assert np.allclose(out_train.std(axis=0), 1)
    expected_val = (val - train.mean(axis=0)) / train.std(axis=0)
    assert np.allclose(out_val, expected_val)
    assert out_val[:, 2].mean() > 1  # val's shifted mean is not forced to 0


def test_minmax_scaler_maps_train_range(numeric_split):
    train, _, names = numeric_split
    out = fitted([pre.MinMaxScaler(feature_range=[-1.0, 1.0])], train, names).transform(train)
    assert np.allclose(out.min(axis=0), -1) and np.allclose(out.max(axis=0), 1)


def test_scaler_on_named_columns_leaves_the_others(numeric_split):
    train, _, names = numeric_split
    pipe = fitted([pre.StandardScaler(columns=["c"])], train, names)
    out = pipe.transform(train)
    got = dict(zip(pre.output_feature_names(pipe, names), out.T, strict=True))
    assert np.allclose(got["a"], train[:, 0]) and np.allclose(got["b"], train[:, 1])
    assert abs(got["c"].mean()) < 1e-9


def test_impute_fills_with_train_statistic(numeric_split):
    train, val, names = numeric_split
    train, val = train.copy(), val.copy()
    train[0, 0] = np.nan
    val[:3, 0] = np.nan
    out = fitted([pre.Impute(strategy="median")], train, names).transform(val)
    assert np.allclose(out[:3, 0], np.nanmedian(train[:, 0]))


def test_impute_most_frequent_fills_text_and_numbers():
    X = np.array([["x", 1.0], ["x", np.nan], [np.nan, 1.0], ["y", 2.0]], dtype=object)
    pipe = fitted([pre.Impute(strategy="most_frequent"), pre.OneHot()], X, ["cat", "num"])
    out = pipe.transform(X)
    names = pre.output_feature_names(pipe, ["cat", "num"])
    assert out[:, names.index("num")].tolist() == [1.0, 1.0, 1.0, 2.0]
    assert out[:, names.index("cat_x")].tolist() == [1.0, 1.0, 1.0, 0.0]


def test_one_hot_ignores_categories_unseen_in_train():
    train = np.array([["a", 1.0], ["b", 2.0], ["a", 3.0]], dtype=object)
    new = np.array([["c", 4.0]], dtype=object)
    pipe = fitted([pre.OneHot()], train, ["letter", "n"])
    assert pre.output_feature_names(pipe, ["letter", "n"]) == ["letter_a", "letter_b", "n"]
    assert pipe.transform(new).tolist() == [[0.0, 0.0, 4.0]]


def test_pca_keeps_the_asked_components_of_named_columns(numeric_split):
    train, _, names = numeric_split
    pipe = fitted([pre.PCA(columns=["a", "b"], n_components=1)], train, names)
    assert pre.output_feature_names(pipe, names) == ["pca0", "c"]
    assert pipe.transform(train).shape == (80, 2)


def test_unknown_column_is_a_config_error_with_suggestion():
    steps = [pre.StandardScaler(), pre.MinMaxScaler(columns=["a", "cc"])]
    with pytest.raises(ConfigError) as excinfo:
        pre.make_pipeline(steps, ["a", "b", "ccc"])
    assert problem_of(excinfo).path == "preprocess[1].columns"
    assert "'ccc'" in problem_of(excinfo).hint


def test_unknown_column_after_one_hot_is_found_when_fitting():
    X = np.array([["a", 1.0], ["b", 2.0]], dtype=object)
    pipe = pre.make_pipeline(
        [pre.OneHot(), pre.StandardScaler(columns=["letter"])], ["letter", "n"]
    )
    with pytest.raises(ConfigError) as excinfo:
        pipe.fit(X)
    assert problem_of(excinfo).path == "preprocess[1].columns"
    assert "letter_a" in problem_of(excinfo).hint


def test_text_left_unencoded_is_a_config_error():
    X = np.array([["a", 1.0], ["b", 2.0]], dtype=object)
    with pytest.raises(ConfigError) as excinfo:
        pre.make_pipeline([pre.StandardScaler(columns=["n"])], ["letter", "n"]).fit(X).transform(X)
    assert "one_hot" in problem_of(excinfo).hint


def test_bad_transformer_value_is_a_config_error_on_its_key():
    with pytest.raises(ConfigError) as excinfo:
        pre.make_pipeline([pre.StandardScaler(), pre.PCA(n_components=-2)], ["a"])
    assert problem_of(excinfo).path == "preprocess[1].n_components"


def test_fitted_pipeline_survives_pickling(mixed_csv):
    ds = Csv(path=str(mixed_csv), target="label", random_state=0).load()
    pipe = pre.make_pipeline([pre.Impute(), pre.OneHot(), pre.StandardScaler()], ds.feature_names)
    pipe.fit(ds.splits["train"].X)
    restored = pickle.loads(pickle.dumps(pipe))
    X = ds.splits["val"].X
    assert np.array_equal(restored.transform(X), pipe.transform(X))


def test_empty_step_list_still_gives_float_output(numeric_split):
    train, _, names = numeric_split
    pipe = fitted([], train, names)
    assert pipe.transform(train).dtype == np.float64
    assert pre.output_feature_names(pipe, names) == names


# ---------------------------------------------------------------- estimators


@pytest.fixture(scope="module")
def small_tasks():
    from sklearn.datasets import make_classification, make_regression

    Xc, yc = make_classification(
        n_samples=90, n_features=5, n_classes=3, n_informative=3, random_state=0
    )
    Xr, yr = make_regression(n_samples=60, n_features=5, random_state=0)
    return {"classification": (Xc, yc), "regression": (Xr, yr)}


BOTH_TASKS = [est.RandomForest, est.GradientBoosting, est.SVM, est.KNN, est.Ridge]
ESTIMATOR_CASES = [(cls, task) for cls in BOTH_TASKS for task in ("classification", "regression")]
ESTIMATOR_CASES += [
    (est.LogisticRegression, "classification"),
    (est.LinearRegression, "regression"),
]


@pytest.mark.parametrize(("cls", "task"), ESTIMATOR_CASES)
def test_estimator_builds_and_fits_for_its_task(cls, task, small_tasks):
    X, y = small_tasks[task]
    kwargs = {"n_estimators": 10} if "n_estimators" in signature_of(cls).params else {}
    if cls is est.SVM and task == "classification":
        kwargs["probability"] = True  # by default a plain SVC, without predict_proba
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        model = cls(**kwargs).build(task).fit(X, y)
    prediction = model.predict(X)
    assert prediction.shape == (len(y),)
    if task == "classification":
        assert set(np.unique(prediction)) <= set(np.unique(y))
        if cls is not est.Ridge:
            assert model.predict_proba(X).shape == (len(y), 3)
    else:
        assert metrics.R2()(y, prediction) > 0


def test_logistic_regression_on_regression_names_alternatives():
    with pytest.raises(ConfigError) as excinfo:
        est.LogisticRegression().build("regression")
    problem = problem_of(excinfo)
    assert problem.path == "model.type"
    assert "classification" in problem.message and "ridge" in problem.hint


def test_linear_regression_on_classification_names_alternatives():
    with pytest.raises(ConfigError) as excinfo:
        est.LinearRegression().build("classification")
    problem = problem_of(excinfo)
    assert problem.path == "model.type"
    assert "regression" in problem.message and "logistic_regression" in problem.hint


def test_rejected_estimator_value_is_a_config_error_on_its_key():
    with pytest.raises(ConfigError) as excinfo:
        est.SVM(C=-1.0).build("classification")
    assert problem_of(excinfo).path == "model.C"


def test_l1_logistic_regression_needs_a_fitting_solver(small_tasks):
    with pytest.raises(ConfigError) as excinfo:
        est.LogisticRegression(penalty="l1").build("classification")
    assert problem_of(excinfo).path == "model.solver"
    X, y = small_tasks["classification"]
    model = est.LogisticRegression(penalty="l1", solver="saga", C=0.05, max_iter=2000)
    assert (model.build("classification").fit(X, y).coef_ == 0).any()


def test_random_forest_max_features_auto_follows_the_task():
    assert est.RandomForest().build("classification").max_features == "sqrt"
    assert est.RandomForest().build("regression").max_features == 1.0


def test_class_weight_on_regression_is_a_config_error():
    with pytest.raises(ConfigError) as excinfo:
        est.RandomForest(class_weight="balanced").build("regression")
    assert problem_of(excinfo).path == "model.class_weight"


def test_svm_without_probability_has_no_predict_proba():
    assert not hasattr(est.SVM(probability=False).build("classification"), "predict_proba")


# ---------------------------------------------------------------- metrics


def test_classification_metrics_against_hand_computed_values():
    y_true = [0, 0, 1, 1, 2, 2]
    y_pred = [0, 1, 1, 1, 2, 0]
    # per class precision: 1/2, 2/3, 1; recall: 1/2, 1, 1/2
    assert metrics.Accuracy()(y_true, y_pred) == pytest.approx(4 / 6)
    assert metrics.PrecisionMacro()(y_true, y_pred) == pytest.approx((1 / 2 + 2 / 3 + 1) / 3)
    assert metrics.RecallMacro()(y_true, y_pred) == pytest.approx((1 / 2 + 1 + 1 / 2) / 3)
    f1 = [2 * p * r / (p + r) for p, r in ((1 / 2, 1 / 2), (2 / 3, 1), (1, 1 / 2))]
    assert metrics.F1Macro()(y_true, y_pred) == pytest.approx(sum(f1) / 3)


def test_macro_metrics_do_not_warn_on_a_class_never_predicted():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert metrics.PrecisionMacro()([0, 1, 1], [1, 1, 1]) == pytest.approx((0 + 2 / 3) / 2)


def test_roc_auc_binary_and_multiclass_with_absent_class():
    # binary: of the 4 (negative, positive) pairs, 3 are ranked right
    proba = np.array([[0.9, 0.1], [0.6, 0.4], [0.65, 0.35], [0.2, 0.8]])
    assert metrics.RocAuc()([0, 0, 1, 1], None, proba) == pytest.approx(0.75)
    # three classes in the model, only 0 and 2 in this split: both rank perfectly
    proba3 = np.array([[0.8, 0.1, 0.1], [0.6, 0.3, 0.1], [0.1, 0.2, 0.7], [0.2, 0.1, 0.7]])
    assert metrics.RocAuc()([0, 0, 2, 2], None, proba3) == pytest.approx(1.0)


def test_regression_metrics_against_hand_computed_values():
    y_true, y_pred = [1.0, 2.0, 3.0], [1.0, 2.0, 5.0]
    assert metrics.RMSE()(y_true, y_pred) == pytest.approx(np.sqrt(4 / 3))
    assert metrics.MAE()(y_true, y_pred) == pytest.approx(2 / 3)
    assert metrics.R2()(y_true, y_pred) == pytest.approx(1 - 4 / 2)


def test_metric_attributes():
    names = ("Accuracy", "F1Macro", "PrecisionMacro", "RecallMacro", "RocAuc", "RMSE", "MAE", "R2")
    for name in names:
        metric = getattr(metrics, name)()
        assert metric.needs_proba == (name == "RocAuc")
        regression = name in ("RMSE", "MAE", "R2")
        assert metric.tasks == (("regression",) if regression else ("classification",))
        assert metric.greater_is_better == (name not in ("RMSE", "MAE"))
        assert isinstance(metric([1.0, 0.0], [1.0, 0.0], np.array([[0, 1], [1, 0]])), float)


# ---------------------------------------------------------------- catalog


@pytest.mark.parametrize(("kind", "name", "target", "tags"), TABULAR, ids=[e[1] for e in TABULAR])
def test_catalog_entry_signature_reads_statically_with_docs(kind, name, target, tags):
    module = target.split(":")[0]
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not written yet")
    static = read_signature_statically(target)
    assert static.doc, f"{target} needs a one-line summary"
    for param in static.params.values():
        assert param.doc, f"{target}: parameter {param.name} has no doc line"
    imported = signature_of(load_target(target))
    assert {k: p.default for k, p in static.params.items()} == {
        k: p.default for k, p in imported.params.items()
    }
