"""TinyNetClassifier and TinyNetRegressor as drop-ins for scikit-learn's MLPClassifier and
MLPRegressor.

Each test fits scikit-learn's estimator and tinynet's with the same parameters on the same
data and compares them: the parameters and their defaults; and, from the same int
``random_state`` with ``shuffle=False``, the fit itself (the starting weights are
scikit-learn's draws), to rounding in float64 (``RTOL``), with the same number of epochs, the
same warnings and the same predictions. A test of a path (a stop, a division of the
learning rate, best weights restored, a warning) also asserts that scikit-learn's own fit
took it, and that no decision on it was within rounding of going the other way, so that a
change in scikit-learn turns such a test into a failure rather than into one that checks
less than it says.
"""

import inspect
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import is_classifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier, MLPRegressor

import tinynet
from tinynet.sklearn import TinyNetClassifier, TinyNetRegressor

BACKENDS = ("cython", "numpy")
# float64 fits agree to rounding; float32 ones to float32's rounding, over a couple of epochs.
RTOL = {np.float64: 1e-8, np.float32: 1e-4}
CLASSIFICATION = ("binary", "multiclass", "multilabel")
KINDS = (*CLASSIFICATION, "regression", "multioutput")
# tinynet's parameters beyond scikit-learn's, with their defaults.
EXTRAS = {
    "dropout": 0.0,
    "clip": None,
    "batch_norm": False,
    "optimizer": None,
    "dtype": None,
    "backend": "cython",
}


