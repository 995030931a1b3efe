"""TinyNetClassifier and TinyNetRegressor scaled out as scikit-learn's MLPClassifier and
MLPRegressor are: in Pipeline, GridSearchCV and cross_validate; over joblib's "loky"
(processes) and "threading" backends; over Dask, through joblib's "dask" backend on a local
cluster of two worker processes; and with ``dask_ml.wrappers.Incremental``, which trains by
``partial_fit`` over the blocks of a dask array.

Every fit has a fixed ``random_state``, so a parallel run must give what the serial one gives.
The data and the networks are small (a few milliseconds a fit): what is tested is the
plumbing, not the learning. The Dask tests share one cluster (the slow part, a few seconds to
start), closed with its client at the end of the module.
"""

import pytest

pytest.importorskip("sklearn")


import joblib
import numpy as np
from helpers import assert_close, tolerance
from sklearn.base import clone
from sklearn.datasets import make_classification, make_regression
from sklearn.model_selection import GridSearchCV, KFold, StratifiedKFold, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from tinynet.sklearn import TinyNetClassifier, TinyNetRegressor

# 20 epochs do not converge, and are not meant to: the estimators warn as MLPClassifier does.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

# Parallel workers may run BLAS on fewer threads than the serial run, so the sums of a product
# may be added in another order: the scores agree to rounding, not necessarily to the bit.
TOL = tolerance(np.float64)


def classification_data():
    """120 rows, 6 features, 3 classes."""
    return make_classification(
        n_samples=120, n_features=6, n_informative=4, n_classes=3, random_state=0
    )


def regression_data():
    """120 rows, 6 features, a standardised target."""
    X, y = make_regression(n_samples=120, n_features=6, noise=5.0, random_state=0)
    return X, (y - y.mean()) / y.std()


CASES = {
    "classifier": (
        lambda: TinyNetClassifier(hidden_layer_sizes=(8,), max_iter=20, random_state=0),
        classification_data,
        StratifiedKFold(n_splits=3, shuffle=True, random_state=0),
    ),
    "regressor": (
        lambda: TinyNetRegressor(hidden_layer_sizes=(8,), max_iter=20, random_state=0),
        regression_data,
        KFold(n_splits=3, shuffle=True, random_state=0),
    ),
}


@pytest.fixture(params=list(CASES))
def case(request):
    """(a pipeline of StandardScaler and the estimator, X, y, the folds), for each kind."""
    make_estimator, make_data, cv = CASES[request.param]
    X, y = make_data()
    return make_pipeline(StandardScaler(), make_estimator()), X, y, cv


def serial_scores(model, X, y, cv):
    """Each fold's test score, fitted and scored by hand, one fold after the other."""
    return np.array(
        [
            clone(model).fit(X[train], y[train]).score(X[test], y[test])
            for train, test in cv.split(X, y)
        ]
    )


def test_cross_validate_fits_and_scores_each_fold_as_by_hand(case):
    model, X, y, cv = case
    result = cross_validate(model, X, y, cv=cv, return_estimator=True, return_train_score=True)
    expected = serial_scores(model, X, y, cv)
    assert_close(result["test_score"], expected, TOL, "test scores")
    assert np.all(np.isfinite(result["train_score"]))
    # Each fold's model was trained on its own rows: the folds do not share one network.
    estimators = result["estimator"]
    assert len({id(estimator[-1]) for estimator in estimators}) == cv.get_n_splits()
    first, second = (estimator[-1].coefs_[0] for estimator in estimators[:2])
    assert not np.array_equal(first, second)


def test_grid_search_over_a_pipeline_scores_each_candidate_and_refits_the_best(case):
    model, X, y, cv = case
    grid = {
        f"{model.steps[-1][0]}__hidden_layer_sizes": [(4,), (8,)],
        f"{model.steps[-1][0]}__alpha": [1e-4, 1.0],
    }
    search = GridSearchCV(model, grid, cv=cv).fit(X, y)
    assert len(search.cv_results_["params"]) == 4
    for params, mean in zip(
        search.cv_results_["params"], search.cv_results_["mean_test_score"], strict=True
    ):
        by_hand = serial_scores(clone(model).set_params(**params), X, y, cv)
        assert_close(mean, by_hand.mean(), TOL, f"mean test score of {params}")
    # The refit is a fresh fit of the best candidate on all the rows.
    best = clone(model).set_params(**search.best_params_).fit(X, y)
    assert_close(search.score(X, y), best.score(X, y), TOL, "refit score")
    np.testing.assert_array_equal(search.predict(X), best.predict(X))


