"""The scikit-learn estimators of tinynet.sklearn: scikit-learn's own estimator checks, and
their use as classifiers and regressors, in pipelines and searches, pickled and cloned."""

import pickle

import pytest

pytest.importorskip("sklearn")

import joblib
import numpy as np
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.datasets import load_iris
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import tinynet
import tinynet.sklearn
from tinynet.sklearn import TinyNetClassifier, TinyNetRegressor


@parametrize_with_checks([TinyNetClassifier(), TinyNetRegressor()])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def iris():
    return load_iris(return_X_y=True)


def linear_data(n_samples=200, n_outputs=None, seed=0):
    """Standardised inputs and a linear function of them (with one column per output)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_samples, 3))
    coef = np.array([0.5, -1.0, 0.25]) if n_outputs is None else rng.normal(size=(3, n_outputs))
    return X, X @ coef + 0.3


# --- the classifier ----------------------------------------------------------------------


def test_classifier_learns_iris_unscaled(iris):
    X, y = iris
    clf = TinyNetClassifier(random_state=0).fit(X, y)
    assert clf.score(X, y) > 0.9
    assert_array_equal(clf.classes_, [0, 1, 2])
    assert clf.n_features_in_ == 4
    assert isinstance(clf.network_, tinynet.Network)
    assert clf.network_.layer_sizes == [4, 32, 3]
    assert clf.network_.output == "softmax"
    assert clf.n_iter_ == clf.epochs == len(clf.loss_curve_)
    assert clf.loss_curve_[-1] < clf.loss_curve_[0] / 5


def test_classifier_string_labels_round_trip(iris):
    X, y = iris
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    clf = TinyNetClassifier(random_state=0).fit(X, names)
    assert_array_equal(clf.classes_, ["setosa", "versicolor", "virginica"])
    predicted = clf.predict(X)
    assert predicted.dtype == names.dtype
    assert set(predicted) <= set(names)
    assert np.mean(predicted == names) > 0.9
    # The labels' order is the columns' order, whatever the labels' type.
    numbers = TinyNetClassifier(random_state=0).fit(X, y)
    assert_array_equal(clf.predict_proba(X), numbers.predict_proba(X))


def test_classifier_two_classes_have_two_outputs():
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]] * 8)
    y = np.array(["no", "yes", "yes", "no"] * 8)
    clf = TinyNetClassifier((8,), random_state=0).fit(X, y)
    assert clf.network_.layer_sizes == [2, 8, 2]
    assert clf.predict_proba(X).shape == (32, 2)
    assert_array_equal(clf.predict(X), y)


def test_predict_proba_rows_are_distributions(iris):
    X, y = iris
    clf = TinyNetClassifier(random_state=0, epochs=20).fit(X, y)
    proba = clf.predict_proba(X)
    assert proba.shape == (150, 3)
    assert np.all(proba >= 0)
    assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    assert_array_equal(clf.predict(X), clf.classes_[proba.argmax(axis=1)])
    assert_allclose(clf.predict_log_proba(X), np.log(proba))


def test_classifier_is_the_network_it_wraps(iris):
    X, y = iris
    options = dict(learning_rate=0.002, batch_size=16, momentum=0.5, l2=1e-3, clip=2.0)
    clf = TinyNetClassifier(
        (5, 4), activation="relu", epochs=7, init="he", random_state=3, **options
    ).fit(X, y)
    net = tinynet.Network(
        [4, 5, 4, 3], activation="relu", output="softmax", bias=True, seed=3, init="he"
    ).fit(X, np.eye(3)[y], epochs=7, shuffle=True, **options)
    for ours, theirs in zip(
        clf.network_.weights + clf.network_.biases, net.weights + net.biases, strict=True
    ):
        assert_array_equal(ours, theirs)
    assert_array_equal(clf.loss_curve_, net.history["loss"])


def test_one_class_is_refused():
    with pytest.raises(ValueError, match=r"at least 2 classes.*got 1 class"):
        TinyNetClassifier().fit(np.ones((4, 2)), [7, 7, 7, 7])


def test_classifier_float32(iris):
    X, y = iris
    clf = TinyNetClassifier(dtype="float32", random_state=0, epochs=20).fit(X, y)
    assert clf.network_.dtype == np.float32
    assert clf.predict_proba(X).dtype == np.float32


def test_backends_agree(iris):
    X, y = iris
    fits = [
        TinyNetClassifier(backend=backend, random_state=0, epochs=10, dropout=0.1).fit(X, y)
        for backend in ("cython", "numpy")
    ]
    assert_allclose(fits[0].predict_proba(X), fits[1].predict_proba(X), rtol=1e-9, atol=1e-12)


def test_classifier_partial_fit(iris):
    X, y = iris
    clf = TinyNetClassifier(random_state=0)
    with pytest.raises(ValueError, match="classes must be passed"):
        clf.partial_fit(X, y)
    assert not hasattr(clf, "network_")
    clf.partial_fit(X[y < 2], y[y < 2], classes=[0, 1, 2])
    assert_array_equal(clf.classes_, [0, 1, 2])
    assert clf.n_iter_ == 1
    for _ in range(29):
        clf.partial_fit(X, y)
    assert clf.n_iter_ == len(clf.loss_curve_) == 30
    assert clf.score(X, y) > 0.8
    with pytest.raises(ValueError, match="not the same as on the first call"):
        clf.partial_fit(X, y, classes=[0, 1])
    with pytest.raises(ValueError, match=r"labels not in classes_ \[0, 1, 2\]: \[5\]"):
        clf.partial_fit(X[:3], [0, 5, 1])
    assert clf.n_iter_ == 30
    # fit starts again from a new network.
    clf.fit(X, y)
    assert clf.n_iter_ == 200


def test_same_random_state_same_network(iris):
    X, y = iris

    def fitted(random_state):
        clf = TinyNetClassifier(random_state=random_state, epochs=5, dropout=0.2)
        return clf.fit(X, y).network_.weights

    for a, b in zip(fitted(11), fitted(11), strict=True):
        assert_array_equal(a, b)
    assert not np.array_equal(fitted(11)[0], fitted(12)[0])
    assert not np.array_equal(fitted(None)[0], fitted(None)[0])
    seeded = [fitted(np.random.RandomState(4)) for _ in range(2)]
    for a, b in zip(*seeded, strict=True):
        assert_array_equal(a, b)


@pytest.mark.parametrize(
    ("params", "error", "match"),
    [
        ({"hidden_layer_sizes": "32"}, TypeError, "hidden_layer_sizes must be a sequence"),
        ({"hidden_layer_sizes": (8, 0)}, ValueError, r"hidden_layer_sizes\[1\] must be at"),
        ({"random_state": -1}, ValueError, "random_state must be at least 0"),
        ({"random_state": 2**32}, ValueError, "random_state must be below 2"),
        ({"random_state": 1.5}, TypeError, "random_state must be an integer"),
        ({"random_state": np.timedelta64(5)}, TypeError, "random_state must be an integer"),
        ({"epochs": 0}, ValueError, "epochs must be at least 1"),
        ({"learning_rate": -1.0}, ValueError, "learning_rate must be finite and positive"),
        ({"activation": "elu"}, ValueError, "activation must be one of"),
        ({"dropout": 0.5, "hidden_layer_sizes": ()}, ValueError, "dropout needs a hidden"),
        ({"dtype": "float16"}, ValueError, "dtype must be np.float32 or np.float64"),
    ],
)
def test_bad_parameters_leave_the_estimator_as_it_was(iris, params, error, match):
    X, y = iris
    clf = TinyNetClassifier(random_state=0, epochs=3).fit(X, y)
    before = dict(vars(clf))
    clf.set_params(**params)
    with pytest.raises(error, match=match):
        clf.fit(X[:, :2], y)
    after = vars(clf)
    assert after.keys() == before.keys()
    assert clf.network_ is before["network_"]
    assert clf.n_features_in_ == 4
    unfitted = clone(clf)
    with pytest.raises(error, match=match):
        unfitted.fit(X, y)
    assert not hasattr(unfitted, "network_") and not hasattr(unfitted, "n_features_in_")


def test_no_hidden_layer_is_logistic_regression(iris):
    X, y = iris
    Xs = StandardScaler().fit_transform(X)
    clf = TinyNetClassifier((), random_state=0).fit(Xs, y)
    assert clf.network_.layer_sizes == [4, 3]
    assert clf.score(Xs, y) > 0.9


# --- the regressor -----------------------------------------------------------------------


def test_regressor_fits_a_linear_function():
    X, y = linear_data()
    reg = TinyNetRegressor(random_state=0).fit(X, y)
    assert reg.network_.output == "linear"
    assert reg.n_outputs_ == 1
    assert reg.predict(X).shape == (200,)
    assert reg.score(X, y) > 0.99
    X_new, y_new = linear_data(50, seed=1)
    assert reg.score(X_new, y_new) > 0.99
    assert_allclose(reg.predict(X_new), y_new, atol=0.3)


def test_regressor_keeps_the_dimensions_of_y():
    X, y = linear_data(n_outputs=2)
    reg = TinyNetRegressor(random_state=0).fit(X, y)
    assert reg.n_outputs_ == 2
    assert reg.predict(X).shape == (200, 2)
    assert reg.score(X, y) > 0.99
    column = reg.fit(X, y[:, :1]).predict(X)
    assert column.shape == (200, 1)
    assert reg.score(X, y[:, :1]) > 0.99
    assert_allclose(column.ravel(), reg.fit(X, y[:, 0]).predict(X))


def test_regressor_does_not_scale_targets():
    X, y = linear_data()
    small = TinyNetRegressor(random_state=0, epochs=20).fit(X, y)
    big = TinyNetRegressor(random_state=0, epochs=20, learning_rate=1e-5).fit(X, 1000 * y)
    # Targets 1000 times larger are fitted as such, not scaled back.
    assert np.abs(big.predict(X)).max() > 100 * np.abs(small.predict(X)).max()


def test_regressor_partial_fit():
    X, y = linear_data()
    reg = TinyNetRegressor(random_state=0)
    for _ in range(50):
        reg.partial_fit(X, y)
    assert reg.n_iter_ == 50
    assert reg.score(X, y) > 0.95
    with pytest.raises(ValueError, match="y has 2 targets, but TinyNetRegressor was fitted"):
        reg.partial_fit(X, np.column_stack([y, y]))
    with pytest.raises(ValueError, match="X has 2 features, but TinyNetRegressor is expecting"):
        reg.partial_fit(X[:, :2], y)
    assert reg.n_iter_ == 50


def fitted_attributes(estimator) -> dict:
    return {name: value for name, value in vars(estimator).items() if name.endswith("_")}


def test_divergence_is_reported_and_the_estimator_kept():
    """A fit on data of another shape (so that every attribute it sets would differ)
    diverges: the estimator keeps every attribute of the fit before."""
    X, y = linear_data()
    reg = TinyNetRegressor(random_state=0, epochs=5).fit(X, y)
    before = fitted_attributes(reg)
    with pytest.raises(FloatingPointError, match="diverged"):
        reg.set_params(learning_rate=1e150).fit(X[:, :2], 1e150 * np.column_stack([y, y]))
    after = fitted_attributes(reg)
    assert after.keys() == before.keys()
    assert all(after[name] is value for name, value in before.items())
    assert reg.predict(X).shape == (len(X),)


def test_a_failed_first_partial_fit_leaves_the_estimator_unfitted():
    X, y = linear_data()
    reg = TinyNetRegressor(random_state=0, learning_rate=1e150)
    with pytest.raises(FloatingPointError, match="diverged"):
        reg.partial_fit(X, 1e150 * y)
    assert fitted_attributes(reg) == {}


# --- scikit-learn's machinery ------------------------------------------------------------


@pytest.mark.parametrize("Estimator", [TinyNetClassifier, TinyNetRegressor])
def test_get_params_set_params_clone(Estimator):
    estimator = Estimator((16, 8), learning_rate=0.003, random_state=5)
    params = estimator.get_params()
    assert params["hidden_layer_sizes"] == (16, 8)
    assert params["learning_rate"] == 0.003
    assert params["random_state"] == 5
    assert params["epochs"] == 200
    assert estimator.set_params(epochs=7, nesterov=True) is estimator
    assert (estimator.epochs, estimator.nesterov) == (7, True)
    copy = clone(estimator)
    assert copy is not estimator
    assert copy.get_params() == estimator.get_params()
    with pytest.raises(ValueError, match="Invalid parameter"):
        estimator.set_params(alpha=1.0)
    assert "TinyNet" in repr(estimator) and "learning_rate=0.003" in repr(estimator)


def test_clone_of_a_fitted_estimator_is_unfitted(iris):
    X, y = iris
    clf = TinyNetClassifier(random_state=0, epochs=3).fit(X, y)
    copy = clone(clf)
    assert not hasattr(copy, "network_")
    assert_array_equal(copy.fit(X, y).predict_proba(X), clf.predict_proba(X))


def test_pipeline_with_scaler(iris):
    X, y = iris
    pipe = make_pipeline(StandardScaler(), TinyNetClassifier(random_state=0)).fit(X, y)
    assert pipe.score(X, y) > 0.95
    assert pipe.predict_proba(X).shape == (150, 3)
    reg = make_pipeline(StandardScaler(), TinyNetRegressor(random_state=0))
    Xl, yl = linear_data()
    assert reg.fit(10 * Xl + 5, yl).score(10 * Xl + 5, yl) > 0.99


def test_grid_search(iris):
    X, y = iris
    search = GridSearchCV(
        make_pipeline(StandardScaler(), TinyNetClassifier(epochs=50, random_state=0)),
        {
            "tinynetclassifier__hidden_layer_sizes": [(4,), (16,)],
            "tinynetclassifier__learning_rate": [0.001, 0.003],
        },
        cv=3,
    ).fit(X, y)
    assert search.best_score_ > 0.85
    assert set(search.best_params_) == {
        "tinynetclassifier__hidden_layer_sizes",
        "tinynetclassifier__learning_rate",
    }
    assert search.score(X, y) > 0.9


@pytest.mark.parametrize("Estimator", [TinyNetClassifier, TinyNetRegressor])
def test_pickle_and_joblib_round_trip(tmp_path, iris, Estimator):
    X, y = iris
    estimator = Estimator(random_state=0, epochs=10, dropout=0.1).fit(X, y)
    copy = pickle.loads(pickle.dumps(estimator))
    joblib.dump(estimator, tmp_path / "estimator.joblib")
    loaded = joblib.load(tmp_path / "estimator.joblib")
    for other in (copy, loaded):
        assert_array_equal(other.predict(X), estimator.predict(X))
        assert other.get_params() == estimator.get_params()
        assert_array_equal(other.loss_curve_, estimator.loss_curve_)
    if Estimator is TinyNetClassifier:
        assert_array_equal(loaded.predict_proba(X), estimator.predict_proba(X))
    # The random state travels too: both go on training alike.
    assert_array_equal(loaded.partial_fit(X, y).predict(X), estimator.partial_fit(X, y).predict(X))
