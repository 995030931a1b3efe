"""Training features: activations, outputs, biases, initialisations and the options of fit.

Three kinds of check:

* **By hand.** The documented loss and update are restated here in a few lines of float64
  numpy (``forward``, ``loss_terms``, ``backprop``, ``train_by_hand``), independent of
  ``tinynet.reference``. ``backprop`` is checked against central finite differences of the
  documented loss, and each backend's one-step update (learning rate 1, full batch) must be
  that same gradient. Mini-batches, momentum, Nesterov, l2, clipping and dropout masks are
  then compared with the hand loop.
* **Core against reference.** The compiled core and the numpy reference must agree to
  rounding, for every activation x output x bias x dtype and with the fit options, in the
  stable regime described in test_backends.py: the learning rate is a rate per sample divided
  by the number of samples (here also by ``1 / (1 - momentum)``, momentum's step multiplier),
  inputs are small, and values are compared relative to ``max(1, max |desired|)``, within
  ``TOL_EPS`` machine epsilons.
* **Direction.** Each option changes training the way it should (l2 shrinks the weights,
  clip bounds the steps, momentum speeds up a slow descent, dropout silences about a fraction
  p of the hidden units, ...), and the bookkeeping (history, validation, callbacks, early
  stopping, printing, argument checks) does what the documentation says.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import math
import re
from typing import Any

import numpy as np
import pytest
from helpers import (
    ACTIVATIONS,
    INITS,
    OUTPUTS,
    Case,
    assert_backends_agree,
    assert_close,
    cases,
    make_inputs,
    make_targets,
    random_biases,
)
from hypothesis import given, settings

import tinynet
import tinynet._progress
from tinynet import _fitting

BACKENDS = ("cython", "numpy")

# Core against reference: as in test_backends.py (float64 4.4e-13, float32 2.4e-4). Over 3000
# draws of test_backends_agree_on_random_networks_and_options, the largest discrepancy seen
# was 3.3 eps (weights, history and outputs, both dtypes).
# A backend against the float64 hand computation, a few epochs in the stable regime: the
# same arithmetic in another order, so rounding only (bugs give 1e-4 and up).
HAND_TOL = 1e-10
# Finite differences with step 1e-6 of losses of order 10 are good to ~1e-9.
FD_STEP = 1e-6
FD_TOL = 1e-6


# --- the documented model, by hand (float64) -----------------------------------------------


def activate(z: np.ndarray, name: str) -> np.ndarray:
    if name == "sigmoid":
        return 0.5 * (1 + np.tanh(0.5 * z))  # 1 / (1 + exp(-z)), without overflow
    if name == "tanh":
        return np.tanh(z)
    if name == "relu":
        return np.maximum(z, 0.0)
    if name == "linear":
        return z
    if name == "softmax":
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    raise AssertionError(name)


def slope(z: np.ndarray, name: str) -> np.ndarray:
    """The derivative of a hidden activation at the pre-activation ``z``."""
    if name == "sigmoid":
        s = activate(z, "sigmoid")
        return s * (1 - s)
    if name == "tanh":
        return 1 - np.tanh(z) ** 2
    if name == "relu":
        return (z > 0).astype(np.float64)
    if name == "linear":
        return np.ones_like(z)
    raise AssertionError(name)


def forward(X, weights, biases, activation, output, masks=None, keep=1.0):
    """The layer outputs ``[X, a_1, ..., out]`` and pre-activations ``[z_1, ..., z_L]``.

    ``masks[i]`` (0 or 1 per sample and unit) drops units of hidden layer ``i + 1``; kept
    units are scaled by ``1 / keep`` (inverted dropout).
    """
    layers = [np.asarray(X, dtype=np.float64)]
    zs = []
    for i, w in enumerate(weights):
        z = layers[-1] @ np.asarray(w, dtype=np.float64)
        if biases:
            z = z + np.asarray(biases[i], dtype=np.float64)
        zs.append(z)
        if i == len(weights) - 1:
            layers.append(activate(z, output))
        else:
            a = activate(z, activation)
            if masks is not None:
                a = a * masks[i] / keep
            layers.append(a)
    return layers, zs


def loss_terms(out: np.ndarray, y: np.ndarray, output: str) -> np.ndarray:
    """``l_n`` for each sample: half the squared error, or the cross-entropy for softmax."""
    if output == "softmax":
        return -(y * np.log(out)).sum(axis=1)
    return 0.5 * ((y - out) ** 2).sum(axis=1)


def batch_loss(X, y, weights, biases, activation, output, l2) -> float:
    """``L_B = sum_n l_n + l2 / 2 * sum_i ||W_i||^2`` (biases not decayed)."""
    out = forward(X, weights, biases, activation, output)[0][-1]
    decay = sum(float((np.asarray(w, dtype=np.float64) ** 2).sum()) for w in weights)
    return float(loss_terms(out, y, output).sum()) + 0.5 * l2 * decay


def output_delta(y: np.ndarray, out: np.ndarray, output: str) -> np.ndarray:
    """The negative gradient of ``l_n`` w.r.t. the output layer's pre-activation."""
    if output == "sigmoid":
        return (y - out) * out * (1 - out)
    if output == "linear":
        return y - out
    return y - out * y.sum(axis=1, keepdims=True)  # d/dz of -sum_j y_j log softmax_j(z)


def backprop(
    X, y, weights, biases, activation, output, *, l2=0.0, clip=None, masks=None, keep=1.0
):
    """``dL_B/dW_i``, ``dL_B/db_i`` (``[]`` without biases) and the output, every delta
    (negative gradient w.r.t. a pre-activation) clipped to ``[-clip, clip]`` before use."""
    layers, zs = forward(X, weights, biases, activation, output, masks, keep)
    out = layers[-1]
    delta = output_delta(np.asarray(y, dtype=np.float64), out, output)
    grad_w: list[np.ndarray] = [np.empty(0)] * len(weights)
    grad_b: list[np.ndarray] = [np.empty(0)] * len(weights)
    for i in reversed(range(len(weights))):
        if clip is not None:
            delta = np.clip(delta, -clip, clip)
        grad_w[i] = -layers[i].T @ delta + l2 * np.asarray(weights[i], dtype=np.float64)
        grad_b[i] = -delta.sum(axis=0)
        if i > 0:
            delta = (delta @ np.asarray(weights[i], dtype=np.float64).T) * slope(
                zs[i - 1], activation
            )
            if masks is not None:
                delta = delta * masks[i - 1] / keep
    return grad_w, (grad_b if biases else []), out


def train_by_hand(
    X,
    y,
    weights,
    biases,
    *,
    activation,
    output,
    epochs,
    learning_rate,
    batch_size=None,
    orders=None,
    momentum=0.0,
    nesterov=False,
    l2=0.0,
    clip=None,
):
    """The documented training loop without dropout: batches of consecutive rows, in row
    order or in ``orders[epoch]``. Returns weights, biases and history, in float64."""
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    weights = [np.array(w, dtype=np.float64) for w in weights]
    biases = [np.array(b, dtype=np.float64) for b in biases]
    velocity = [np.zeros_like(p) for p in weights + biases]
    n = len(X)
    size = batch_size or n
    history: dict[str, list[float]] = {"loss": [], "mae": []}
    for epoch in range(epochs):
        rows = np.arange(n) if orders is None else np.asarray(orders[epoch])
        total_loss = total_abs = 0.0
        for start in range(0, n, size):
            batch = rows[start : start + size]
            grad_w, grad_b, out = backprop(
                X[batch], y[batch], weights, biases, activation, output, l2=l2, clip=clip
            )
            total_loss += float(loss_terms(out, y[batch], output).sum())
            total_abs += float(np.abs(y[batch] - out).sum())
            for p, g, v in zip(weights + biases, grad_w + grad_b, velocity, strict=True):
                v *= momentum
                v -= learning_rate * g
                p += momentum * v - learning_rate * g if nesterov else v
        history["loss"].append(total_loss / n)
        history["mae"].append(total_abs / (n * y.shape[1]))
    return weights, biases, {key: np.array(value) for key, value in history.items()}