def make_data(
    kind: str, n_samples: int = 40, n_features: int = 4, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Standard-normal inputs and targets of the given kind: a noisy non-linear function of
    the inputs (no fit gets it right in a few epochs), with every class present. The
    labels are not 0..k-1: binary ones are -1 and 3, multiclass ones strings."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_samples, n_features))
    signal = np.tanh(X @ rng.standard_normal((n_features, 3)))
    z = signal + 0.5 * rng.standard_normal((n_samples, 3))
    if kind == "binary":
        labels = (z[:, 0] > 0).astype(int)
        labels[:2] = [0, 1]
        return X, np.array([-1, 3])[labels]
    if kind == "multiclass":
        labels = np.argmax(z, axis=1)
        labels[:3] = [0, 1, 2]
        return X, np.array(["ant", "bee", "cat"])[labels]
    if kind == "multilabel":
        y = (z > 0).astype(int)
        y[:2] = [[1, 0, 1], [0, 1, 0]]
        return X, y
    if kind == "regression":
        return X, z[:, 0]
    if kind == "multioutput":
        return X, z[:, :2]
    raise AssertionError(f"unknown kind {kind!r}")


def make_weights(n_samples: int, seed: int = 0) -> np.ndarray:
    """Positive sample weights, far from all equal."""
    return np.random.default_rng(seed + 1000).uniform(0.2, 3.0, n_samples)


def estimators(kind: str) -> tuple[type, type]:
    """tinynet's estimator for the kind of targets, and scikit-learn's."""
    if kind in CLASSIFICATION:
        return TinyNetClassifier, MLPClassifier
    return TinyNetRegressor, MLPRegressor


def recording(call: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, list[str]]:
    """``call(*args, **kwargs)`` and the names of the warning classes it issued, sorted."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = call(*args, **kwargs)
    return result, sorted({warning.category.__name__ for warning in caught})


def fit_both(
    kind: str,
    X: np.ndarray,
    y: np.ndarray,
    params: dict[str, Any],
    *,
    backend: str = "cython",
    sample_weight: np.ndarray | None = None,
    expected_warnings: list[str] | None = None,
) -> tuple[Any, Any]:
    """scikit-learn's estimator and tinynet's (on ``backend``), each fitted with ``params``;
    asserts they issue the same warnings (and, if given, that scikit-learn's are
    ``expected_warnings``: that the setup is what it means to be)."""
    ours_class, theirs_class = estimators(kind)
    theirs, their_warnings = recording(
        theirs_class(**params).fit, X, y, sample_weight=sample_weight
    )
    if expected_warnings is not None:
        assert their_warnings == expected_warnings, "the setup no longer does what it is for"
    ours, our_warnings = recording(
        ours_class(backend=backend, **params).fit, X, y, sample_weight=sample_weight
    )
    assert our_warnings == their_warnings
    return theirs, ours


def assert_arrays_close(ours: Any, theirs: Any, rtol: float, name: str) -> None:
    """Each array of ``ours`` is ``theirs``' in shape and dtype and close to it: relatively,
    and absolutely to ``rtol`` times the array's largest magnitude (single entries, e.g.
    weights, may be near 0)."""
    assert len(ours) == len(theirs), name
    for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        a, b = np.asarray(a), np.asarray(b)
        assert a.shape == b.shape, f"{name}[{i}]"
        assert a.dtype == b.dtype, f"{name}[{i}]"
        assert_allclose(a, b, rtol=rtol, atol=rtol * np.abs(b).max(), err_msg=f"{name}[{i}]")


def assert_optional_close(ours: Any, theirs: Any, rtol: float, name: str) -> None:
    """Both None, or both numbers (or sequences of them) close to each other."""
    assert (ours is None) == (theirs is None), name
    if theirs is not None:
        theirs = np.asarray(theirs, dtype=float)
        atol = rtol * np.abs(theirs).max() if theirs.size else 0.0
        assert_allclose(np.asarray(ours, dtype=float), theirs, rtol=rtol, atol=atol, err_msg=name)


def public_fitted_attributes(estimator: Any) -> set[str]:
    return {name for name in vars(estimator) if name.endswith("_") and not name.startswith("_")}


def decided(theirs: Any, X: np.ndarray, rtol: float) -> np.ndarray:
    """The rows whose predicted labels a change of ``rtol`` in the probabilities cannot
    flip: with a softmax output, the two largest probabilities are apart; with logistic
    ones (binary, multilabel), each is away from 1/2."""
    proba = theirs.predict_proba(X)
    if theirs.out_activation_ == "softmax":
        top_two = np.sort(proba, axis=1)[:, -2:]
        sure: np.ndarray = top_two[:, 1] - top_two[:, 0] > 10 * rtol
        return sure
    sure = np.all(np.abs(proba - 0.5) > 10 * rtol, axis=1)
    return sure


def assert_same_fit(
    ours: Any, theirs: Any, X: np.ndarray, y: np.ndarray, dtype: type = np.float64
) -> None:
    """``ours`` is ``theirs``, fitted: the same attributes, the same weights and losses to
    rounding, the same epochs, samples seen, predictions and scores on ``X, y``."""
    rtol = RTOL[dtype]
    missing = [name for name in public_fitted_attributes(theirs) if not hasattr(ours, name)]
    assert not missing, f"fitted attributes missing: {missing}"
    for name in ("n_iter_", "t_", "n_layers_", "n_outputs_", "out_activation_", "n_features_in_"):
        if hasattr(theirs, name):
            assert getattr(ours, name) == getattr(theirs, name), name
    assert_arrays_close(ours.coefs_, theirs.coefs_, rtol, "coefs_")
    assert_arrays_close(ours.intercepts_, theirs.intercepts_, rtol, "intercepts_")
    assert all(coef.dtype == dtype for coef in ours.coefs_ + ours.intercepts_)
    assert_optional_close(ours.loss_, theirs.loss_, rtol, "loss_")
    for name in ("loss_curve_", "best_loss_", "validation_scores_", "best_validation_score_"):
        if hasattr(theirs, name):
            assert_optional_close(getattr(ours, name), getattr(theirs, name), rtol, name)
    predicted = ours.predict(X)
    assert predicted.shape == theirs.predict(X).shape
    if is_classifier(theirs):
        assert_array_equal(ours.classes_, theirs.classes_)
        # The labels agree wherever the probabilities do not leave them to rounding.
        sure = decided(theirs, X, rtol)
        assert sure.mean() > 0.9
        assert_array_equal(predicted[sure], theirs.predict(X)[sure])
        assert abs(ours.score(X, y) - theirs.score(X, y)) <= 1 - sure.mean()
        proba = ours.predict_proba(X)
        assert proba.dtype == theirs.predict_proba(X).dtype
        assert_allclose(proba, theirs.predict_proba(X), rtol=rtol, atol=rtol)
        with np.errstate(divide="ignore"):
            assert_allclose(
                ours.predict_log_proba(X), theirs.predict_log_proba(X), rtol=rtol, atol=rtol
            )
    else:
        expected = theirs.predict(X)
        assert predicted.dtype == expected.dtype
        assert_allclose(predicted, expected, rtol=rtol, atol=rtol * np.abs(expected).max())
        assert_allclose(ours.score(X, y), theirs.score(X, y), rtol=rtol, atol=rtol)


def plateaus(curve: Any, tol: float, n_iter_no_change: int) -> tuple[list[int], float]:
    """scikit-learn's rule on a loss curve (lower is better; a validation curve negated):
    the epochs (1-based) at which it fires (stop, or divide the learning rate and count
    again), and the smallest distance of a loss from the threshold ``best - tol`` that it
    compares against: how much rounding could change a decision."""
    best, count, fired, margin = np.inf, 0, [], np.inf
    for epoch, loss in enumerate(curve, start=1):
        if np.isfinite(best):
            margin = min(margin, abs(loss - (best - tol)))
        count = count + 1 if loss > best - tol else 0
        best = min(best, loss)
        if count > n_iter_no_change:
            fired.append(epoch)
            count = 0
    return fired, margin


# --- the parameters ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ours_class", "theirs_class"),
    [(TinyNetClassifier, MLPClassifier), (TinyNetRegressor, MLPRegressor)],
    ids=["classifier", "regressor"],
)
def test_every_parameter_of_scikit_learn_with_its_default(ours_class, theirs_class):
    """Read from scikit-learn, so that a parameter a later version adds is checked too."""
    theirs = theirs_class().get_params()
    ours = ours_class().get_params()
    missing = sorted(set(theirs) - set(ours))
    assert not missing, f"parameters of {theirs_class.__name__} missing: {missing}"
    for name, default in theirs.items():
        assert ours[name] == default, name
        assert type(ours[name]) is type(default), name
    assert {name: ours[name] for name in EXTRAS} == EXTRAS
    assert set(ours) == set(theirs) | set(EXTRAS)
    # All are keyword parameters, as scikit-learn's (hidden_layer_sizes may be positional).
    signature = inspect.signature(ours_class)
    for name in theirs:
        assert signature.parameters[name].kind in (
            inspect.Parameter.KEYWORD_ONLY,
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
        )
    # Every one is taken by name, and kept as it is.
    changed = {
        "hidden_layer_sizes": (3, 2),
        "activation": "tanh",
        "solver": "sgd",
        "alpha": 0.5,
        "batch_size": 7,
        "learning_rate": "adaptive",
        "learning_rate_init": 0.25,
        "power_t": 0.75,
        "max_iter": 9,
        "shuffle": False,
        "random_state": 3,
        "tol": 0.5,
        "verbose": True,
        "warm_start": True,
        "momentum": 0.5,
        "nesterovs_momentum": False,
        "early_stopping": True,
        "validation_fraction": 0.25,
        "beta_1": 0.5,
        "beta_2": 0.75,
        "epsilon": 1e-3,
        "n_iter_no_change": 4,
        "max_fun": 99,
    }
    if "loss" in theirs:
        changed["loss"] = "poisson"
    assert set(changed) <= set(theirs)
    estimator = ours_class(**changed)
    assert {name: estimator.get_params()[name] for name in changed} == changed


def test_partial_fit_exists_only_for_the_stochastic_solvers():
    for ours_class, theirs_class in [
        (TinyNetClassifier, MLPClassifier),
        (TinyNetRegressor, MLPRegressor),
    ]:
        for solver in ("sgd", "adam"):
            assert hasattr(theirs_class(solver=solver), "partial_fit")
            assert hasattr(ours_class(solver=solver), "partial_fit")
    # MLPRegressor's own check is broken in some versions of scikit-learn (its partial_fit
    # stays visible with lbfgs); the classifier's is the rule.
    assert not hasattr(MLPClassifier(solver="lbfgs"), "partial_fit")
    assert not hasattr(TinyNetClassifier(solver="lbfgs"), "partial_fit")


# --- side by side with scikit-learn -------------------------------------------------------

# (kind, parameters beyond COMMON, data options): each solver and learning rate schedule,
# the momentum variants, every activation, batch sizes that divide n or not, "auto" with n
# over 200 (batches of 200 and the rest), sample weights, L2, no hidden layer.
COMMON = {"hidden_layer_sizes": (5,), "max_iter": 8, "shuffle": False}
SGD = {"solver": "sgd", "learning_rate_init": 0.05}
CASES = [
    pytest.param("binary", {**SGD, "activation": "relu"}, {}, id="sgd-nesterov-binary-relu"),
    pytest.param(
        "multiclass",
        {**SGD, "activation": "tanh", "nesterovs_momentum": False, "batch_size": 7},
        {},
        id="sgd-classical-multiclass-tanh-batch7",
    ),
    pytest.param(
        "regression",
        {**SGD, "activation": "logistic", "momentum": 0.0, "batch_size": 1},
        {},
        id="sgd-plain-regression-logistic-batch1",
    ),
    pytest.param(
        "multioutput",
        {**SGD, "activation": "identity", "learning_rate": "invscaling", "power_t": 0.25},
        {"sample_weight": True},
        id="sgd-invscaling-multioutput-identity-weighted",
    ),
    pytest.param(
        "multilabel",
        {**SGD, "learning_rate": "invscaling", "learning_rate_init": 0.5, "batch_size": 8},
        {},
        id="sgd-invscaling-multilabel-relu-batch8",
    ),
    pytest.param(
        "multiclass",
        {**SGD, "alpha": 0.1, "hidden_layer_sizes": (5, 4), "batch_size": 16},
        {"sample_weight": True},
        id="sgd-l2-multiclass-two-layers-weighted",
    ),
    pytest.param(
        "binary", {"activation": "logistic", "learning_rate_init": 0.01}, {}, id="adam-binary"
    ),
    pytest.param(
        "multiclass",
        {"hidden_layer_sizes": (5, 4), "learning_rate_init": 0.01, "batch_size": 8},
        {},
        id="adam-multiclass-relu-two-layers-batch8",
    ),
    pytest.param(
        "multilabel",
        {"activation": "tanh", "learning_rate_init": 0.01, "batch_size": 9},
        {"sample_weight": True},
        id="adam-multilabel-tanh-batch9-weighted",
    ),
    pytest.param(
        "regression",
        {"activation": "identity", "learning_rate_init": 0.01, "beta_1": 0.8, "beta_2": 0.99},
        {"n_samples": 250},
        id="adam-regression-identity-auto-over-200",
    ),
    pytest.param(
        "multioutput",
        {"learning_rate_init": 0.01, "epsilon": 1e-4, "alpha": 0.01, "batch_size": 13},
        {"sample_weight": True},
        id="adam-multioutput-relu-batch13-weighted",
    ),
    pytest.param(
        "binary",
        {"hidden_layer_sizes": (), "learning_rate_init": 0.05, "batch_size": 10},
        {},
        id="adam-binary-no-hidden-layer",
    ),
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize(("kind", "params", "data"), CASES)
def test_fit_follows_scikit_learn(kind, params, data, seed, backend):
    X, y = make_data(kind, n_samples=data.get("n_samples", 40), seed=seed)
    weights = make_weights(len(X), seed) if data.get("sample_weight") else None
    params = {**COMMON, "random_state": seed, **params}
    theirs, ours = fit_both(
        kind,
        X,
        y,
        params,
        backend=backend,
        sample_weight=weights,
        expected_warnings=["ConvergenceWarning"],
    )
    assert theirs.n_iter_ == params["max_iter"]
    assert_same_fit(ours, theirs, X, y)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", ["multiclass", "regression"])
def test_batch_size_over_n_is_clipped_with_a_warning(kind, backend):
    X, y = make_data(kind, n_samples=30)
    params = {**COMMON, "random_state": 0, "batch_size": 64, "learning_rate_init": 0.01}
    theirs, ours = fit_both(
        kind,
        X,
        y,
        params,
        backend=backend,
        expected_warnings=["ConvergenceWarning", "UserWarning"],
    )
    assert_same_fit(ours, theirs, X, y)
    # Clipped to n: the full batch, as batch_size="auto" (which does not warn) gives.
    full = estimators(kind)[0](backend=backend, **{**params, "batch_size": "auto"})
    _, full_warnings = recording(full.fit, X, y)
    assert full_warnings == ["ConvergenceWarning"]
    assert_arrays_close(full.coefs_, ours.coefs_, RTOL[np.float64], "coefs_")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", KINDS)
def test_training_loss_plateau_stops_the_fit(kind, backend):
    """tol and n_iter_no_change stop the fit before max_iter, without a warning, on the
    same epoch as scikit-learn's."""
    X, y = make_data(kind, seed=2)
    params = {
        **COMMON,
        "random_state": 2,
        "solver": "sgd",
        "learning_rate_init": 0.05,
        "tol": 0.02,
        "n_iter_no_change": 3,
        "max_iter": 60,
    }
    theirs, ours = fit_both(kind, X, y, params, backend=backend, expected_warnings=[])
    fired, margin = plateaus(theirs.loss_curve_, params["tol"], params["n_iter_no_change"])
    assert fired == [theirs.n_iter_] and theirs.n_iter_ < params["max_iter"]
    assert margin > 1e-6
    assert_same_fit(ours, theirs, X, y)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("kind", "stops"), [("multiclass", False), ("regression", True)])
