"""The scikit-learn estimators of tinynet.sklearn: scikit-learn's own estimator checks, and
their use as classifiers and regressors, in pipelines and searches, pickled and cloned, with
tinynet's extras (dropout, clip, batch_norm, optimizer, dtype, backend) and clear errors for
bad parameters. tests/test_sklearn_drop_in.py holds them to MLPClassifier and MLPRegressor,
fit for fit; here, training need not converge (as in scikit-learn's own tests, its
ConvergenceWarning is not what is tested)."""

import pickle

import joblib
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.datasets import load_iris
from sklearn.exceptions import DataConversionWarning
from sklearn.model_selection import GridSearchCV
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import tinynet
from tinynet.sklearn import TinyNetClassifier, TinyNetRegressor

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


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


def fitted_attributes(estimator) -> dict:
    return {name: value for name, value in vars(estimator).items() if name.endswith("_")}


# --- the classifier ----------------------------------------------------------------------


def test_classifier_learns_iris_unscaled(iris):
    X, y = iris
    clf = TinyNetClassifier(random_state=0).fit(X, y)
    assert clf.score(X, y) > 0.9
    assert_array_equal(clf.classes_, [0, 1, 2])
    assert clf.n_features_in_ == 4
    assert (clf.n_layers_, clf.n_outputs_, clf.out_activation_) == (3, 3, "softmax")
    assert [coef.shape for coef in clf.coefs_] == [(4, 100), (100, 3)]
    assert [intercept.shape for intercept in clf.intercepts_] == [(100,), (3,)]
    assert clf.n_iter_ == len(clf.loss_curve_) <= clf.max_iter
    assert clf.t_ == clf.n_iter_ * len(X)
    assert clf.loss_ == clf.loss_curve_[-1]
    assert clf.best_loss_ == min(clf.loss_curve_)
    assert clf.validation_scores_ is None and clf.best_validation_score_ is None
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


def test_two_classes_have_one_logistic_output():
    """As scikit-learn's: one output, the probability of classes_[1]; predict_proba gives
    both columns."""
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]] * 8)
    y = np.array(["no", "yes", "yes", "no"] * 8)
    clf = TinyNetClassifier((8,), solver="lbfgs", activation="tanh", random_state=0).fit(X, y)
    assert (clf.n_outputs_, clf.out_activation_) == (1, "logistic")
    assert [coef.shape for coef in clf.coefs_] == [(2, 8), (8, 1)]
    proba = clf.predict_proba(X)
    assert proba.shape == (32, 2)
    assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    assert_array_equal(clf.predict(X), y)


def test_multilabel_has_one_logistic_output_per_label(iris):
    X, y = iris
    Y = np.column_stack([y == 0, y == 2, X[:, 0] > 5.8]).astype(int)
    clf = TinyNetClassifier(random_state=0, max_iter=300).fit(StandardScaler().fit_transform(X), Y)
    assert (clf.n_outputs_, clf.out_activation_) == (3, "logistic")
    assert_array_equal(clf.classes_, [0, 1, 2])
    Xs = StandardScaler().fit_transform(X)
    predicted = clf.predict(Xs)
    assert predicted.shape == (150, 3)
    assert set(np.unique(predicted)) <= {0, 1}
    assert_array_equal(predicted, (clf.predict_proba(Xs) > 0.5).astype(int))
    assert np.mean(predicted == Y) > 0.8


def test_predict_proba_rows_are_distributions(iris):
    X, y = iris
    clf = TinyNetClassifier(random_state=0, max_iter=20).fit(X, y)
    proba = clf.predict_proba(X)
    assert proba.shape == (150, 3)
    assert np.all(proba >= 0)
    assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    assert_array_equal(clf.predict(X), clf.classes_[proba.argmax(axis=1)])
    assert_allclose(clf.predict_log_proba(X), np.log(proba))


def test_one_class_fits_as_scikit_learn():
    """scikit-learn fits a single class (its one output learns "always"); so does tinynet."""
    X, y = np.arange(8.0).reshape(4, 2), [7, 7, 7, 7]
    for estimator in (MLPClassifier(max_iter=5), TinyNetClassifier(max_iter=5)):
        estimator.fit(X, y)
        assert_array_equal(estimator.classes_, [7])
        assert_array_equal(estimator.predict(X), y)


