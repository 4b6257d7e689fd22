"""Built-in scikit-learn estimators.

Each class's `build(task)` gives a fresh, unfitted estimator for the task ("classification"
or "regression"): the classifier or the regressor of the family, checked by scikit-learn's
own parameter validation so that a bad value is a config error on its key. A family that
serves only one task raises a ConfigError for the other that names alternatives.
"""

from __future__ import annotations

from typing import Any, Literal

from ednax.steps.base import Step
from ednax.steps.sklearn_checks import TASKS as TASKS
from ednax.steps.sklearn_checks import (
    check_logistic_solver,
    check_sklearn_params,
    check_task,
    classification_only,
    logistic_regularization,
    picked,
    with_probabilities,
    wrong_task,
)

MaxFeatures = Literal["sqrt", "log2"]
ForestMaxFeatures = Literal["auto", "sqrt", "log2"]
ClassWeight = Literal["balanced"]
ForestClassWeight = Literal["balanced", "balanced_subsample"]
Penalty = Literal["l2", "l1", "elasticnet"]
LogisticSolver = Literal["lbfgs", "liblinear", "newton-cg", "newton-cholesky", "sag", "saga"]
Kernel = Literal["linear", "poly", "rbf", "sigmoid"]
Gamma = Literal["scale", "auto"]
Weights = Literal["uniform", "distance"]
NeighborAlgorithm = Literal["auto", "ball_tree", "kd_tree", "brute"]
RidgeSolver = Literal["auto", "svd", "cholesky", "lsqr", "sparse_cg", "sag", "saga", "lbfgs"]


class RandomForest(Step):
    """Random forest: RandomForestClassifier or RandomForestRegressor.

    Parameters
    ----------
    n_estimators : int
        Number of trees.
    max_depth : int | None
        Maximum depth of a tree (None = grow until leaves are pure or too small).
    min_samples_split : int | float
        Minimum samples to split a node (a float is a fraction of the rows).
    min_samples_leaf : int | float
        Minimum samples in a leaf (a float is a fraction of the rows).
    max_features : Literal["auto", "sqrt", "log2"] | int | float | None
        Features tried per split; auto = sqrt for classification, all for regression.
    bootstrap : bool
        Train each tree on a bootstrap sample of the rows.
    class_weight : Literal["balanced", "balanced_subsample"] | None
        Weight classes inversely to their frequency (classification only).
    n_jobs : int | None
        Parallel jobs for fit and predict (None = 1, -1 = all cores).
    random_state : int | None
        Seed of the bootstrap and feature sampling; filled from experiment.seed unless set.
    """

    def __init__(
        self,
        n_estimators: int = 100,
        max_depth: int | None = None,
        min_samples_split: int | float = 2,
        min_samples_leaf: int | float = 1,
        max_features: ForestMaxFeatures | int | float | None = "auto",
        bootstrap: bool = True,
        class_weight: ForestClassWeight | None = None,
        n_jobs: int | None = None,
        random_state: int | None = None,
    ):
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.min_samples_split = min_samples_split
        self.min_samples_leaf = min_samples_leaf
        self.max_features = max_features
        self.bootstrap = bootstrap
        self.class_weight = class_weight
        self.n_jobs = n_jobs
        self.random_state = random_state

    def build(self, task: str) -> Any:
        from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

        check_task(task)
        common = {k: v for k, v in self.get_params().items() if k != "class_weight"}
        if self.max_features == "auto":
            common["max_features"] = "sqrt" if task == "classification" else 1.0
        if task == "classification":
            estimator = RandomForestClassifier(**common, class_weight=self.class_weight)
        else:
            classification_only(self, task, "class_weight")
            estimator = RandomForestRegressor(**common)
        return check_sklearn_params(estimator, "model", self.get_params())