def test_adaptive_learning_rate_divides_by_5(kind, stops, backend):
    """learning_rate="adaptive": each plateau divides the learning rate by 5 and training
    goes on, until max_iter (multiclass) or a plateau with the rate at most 1e-6, which stops
    it (regression)."""
    X, y = make_data(kind, seed=3)
    params = {
        **COMMON,
        "random_state": 3,
        "solver": "sgd",
        "learning_rate": "adaptive",
        "learning_rate_init": 0.1,
        "tol": 0.01,
        "n_iter_no_change": 2,
        "max_iter": 40,
    }
    expected = [] if stops else ["ConvergenceWarning"]
    theirs, ours = fit_both(kind, X, y, params, backend=backend, expected_warnings=expected)
    fired, margin = plateaus(theirs.loss_curve_, params["tol"], params["n_iter_no_change"])
    assert len(fired) >= 2 and fired[0] < theirs.n_iter_, "the rate was never divided"
    assert margin > 1e-6
    # The rate at the last plateau, after one division per plateau before it.
    last_rate = params["learning_rate_init"] / 5 ** (len(fired) - 1)
    if stops:
        assert fired[-1] == theirs.n_iter_ < params["max_iter"] and last_rate <= 1e-6
    else:
        assert theirs.n_iter_ == params["max_iter"] and last_rate > 1e-6
    assert_same_fit(ours, theirs, X, y)


