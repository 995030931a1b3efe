"""``Network(..., output="poisson")``: exponential outputs trained by the Poisson deviance.

The compiled core against the numpy reference on random networks and options (hypothesis);
the loss against scikit-learn's definition (``xlogy(y, y / p) - y + p``), finite where the
output underflows and infinite, without a warning, where ``exp`` overflows (the fit's
divergence); the delta ``p - y`` through ``loss_and_gradient``; the checks of the targets;
saving, pickling, L-BFGS, the small road, and ``TinyNetRegressor(loss="poisson")`` with more
than one output. test_torch_oracle.py holds it against PyTorch's ``PoissonNLLLoss`` with
every optimizer.
"""

from __future__ import annotations

import copy
import pickle
import re
import warnings
from typing import Any

import numpy as np
import pytest
import scipy.optimize
from helpers import (
    Case,
    assert_backends_agree,
    assert_same_state,
    make_inputs,
    matmuls,
    output_cases,
    small_road,
    tolerance,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import xlogy

import tinynet
from tinynet._plan import choices, small_road_lanes
from tinynet._settings import Architecture, Training

DTYPES = {"float64": np.float64, "float32": np.float32}
BACKENDS = ("cython", "numpy")
OPTIMIZERS = {
    "sgd": lambda draw: tinynet.SGD(momentum=draw(st.sampled_from([0.0, 0.5, 0.9]))),
    "adam": lambda draw: tinynet.Adam(epsilon=1e-6, epsilon_hat=draw(st.booleans())),
    "adamw": lambda draw: tinynet.AdamW(epsilon=1e-6, weight_decay=draw(st.floats(0.0, 0.1))),
    "rmsprop": lambda draw: tinynet.RMSprop(epsilon=1e-6),
}


def deviance(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """scikit-learn's ``poisson_loss`` per row before its mean: the half Poisson deviance
    summed over the outputs, in float64."""
    y, p = y.astype(np.float64), p.astype(np.float64)
    return (xlogy(y, y / p) - y + p).sum(axis=1)


def counts(rng: np.random.Generator, rows: int, columns: int) -> np.ndarray:
    """Poisson counts (zeros among them), and a column of non-integer rates."""
    y = rng.poisson(1.0, size=(rows, columns)).astype(np.float64)
    y[:, 0] = rng.uniform(0, 2.5, size=rows)
    return y


def poisson_cases(optimizer: str, dtype: Any) -> st.SearchStrategy[Case]:
    """``Case``s with a poisson output of counts and rates (``helpers.output_cases``), at
    smaller rates than the logistic output's: ``exp(z) - y`` has no bound."""
    return output_cases("poisson", OPTIMIZERS[optimizer], dtype, counts, 4, (0.005, 0.05))


@pytest.mark.parametrize("dtype", DTYPES.values(), ids=DTYPES.keys())
@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
@settings(max_examples=20, deadline=None, derandomize=True)
@given(data=st.data())
def test_backends_agree_with_a_poisson_output(optimizer, dtype, data):
    """Weights, biases, batch normalisation, history and predictions."""
    assert_backends_agree(data.draw(poisson_cases(optimizer, dtype)))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES.values(), ids=DTYPES.keys())
def test_the_loss_is_scikit_learns_poisson_loss(backend, dtype):
    """The output is ``exp`` of a linear output's; one full-batch epoch's loss is the
    deviance of the outputs before its update (scikit-learn's ``poisson_loss``: the mean
    over the rows, weighted or not, of the sum over the outputs), with either reduction;
    its mae ``|y - p|``."""
    rng = np.random.default_rng(0)
    X = make_inputs(rng, 12, 4, scale=2.0)
    y = counts(rng, 12, 3)
    assert (y == 0).any()
    weight = rng.uniform(0.1, 2.0, size=12)
    options = dict(activation="tanh", bias=True, seed=1, dtype=dtype, backend=backend)
    net = tinynet.Network([4, 5, 3], output="poisson", **options)
    linear = tinynet.Network([4, 5, 3], output="linear", **options)
    p = net.predict(X)
    tol = tolerance(dtype)
    np.testing.assert_allclose(p, np.exp(linear.predict(X)), rtol=tol)
    losses = deviance(y.astype(dtype), p)
    errors = np.abs(y.astype(dtype) - p).astype(np.float64).sum(axis=1)
    for sample_weight in (None, weight):
        w = np.ones(12) if sample_weight is None else sample_weight.astype(dtype).astype(float)
        for reduction in ("sum", "mean"):
            trained = copy.deepcopy(net).fit(
                X, y, epochs=1, learning_rate=0.01, sample_weight=sample_weight,
                reduction=reduction,
            )  # fmt: skip
            np.testing.assert_allclose(trained.history["loss"], [w @ losses / w.sum()], rtol=tol)
            np.testing.assert_allclose(
                trained.history["mae"], [w @ errors / (3 * w.sum())], rtol=tol
            )


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_gradient_is_p_minus_y(backend):
    """``loss_and_gradient`` of a network without a hidden layer: the gradient of the
    deviance is ``X.T @ (p - y)`` (exp's slope cancels), against finite differences of the
    loss too; with the mean, both divided by the rows."""
    rng = np.random.default_rng(2)
    X = make_inputs(rng, 9, 3)
    y = counts(rng, 9, 2)
    net = tinynet.Network([3, 2], output="poisson", bias=True, seed=0, backend=backend)
    p = net.predict(X)
    loss, weight_grads, bias_grads = net.loss_and_gradient(X, y)
    np.testing.assert_allclose(loss, deviance(y, p).sum(), rtol=1e-13)
    np.testing.assert_allclose(weight_grads[0], X.T @ (p - y), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(bias_grads[0], (p - y).sum(axis=0), rtol=1e-12, atol=1e-15)
    mean, mean_grads, _ = net.loss_and_gradient(X, y, reduction="mean")
    np.testing.assert_allclose(mean, loss / 9, rtol=1e-15)
    np.testing.assert_allclose(mean_grads[0], weight_grads[0] / 9, rtol=1e-15)
    h = 1e-6
    for i in range(3):
        for j in range(2):
            shifted = []
            for sign in (1, -1):
                moved = copy.deepcopy(net)
                weights = moved.weights
                weights[0][i, j] += sign * h
                moved.weights = weights
                shifted.append(moved.loss_and_gradient(X, y)[0])
            np.testing.assert_allclose((shifted[0] - shifted[1]) / (2 * h), weight_grads[0][i, j],
                                       rtol=1e-6)  # fmt: skip


def one_unit(backend: str, dtype: Any, weight: float) -> tinynet.Network:
    """A network of one input and one poisson output, without bias: ``p = exp(weight * x)``."""
    net = tinynet.Network([1, 1], output="poisson", dtype=dtype, backend=backend)
    net.weights = [np.array([[weight]])]
    return net


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES.values(), ids=DTYPES.keys())
def test_exp_overflows_to_inf_without_a_warning(backend, dtype):
    """An input beyond exp's range: predict gives inf (exp is not clipped), the loss is
    inf, and a fit diverges in its first epoch (FloatingPointError, the network as it was);
    no RuntimeWarning anywhere. Below the edge, the outputs are finite."""
    top = float(np.log(np.finfo(dtype).max))
    X = np.array([[1.0], [-1.0]])
    y = np.array([[2.0], [0.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        below = one_unit(backend, dtype, 0.99 * top)
        assert np.isfinite(below.predict(X)).all()
        net = one_unit(backend, dtype, 1.01 * top)
        p = net.predict(X)
        assert p.dtype == dtype
        assert p[0, 0] == np.inf and 0 < p[1, 0] < 1e-30
        assert net.loss_and_gradient(X, y)[0] == np.inf
        for options in ({}, {"optimizer": "adam", "reduction": "mean"}):
            with pytest.raises(FloatingPointError, match="diverged in epoch 1"):
                net.fit(X, y, epochs=3, **options)
            np.testing.assert_array_equal(net.weights[0], [[dtype(1.01 * top)]], strict=True)
            assert len(net.history["loss"]) == 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_fit_that_overflows_later_keeps_its_finite_epochs(backend):
    """SGD at too large a rate: the epochs before exp overflows are kept (the weights those
    epochs ended with, finite, though exp overflows at them: an epoch's loss is measured
    before its update, so the overflow shows in the next one), the error says where it
    diverged, and nothing warned."""
    rng = np.random.default_rng(6)
    X = make_inputs(rng, 10, 2)
    y = counts(rng, 10, 1) * 20
    net = tinynet.Network([2, 1], output="poisson", bias=True, seed=3, backend=backend)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(FloatingPointError, match=r"diverged in epoch (\d+)") as error:
            net.fit(X, y, epochs=50, learning_rate=0.5)
    epoch = int(re.search(r"epoch (\d+)", str(error.value)).group(1))
    assert epoch > 1
    assert len(net.history["loss"]) == epoch - 1
    assert np.isfinite(net.history["loss"]).all()
    assert all(np.isfinite(w).all() for w in net.weights + net.biases)
    again = tinynet.Network([2, 1], output="poisson", bias=True, seed=3, backend=backend)
    again.fit(X, y, epochs=epoch - 1, learning_rate=0.5)
    np.testing.assert_array_equal(again.weights[0], net.weights[0])
    np.testing.assert_array_equal(again.history["loss"], net.history["loss"])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES.values(), ids=DTYPES.keys())
def test_an_output_that_underflows_keeps_the_loss_finite(backend, dtype):
    """exp(z) rounding to 0: the loss is taken from z, ``y * (log(y) - z) - y``, finite
    (scikit-learn's ``xlogy(y, y / 0)`` would be inf), and the fit takes its step."""
    bottom = float(np.log(np.finfo(dtype).smallest_subnormal))
    weight = 1.5 * -bottom
    X = np.array([[-1.0], [-1.0]])
    y = np.array([[3.0], [0.0]])
    net = one_unit(backend, dtype, weight)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(net.predict(X), [[0.0], [0.0]])
        loss, grads, _ = net.loss_and_gradient(X, y)
        expected = 3 * (np.log(3) + float(dtype(weight))) - 3
        rtol = 4 * float(np.finfo(dtype).eps)  # exact values, a few roundings in the dtype
        np.testing.assert_allclose(loss, expected, rtol=rtol)
        np.testing.assert_allclose(grads[0], [[(0 - 3) * -1]])
        net.fit(X, y, epochs=1, learning_rate=0.1)
    np.testing.assert_allclose(net.history["loss"], [expected / 2], rtol=rtol)
    np.testing.assert_allclose(net.weights[0], [[float(dtype(weight)) - 0.3]], rtol=rtol)


@pytest.mark.parametrize("dtype", DTYPES.values(), ids=DTYPES.keys())
def test_lbfgs_with_a_poisson_output_agrees(dtype):
    """L-BFGS, both reductions: the same iterations in both backends, the loss falling."""
    rng = np.random.default_rng(3)
    X = make_inputs(rng, 20, 3)
    y = counts(rng, 20, 2)
    for reduction in ("sum", "mean"):
        options = {"optimizer": "lbfgs", "l2": 0.01, "reduction": reduction}
        case = Case([3, 4, 2], "tanh", "poisson", bias=True, dtype=dtype, seed=2, X=X, y=y,
                    epochs=5, options=options)  # fmt: skip
        assert_backends_agree(case)
        loss = case.train("cython").history["loss"]
        assert loss[-1] < loss[0]


@pytest.mark.parametrize("backend", BACKENDS)
def test_lbfgs_refuses_a_step_into_an_overflow(backend, monkeypatch):
    """L-BFGS on big counts ends finite and far lower, without a warning. A step whose loss
    overflows exp is refused (the objective returns inf, which L-BFGS-B's line search does
    not take, and it stops there): the network keeps its finite weights, its loss no higher
    than at the start. A start that already overflows takes no iteration and keeps its
    weights."""
    losses: list[float] = []
    minimize = scipy.optimize.minimize

    def watched(fun, x0, **options):
        def evaluated(x):
            loss, gradient = fun(x)
            losses.append(loss)
            return loss, gradient

        return minimize(evaluated, x0, **options)

    monkeypatch.setattr(scipy.optimize, "minimize", watched)
    rng = np.random.default_rng(8)
    X = make_inputs(rng, 30, 2, scale=3.0)
    y = rng.poisson(200.0, size=(30, 1)).astype(float)
    net = tinynet.Network([2, 1], output="poisson", bias=True, seed=0, backend=backend)
    start = net.loss_and_gradient(X, y)[0]
    # Inputs of 800: L-BFGS-B's first trial step, of length 1, takes w * x past exp's range.
    X_far, y_far = np.array([[800.0], [400.0]]), np.array([[1e3], [3e2]])
    far = tinynet.Network([1, 1], output="poisson", bias=True, backend=backend)
    far.weights, far.biases = [np.array([[0.0]])], [np.array([0.0])]
    far_start = far.loss_and_gradient(X_far, y_far)[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        net.fit(X, y, epochs=30, optimizer="lbfgs")
        assert np.isfinite(net.predict(X)).all()
        assert net.loss_and_gradient(X, y)[0] < 0.1 * start
        assert np.isfinite(losses).all()
        losses.clear()
        far.fit(X_far, y_far, epochs=30, optimizer="lbfgs")
        assert np.isinf(losses).any()  # a step was refused
        assert all(np.isfinite(w).all() for w in far.weights + far.biases)
        assert far.loss_and_gradient(X_far, y_far)[0] <= far_start
        overflowing = one_unit(backend, np.float64, 1000.0)
        X1, y1 = np.array([[1.0], [-1.0]]), np.array([[2.0], [0.0]])
        overflowing.fit(X1, y1, epochs=5, optimizer="lbfgs")
    assert len(overflowing.history["loss"]) == 0
    np.testing.assert_array_equal(overflowing.weights[0], [[1000.0]])


@pytest.mark.parametrize("backend", BACKENDS)
def test_negative_targets_are_refused(backend):
    """A ValueError naming the targets, from fit (y and the validation targets, every
    optimizer) and loss_and_gradient, before anything changes; zeros are targets."""
    rng = np.random.default_rng(4)
    X, y = make_inputs(rng, 6, 3), counts(rng, 6, 2)
    y[0, 1] = 0.0
    net = tinynet.Network([3, 2], output="poisson", seed=0, backend=backend)
    net.fit(X, y, epochs=1, learning_rate=0.01)
    before = net.__getstate__()
    bad = y.copy()
    bad[2, 0] = -0.5
    message = r"^{} must be non-negative for output 'poisson' \(e\.g\. counts\), got a minimum"
    with pytest.raises(ValueError, match=message.format("y") + r" of -0\.5$"):
        net.fit(X, bad, epochs=1)
    with pytest.raises(ValueError, match=message.format(r"validation_data\[1\]")):
        net.fit(X, y, epochs=1, validation_data=(X, bad))
    with pytest.raises(ValueError, match=message.format("y")):
        net.loss_and_gradient(X, bad)
    with pytest.raises(ValueError, match=message.format("y")):
        net.fit(X, bad, epochs=1, optimizer="lbfgs")
    with pytest.raises(ValueError, match=message.format("y")):
        net.fit(X, bad, epochs=1, optimizer="adam", reduction="mean")
    assert_same_state(net.__getstate__(), before)
    # other outputs take negative targets, as before
    tinynet.Network([3, 2], output="linear", seed=0, backend=backend).fit(X, bad, epochs=1)


def test_a_poisson_network_saves_loads_and_pickles(tmp_path):
    """The output, weights, history and optimizer state come back; the copies train on as
    the original."""
    rng = np.random.default_rng(5)
    X, y = make_inputs(rng, 10, 3), counts(rng, 10, 2)
    net = tinynet.Network([3, 4, 2], output="poisson", bias=True, batch_norm=True, seed=3)
    options = dict(batch_size=4, optimizer="adam", learning_rate=0.01, reduction="mean",
                   dropout=0.2)  # fmt: skip
    net.fit(X, y, epochs=3, **options)
    assert "output='poisson'" in repr(net)
    net.save(tmp_path / "net.tinynet")
    copies = [tinynet.load(tmp_path / "net.tinynet"), pickle.loads(pickle.dumps(net))]
    for other in copies:
        assert other.output == "poisson"
        assert_same_state(other.__getstate__(), net.__getstate__())
        np.testing.assert_array_equal(other.predict(X), net.predict(X))
        other.fit(X, y, epochs=2, resume=True, **options)
    net.fit(X, y, epochs=2, resume=True, **options)
    for other in copies:
        assert_same_state(other.__getstate__(), net.__getstate__())


def test_the_small_road_leaves_a_poisson_output_to_the_general_loop():
    """A fit the small road would take with a linear output takes the general loop with a
    poisson one, whether the small road is allowed or not."""
    machine = choices()
    for output, lanes in [("linear", 4), ("poisson", 0)]:
        architecture = Architecture(np.array([3, 4, 1], dtype=np.intp), output=output)
        assert small_road_lanes(architecture, Training(batch_size=4), 4, False, machine) == lanes
    X = np.array([[0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1]], dtype=float)
    y = np.array([[1], [3], [3], [1]], dtype=float)
    fits = []
    for allowed in (True, False):
        with small_road(allowed), matmuls("loops"):
            net = tinynet.Network([3, 4, 1], output="poisson", seed=1)
            fits.append(net.fit(X, y, epochs=300, learning_rate=0.1))
    np.testing.assert_array_equal(fits[0].weights[1], fits[1].weights[1])
    assert fits[0].history["loss"][-1] < 0.1 * fits[0].history["loss"][0]


# --- TinyNetRegressor(loss="poisson") -------------------------------------------------------


@pytest.mark.parametrize("solver", ["lbfgs", "adam"])
def test_the_regressor_reports_scikit_learns_poisson_loss(solver):
    """With two outputs, whose mean scikit-learn does not take for the Poisson deviance (it
    does for the squared error): the same loss_, loss curve, weights and predictions as
    MLPRegressor(loss="poisson"), out_activation_ "exp"; loss_ the deviance of the
    predictions, summed over the outputs, plus the penalty."""
    sklearn = pytest.importorskip("sklearn.neural_network")
    from tinynet.sklearn import TinyNetRegressor

    rng = np.random.default_rng(9)
    X = rng.normal(size=(60, 3))
    y = rng.poisson(np.exp(X @ rng.normal(size=(3, 2)) * 0.5)).astype(float)
    params = dict(loss="poisson", hidden_layer_sizes=(5,), solver=solver, max_iter=6,
                  alpha=0.01, random_state=0, shuffle=False, learning_rate_init=0.01)  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # ConvergenceWarning
        theirs = sklearn.MLPRegressor(**params).fit(X, y)
        ours = TinyNetRegressor(**params).fit(X, y)
    assert ours.out_activation_ == theirs.out_activation_ == "exp"
    np.testing.assert_allclose(ours.loss_, theirs.loss_, rtol=1e-9)
    if solver != "lbfgs":
        np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-9)
    for mine, their in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_,
                           strict=True):  # fmt: skip
        np.testing.assert_allclose(mine, their, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=1e-9)
    if solver == "lbfgs":  # loss_ is the objective at the final weights
        penalty = 0.5 * 0.01 * sum(float(np.sum(w**2)) for w in ours.coefs_) / len(X)
        np.testing.assert_allclose(
            ours.loss_, deviance(y, ours.predict(X)).mean() + penalty, rtol=1e-9
        )


def test_the_regressor_refuses_negative_targets_for_poisson():
    """As scikit-learn's Poisson regression refuses them, before any fitting; the squared
    error takes them."""
    from tinynet.sklearn import TinyNetRegressor

    X = np.arange(8.0).reshape(4, 2)
    y = np.array([1.0, 0.0, -1.0, 2.0])
    reg = TinyNetRegressor(loss="poisson", hidden_layer_sizes=(3,), max_iter=2)
    with pytest.raises(ValueError, match="negative which is not allowed for Poisson"):
        reg.fit(X, y)
    assert not hasattr(reg, "coefs_")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        TinyNetRegressor(hidden_layer_sizes=(3,), max_iter=2).fit(X, y)