def numerical_gradient(X, y, weights, biases, activation, output, l2):
    """Central differences of :func:`batch_loss` in every weight and bias."""
    params = [np.array(p, dtype=np.float64) for p in [*weights, *biases]]
    n_w = len(weights)

    def loss() -> float:
        return batch_loss(X, y, params[:n_w], params[n_w:], activation, output, l2)

    grads = []
    for p in params:
        g = np.empty_like(p)
        for index in np.ndindex(p.shape):
            saved = p[index]
            p[index] = saved + FD_STEP
            up = loss()
            p[index] = saved - FD_STEP
            down = loss()
            p[index] = saved
            g[index] = (up - down) / (2 * FD_STEP)
        grads.append(g)
    return grads[:n_w], grads[n_w:]


# --- data, networks and comparisons --------------------------------------------------------
# (make_inputs, make_targets and random_biases are in helpers.py: test_small_road.py draws its
# data with them too.)


def state(net: tinynet.Network) -> list[np.ndarray]:
    """Weights then biases, copied, in float64."""
    return [np.array(p, dtype=np.float64) for p in [*net.weights, *net.biases]]


def assert_params_close(actual: list, desired: list, tol: float, what: str = "") -> None:
    assert len(actual) == len(desired), what
    for i, (a, d) in enumerate(zip(actual, desired, strict=True)):
        assert_close(a, d, tol, f"{what} param {i}")


def assert_same_training(first: tinynet.Network, second: tinynet.Network, X) -> None:
    """Bit-for-bit the same weights, biases, history and predictions."""
    for a, b in zip(state(first), state(second), strict=True):
        np.testing.assert_array_equal(a, b)
    assert set(first.history) == set(second.history)
    for key in first.history:
        np.testing.assert_array_equal(first.history[key], second.history[key])
    np.testing.assert_array_equal(first.predict(X), second.predict(X))


def max_difference(first: tinynet.Network, second: tinynet.Network) -> float:
    pairs = zip(state(first), state(second), strict=True)
    return max(float(np.max(np.abs(a - b))) for a, b in pairs)


# --- construction: properties, initialisation, biases --------------------------------------


def test_properties_and_defaults(backend):
    net = tinynet.Network([3, 4, 2], seed=0, backend=backend)
    assert (net.activation, net.output, net.bias, net.init) == (
        "sigmoid",
        "sigmoid",
        False,
        "uniform",
    )
    assert net.biases == []

    net = tinynet.Network(
        [3, 4, 2], activation="tanh", output="softmax", bias=True, init="he", backend=backend
    )
    assert (net.activation, net.output, net.bias, net.init) == ("tanh", "softmax", True, "he")
    for name in ("activation", "output", "bias", "init"):
        with pytest.raises(AttributeError):
            setattr(net, name, getattr(net, name))


@pytest.mark.parametrize("init", INITS)
def test_biases_start_at_zero(backend, dtype, init):
    net = tinynet.Network([3, 5, 4, 2], bias=True, init=init, seed=3, dtype=dtype, backend=backend)
    assert [b.shape for b in net.biases] == [(5,), (4,), (2,)]
    for b in net.biases:
        assert b.dtype == dtype
        np.testing.assert_array_equal(b, 0)
    assert tinynet.Network([3, 5, 2], bias=False, init=init, backend=backend).biases == []


def test_weights_do_not_depend_on_bias_activation_or_output(backend, dtype):
    """The blog's draws, whatever the other choices."""
    plain = tinynet.Network([3, 5, 4], seed=11, dtype=dtype, backend=backend)
    for activation, output, bias in itertools.product(ACTIVATIONS, OUTPUTS, (False, True)):
        net = tinynet.Network(
            [3, 5, 4],
            activation=activation,
            output=output,
            bias=bias,
            seed=11,
            dtype=dtype,
            backend=backend,
        )
        for w, w_plain in zip(net.weights, plain.weights, strict=True):
            np.testing.assert_array_equal(w, w_plain)


@pytest.mark.parametrize("layers", [[3, 7], [4, 6, 3, 2]])
def test_xavier_and_he_scale_the_uniform_draws(backend, dtype, layers):
    """From the same draws r: (2r - 1) * sqrt(6 / (k + j)) resp. sqrt(6 / k)."""
    uniform = tinynet.Network(layers, seed=5, dtype=np.float64, backend=backend).weights
    xavier = tinynet.Network(layers, seed=5, init="xavier", dtype=dtype, backend=backend)
    he = tinynet.Network(layers, seed=5, init="he", dtype=dtype, backend=backend)
    assert (xavier.init, he.init) == ("xavier", "he")
    rtol = 2 * float(np.finfo(dtype).eps)
    for w_u, w_x, w_h in zip(uniform, xavier.weights, he.weights, strict=True):
        k, j = w_u.shape
        assert w_x.dtype == w_h.dtype == dtype
        np.testing.assert_allclose(w_x, (w_u * math.sqrt(6 / (k + j))).astype(dtype), rtol=rtol)
        np.testing.assert_allclose(w_h, (w_u * math.sqrt(6 / k)).astype(dtype), rtol=rtol)


def test_biases_setter_round_trip(backend, dtype):
    net = tinynet.Network([3, 4, 2], bias=True, seed=0, dtype=dtype, backend=backend)
    new = [np.arange(4), [0.5, -1.5]]  # integers and lists are converted
    net.biases = new
    assert [b.dtype for b in net.biases] == [dtype, dtype]
    np.testing.assert_array_equal(net.biases[0], np.arange(4, dtype=dtype))
    np.testing.assert_array_equal(net.biases[1], np.array([0.5, -1.5], dtype=dtype))

    got = net.biases  # copies: writing to them does not reach the network
    got[0][...] = 9
    np.testing.assert_array_equal(net.biases[0], np.arange(4, dtype=dtype))

    net_without = tinynet.Network([3, 4, 2], seed=0, backend=backend)
    net_without.biases = []
    assert net_without.biases == []


# --- predict: the documented forward pass --------------------------------------------------


@pytest.mark.parametrize("output", OUTPUTS)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_predict_is_the_documented_forward_pass(backend, dtype, activation, output):
    rng = np.random.default_rng(1)
    layers = [4, 6, 5, 3]
    net = tinynet.Network(
        layers,
        activation=activation,
        output=output,
        bias=True,
        seed=2,
        dtype=dtype,
        backend=backend,
    )
    net.biases = random_biases(rng, layers)
    X = make_inputs(rng, 9, 4, scale=2.0)
    expected = forward(X, net.weights, net.biases, activation, output)[0][-1]

    out = net.predict(X)
    assert out.shape == (9, 3)
    assert out.dtype == dtype
    tol = 1e-12 if dtype == np.float64 else 1e-5
    assert_close(out, expected, tol, "predict")
    assert_close(net.predict(X[0]), expected[0], tol, "predict one sample")
    if output == "softmax":
        np.testing.assert_allclose(out.sum(axis=1), 1, rtol=tol)
    if output != "linear":
        assert ((out >= 0) & (out <= 1)).all()

    # Without biases, the same weights give a different, bias-free output.
    plain = tinynet.Network(
        layers, activation=activation, output=output, seed=2, dtype=dtype, backend=backend
    )
    assert_close(
        plain.predict(X),
        forward(X, plain.weights, [], activation, output)[0][-1],
        tol,
        "predict without biases",
    )