EARLY_STOPPING = {
    **COMMON,
    "early_stopping": True,
    "validation_fraction": 0.25,
    "tol": 1e-4,
    "n_iter_no_change": 3,
    "max_iter": 80,
    "learning_rate_init": 0.02,
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    ("kind", "weighted"),
    [("binary", False), ("multiclass", True), ("multilabel", False), ("regression", False)],
)
def test_early_stopping(kind, weighted, backend):
    """The validation split drawn as scikit-learn draws it (stratified for binary labels
    only), the scores per epoch, the stop, and the best weights restored."""
    X, y = make_data(kind, n_samples=60, seed=4)
    weights = make_weights(len(X), 4) if weighted else None
    params = {**EARLY_STOPPING, "random_state": 4}
    theirs, ours = fit_both(
        kind, X, y, params, backend=backend, sample_weight=weights, expected_warnings=[]
    )
    scores = theirs.validation_scores_
    assert len(scores) == theirs.n_iter_ < params["max_iter"]
    assert theirs.best_loss_ is None and theirs.best_validation_score_ == max(scores)
    # The best epoch is not the last: the weights restored are not the last epoch's.
    assert int(np.argmax(scores)) < len(scores) - 1
    fired, margin = plateaus(-np.asarray(scores), params["tol"], params["n_iter_no_change"])
    assert fired == [theirs.n_iter_] and margin > 1e-6
    assert theirs.t_ == theirs.n_iter_ * (len(X) - int(np.ceil(0.25 * len(X))))
    assert_same_fit(ours, theirs, X, y)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    ("kind", "params"),
    [
        ("multiclass", {"solver": "sgd", "learning_rate_init": 0.05}),
        ("regression", {"learning_rate_init": 0.01}),
        ("binary", {**EARLY_STOPPING, "max_iter": 10}),
    ],
    ids=["sgd", "adam", "adam-early-stopping"],
)
def test_warm_start_continues(kind, params, backend):
    """warm_start=True: a second fit goes on from the first's weights (with a new
    optimizer), counting n_iter_ afresh and extending loss_curve_ and t_."""
    X, y = make_data(kind, seed=5)
    params = {**COMMON, "random_state": 5, "warm_start": True, **params}
    ours_class, theirs_class = estimators(kind)
    theirs = theirs_class(**params)
    ours = ours_class(backend=backend, **params)
    for max_iter in (4, 3):
        theirs.set_params(max_iter=max_iter)
        ours.set_params(max_iter=max_iter)
        _, their_warnings = recording(theirs.fit, X, y)
        _, our_warnings = recording(ours.fit, X, y)
        assert our_warnings == their_warnings
        assert_same_fit(ours, theirs, X, y)
    # scikit-learn goes on counting epochs without improvement from the first fit: with
    # early stopping, this second fit stops sooner.
    assert theirs.n_iter_ == (1 if params.get("early_stopping") else 3)
    assert len(theirs.loss_curve_) == 4 + theirs.n_iter_
    n_train = len(X) - int(np.ceil(0.25 * len(X))) if params.get("early_stopping") else len(X)
    assert theirs.t_ == len(theirs.loss_curve_) * n_train
    # Not the same as one fit from the start: the second fit did go on from the first.
    cold = ours_class(backend=backend, **{**params, "warm_start": False})
    recording(cold.fit, X, y)
    assert not np.allclose(cold.coefs_[0], ours.coefs_[0])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", ["binary", "multioutput"])