class GradientBoosting(Step):
    """Gradient-boosted trees: GradientBoostingClassifier or GradientBoostingRegressor.

    Parameters
    ----------
    n_estimators : int
        Number of boosting stages (trees).
    learning_rate : float
        Shrinks the contribution of each tree.
    max_depth : int | None
        Maximum depth of each tree (None = unlimited).
    min_samples_split : int | float
        Minimum samples to split a node (a float is a fraction of the rows).
    min_samples_leaf : int | float
        Minimum samples in a leaf (a float is a fraction of the rows).
    subsample : float
        Fraction of rows each tree is fitted on (below 1 = stochastic boosting).
    max_features : Literal["sqrt", "log2"] | int | float | None
        Features tried per split (None = all).
    n_iter_no_change : int | None
        Stop early after this many stages without improvement on a held-out part.
    validation_fraction : float
        Fraction of train held out for early stopping (with n_iter_no_change only).
    random_state : int | None
        Seed of subsampling and feature sampling; filled from experiment.seed unless set.
    """

    def __init__(
        self,
        n_estimators: int = 100,
        learning_rate: float = 0.1,
        max_depth: int | None = 3,
        min_samples_split: int | float = 2,
        min_samples_leaf: int | float = 1,
        subsample: float = 1.0,
        max_features: MaxFeatures | int | float | None = None,
        n_iter_no_change: int | None = None,
        validation_fraction: float = 0.1,
        random_state: int | None = None,
    ):
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.max_depth = max_depth
        self.min_samples_split = min_samples_split
        self.min_samples_leaf = min_samples_leaf
        self.subsample = subsample
        self.max_features = max_features
        self.n_iter_no_change = n_iter_no_change
        self.validation_fraction = validation_fraction
        self.random_state = random_state

    def build(self, task: str) -> Any:
        from sklearn.ensemble import GradientBoostingClassifier, GradientBoostingRegressor

        check_task(task)
        cls = GradientBoostingClassifier if task == "classification" else GradientBoostingRegressor
        return check_sklearn_params(cls(**self.get_params()), "model", self.get_params())


class LogisticRegression(Step):
    """Logistic regression classifier (classification only).

    Parameters
    ----------
    C : float
        Inverse regularization strength: smaller is stronger.
    penalty : Literal["l2", "l1", "elasticnet"] | None
        Regularization (None = none); l1 needs solver liblinear or saga, elasticnet saga.
    l1_ratio : float | None
        Mix of l1 in elasticnet, between 0 and 1 (required with elasticnet, else unused).
    solver : Literal["lbfgs", "liblinear", "newton-cg", "newton-cholesky", "sag", "saga"]
        Optimization algorithm.
    max_iter : int
        Maximum iterations of the solver.
    tol : float
        Tolerance of the stopping criterion.
    class_weight : Literal["balanced"] | None
        Weight classes inversely to their frequency.
    random_state : int | None
        Seed of the data shuffling in solvers liblinear, sag and saga.
    """

    def __init__(
        self,
        C: float = 1.0,
        penalty: Penalty | None = "l2",
        l1_ratio: float | None = None,
        solver: LogisticSolver = "lbfgs",
        max_iter: int = 100,
        tol: float = 1e-4,
        class_weight: ClassWeight | None = None,
        random_state: int | None = None,
    ):
        self.C = C
        self.penalty = penalty
        self.l1_ratio = l1_ratio
        self.solver = solver
        self.max_iter = max_iter
        self.tol = tol
        self.class_weight = class_weight
        self.random_state = random_state

    def build(self, task: str) -> Any:
        from sklearn.linear_model import LogisticRegression as SkLogisticRegression

        check_task(task)
        if task != "classification":
            raise wrong_task("logistic_regression", task, "ridge, linear_regression")
        check_logistic_solver(self)
        options = picked(self, "solver", "max_iter", "tol", "class_weight", "random_state")
        options.update(logistic_regularization(self, SkLogisticRegression))
        estimator = SkLogisticRegression(**options)
        return check_sklearn_params(estimator, "model", self.get_params())


class SVM(Step):
    """Support vector machine: SVC or SVR; the SVC calibrated for probabilities only when
    asked or when a metric needs them.

    Parameters
    ----------
    C : float
        Inverse regularization strength: smaller is stronger.
    kernel : Literal["linear", "poly", "rbf", "sigmoid"]
        Kernel function.
    degree : int
        Degree of the poly kernel.
    gamma : Literal["scale", "auto"] | float
        Kernel coefficient of rbf, poly and sigmoid.
    probability : bool | None
        Give the classifier predict_proba by Platt scaling with 5-fold CV, which fits the
        SVC six times (classification): true always, false never, null (the default) only
        when a metric of metrics.names needs probabilities (roc_auc).
    class_weight : Literal["balanced"] | None
        Weight classes inversely to their frequency (classification only).
    epsilon : float
        Width of the no-penalty tube around the target (regression only).
    max_iter : int
        Solver iteration limit (-1 = none).
    random_state : int | None
        Seed of the classifier's internal randomness; filled from experiment.seed unless set.
    """

    def __init__(
        self,
        C: float = 1.0,
        kernel: Kernel = "rbf",
        degree: int = 3,
        gamma: Gamma | float = "scale",
        probability: bool | None = None,
        class_weight: ClassWeight | None = None,
        epsilon: float = 0.1,
        max_iter: int = -1,
        random_state: int | None = None,
    ):
        self.C = C
        self.kernel = kernel
        self.degree = degree
        self.gamma = gamma
        self.probability = probability
        self.class_weight = class_weight
        self.epsilon = epsilon
        self.max_iter = max_iter
        self.random_state = random_state

    def build(self, task: str) -> Any:
        from sklearn.svm import SVC, SVR

        check_task(task)
        common = picked(self, "C", "kernel", "degree", "gamma", "max_iter")
        if task == "regression":
            classification_only(self, task, "class_weight")
            svr = SVR(**common, epsilon=self.epsilon)
            return check_sklearn_params(svr, "model", self.get_params())
        svc = SVC(**common, class_weight=self.class_weight, random_state=self.random_state)
        svc = check_sklearn_params(svc, "model", self.get_params())
        return with_probabilities(svc) if self.probability else svc