def test_classifier_float32(iris):
    X, y = iris
    clf = TinyNetClassifier(dtype="float32", random_state=0, max_iter=20).fit(X, y)
    assert all(coef.dtype == np.float32 for coef in clf.coefs_ + clf.intercepts_)
    assert clf.predict_proba(X.astype(np.float32)).dtype == np.float32
    # dtype=None: X's float dtype, float32 kept, anything else float64.
    for X_in, dtype in [(X.astype(np.float32), np.float32), (X.astype(int), np.float64)]:
        fitted = TinyNetClassifier(random_state=0, max_iter=3).fit(X_in, y)
        assert all(coef.dtype == dtype for coef in fitted.coefs_ + fitted.intercepts_)


@pytest.mark.parametrize(
    "extras",
    [{}, {"dropout": 0.1}, {"batch_norm": True}, {"clip": 0.05}, {"optimizer": "rmsprop"}],
    ids=["plain", "dropout", "batch_norm", "clip", "rmsprop"],
)
def test_backends_agree(iris, extras):
    X, y = iris
    fits = [
        TinyNetClassifier(
            (16, 8), backend=backend, random_state=0, max_iter=10, batch_size=32, **extras
        ).fit(X, y)
        for backend in ("cython", "numpy")
    ]
    assert_allclose(fits[0].predict_proba(X), fits[1].predict_proba(X), rtol=1e-9, atol=1e-12)
    assert_allclose(fits[0].loss_curve_, fits[1].loss_curve_, rtol=1e-9)


def test_classifier_partial_fit(iris):
    X, y = iris
    clf = TinyNetClassifier(random_state=0, learning_rate_init=0.01)
    with pytest.raises(ValueError, match="classes must be passed"):
        clf.partial_fit(X, y)
    assert not hasattr(clf, "coefs_")
    clf.partial_fit(X[y < 2], y[y < 2], classes=[0, 1, 2])
    assert_array_equal(clf.classes_, [0, 1, 2])
    assert clf.out_activation_ == "softmax"
    for _ in range(29):
        clf.partial_fit(X, y)
    # As scikit-learn's: n_iter_ counts the last call's epochs, loss_curve_ and t_ all.
    assert clf.n_iter_ == 1
    assert len(clf.loss_curve_) == 30
    assert clf.t_ == 100 + 29 * 150
    assert clf.score(X, y) > 0.8
    with pytest.raises(ValueError, match="not the same as"):
        clf.partial_fit(X, y, classes=[0, 1])
    with pytest.raises(ValueError, match="not in"):
        clf.partial_fit(X[:3], [0, 5, 1])
    assert len(clf.loss_curve_) == 30
    # fit starts again from new weights.
    clf.fit(X, y)
    assert len(clf.loss_curve_) == clf.n_iter_ > 1


def test_same_random_state_same_fit(iris):
    X, y = iris

    def fitted(random_state):
        clf = TinyNetClassifier(random_state=random_state, max_iter=5, dropout=0.2)
        return clf.fit(X, y).coefs_

    for a, b in zip(fitted(11), fitted(11), strict=True):
        assert_array_equal(a, b)
    assert not np.array_equal(fitted(11)[0], fitted(12)[0])
    assert not np.array_equal(fitted(None)[0], fitted(None)[0])
    seeded = [fitted(np.random.RandomState(4)) for _ in range(2)]
    for a, b in zip(*seeded, strict=True):
        assert_array_equal(a, b)