def test_max_iter_reached_warns_as_scikit_learn(kind, backend):
    X, y = make_data(kind)
    for max_iter in (1, 3):
        params = {**COMMON, "random_state": 0, "max_iter": max_iter}
        theirs, ours = fit_both(
            kind, X, y, params, backend=backend, expected_warnings=["ConvergenceWarning"]
        )
        assert ours.n_iter_ == max_iter
        assert_same_fit(ours, theirs, X, y)
        with pytest.warns(ConvergenceWarning, match=rf"\b{max_iter}\b"):
            estimators(kind)[0](backend=backend, **params).fit(X, y)


@pytest.mark.parametrize("backend", BACKENDS)
@settings(deadline=None, max_examples=25)
@given(
    seed=st.integers(0, 2**32 - 1),
    kind=st.sampled_from(KINDS),
    n_samples=st.integers(6, 50),
    n_features=st.integers(1, 5),
    hidden_layer_sizes=st.lists(st.integers(1, 6), max_size=2).map(tuple),
    activation=st.sampled_from(["identity", "logistic", "tanh", "relu"]),
    solver=st.sampled_from(["sgd", "adam"]),
    batch_size=st.one_of(st.just("auto"), st.integers(1, 50)),
    max_iter=st.integers(1, 6),
    weighted=st.booleans(),
)
def test_any_small_fit_follows_scikit_learn(
    backend,
    seed,
    kind,
    n_samples,
    n_features,
    hidden_layer_sizes,
    activation,
    solver,
    batch_size,
    max_iter,
    weighted,
):
    X, y = make_data(kind, n_samples, n_features, seed)
    params = {
        "hidden_layer_sizes": hidden_layer_sizes,
        "activation": activation,
        "solver": solver,
        "batch_size": batch_size,
        "max_iter": max_iter,
        "learning_rate_init": 0.01,
        "shuffle": False,
        "random_state": seed,
    }
    weights = make_weights(n_samples, seed) if weighted else None
    theirs, ours = fit_both(kind, X, y, params, backend=backend, sample_weight=weights)
    assert_same_fit(ours, theirs, X, y)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_poisson_loss_follows_scikit_learn(solver, backend):
    """MLPRegressor's loss="poisson": an exponential output and the half Poisson deviance."""
    X, signal = make_data("regression", seed=11)
    y = np.random.default_rng(11).poisson(np.exp(0.7 * signal)).astype(float)
    params = {**COMMON, "random_state": 11, "loss": "poisson", "solver": solver}
    params["learning_rate_init"] = 0.01
    theirs, ours = fit_both(
        "regression", X, y, params, backend=backend, expected_warnings=["ConvergenceWarning"]
    )
    assert theirs.out_activation_ == "exp"
    assert_same_fit(ours, theirs, X, y)