@pytest.mark.parametrize("backend", ["loky", "threading"])
def test_joblib_backends_give_the_serial_scores(case, backend):
    """cross_validate and GridSearchCV on two workers of ``backend`` (n_jobs left to the
    joblib context) score as with n_jobs=1."""
    model, X, y, cv = case
    grid = {f"{model.steps[-1][0]}__alpha": [1e-4, 1.0]}
    serial = cross_validate(model, X, y, cv=cv, n_jobs=1)["test_score"]
    serial_search = GridSearchCV(model, grid, cv=cv, n_jobs=1).fit(X, y)
    with joblib.parallel_config(backend=backend, n_jobs=2):
        parallel = cross_validate(model, X, y, cv=cv)["test_score"]
        parallel_search = GridSearchCV(model, grid, cv=cv).fit(X, y)
    assert_close(parallel, serial, TOL, f"cross_validate test scores, {backend}")
    assert_close(
        parallel_search.cv_results_["mean_test_score"],
        serial_search.cv_results_["mean_test_score"],
        TOL,
        f"grid search mean test scores, {backend}",
    )
    assert parallel_search.best_params_ == serial_search.best_params_


# --- Dask ------------------------------------------------------------------------------------


def test_dask_joblib_backend_gives_the_serial_scores(case, dask_client):
    """cross_validate's fits run as tasks on the cluster's workers and score as serially."""
    distributed = pytest.importorskip("distributed")
    model, X, y, cv = case
    serial = cross_validate(model, X, y, cv=cv, n_jobs=1)["test_score"]
    with distributed.get_task_stream(dask_client) as stream, joblib.parallel_config("dask"):
        parallel = cross_validate(model, X, y, cv=cv)["test_score"]
    assert_close(parallel, serial, TOL, "cross_validate test scores, dask")
    workers = {task["worker"] for task in stream.data}
    assert workers, "no task ran on the cluster"
    assert workers <= set(dask_client.scheduler_info()["workers"])


@pytest.mark.parametrize("kind", list(CASES))
def test_dask_ml_incremental_is_partial_fit_over_the_blocks_in_order(kind, dask_client):
    """Incremental, blocks in order, trains as partial_fit on each block in turn does."""
    da = pytest.importorskip("dask.array")
    wrappers = pytest.importorskip("dask_ml.wrappers")
    make_estimator, make_data, _ = CASES[kind]
    X, y = make_data()
    X = StandardScaler().fit_transform(X)
    chunk = 30
    X_blocks = da.from_array(X, chunks=(chunk, X.shape[1]))
    y_blocks = da.from_array(y, chunks=chunk)
    kwargs = {"classes": np.unique(y)} if kind == "classifier" else {}

    incremental = wrappers.Incremental(make_estimator(), shuffle_blocks=False)
    incremental.fit(X_blocks, y_blocks, **kwargs)

    by_hand = make_estimator()
    for start in range(0, len(X), chunk):
        by_hand.partial_fit(X[start : start + chunk], y[start : start + chunk], **kwargs)

    trained = incremental.estimator_
    assert trained.t_ == by_hand.t_ == len(X)  # samples seen: every block, once
    for got, expected in zip(
        [*trained.coefs_, *trained.intercepts_],
        [*by_hand.coefs_, *by_hand.intercepts_],
        strict=True,
    ):
        assert_close(got, expected, TOL, "weights after partial_fit over the blocks")
    # Predicted block by block on the cluster; scored in memory (dask-ml's r2_score fails on
    # dask arrays with dask 2025.2 and later: "cannot broadcast shape (nan,)").
    np.testing.assert_array_equal(incremental.predict(X_blocks).compute(), by_hand.predict(X))
    assert_close(incremental.score(X, y), by_hand.score(X, y), TOL, "score")