# Each bad value of each parameter, with a word of the message: its name. scikit-learn's
# parameter validation raises InvalidParameterError, a ValueError and a TypeError.
BAD_PARAMETERS = [
    {"hidden_layer_sizes": "32"},
    {"hidden_layer_sizes": (8, 0)},
    {"hidden_layer_sizes": 0},
    {"activation": "elu"},
    {"solver": "newton"},
    {"alpha": -1.0},
    {"batch_size": 0},
    {"batch_size": "all"},
    {"learning_rate": "optimal"},
    {"learning_rate_init": 0.0},
    {"power_t": -0.5},
    {"max_iter": 0},
    {"max_iter": 2.5},
    {"shuffle": "yes"},
    {"random_state": -1},
    {"random_state": 2**32},
    {"random_state": 1.5},
    {"tol": -1.0},
    {"warm_start": "no"},
    {"momentum": 1.5},
    {"nesterovs_momentum": 1},
    {"early_stopping": "yes"},
    {"validation_fraction": 1.0},
    {"beta_1": 1.0},
    {"beta_2": -0.1},
    {"epsilon": 0.0},
    {"n_iter_no_change": 0},
    {"max_fun": 0},
    {"dropout": 1.0},
    {"dropout": -0.1},
    {"dropout": 0.5, "hidden_layer_sizes": ()},
    {"clip": 0.0},
    {"clip": "big"},
    {"batch_norm": "yes"},
    {"optimizer": "newton"},
    {"optimizer": 3},
    {"dtype": "float16"},
    {"backend": "torch"},
]
MLP_PARAMETERS = set(MLPClassifier().get_params())


@pytest.mark.parametrize("params", BAD_PARAMETERS, ids=repr)
def test_bad_parameters_leave_the_estimator_as_it_was(iris, params):
    X, y = iris
    name = next(iter(params))
    if set(params) <= MLP_PARAMETERS:
        # scikit-learn refuses it too: these are its rules.
        with pytest.raises((ValueError, TypeError), match=name):
            MLPClassifier(**params).fit(X, y)
    clf = TinyNetClassifier(random_state=0, max_iter=3).fit(X, y)
    before = dict(vars(clf))
    clf.set_params(**params)
    with pytest.raises((ValueError, TypeError), match=name):
        clf.fit(X[:, :2], y)
    after = vars(clf)
    assert after.keys() == before.keys()
    assert all(after[key] is before[key] for key in before if key.endswith("_"))
    assert clf.n_features_in_ == 4
    unfitted = clone(clf)
    with pytest.raises((ValueError, TypeError), match=name):
        unfitted.fit(X, y)
    assert fitted_attributes(unfitted) == {}