class KNN(Step):
    """k-nearest neighbours: KNeighborsClassifier or KNeighborsRegressor.

    Parameters
    ----------
    n_neighbors : int
        Number of neighbours that vote.
    weights : Literal["uniform", "distance"]
        Equal votes, or votes weighted by inverse distance.
    p : float
        Power of the Minkowski metric (1 = manhattan, 2 = euclidean).
    metric : str
        Distance metric (a name scikit-learn knows, e.g. minkowski, cosine).
    algorithm : Literal["auto", "ball_tree", "kd_tree", "brute"]
        Neighbour search algorithm.
    n_jobs : int | None
        Parallel jobs for the neighbour search (None = 1, -1 = all cores).
    """

    def __init__(
        self,
        n_neighbors: int = 5,
        weights: Weights = "uniform",
        p: float = 2,
        metric: str = "minkowski",
        algorithm: NeighborAlgorithm = "auto",
        n_jobs: int | None = None,
    ):
        self.n_neighbors = n_neighbors
        self.weights = weights
        self.p = p
        self.metric = metric
        self.algorithm = algorithm
        self.n_jobs = n_jobs

    def build(self, task: str) -> Any:
        from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

        check_task(task)
        cls = KNeighborsClassifier if task == "classification" else KNeighborsRegressor
        return check_sklearn_params(cls(**self.get_params()), "model", self.get_params())


class LinearRegression(Step):
    """Ordinary least squares linear regression (regression only).

    Parameters
    ----------
    fit_intercept : bool
        Fit an intercept (false when the data is already centred).
    positive : bool
        Constrain the coefficients to be non-negative.
    n_jobs : int | None
        Parallel jobs (multi-target problems only; None = 1).
    """

    def __init__(
        self, fit_intercept: bool = True, positive: bool = False, n_jobs: int | None = None
    ):
        self.fit_intercept = fit_intercept
        self.positive = positive
        self.n_jobs = n_jobs

    def build(self, task: str) -> Any:
        from sklearn.linear_model import LinearRegression as SkLinearRegression

        check_task(task)
        if task != "regression":
            raise wrong_task("linear_regression", task, "logistic_regression, ridge")
        estimator = SkLinearRegression(**self.get_params())
        return check_sklearn_params(estimator, "model", self.get_params())


class Ridge(Step):
    """Linear model with l2 regularization: RidgeClassifier or Ridge.

    The classifier has no predict_proba, so roc_auc cannot be computed for it.

    Parameters
    ----------
    alpha : float
        Regularization strength: larger is stronger.
    fit_intercept : bool
        Fit an intercept (false when the data is already centred).
    solver : Literal["auto", "svd", "cholesky", "lsqr", "sparse_cg", "sag", "saga", "lbfgs"]
        Solver of the least-squares problem.
    max_iter : int | None
        Maximum iterations of the iterative solvers (None = the solver's default).
    class_weight : Literal["balanced"] | None
        Weight classes inversely to their frequency (classification only).
    random_state : int | None
        Seed of the data shuffling in solvers sag and saga.
    """

    def __init__(
        self,
        alpha: float = 1.0,
        fit_intercept: bool = True,
        solver: RidgeSolver = "auto",
        max_iter: int | None = None,
        class_weight: ClassWeight | None = None,
        random_state: int | None = None,
    ):
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.solver = solver
        self.max_iter = max_iter
        self.class_weight = class_weight
        self.random_state = random_state

    def build(self, task: str) -> Any:
        from sklearn.linear_model import Ridge as SkRidge
        from sklearn.linear_model import RidgeClassifier

        check_task(task)
        params = self.get_params()
        if task == "classification":
            estimator = RidgeClassifier(**params)
        else:
            classification_only(self, task, "class_weight")
            estimator = SkRidge(**{k: v for k, v in params.items() if k != "class_weight"})
        return check_sklearn_params(estimator, "model", params)