def test_softmax_predict_saturates_without_warnings(backend, dtype):
    """Logits of order 1e4: probabilities stay finite and sum to 1 (any numpy warning, e.g. an
    overflow in exp, is an error in this test configuration)."""
    rng = np.random.default_rng(2)
    net = tinynet.Network(
        [3, 4, 3], activation="relu", output="softmax", bias=True, dtype=dtype, backend=backend
    )
    net.weights = [100 * rng.uniform(-1, 1, size=(3, 4)), 100 * rng.uniform(-1, 1, (4, 3))]
    out = net.predict(rng.uniform(-1, 1, size=(20, 3)))
    assert np.isfinite(out).all()
    assert ((out >= 0) & (out <= 1)).all()
    np.testing.assert_allclose(out.sum(axis=1), 1, rtol=10 * float(np.finfo(dtype).eps))


# --- gradients: one step at learning rate 1 is the gradient of the documented loss ---------


def gradient_problem(activation: str, output: str, layers=(3, 5, 4, 3), n=6, seed=0):
    """Data, weights and non-zero biases for a gradient check; for relu, every hidden
    pre-activation is kept at least 1e-3 away from the kink, where differences would fail."""
    rng = np.random.default_rng(seed)
    weights = [rng.uniform(-1, 1, size=shape) for shape in itertools.pairwise(layers)]
    while True:
        X = make_inputs(rng, n, layers[0], scale=1.5)
        biases = random_biases(rng, layers)
        zs = forward(X, weights, biases, activation, output)[1]
        if min((float(np.min(np.abs(z))) for z in zs[:-1]), default=1.0) > 1e-3:
            break
    if output == "softmax":
        y = rng.dirichlet(np.ones(layers[-1]), size=n)  # rows of probabilities
    else:
        y = make_targets(rng, n, layers[-1], output)
    return X, y, weights, biases


def one_step(backend, activation, output, X, y, weights, biases, **options):
    """Weights and biases before minus after one full-batch epoch at learning rate 1."""
    layers = [weights[0].shape[0], *(w.shape[1] for w in weights)]
    net = tinynet.Network(
        layers, activation=activation, output=output, bias=bool(biases), backend=backend
    )
    net.weights = weights
    if biases:
        net.biases = biases
    before = state(net)
    net.fit(X, y, epochs=1, learning_rate=1.0, **options)
    return [b - a for b, a in zip(before, state(net), strict=True)]


@pytest.mark.parametrize("output", OUTPUTS)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_hand_backprop_matches_finite_differences(activation, output):
    """The test's own backprop is the gradient of the documented loss."""
    X, y, weights, biases = gradient_problem(activation, output)
    grad_w, grad_b, _ = backprop(X, y, weights, biases, activation, output, l2=0.3)
    fd_w, fd_b = numerical_gradient(X, y, weights, biases, activation, output, l2=0.3)
    assert_params_close(grad_w + grad_b, fd_w + fd_b, FD_TOL, "backprop vs differences")


@pytest.mark.parametrize("output", OUTPUTS)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_one_step_is_the_gradient_of_the_documented_loss(backend, activation, output):
    X, y, weights, biases = gradient_problem(activation, output)
    step = one_step(backend, activation, output, X, y, weights, biases, l2=0.3)
    fd_w, fd_b = numerical_gradient(X, y, weights, biases, activation, output, l2=0.3)
    assert_params_close(step, fd_w + fd_b, FD_TOL, "step vs differences")


def test_one_step_is_the_gradient_for_a_single_layer(backend):
    """No hidden layer: the output layer's delta goes straight into the first synapse."""
    for output in OUTPUTS:
        X, y, weights, biases = gradient_problem("sigmoid", output, layers=(4, 3), n=5)
        step = one_step(backend, "sigmoid", output, X, y, weights, biases, l2=0.1)
        fd_w, fd_b = numerical_gradient(X, y, weights, biases, "sigmoid", output, l2=0.1)
        assert_params_close(step, fd_w + fd_b, FD_TOL, output)


def test_softmax_gradient_with_targets_not_summing_to_one(backend):
    """The documented cross-entropy -sum_j y_j log(out_j) has the gradient
    out * sum_j y_j - y w.r.t. the logits; ``y - out`` is only right for rows summing to 1
    (an all-zero row, for one, has zero loss whatever the weights, so it must not move them)."""
    X, _, weights, biases = gradient_problem("tanh", "softmax")
    y = np.random.default_rng(3).uniform(0, 1, size=(len(X), 3))  # rows sum to 0..3
    step = one_step(backend, "tanh", "softmax", X, y, weights, biases)
    fd_w, fd_b = numerical_gradient(X, y, weights, biases, "tanh", "softmax", l2=0.0)
    assert_params_close(step, fd_w + fd_b, FD_TOL, "step vs differences")


# --- updates: mini-batches, momentum, Nesterov, l2 and clip against the hand loop ----------

HAND_OPTIONS = {
    "full batch": {},
    "batch_size=1": {"batch_size": 1},
    "batch_size=3 of 7": {"batch_size": 3},
    "batch_size=n": {"batch_size": 7},
    "momentum": {"momentum": 0.6},
    "nesterov batches": {"momentum": 0.6, "nesterov": True, "batch_size": 2},
    "l2": {"l2": 0.3},
    "clip": {"clip": 0.02},
    "everything": {"batch_size": 4, "momentum": 0.5, "nesterov": True, "l2": 0.1, "clip": 0.05},
}


@pytest.mark.parametrize("options", HAND_OPTIONS.values(), ids=HAND_OPTIONS.keys())
@pytest.mark.parametrize("output", OUTPUTS)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_training_matches_the_hand_loop(backend, activation, output, options):
    rng = np.random.default_rng(4)
    layers = [3, 5, 4, 3]
    n, epochs, learning_rate = 7, 6, 0.3 / 7
    X = make_inputs(rng, n, 3)
    y = make_targets(rng, n, 3, output)
    net = tinynet.Network(
        layers, activation=activation, output=output, bias=True, seed=6, backend=backend
    )
    net.biases = random_biases(rng, layers)  # non-zero: no relu input is exactly 0
    weights, biases = net.weights, net.biases
    if "clip" in options:  # the clip bites: some output deltas are larger
        out = forward(X, weights, biases, activation, output)[0][-1]
        assert float(np.max(np.abs(output_delta(y, out, output)))) > 2 * options["clip"]

    net.fit(X, y, epochs=epochs, learning_rate=learning_rate, shuffle=False, **options)
    w_hand, b_hand, history = train_by_hand(
        X,
        y,
        weights,
        biases,
        activation=activation,
        output=output,
        epochs=epochs,
        learning_rate=learning_rate,
        **options,
    )
    assert_params_close(state(net), w_hand + b_hand, HAND_TOL, "parameters")
    assert set(net.history) == {"loss", "mae"}
    for key in ("loss", "mae"):
        assert net.history[key].dtype == np.float64
        assert_close(net.history[key], history[key], HAND_TOL, key)


@pytest.mark.parametrize("shuffle", [False, True])
def test_batch_size_n_is_full_batch(backend, shuffle):
    """batch_size=n, or more (ceil(n / batch_size) = 1 update per epoch), is the full batch."""
    rng = np.random.default_rng(5)
    X, y = make_inputs(rng, 9, 3), rng.random((9, 2))
    runs = []
    for batch_size in (None, 9, 20):
        net = tinynet.Network([3, 4, 2], bias=True, seed=1, backend=backend)
        net.fit(X, y, epochs=10, learning_rate=0.1, batch_size=batch_size, shuffle=shuffle)
        runs.append(net)
    for run in runs[1:]:
        assert_params_close(state(run), state(runs[0]), HAND_TOL)
        for key in ("loss", "mae"):
            assert_close(run.history[key], runs[0].history[key], HAND_TOL, key)