# --- float32 ------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    ("kind", "params"),
    [
        ("multiclass", {"solver": "sgd", "learning_rate_init": 0.05}),
        ("regression", {"learning_rate_init": 0.01, "batch_size": 8}),
        ("multilabel", {"learning_rate_init": 0.01, "activation": "tanh"}),
    ],
    ids=["sgd-multiclass", "adam-regression", "adam-multilabel"],
)
def test_float32_follows_scikit_learns_float32_fit(kind, params, backend):
    """float32 X: a float32 fit (dtype=None keeps it), close to scikit-learn's float32 fit;
    dtype="float32" on float64 X is that same fit."""
    X, y = make_data(kind, seed=6)
    X32 = X.astype(np.float32)
    params = {**COMMON, "random_state": 6, "max_iter": 2, **params}
    theirs, ours = fit_both(kind, X32, y, params, backend=backend)
    assert theirs.coefs_[0].dtype == np.float32
    assert_same_fit(ours, theirs, X32, y, dtype=np.float32)
    cast = estimators(kind)[0](backend=backend, dtype="float32", **params)
    recording(cast.fit, X, y)
    assert_same_fit(cast, theirs, X32, y, dtype=np.float32)


# --- partial_fit --------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    ("kind", "params", "weighted"),
    [
        ("multiclass", {"solver": "sgd", "learning_rate": "invscaling"}, False),
        ("multiclass", {"learning_rate_init": 0.01}, True),
        ("regression", {"solver": "sgd", "learning_rate_init": 0.05}, True),
        ("multioutput", {"learning_rate_init": 0.01, "batch_size": 7}, False),
    ],
    ids=["sgd-invscaling", "adam-weighted", "sgd-regression-weighted", "adam-multioutput"],
)
def test_partial_fit_calls_are_one_fit(kind, params, weighted, backend):
    """k calls of partial_fit (shuffle=False) are one fit with max_iter=k, bit for bit: the
    optimizer's state goes on from call to call. Both are close to scikit-learn's calls,
    n_iter_ included (scikit-learn counts the epochs of the last call only)."""
    k = 5
    X, y = make_data(kind, seed=7)
    weights = make_weights(len(X), 7) if weighted else None
    params = {**COMMON, "random_state": 7, **params}
    ours_class, theirs_class = estimators(kind)
    classes = {"classes": np.unique(y)} if kind == "multiclass" else {}
    theirs, ours = theirs_class(**params), ours_class(backend=backend, **params)
    for call in range(k):
        extra = classes if call == 0 else {}
        _, their_warnings = recording(theirs.partial_fit, X, y, sample_weight=weights, **extra)
        _, our_warnings = recording(ours.partial_fit, X, y, sample_weight=weights, **extra)
        assert their_warnings == our_warnings == []
        assert_same_fit(ours, theirs, X, y)
    assert theirs.t_ == k * len(X) and len(theirs.loss_curve_) == k

    whole_theirs = theirs_class(**{**params, "max_iter": k})
    recording(whole_theirs.fit, X, y, sample_weight=weights)
    assert_arrays_close(theirs.coefs_, whole_theirs.coefs_, RTOL[np.float64], "coefs_")

    whole = ours_class(backend=backend, **{**params, "max_iter": k})
    recording(whole.fit, X, y, sample_weight=weights)
    assert whole.n_iter_ == k
    for a, b in zip(ours.coefs_ + ours.intercepts_, whole.coefs_ + whole.intercepts_, strict=True):
        assert_array_equal(a, b)
    assert_array_equal(ours.loss_curve_, whole.loss_curve_)
    assert ours.t_ == whole.t_