def test_a_failed_fit_leaves_the_loss_curve_as_it_was():
    """A warm-started fit that diverges after some epochs keeps none of them."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((50, 3))
    y = X @ np.array([1.0, 2.0, 3.0])
    options = {"solver": "sgd", "activation": "identity", "warm_start": True}
    reg = TinyNetRegressor(random_state=0, max_iter=3, **options).fit(X, y)
    curve, n_iter = list(reg.loss_curve_), reg.n_iter_
    reg.set_params(learning_rate_init=10.0, max_iter=20)
    with pytest.raises(ValueError, match="non-finite"):
        reg.fit(X * 100, y * 100)
    assert reg.n_iter_ == n_iter
    assert reg.loss_curve_ == curve


def test_no_hidden_layer_is_logistic_regression(iris):
    X, y = iris
    Xs = StandardScaler().fit_transform(X)
    clf = TinyNetClassifier((), random_state=0, learning_rate_init=0.01).fit(Xs, y)
    assert clf.n_layers_ == 2
    assert [coef.shape for coef in clf.coefs_] == [(4, 3)]
    assert clf.score(Xs, y) > 0.9


def test_dropout_changes_the_fit_and_repeats_with_random_state(iris):
    X, y = iris

    def fitted(dropout):
        return TinyNetClassifier((16,), dropout=dropout, random_state=3, max_iter=5).fit(X, y)

    with_dropout = fitted(0.3)
    assert_array_equal(with_dropout.coefs_[0], fitted(0.3).coefs_[0])
    assert not np.allclose(with_dropout.coefs_[0], fitted(0.0).coefs_[0])
    # Prediction does not drop: the same outputs every call, and for each row alone.
    assert_array_equal(with_dropout.predict_proba(X), with_dropout.predict_proba(X))
    assert_allclose(with_dropout.predict_proba(X[:1]), with_dropout.predict_proba(X)[:1])


def test_clip_bounds_the_deltas(iris):
    X, y = iris

    def fitted(clip):
        return TinyNetClassifier((16,), clip=clip, random_state=3, max_iter=5).fit(X, y)

    unclipped = fitted(None)
    # A bound no delta reaches changes nothing; a tight one changes the fit.
    assert_array_equal(fitted(1e12).coefs_[0], unclipped.coefs_[0])
    assert not np.allclose(fitted(1e-4).coefs_[0], unclipped.coefs_[0])


@pytest.mark.parametrize("optimizer", ["adamw", "rmsprop", tinynet.AdamW(), tinynet.RMSprop()])
def test_optimizer_instances_and_names_are_kept_and_cloned(iris, optimizer):
    X, y = iris
    clf = TinyNetClassifier(optimizer=optimizer, random_state=0, max_iter=20).fit(X, y)
    assert clf.get_params()["optimizer"] is optimizer
    copy = clone(clf)
    assert copy.get_params()["optimizer"] == optimizer
    assert_array_equal(copy.fit(X, y).predict_proba(X), clf.predict_proba(X))
    assert clf.loss_curve_[-1] < clf.loss_curve_[0]


# --- the regressor -----------------------------------------------------------------------


def test_regressor_fits_a_linear_function():
    X, y = linear_data()
    reg = TinyNetRegressor(random_state=0, learning_rate_init=0.01).fit(X, y)
    assert (reg.n_outputs_, reg.out_activation_, reg.n_layers_) == (1, "identity", 3)
    assert reg.predict(X).shape == (200,)
    assert reg.score(X, y) > 0.99
    X_new, y_new = linear_data(50, seed=1)
    assert reg.score(X_new, y_new) > 0.99
    assert_allclose(reg.predict(X_new), y_new, atol=0.3)


def test_regressor_keeps_the_dimensions_of_y_as_scikit_learn():
    X, y = linear_data(n_outputs=2)
    reg = TinyNetRegressor(random_state=0, learning_rate_init=0.01, batch_size=20).fit(X, y)
    assert reg.n_outputs_ == 2
    assert reg.predict(X).shape == (200, 2)
    assert reg.score(X, y) > 0.99
    # One column: scikit-learn warns, fits it as 1-D y and predicts 1-D.
    for estimator in (MLPRegressor(max_iter=5), TinyNetRegressor(max_iter=5)):
        with pytest.warns(DataConversionWarning):
            estimator.fit(X, y[:, :1])
        assert estimator.n_outputs_ == 1
        assert estimator.predict(X).shape == (200,)
    column = TinyNetRegressor(random_state=0, max_iter=5)
    with pytest.warns(DataConversionWarning):
        column.fit(X, y[:, :1])
    flat = TinyNetRegressor(random_state=0, max_iter=5).fit(X, y[:, 0])
    assert_array_equal(column.predict(X), flat.predict(X))


def test_regressor_does_not_scale_targets():
    X, y = linear_data()
    small = TinyNetRegressor(hidden_layer_sizes=(8,), solver="lbfgs", random_state=0).fit(X, y)
    big = TinyNetRegressor(hidden_layer_sizes=(8,), solver="lbfgs", random_state=0).fit(
        X, 1000 * y
    )
    # Targets 1000 times larger are fitted as such, not scaled back.
    assert big.score(X, 1000 * y) > 0.99
    assert np.abs(big.predict(X)).max() > 100 * np.abs(small.predict(X)).max()


def test_regressor_partial_fit():
    X, y = linear_data()
    reg = TinyNetRegressor(random_state=0, learning_rate_init=0.01, batch_size=20)
    for _ in range(50):
        reg.partial_fit(X, y)
    assert len(reg.loss_curve_) == 50 and reg.t_ == 50 * 200
    assert reg.score(X, y) > 0.95
    with pytest.raises(ValueError, match="X has 2 features"):
        reg.partial_fit(X[:, :2], y)
    assert len(reg.loss_curve_) == 50


# --- scikit-learn's machinery ------------------------------------------------------------


@pytest.mark.parametrize("Estimator", [TinyNetClassifier, TinyNetRegressor])
def test_get_params_set_params_clone(Estimator):
    estimator = Estimator(hidden_layer_sizes=(16, 8), learning_rate_init=0.003, random_state=5)
    params = estimator.get_params()
    assert params["hidden_layer_sizes"] == (16, 8)
    assert params["learning_rate_init"] == 0.003
    assert params["random_state"] == 5
    assert params["max_iter"] == 200
    assert estimator.set_params(max_iter=7, nesterovs_momentum=False) is estimator
    assert (estimator.max_iter, estimator.nesterovs_momentum) == (7, False)
    copy = clone(estimator)
    assert copy is not estimator
    assert copy.get_params() == estimator.get_params()
    # The old names are gone.
    for old in ("epochs", "l2", "nesterov", "init", "bias"):
        with pytest.raises(ValueError, match="Invalid parameter"):
            estimator.set_params(**{old: 1})
    assert "TinyNet" in repr(estimator) and "learning_rate_init=0.003" in repr(estimator)


def test_clone_of_a_fitted_estimator_is_unfitted(iris):
    X, y = iris
    clf = TinyNetClassifier(random_state=0, max_iter=3).fit(X, y)
    copy = clone(clf)
    assert fitted_attributes(copy) == {}
    assert_array_equal(copy.fit(X, y).predict_proba(X), clf.predict_proba(X))


def test_pipeline_with_scaler(iris):
    X, y = iris
    pipe = make_pipeline(StandardScaler(), TinyNetClassifier(random_state=0)).fit(X, y)
    assert pipe.score(X, y) > 0.95
    assert pipe.predict_proba(X).shape == (150, 3)
    reg = make_pipeline(
        StandardScaler(), TinyNetRegressor(random_state=0, learning_rate_init=0.01)
    )
    Xl, yl = linear_data()
    assert reg.fit(10 * Xl + 5, yl).score(10 * Xl + 5, yl) > 0.99


def test_grid_search(iris):
    X, y = iris
    search = GridSearchCV(
        make_pipeline(
            StandardScaler(), TinyNetClassifier(max_iter=50, batch_size=16, random_state=0)
        ),
        {
            "tinynetclassifier__hidden_layer_sizes": [(4,), (16,)],
            "tinynetclassifier__learning_rate_init": [0.001, 0.01],
        },
        cv=3,
    ).fit(X, y)
    assert search.best_score_ > 0.85
    assert set(search.best_params_) == {
        "tinynetclassifier__hidden_layer_sizes",
        "tinynetclassifier__learning_rate_init",
    }
    assert search.score(X, y) > 0.9


@pytest.mark.parametrize("Estimator", [TinyNetClassifier, TinyNetRegressor])
def test_pickle_and_joblib_round_trip(tmp_path, iris, Estimator):
    X, y = iris
    estimator = Estimator(random_state=0, max_iter=10, dropout=0.1).fit(X, y)
    copy = pickle.loads(pickle.dumps(estimator))
    joblib.dump(estimator, tmp_path / "estimator.joblib")
    loaded = joblib.load(tmp_path / "estimator.joblib")
    for other in (copy, loaded):
        assert_array_equal(other.predict(X), estimator.predict(X))
        assert other.get_params() == estimator.get_params()
        assert_array_equal(other.loss_curve_, estimator.loss_curve_)
        for a, b in zip(other.coefs_, estimator.coefs_, strict=True):
            assert_array_equal(a, b)
    if Estimator is TinyNetClassifier:
        assert_array_equal(loaded.predict_proba(X), estimator.predict_proba(X))
    # The optimizer's state travels too: both go on training alike.
    assert_array_equal(loaded.partial_fit(X, y).predict(X), estimator.partial_fit(X, y).predict(X))


def test_a_diverged_partial_fit_leaves_the_estimator_and_starts_a_fresh_optimizer():
    """A partial_fit that diverges raises scikit-learn's ValueError and leaves the fitted
    attributes as they were; the network's optimizer state moved with the epochs it
    trained, so the next partial_fit starts a fresh one (as after a fit)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    y = X @ [1.0, -2.0, 0.5]
    reg = TinyNetRegressor(
        hidden_layer_sizes=(4,), solver="sgd", learning_rate_init=0.01, random_state=0
    )
    reg.partial_fit(X, y)
    coefs = [c.copy() for c in reg.coefs_]
    with pytest.raises(ValueError, match="non-finite"):
        reg.partial_fit(1e200 * X, y)
    for kept, before in zip(reg.coefs_, coefs, strict=True):
        np.testing.assert_array_equal(kept, before)
    assert not reg._has_optimizer
    fresh = TinyNetRegressor(
        hidden_layer_sizes=(4,), solver="sgd", learning_rate_init=0.01, random_state=0
    ).partial_fit(X, y)
    fresh._has_optimizer = False  # as after the failure: a new optimizer from these weights
    reg.partial_fit(X, y)
    fresh.partial_fit(X, y)
    for a, b in zip(reg.coefs_ + reg.intercepts_, fresh.coefs_ + fresh.intercepts_, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"solver": "sgd", "learning_rate": "adaptive", "n_iter_no_change": 3, "tol": 1e-2},
        {"solver": "sgd", "learning_rate": "invscaling", "momentum": 0.5},
        {"n_iter_no_change": 2, "tol": 1e-1, "verbose": True},
        {"n_iter_no_change": np.inf},
    ],
    ids=["adam", "adaptive", "invscaling", "verbose-stop", "never-stop"],
)
def test_fits_in_stretches_end_as_fits_epoch_by_epoch(iris, options, monkeypatch, capsys):
    """Without early stopping, a stochastic fit trains as many epochs per call as the stopping
    rule allows (it needs n_iter_no_change + 1 epochs in a row without improvement): the
    same bits, the same loss curve, the same stop and the same printed lines as a fit called
    epoch by epoch, and fewer calls."""
    from tinynet import _fitting
    from tinynet.sklearn import _EpochMonitor

    X, y = iris

    def fitted(one_by_one):
        calls = []
        original = _fitting.tell

        def tell(callbacks, network, record, measures, start, done):
            calls.append(done - start)
            return original(callbacks, network, record, measures, start, done)

        with monkeypatch.context() as patch:
            patch.setattr(_fitting, "tell", tell)
            if one_by_one:
                patch.setattr(_EpochMonitor, "_epochs_ahead", lambda self: 1)
            model = TinyNetClassifier(
                hidden_layer_sizes=(8,), max_iter=60, random_state=0, **options
            ).fit(X, y)
        return model, calls, capsys.readouterr().out

    stretched, stretches, printed = fitted(one_by_one=False)
    single, singles, printed_single = fitted(one_by_one=True)
    assert set(singles) == {1}
    assert sum(stretches) == sum(singles) == stretched.n_iter_ == single.n_iter_
    if "invscaling" not in options.get("learning_rate", ""):
        assert len(stretches) < len(singles)
    assert stretched.loss_curve_ == single.loss_curve_
    assert stretched.t_ == single.t_
    stretched_params = stretched.coefs_ + stretched.intercepts_
    for a, b in zip(stretched_params, single.coefs_ + single.intercepts_, strict=True):
        assert_array_equal(a, b)
    assert printed == printed_single