def test_shuffle_uses_each_row_once_per_epoch_in_a_new_order(backend):
    """With batch_size=1 the result depends on the order of the rows: it must be the hand loop
    for exactly one pair of permutations (one per epoch), and different seeds give different
    orders, not always the same in both epochs."""
    rng = np.random.default_rng(6)
    n, layers = 3, [2, 3, 2]
    X, y = make_inputs(rng, n, 2, scale=2.0), rng.random((n, 2))
    start = tinynet.Network(layers, bias=True, seed=0)
    start.biases = random_biases(rng, layers)
    permutations = [np.array(p) for p in itertools.permutations(range(n))]
    candidates = {}
    for first, second in itertools.product(range(len(permutations)), repeat=2):
        candidates[first, second] = train_by_hand(
            X,
            y,
            start.weights,
            start.biases,
            activation="sigmoid",
            output="sigmoid",
            epochs=2,
            learning_rate=2.0,
            batch_size=1,
            orders=[permutations[first], permutations[second]],
        )
    # The candidates are told apart far beyond rounding.
    params = [np.concatenate([p.ravel() for p in w + b]) for w, b, _ in candidates.values()]
    assert min(np.max(np.abs(a - b)) for a, b in itertools.combinations(params, 2)) > 1e-6

    seen = []
    for seed in range(10):
        net = tinynet.Network(layers, bias=True, seed=seed, backend=backend)
        net.weights, net.biases = start.weights, start.biases
        net.fit(X, y, epochs=2, learning_rate=2.0, batch_size=1, shuffle=True)
        matches = [
            key
            for key, (w, b, _) in candidates.items()
            if all(
                np.max(np.abs(p - q)) < HAND_TOL for p, q in zip(state(net), w + b, strict=True)
            )
        ]
        assert len(matches) == 1, f"seed {seed}: not one order of rows per epoch"
        assert_close(net.history["loss"], candidates[matches[0]][2]["loss"], HAND_TOL, "loss")
        seen.append(matches[0])
    assert len(set(seen)) > 1, "every seed gave the same order"
    assert any(first != second for first, second in seen), "the order never changed"


# --- core against reference ----------------------------------------------------------------
# (Case, cases and assert_backends_agree are in helpers.py: test_blas.py runs them with every
# BLAS library.)


RICH_OPTIONS = {
    "batch_size": 5,
    "shuffle": True,
    "momentum": 0.5,
    "l2": 0.01,
    "dropout": 0.2,
    "clip": 0.1,
}


@pytest.mark.parametrize("products", ["blas", "loops"])
@pytest.mark.parametrize("options", ["plain", "options"])
@pytest.mark.parametrize("bias", [False, True], ids=["no bias", "bias"])
@pytest.mark.parametrize("output", OUTPUTS)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_backends_agree_for_every_combination(activation, output, bias, dtype, options, products):
    rng = np.random.default_rng(7)
    n, layers = 12, [4, 6, 5, 3]
    X, y = make_inputs(rng, n, 4), make_targets(rng, n, 3, output)
    fit_options: dict[str, Any] = {"learning_rate": 0.1 / n}
    if options == "options":
        fit_options = {
            "learning_rate": 0.05 / n,
            "validation_data": (make_inputs(rng, 5, 4), make_targets(rng, 5, 3, output)),
            **RICH_OPTIONS,
        }
    assert_backends_agree(
        Case(
            layers,
            activation,
            output,
            bias,
            dtype,
            seed=8,
            X=X,
            y=y,
            epochs=15,
            options=fit_options,
            matmuls=products,
        )
    )


@settings(max_examples=80, deadline=None)
@given(case=cases())
def test_backends_agree_on_random_networks_and_options(case):
    assert_backends_agree(case)


@pytest.mark.parametrize("products", ["blas", "loops"])
def test_backends_agree_at_a_size_that_crosses_over(dtype, products):
    """Mid-sized layers and batches, where the default crossover sends some products to
    BLAS and keeps others in the loops; and either way for all."""
    rng = np.random.default_rng(21)
    n, layers = 300, [40, 64, 30, 10]
    case = Case(
        layers,
        "tanh",
        "softmax",
        True,
        dtype,
        seed=22,
        X=make_inputs(rng, n, 40),
        y=make_targets(rng, n, 10, "softmax"),
        epochs=4,
        options={"learning_rate": 0.01, "batch_size": 50, "momentum": 0.5, "l2": 0.01},
        matmuls=products,
    )
    assert_backends_agree(case)
    default = dataclasses.replace(case, matmuls="default")
    assert_backends_agree(default)


# --- reproducibility ------------------------------------------------------------------------

NOISY_OPTIONS = {"batch_size": 3, "shuffle": True, "dropout": 0.4, "momentum": 0.5}


def noisy_problem():
    rng = np.random.default_rng(9)
    return make_inputs(rng, 10, 3), rng.random((10, 2))


def test_seeded_training_repeats_exactly(backend, dtype):
    """Same seed, same calls (two fits in a row): bit-for-bit the same."""
    X, y = noisy_problem()
    runs = []
    for _ in range(2):
        net = tinynet.Network([3, 6, 5, 2], bias=True, seed=12, dtype=dtype, backend=backend)
        net.fit(X, y, epochs=5, learning_rate=0.05, **NOISY_OPTIONS)
        net.fit(X, y, epochs=3, learning_rate=0.05, **NOISY_OPTIONS)
        runs.append(net)
    assert_same_training(*runs, X)


@pytest.mark.parametrize(
    "options",
    [{"batch_size": 3, "shuffle": True}, {"dropout": 0.4}],
    ids=["shuffle", "dropout"],
)
def test_the_seed_drives_shuffle_and_dropout(backend, options):
    """From the same starting weights, networks seeded differently train differently with
    shuffled batches or with dropout, and identically without either."""
    X, y = noisy_problem()
    nets = [tinynet.Network([3, 6, 2], bias=True, seed=seed, backend=backend) for seed in (1, 2)]
    nets[1].weights = nets[0].weights
    for net in nets:
        net.fit(X, y, epochs=4, learning_rate=0.05, **options)
    assert max_difference(*nets) > 1e-6

    nets = [tinynet.Network([3, 6, 2], bias=True, seed=seed, backend=backend) for seed in (1, 2)]
    nets[1].weights = nets[0].weights
    for net in nets:
        net.fit(X, y, epochs=4, learning_rate=0.05, batch_size=3, shuffle=False)
    assert_same_training(*nets, X)


def test_shuffle_has_no_effect_with_full_batch(backend):
    X, y = noisy_problem()
    runs = []
    for shuffle in (False, True):
        net = tinynet.Network([3, 6, 2], bias=True, seed=1, backend=backend)
        runs.append(net.fit(X, y, epochs=5, learning_rate=0.05, shuffle=shuffle))
    assert_same_training(*runs, X)


# --- what each option does ------------------------------------------------------------------


def xor_like(n=16, seed=10):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(n, 2))
    return X, (X[:, :1] * X[:, 1:] > 0).astype(np.float64)


def test_l2_shrinks_the_weights(backend):
    X, y = xor_like()
    norms = {}
    for l2 in (0.0, 0.05):
        net = tinynet.Network([2, 8, 1], bias=True, seed=3, backend=backend)
        net.fit(X, y, epochs=300, learning_rate=0.5, l2=l2)
        norms[l2] = math.sqrt(sum(float((w**2).sum()) for w in net.weights))
    assert norms[0.05] < 0.9 * norms[0.0]