@pytest.mark.parametrize("kind", ["binary", "regression"])
def test_partial_fit_refuses_early_stopping_as_scikit_learn(kind):
    X, y = make_data(kind)
    extra = {"classes": np.unique(y)} if kind == "binary" else {}
    for estimator_class in estimators(kind)[::-1]:
        with pytest.raises(ValueError, match="early_stopping"):
            estimator_class(early_stopping=True).partial_fit(X, y, **extra)


def test_too_small_a_validation_set_is_refused_as_scikit_learn():
    X, y = make_data("regression", n_samples=10)
    for estimator_class in (MLPRegressor, TinyNetRegressor):
        with pytest.raises(ValueError, match="validation"):
            estimator_class(early_stopping=True, validation_fraction=0.1).fit(X, y)


# --- lbfgs --------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    ("kind", "activation", "alpha"),
    [
        ("multiclass", "tanh", 1.0),
        ("binary", "relu", 0.1),
        ("multilabel", "logistic", 1.0),
        ("regression", "logistic", 1.0),
    ],
)
def test_lbfgs_reaches_scikit_learns_loss(kind, activation, alpha, backend):
    """L-BFGS converges (before max_iter) to scikit-learn's loss within the tolerance its
    stopping rule allows, and predicts mostly alike. (The L2 penalties make problems on
    which scikit-learn's own L-BFGS, its gradients perturbed by rounding-sized noise, ends
    within 1e-7 of its loss; with less of it, some end in another minimum.)"""
    X, y = make_data(kind, n_samples=60, seed=8)
    params = {
        "solver": "lbfgs",
        "hidden_layer_sizes": (4,),
        "activation": activation,
        "alpha": alpha,
        "random_state": 8,
        "max_iter": 500,
        "tol": 1e-6,
    }
    theirs, ours = fit_both(kind, X, y, params, backend=backend, expected_warnings=[])
    assert 0 < theirs.n_iter_ < params["max_iter"]
    assert 0 < ours.n_iter_ < params["max_iter"]
    # The same L-BFGS path from the same start (measured: within 2e-13).
    rtol = RTOL[np.float64]
    assert_allclose(ours.loss_, theirs.loss_, rtol=rtol)
    assert all(coef.dtype == np.float64 for coef in ours.coefs_)
    if kind in CLASSIFICATION:
        assert_array_equal(ours.predict(X), theirs.predict(X))
    else:
        assert_allclose(ours.predict(X), theirs.predict(X), rtol=rtol, atol=rtol * np.abs(y).max())