def test_predictions_follow_coefs_changed_in_place_or_replaced(iris):
    """The network is given coefs_ and intercepts_ again only when they changed since the
    last prediction, as MLPClassifier reads them at every prediction: a value changed in
    place, an array replaced in the list, a new list, all count; bad values are refused."""
    X, y = iris
    model = TinyNetClassifier(hidden_layer_sizes=(5,), max_iter=30, random_state=0).fit(X, y)

    def by_hand(coefs, intercepts):
        hidden = np.maximum(X @ coefs[0] + intercepts[0], 0.0)
        z = hidden @ coefs[1] + intercepts[1]
        z = np.exp(z - z.max(axis=1, keepdims=True))
        return z / z.sum(axis=1, keepdims=True)

    assert_allclose(model.predict_proba(X), by_hand(model.coefs_, model.intercepts_))
    model.coefs_[1][:, 0] += 3.0  # in place
    assert_allclose(model.predict_proba(X), by_hand(model.coefs_, model.intercepts_))
    model.intercepts_[1] = model.intercepts_[1] - 2.0  # an array replaced in the list
    assert_allclose(model.predict_proba(X), by_hand(model.coefs_, model.intercepts_))
    model.coefs_ = [c * 0.5 for c in model.coefs_]  # a new list
    assert_allclose(model.predict_proba(X), by_hand(model.coefs_, model.intercepts_))
    unchanged = model.predict_proba(X)
    assert_array_equal(model.predict_proba(X), unchanged)
    model.coefs_[0][0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        model.predict(X)