def test_l2_one_step_is_weight_decay_and_spares_the_biases(backend, dtype):
    """One full-batch step: W(l2) = W(0) - learning_rate * l2 * W_before; biases equal."""
    X, y = xor_like()
    nets = {}
    for l2 in (0.0, 0.2):
        net = tinynet.Network([2, 5, 1], bias=True, seed=3, dtype=dtype, backend=backend)
        net.biases = [np.full(5, 0.3), np.full(1, -0.2)]
        before = net.weights
        nets[l2] = net.fit(X, y, epochs=1, learning_rate=0.5, l2=l2)
    tol = 100 * float(np.finfo(dtype).eps)
    for w0, w_l2, w_before in zip(nets[0.0].weights, nets[0.2].weights, before, strict=True):
        assert_close(
            w_l2, w0.astype(np.float64) - 0.5 * 0.2 * w_before.astype(np.float64), tol, "decay"
        )
    for b0, b_l2 in zip(nets[0.0].biases, nets[0.2].biases, strict=True):
        assert_close(b_l2, b0, tol, "biases")
    np.testing.assert_array_equal(nets[0.0].history["loss"], nets[0.2].history["loss"])


def test_clip_bounds_the_step_of_a_single_layer(backend):
    """One layer, one full-batch epoch: |dW_kj| <= lr * clip * sum_n |x_nk| with clip, and
    dW = lr * X.T . clip(y - out); without clip, large errors break that bound."""
    rng = np.random.default_rng(11)
    X = make_inputs(rng, 8, 3)
    y = 100 * rng.choice([-1.0, 1.0], size=(8, 2))
    lr, clip = 0.01, 0.5
    bound = lr * clip * np.abs(X).sum(axis=0)[:, None]
    steps = {}
    for c in (clip, None):
        net = tinynet.Network([3, 2], output="linear", seed=4, backend=backend)
        before = net.weights[0]
        net.fit(X, y, epochs=1, learning_rate=lr, clip=c)
        steps[c] = net.weights[0] - before
    out = X @ before
    assert (np.abs(steps[clip]) <= bound * (1 + 1e-12)).all()
    assert_close(steps[clip], lr * X.T @ np.clip(y - out, -clip, clip), HAND_TOL, "clipped")
    assert (np.abs(steps[None]) > bound).any()


def test_clip_applies_to_hidden_deltas(backend):
    """The hidden layer's delta, computed from the clipped output delta, is clipped too."""
    rng = np.random.default_rng(12)
    layers, clip = [3, 4, 2], 0.3
    X, y = make_inputs(rng, 6, 3), 50 * rng.choice([-1.0, 1.0], size=(6, 2))
    net = tinynet.Network(
        layers, activation="tanh", output="linear", bias=True, seed=5, backend=backend
    )
    net.weights = [rng.uniform(-1, 1, size=(3, 4)), rng.uniform(2, 3, size=(4, 2))]
    weights, biases = net.weights, net.biases
    before = state(net)
    net.fit(X, y, epochs=1, learning_rate=1.0, clip=clip)
    step = [b - a for b, a in zip(before, state(net), strict=True)]
    grad_w, grad_b, _ = backprop(X, y, weights, biases, "tanh", "linear", clip=clip)
    expected = grad_w + grad_b
    assert_params_close(step, expected, HAND_TOL, "clipped step")
    # Clipping only the output delta would give another step.
    layers_out, zs = forward(X, weights, biases, "tanh", "linear")
    hidden = (np.clip(y - layers_out[-1], -clip, clip) @ weights[1].T) * slope(zs[0], "tanh")
    assert np.max(np.abs(hidden)) > 2 * clip
    assert np.max(np.abs(expected[0] + layers_out[0].T @ hidden)) > 1e-3


def test_momentum_first_epoch_is_the_plain_step(backend):
    """The velocity starts at 0: classical momentum's first step is the plain step; Nesterov's
    is (1 + momentum) times it."""
    X, y = xor_like()
    steps = {}
    for name, options in {
        "plain": {},
        "classical": {"momentum": 0.9},
        "nesterov": {"momentum": 0.9, "nesterov": True},
    }.items():
        net = tinynet.Network([2, 4, 1], bias=True, seed=2, backend=backend)
        before = state(net)
        net.fit(X, y, epochs=1, learning_rate=0.1, **options)
        steps[name] = [b - a for b, a in zip(before, state(net), strict=True)]
    assert_params_close(steps["classical"], steps["plain"], HAND_TOL, "classical")
    assert_params_close(steps["nesterov"], [1.9 * s for s in steps["plain"]], HAND_TOL, "nesterov")


def test_momentum_speeds_up_a_slow_descent(backend):
    """A small learning rate on a smooth regression: with momentum 0.9 (steps up to 10 times
    larger once the velocity builds up), 100 epochs get further than 300 without."""
    rng = np.random.default_rng(19)
    X = make_inputs(rng, 20, 3)
    y = np.sin(X @ np.array([[1.5], [-1.0], [0.5]]))
    losses = {}
    for momentum in (0.0, 0.9):
        net = tinynet.Network(
            [3, 6, 1], activation="tanh", output="linear", bias=True, seed=4, backend=backend
        )
        net.fit(X, y, epochs=300, learning_rate=0.002, momentum=momentum)
        losses[momentum] = net.history["loss"]
    assert losses[0.0][-1] < 0.5 * losses[0.0][0]  # plain descent works, slowly
    assert losses[0.9][99] < losses[0.0][-1]


def test_nesterov_differs_from_classical_momentum(backend):
    X, y = xor_like()
    nets = []
    for nesterov in (False, True):
        net = tinynet.Network([2, 4, 1], bias=True, seed=2, backend=backend)
        nets.append(net.fit(X, y, epochs=3, learning_rate=0.1, momentum=0.9, nesterov=nesterov))
    assert max_difference(*nets) > 1e-4


def test_predict_never_drops(backend):
    """After training with dropout, predict is deterministic and is the plain forward pass of
    the trained weights (no dropped units, no 1 / (1 - p) scaling)."""
    X, y = xor_like()
    net = tinynet.Network([2, 30, 20, 1], bias=True, seed=2, backend=backend)
    net.fit(X, y, epochs=5, learning_rate=0.05, dropout=0.5)
    first = net.predict(X)
    np.testing.assert_array_equal(net.predict(X), first)
    expected = forward(X, net.weights, net.biases, "sigmoid", "sigmoid")[0][-1]
    assert_close(first, expected, 1e-12, "predict after dropout")


@pytest.mark.parametrize("p", [0.2, 0.5, 0.8])
def test_dropout_silences_about_p_of_the_hidden_units(backend, p):
    """One sample, full batch, one epoch: a dropped hidden unit sends nothing forward (its row
    of the next synapse keeps its weights) and gets no delta (its column and bias in the
    synapse below keep theirs). About p of the units are dropped in each hidden layer, and
    the step is the hand gradient with those masks and the 1 / (1 - p) scaling."""
    rng = np.random.default_rng(13)
    layers = [3, 300, 200, 2]
    X, y = make_inputs(rng, 1, 3, scale=2.0), rng.random((1, 2))
    net = tinynet.Network(layers, bias=True, seed=7, init="xavier", backend=backend)
    weights, biases = net.weights, net.biases
    net.fit(X, y, epochs=1, learning_rate=0.1, dropout=p)

    masks = []
    for i in (1, 2):  # hidden layer i feeds synapse i
        kept = (net.weights[i] != weights[i]).any(axis=1)
        assert kept.any()
        dropped_fraction = 1 - kept.mean()
        assert abs(dropped_fraction - p) < 5 * math.sqrt(p * (1 - p) / layers[i]), i
        # no delta for dropped units below them
        np.testing.assert_array_equal(net.weights[i - 1][:, ~kept], weights[i - 1][:, ~kept])
        np.testing.assert_array_equal(net.biases[i - 1][~kept], biases[i - 1][~kept])
        masks.append(kept[None, :].astype(np.float64))

    grad_w, grad_b, _ = backprop(
        X, y, weights, biases, "sigmoid", "sigmoid", masks=masks, keep=1 - p
    )
    expected = [p_ - 0.1 * g for p_, g in zip(weights + biases, grad_w + grad_b, strict=True)]
    assert_params_close(state(net), expected, HAND_TOL, "dropout step")