@pytest.mark.parametrize("backend", BACKENDS)
def test_lbfgs_max_iter_reached_warns_as_scikit_learn(backend):
    X, y = make_data("multiclass")
    params = {"solver": "lbfgs", "hidden_layer_sizes": (5,), "max_iter": 3, "random_state": 0}
    theirs, ours = fit_both(
        "multiclass", X, y, params, backend=backend, expected_warnings=["ConvergenceWarning"]
    )
    assert ours.n_iter_ == theirs.n_iter_ == 3
    # From the same start, three iterations are the same ones, to rounding.
    assert_allclose(ours.loss_, theirs.loss_, rtol=RTOL[np.float64])


# --- tinynet's extras ---------------------------------------------------------------------


def loss_falls(estimator: Any, X: np.ndarray, y: np.ndarray) -> Any:
    """``estimator`` fitted (whatever it warns), after asserting its loss fell."""
    recording(estimator.fit, X, y)
    curve = np.asarray(estimator.loss_curve_)
    assert np.all(np.isfinite(curve))
    assert curve[-1] < 0.8 * curve[0]
    return estimator


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    "optimizer", ["adamw", "rmsprop", tinynet.AdamW(weight_decay=0.1), tinynet.RMSprop()]
)
@pytest.mark.parametrize("kind", ["multiclass", "regression"])
def test_other_optimizers_train(kind, optimizer, backend):
    """optimizer= overrides the solver's update rule: another fit, which also learns."""
    X, y = make_data(kind, seed=9)
    params = {"hidden_layer_sizes": (8,), "max_iter": 30, "random_state": 9}
    ours_class = estimators(kind)[0]
    fitted = loss_falls(
        ours_class(optimizer=optimizer, backend=backend, learning_rate_init=0.01, **params),
        X,
        y,
    )
    assert fitted.get_params()["optimizer"] is optimizer
    again = loss_falls(
        ours_class(optimizer=optimizer, backend=backend, learning_rate_init=0.01, **params),
        X,
        y,
    )
    assert_array_equal(fitted.coefs_[0], again.coefs_[0])
    adam = loss_falls(ours_class(backend=backend, learning_rate_init=0.01, **params), X, y)
    assert not np.allclose(fitted.coefs_[0], adam.coefs_[0])


def outputs(estimator: Any, X: np.ndarray) -> np.ndarray:
    """The classifier's probabilities, or the regressor's predictions."""
    if is_classifier(estimator):
        proba: np.ndarray = estimator.predict_proba(X)
        return proba
    predicted: np.ndarray = estimator.predict(X)
    return predicted


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", ["multiclass", "regression"])
def test_batch_norm_trains(kind, backend):
    """batch_norm=True: another fit, which also learns, and predicts as a fitted estimator
    does (the same outputs call after call)."""
    X, y = make_data(kind, seed=10)
    params = {
        "hidden_layer_sizes": (8, 6),
        "learning_rate_init": 0.01,
        "max_iter": 30,
        "random_state": 10,
    }
    ours_class = estimators(kind)[0]
    normed = loss_falls(ours_class(batch_norm=True, backend=backend, **params), X, y)
    plain = loss_falls(ours_class(backend=backend, **params), X, y)
    assert outputs(normed, X).shape == outputs(plain, X).shape
    assert not np.allclose(outputs(normed, X), outputs(plain, X))
    assert_array_equal(outputs(normed, X), outputs(normed, X))
    # (to rounding: a product of 5 rows may take another summation order than one of all)
    np.testing.assert_allclose(outputs(normed, X[:5]), outputs(normed, X)[:5], rtol=1e-12)