# --- history, validation data, callbacks, early stopping, printing -------------------------


@pytest.mark.parametrize("output", OUTPUTS)
def test_validation_history(backend, output):
    """val_loss and val_mae, every epoch, are the documented measures of predict on the
    validation data with the weights at the end of that epoch, with no dropout."""
    rng = np.random.default_rng(14)
    X, y = make_inputs(rng, 10, 3), make_targets(rng, 10, 3, output)
    Xv, yv = make_inputs(rng, 6, 3), make_targets(rng, 6, 3, output)
    predictions = []
    net = tinynet.Network([3, 5, 3], output=output, bias=True, seed=1, backend=backend)
    net.fit(
        X,
        y,
        epochs=6,
        learning_rate=0.05,
        dropout=0.3,
        batch_size=4,
        validation_data=(Xv, yv),
        callbacks=[lambda network, epoch, logs: predictions.append(network.predict(Xv))],
    )
    assert set(net.history) == {"loss", "mae", "val_loss", "val_mae"}
    assert len(predictions) == 6
    for key in net.history:
        assert net.history[key].dtype == np.float64
        assert len(net.history[key]) == 6
    val_loss = [loss_terms(out, yv, output).mean() for out in predictions]
    val_mae = [np.abs(yv - out).mean() for out in predictions]
    assert_close(net.history["val_loss"], val_loss, 1e-12, "val_loss")
    assert_close(net.history["val_mae"], val_mae, 1e-12, "val_mae")
    # the last epoch: from predict after fit
    out = net.predict(Xv)
    assert_close(net.history["val_loss"][-1], loss_terms(out, yv, output).mean(), 1e-12, "last")


def test_validation_does_not_disturb_training(backend):
    """Computing the validation measures draws no random numbers and changes nothing."""
    X, y = noisy_problem()
    runs = []
    for validation_data in (None, (X[:4], y[:4])):
        net = tinynet.Network([3, 6, 2], bias=True, seed=3, backend=backend)
        runs.append(
            net.fit(
                X,
                y,
                epochs=4,
                learning_rate=0.05,
                validation_data=validation_data,
                **NOISY_OPTIONS,
            )
        )
    for a, b in zip(state(runs[0]), state(runs[1]), strict=True):
        np.testing.assert_array_equal(a, b)
    for key in ("loss", "mae"):
        np.testing.assert_array_equal(runs[0].history[key], runs[1].history[key])


def test_callbacks_see_every_epoch(backend):
    """Called after every epoch, in order, with the network at the end of that epoch, the
    0-based epoch and that epoch's measures as floats."""
    X, y = xor_like()
    calls: list[tuple[str, int, dict, list]] = []

    def recorder(name):
        def callback(network, epoch, logs):
            assert network is net
            calls.append((name, epoch, dict(logs), state(network)))

        return callback

    net = tinynet.Network([2, 4, 1], bias=True, seed=1, backend=backend)
    net.fit(
        X,
        y,
        epochs=5,
        learning_rate=0.1,
        validation_data=(X[:5], y[:5]),
        callbacks=[recorder("a"), recorder("b")],
    )
    assert [(name, epoch) for name, epoch, _, _ in calls] == [
        (name, epoch) for epoch in range(5) for name in "ab"
    ]
    for _, epoch, logs, params in calls:
        assert set(logs) == {"loss", "mae", "val_loss", "val_mae"}
        for key, value in logs.items():
            assert isinstance(value, float)
            assert value == net.history[key][epoch]
        # the weights at the end of epoch `epoch`: those of a fit of epoch + 1 epochs
        shorter = tinynet.Network([2, 4, 1], bias=True, seed=1, backend=backend)
        shorter.fit(X, y, epochs=epoch + 1, learning_rate=0.1)
        assert_params_close(params, state(shorter), HAND_TOL, f"epoch {epoch}")
    assert_params_close(calls[-1][3], state(net), 0.0, "last epoch")


def test_callbacks_that_do_not_read_the_network_skip_the_commits(backend):
    """A callback whose ``_reads_network`` is false (scikit-learn's bookkeeping) sees the
    network as it was until the fit ends (no commit per epoch); the fit ends, stopped or
    not, with the weights of its last completed epoch, as with any callback."""
    X, y = xor_like()
    before = state(tinynet.Network([2, 4, 1], bias=True, seed=1, backend=backend))

    class Blind:
        _reads_network = False

        def __init__(self):
            self.seen = []

        def __call__(self, network, epoch, logs):
            self.seen.append(state(network))
            return epoch == 2

    blind = Blind()
    net = tinynet.Network([2, 4, 1], bias=True, seed=1, backend=backend)
    net.fit(X, y, epochs=10, learning_rate=0.1, callbacks=[blind])
    for params in blind.seen:
        assert_params_close(params, before, 0.0, "during the fit")
    three = tinynet.Network([2, 4, 1], bias=True, seed=1, backend=backend)
    three.fit(X, y, epochs=3, learning_rate=0.1)
    assert_params_close(state(net), state(three), 0.0, "after the stop")
    assert len(net.history["loss"]) == 3


class RecordingTrainer:
    """A backend's trainer that records how many epochs each of its runs was asked for, and
    raises KeyboardInterrupt once ``interrupt_at`` epochs are done (if a run would go past)."""

    def __init__(self, trainer, runs, interrupt_at):
        self._trainer = trainer
        self._runs = runs
        self._interrupt_at = interrupt_at

    def __getattr__(self, name):
        return getattr(self._trainer, name)

    def run(self, epochs, history, *rates):
        self._runs.append(epochs)
        stop = self._interrupt_at
        if stop is not None and self._trainer.epoch + epochs > stop:
            part = stop - self._trainer.epoch
            self._trainer.run(part, history[:part], *(r[:part] for r in rates))
            raise KeyboardInterrupt
        return self._trainer.run(epochs, history, *rates)


@contextlib.contextmanager
def recorded_runs(runs, interrupt_at=None):
    """Fits in the block train with RecordingTrainers."""
    original = _fitting.run

    def run(make_trainer, *args, **kwargs):
        def make(*trainer_args, **trainer_kwargs):
            trainer = make_trainer(*trainer_args, **trainer_kwargs)
            return RecordingTrainer(trainer, runs, interrupt_at)

        return original(make, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_fitting, "run", run)
        yield


class Ahead:
    """A callback that does not read the network and promises ``ahead[i]`` epochs before it
    acts, the i-th time it is asked; it stops the fit at epoch ``stop_at``."""

    _reads_network = False

    def __init__(self, ahead, stop_at=None):
        self.ahead = list(ahead)
        self.asked = 0
        self.stop_at = stop_at
        self.seen = []

    def _epochs_ahead(self):
        self.asked += 1
        return self.ahead[min(self.asked - 1, len(self.ahead) - 1)]

    def __call__(self, network, epoch, logs):
        self.seen.append((epoch, dict(logs)))
        return epoch == self.stop_at


def test_callbacks_that_promise_epochs_ahead_are_told_of_each_epoch(backend):
    """A callback that does not read the network and says how many epochs ahead it could
    next act gets stretches of that many epochs in one call: it still sees every epoch, in
    order, with that epoch's logs, and the fit ends as the fit called epoch by epoch ends."""
    X, y = xor_like()
    ahead = Ahead([3, 1, 5, 2], stop_at=10)
    runs = []
    net = tinynet.Network([2, 4, 1], bias=True, seed=1, backend=backend)
    with recorded_runs(runs):
        net.fit(X, y, epochs=20, learning_rate=0.1, callbacks=[ahead])
    assert runs == [3, 1, 5, 2]  # epochs 0-2, 3, 4-8, 9-10: the stop at 10 ends a stretch
    assert [epoch for epoch, _ in ahead.seen] == list(range(11))
    one_by_one = Ahead([1], stop_at=10)
    alone = tinynet.Network([2, 4, 1], bias=True, seed=1, backend=backend)
    alone.fit(X, y, epochs=20, learning_rate=0.1, callbacks=[one_by_one])
    assert ahead.seen == one_by_one.seen
    assert_params_close(state(net), state(alone), 0.0, "after the stop")
    np.testing.assert_array_equal(net.history["loss"], alone.history["loss"])


def test_a_callback_that_reads_the_network_keeps_stretches_to_one_epoch(backend):
    X, y = xor_like()
    ahead = Ahead([4])
    reading = Ahead([4])
    reading._reads_network = True
    runs = []
    net = tinynet.Network([2, 4, 1], bias=True, seed=1, backend=backend)
    with recorded_runs(runs):
        net.fit(X, y, epochs=6, learning_rate=0.1, callbacks=[ahead, reading])
    assert runs == [1] * 6
    assert [epoch for epoch, _ in ahead.seen] == list(range(6))


def test_an_interrupted_stretch_tells_the_callbacks_of_its_completed_epochs(backend):
    """Ctrl-C in the middle of a stretch: the network keeps the epochs completed before it,
    and the callbacks hear of each of them, as they would have epoch by epoch."""
    X, y = xor_like()
    ahead = Ahead([5])
    runs = []
    net = tinynet.Network([2, 4, 1], bias=True, seed=1, backend=backend)
    with recorded_runs(runs, interrupt_at=3), pytest.raises(KeyboardInterrupt):
        net.fit(X, y, epochs=20, learning_rate=0.1, callbacks=[ahead])
    assert runs == [5]
    assert [epoch for epoch, _ in ahead.seen] == [0, 1, 2]
    assert len(net.history["loss"]) == 3
    three = tinynet.Network([2, 4, 1], bias=True, seed=1, backend=backend)
    three.fit(X, y, epochs=3, learning_rate=0.1)
    assert_params_close(state(net), state(three), 0.0, "after the interrupt")


@pytest.mark.parametrize("stop", [True, 1, "stop"], ids=["True", "1", "str"])
def test_a_truthy_callback_return_stops_training(backend, stop):
    X, y = xor_like()
    seen = []

    def callback(network, epoch, logs):
        seen.append(state(network))
        return stop if epoch == 2 else [None, 0, False, ""][epoch % 4]

    net = tinynet.Network([2, 4, 1], bias=True, seed=1, backend=backend)
    net.fit(X, y, epochs=10, learning_rate=0.1, validation_data=(X, y), callbacks=[callback])
    assert len(seen) == 3
    for key in ("loss", "mae", "val_loss", "val_mae"):
        assert len(net.history[key]) == 3
    assert_params_close(state(net), seen[-1], 0.0, "weights at the stop")


def test_early_stopping_rules():
    """Improvement means decreasing by more than min_delta from the best; stop after
    `patience` epochs without one; restore_best puts back the best epoch's weights."""
    losses = [5.0, 4.0, 3.9, 3.85, 3.7, 3.6]
    for restore_best in (True, False):
        net = tinynet.Network([2, 3], bias=True, seed=0)
        stopper = tinynet.EarlyStopping(
            monitor="loss", patience=2, min_delta=0.2, restore_best=restore_best
        )
        assert stopper.stopped_epoch is None
        results = []
        for epoch, loss in enumerate(losses[:4]):
            net.weights = [np.full((2, 3), float(epoch))]
            net.biases = [np.full(3, -float(epoch))]
            results.append(stopper(net, epoch, {"loss": loss, "mae": loss / 10}))
        assert [bool(r) for r in results] == [False, False, False, True]
        assert (stopper.best_epoch, stopper.best, stopper.stopped_epoch) == (1, 4.0, 3)
        kept = 1.0 if restore_best else 3.0
        np.testing.assert_array_equal(net.weights[0], np.full((2, 3), kept))
        np.testing.assert_array_equal(net.biases[0], np.full(3, -kept))

    stopper = tinynet.EarlyStopping(monitor="loss", patience=2)  # min_delta 0
    net = tinynet.Network([2, 3], seed=0)
    assert not any(
        stopper(net, epoch, {"loss": loss, "mae": 0.0}) for epoch, loss in enumerate(losses)
    )
    assert (stopper.best_epoch, stopper.best, stopper.stopped_epoch) == (5, 3.6, None)


@pytest.mark.parametrize("restore_best", [True, False])
def test_early_stopping_in_fit(backend, restore_best):
    """Linear regression with heavy momentum: the validation loss falls, then oscillates."""
    rng = np.random.default_rng(15)
    X = rng.standard_normal((10, 3))
    y = X @ rng.standard_normal((3, 1))
    params_by_epoch = []
    stopper = tinynet.EarlyStopping(patience=2, restore_best=restore_best)
    net = tinynet.Network([3, 1], output="linear", bias=True, seed=0, backend=backend)
    net.fit(
        X,
        y,
        epochs=200,
        learning_rate=0.05,
        momentum=0.9,
        validation_data=(X, y),
        callbacks=[lambda network, epoch, logs: params_by_epoch.append(state(network)), stopper],
    )
    val_loss = net.history["val_loss"]
    assert stopper.stopped_epoch is not None
    assert len(val_loss) == len(params_by_epoch) == stopper.stopped_epoch + 1 < 200
    assert stopper.best_epoch == int(np.argmin(val_loss)) > 0
    assert stopper.best == val_loss[stopper.best_epoch]
    assert stopper.stopped_epoch == stopper.best_epoch + 2
    expected = params_by_epoch[stopper.best_epoch if restore_best else -1]
    assert_params_close(state(net), expected, 0.0, "weights after early stopping")


def test_verbose_prints_every_n_epochs(backend, capsys):
    X, y = xor_like()
    net = tinynet.Network([2, 4, 1], seed=1, backend=backend)
    net.fit(X, y, epochs=20, learning_rate=0.1, verbose=5, progress=False, validation_data=(X, y))
    captured = capsys.readouterr()
    assert captured.err == ""
    lines = [line for line in captured.out.splitlines() if line.strip()]
    assert len(lines) == 4
    numbers = []
    for line in lines:
        match = re.search(r"epoch\s+(\d+)\s*/\s*(\d+)", line)
        assert match, line
        assert int(match.group(2)) == 20
        epoch = int(match.group(1))
        numbers.append(epoch)
        for key in ("loss", "mae", "val_loss", "val_mae"):
            value = re.search(rf"(?<![\w]){key}\s*[:=]?\s*([-+0-9.eE]+)", line)
            assert value, (key, line)
            expected = net.history[key][epoch - 1]
            assert abs(float(value.group(1)) - expected) <= 1e-3 + 1e-2 * abs(expected), line
    assert np.diff(numbers).tolist() == [5, 5, 5]

    net.fit(X, y, epochs=20, learning_rate=0.1, progress=False)  # verbose=0: silent
    assert capsys.readouterr() == ("", "")


@pytest.mark.parametrize("progress", [True, False, None])
def test_progress_goes_to_stderr_only_when_asked(capsys, monkeypatch, progress):
    """A long fit shows a progress line on stderr with progress=True only: None shows it only
    when stderr is a terminal, which it is not under capsys. Nothing goes to stdout. (Every
    fit counts as long here: the display's one-second delay is set to zero.)"""
    monkeypatch.setattr(tinynet._progress, "PROGRESS_AFTER_SECONDS", 0.0)
    X, y = xor_like()
    net = tinynet.Network([2, 4, 1], seed=1)
    net.fit(X, y, epochs=50, learning_rate=0.1, progress=progress)
    captured = capsys.readouterr()
    assert captured.out == ""
    if progress:
        assert "epoch 50/50" in captured.err
        assert captured.err.endswith("\n")
    else:
        assert captured.err == ""


# --- invalid arguments ---------------------------------------------------------------------

CONSTRUCTOR_ERRORS = [
    ({"activation": "elu"}, ValueError, "activation"),
    ({"activation": None}, TypeError, "activation"),
    ({"output": "relu"}, ValueError, "output"),
    ({"output": 1}, TypeError, "output"),
    ({"init": "normal"}, ValueError, "init"),
    ({"bias": "yes"}, TypeError, "bias"),
]


@pytest.mark.parametrize(("kwargs", "error", "name"), CONSTRUCTOR_ERRORS)
def test_constructor_rejects(backend, kwargs, error, name):
    with pytest.raises(error, match=name):
        tinynet.Network([3, 4, 2], backend=backend, **kwargs)


def test_softmax_needs_two_outputs(backend):
    with pytest.raises(ValueError, match="output"):
        tinynet.Network([3, 4, 1], output="softmax", backend=backend)
    tinynet.Network([3, 4, 2], output="softmax", backend=backend)


FIT_X = np.random.default_rng(16).standard_normal((6, 3))
FIT_Y = np.random.default_rng(17).random((6, 2))

FIT_ERRORS = [
    ({"batch_size": 0}, ValueError, "batch_size"),
    ({"batch_size": -2}, ValueError, "batch_size"),
    ({"batch_size": 2.0}, TypeError, "batch_size"),
    ({"batch_size": True}, TypeError, "batch_size"),
    ({"shuffle": "yes"}, TypeError, "shuffle"),
    ({"momentum": -0.1}, ValueError, "momentum"),
    ({"momentum": 1.0}, ValueError, "momentum"),
    ({"momentum": math.nan}, ValueError, "momentum"),
    ({"momentum": "0.9"}, TypeError, "momentum"),
    ({"nesterov": "yes"}, TypeError, "nesterov"),
    ({"l2": -0.1}, ValueError, "l2"),
    ({"l2": math.inf}, ValueError, "l2"),
    ({"l2": "0.1"}, TypeError, "l2"),
    ({"dropout": 1.0}, ValueError, "dropout"),
    ({"dropout": 1.5}, ValueError, "dropout"),
    ({"dropout": -0.1}, ValueError, "dropout"),
    ({"dropout": "0.5"}, TypeError, "dropout"),
    ({"clip": 0.0}, ValueError, "clip"),
    ({"clip": -1.0}, ValueError, "clip"),
    ({"clip": math.nan}, ValueError, "clip"),
    ({"clip": "1"}, TypeError, "clip"),
    ({"validation_data": FIT_X}, (TypeError, ValueError), "validation_data"),
    ({"validation_data": (FIT_X,)}, (TypeError, ValueError), "validation_data"),
    ({"validation_data": (FIT_X, FIT_Y, FIT_Y)}, (TypeError, ValueError), "validation_data"),
    ({"validation_data": (FIT_X[:, :2], FIT_Y)}, ValueError, "validation_data"),
    ({"validation_data": (FIT_X, FIT_Y[:, :1])}, ValueError, "validation_data"),
    ({"validation_data": (FIT_X, FIT_Y[:4])}, ValueError, "validation_data"),
    ({"validation_data": (FIT_X, FIT_Y * np.nan)}, ValueError, "validation_data"),
    ({"callbacks": [1]}, TypeError, "callbacks"),
    ({"verbose": -1}, ValueError, "verbose"),
    ({"verbose": 1.5}, TypeError, "verbose"),
    ({"progress": "yes"}, TypeError, "progress"),
]


@pytest.mark.parametrize(
    ("kwargs", "error", "name"),
    FIT_ERRORS,
    ids=[f"{name}-{i}" for i, (_, _, name) in enumerate(FIT_ERRORS)],
)
def test_fit_rejects_before_training(backend, kwargs, error, name):
    net = tinynet.Network([3, 4, 2], bias=True, seed=0, backend=backend)
    net.fit(FIT_X, FIT_Y, epochs=2)
    before = state(net), {key: value.copy() for key, value in net.history.items()}
    called = []
    kwargs = {"callbacks": [lambda *args: called.append(args)], **kwargs}
    with pytest.raises(error, match=name):
        net.fit(FIT_X, FIT_Y, epochs=3, **kwargs)
    assert not called
    assert_params_close(state(net), before[0], 0.0, "unchanged")
    for key, value in before[1].items():
        np.testing.assert_array_equal(net.history[key], value)


def test_dropout_needs_a_hidden_layer(backend):
    net = tinynet.Network([3, 2], seed=0, backend=backend)
    with pytest.raises(ValueError, match="dropout"):
        net.fit(FIT_X, FIT_Y, epochs=1, dropout=0.5)
    net.fit(FIT_X, FIT_Y, epochs=1, dropout=0.0)


BIASES_ERRORS = [
    ([np.zeros(4)], ValueError),
    ([np.zeros(4), np.zeros(2), np.zeros(2)], ValueError),
    ([np.zeros(4), np.zeros(3)], ValueError),
    ([np.zeros((1, 4)), np.zeros(2)], ValueError),
    ([np.zeros(4), [np.nan, 0.0]], ValueError),
    ([np.zeros(4), ["a", "b"]], TypeError),
    (np.zeros(6), TypeError),
]


@pytest.mark.parametrize(("biases", "error"), BIASES_ERRORS)
def test_biases_setter_rejects(backend, biases, error):
    net = tinynet.Network([3, 4, 2], bias=True, seed=0, backend=backend)
    net.biases = [np.ones(4), np.ones(2)]
    with pytest.raises(error, match="biases"):
        net.biases = biases
    for b in net.biases:
        np.testing.assert_array_equal(b, 1)


def test_biases_setter_without_bias_units(backend):
    net = tinynet.Network([3, 4, 2], seed=0, backend=backend)
    with pytest.raises(ValueError, match="biases"):
        net.biases = [np.zeros(4), np.zeros(2)]
    assert net.biases == []


def test_divergence_stops_at_the_last_finite_epoch(backend):
    rng = np.random.default_rng(18)
    X, y = rng.standard_normal((8, 3)), 10 * rng.standard_normal((8, 1))
    options = dict(activation="relu", output="linear", bias=True, seed=0, backend=backend)
    net = tinynet.Network([3, 4, 1], **options)
    with pytest.raises(FloatingPointError, match="diverged in epoch"):
        net.fit(X, y, epochs=200, learning_rate=10.0, momentum=0.9)
    completed = len(net.history["loss"])
    assert 0 < completed < 200
    assert all(np.isfinite(p).all() for p in state(net))
    # exactly where a fit of that many epochs ends
    fresh = tinynet.Network([3, 4, 1], **options)
    fresh.fit(X, y, epochs=completed, learning_rate=10.0, momentum=0.9)
    assert_same_training(net, fresh, X)
