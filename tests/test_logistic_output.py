"""``Network(..., output="logistic")``: sigmoid outputs trained by the binary cross-entropy.

The compiled core against the numpy reference on random networks and options (hypothesis);
the loss against scikit-learn's definition, finite where the outputs saturate; the delta
(``p - y``, no sigmoid slope) through ``loss_and_gradient``; the checks of the targets;
saving, pickling, L-BFGS and the small road. test_torch_oracle.py holds it against
PyTorch's ``BCEWithLogitsLoss`` with every optimizer.
"""

from __future__ import annotations

import copy
import pickle
from typing import Any

import numpy as np
import pytest
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

import tinynet
from tinynet._plan import choices, small_road_lanes
from tinynet._settings import Architecture, Training

DTYPES = {"float64": np.float64, "float32": np.float32}
OPTIMIZERS = {
    "sgd": lambda draw: tinynet.SGD(momentum=draw(st.sampled_from([0.0, 0.5, 0.9]))),
    "adam": lambda draw: tinynet.Adam(epsilon=1e-6, epsilon_hat=draw(st.booleans())),
    "rmsprop": lambda draw: tinynet.RMSprop(epsilon=1e-6),
}


def binary_log_loss(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """scikit-learn's ``binary_log_loss`` per row, summed over the outputs: the output
    clipped to ``[eps, 1 - eps]`` in its dtype."""
    eps = np.finfo(p.dtype).eps
    p = np.clip(p, eps, 1 - eps).astype(np.float64)
    y = y.astype(np.float64)
    return -(y * np.log(p) + (1 - y) * np.log(1 - p)).sum(axis=1)


def logistic_targets(rng: np.random.Generator, rows: int, columns: int) -> np.ndarray:
    """0/1 labels or probabilities, by turns."""
    if rng.random() < 0.5:
        return rng.integers(0, 2, size=(rows, columns)).astype(np.float64)
    return rng.random((rows, columns))


def logistic_cases(optimizer: str, dtype: Any) -> st.SearchStrategy[Case]:
    """``Case``s with a logistic output (``helpers.output_cases``)."""
    return output_cases("logistic", OPTIMIZERS[optimizer], dtype, logistic_targets, 5, (0.01, 0.1))


@pytest.mark.parametrize("dtype", DTYPES.values(), ids=DTYPES.keys())
@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
@settings(max_examples=20, deadline=None, derandomize=True)
@given(data=st.data())
def test_backends_agree_with_a_logistic_output(optimizer, dtype, data):
    """Weights, biases, batch normalisation, history and predictions."""
    assert_backends_agree(data.draw(logistic_cases(optimizer, dtype)))


@pytest.mark.parametrize("backend", ["cython", "numpy"])
@pytest.mark.parametrize("dtype", DTYPES.values(), ids=DTYPES.keys())
def test_the_loss_is_scikit_learns_binary_log_loss(backend, dtype):
    """One full-batch epoch's loss is the binary log loss of the outputs before its update
    (per row, summed over the outputs), weighted or not; its mae ``|y - p|``; the forward
    pass the sigmoid's."""
    rng = np.random.default_rng(0)
    X = make_inputs(rng, 12, 4, scale=2.0)
    y = rng.integers(0, 2, size=(12, 3)).astype(np.float64)
    y[:, 1] = rng.random(12)
    weight = rng.uniform(0.1, 2.0, size=12)
    net = tinynet.Network([4, 5, 3], activation="tanh", output="logistic", bias=True, seed=1,
                          dtype=dtype, backend=backend)  # fmt: skip
    sigmoid = tinynet.Network([4, 5, 3], activation="tanh", output="sigmoid", bias=True,
                              seed=1, dtype=dtype, backend=backend)  # fmt: skip
    p = net.predict(X)
    np.testing.assert_array_equal(p, sigmoid.predict(X))
    losses = binary_log_loss(y.astype(dtype), p)
    errors = np.abs(y.astype(dtype) - p).astype(np.float64).sum(axis=1)
    tol = tolerance(dtype)
    for sample_weight in (None, weight):
        trained = copy.deepcopy(net).fit(X, y, epochs=1, sample_weight=sample_weight)
        w = np.ones(12) if sample_weight is None else sample_weight.astype(dtype).astype(float)
        np.testing.assert_allclose(trained.history["loss"], [w @ losses / w.sum()], rtol=tol)
        np.testing.assert_allclose(trained.history["mae"], [w @ errors / (3 * w.sum())], rtol=tol)


@pytest.mark.parametrize("backend", ["cython", "numpy"])
@pytest.mark.parametrize("dtype", DTYPES.values(), ids=DTYPES.keys())
def test_saturated_outputs_keep_the_loss_finite(backend, dtype):
    """Outputs of exactly 0 and 1: each wrong one costs ``-log(eps)`` (the clip), each right
    one ``-log(1 - eps)``; the fit takes its step and stays finite."""
    X = np.array([[1.0], [-1.0], [1.0], [-1.0]])
    y = np.array([[1.0], [0.0], [0.0], [1.0]])  # right, right, wrong, wrong
    net = tinynet.Network([1, 1], output="logistic", bias=False, dtype=dtype, backend=backend)
    net.weights = [np.array([[1000.0]])]
    p = net.predict(X)
    np.testing.assert_array_equal(p.ravel(), [1, 0, 1, 0])
    eps = float(np.finfo(dtype).eps)
    right = -np.log(1 - eps)  # 1 - eps is exact in float64
    expected = (2 * -np.log(eps) + 2 * right) / 4
    loss, grads, _ = net.loss_and_gradient(X, y)
    assert np.isfinite(loss)
    rtol = 4 * eps  # exact values, a few roundings in the dtype
    np.testing.assert_allclose(loss / 4, expected, rtol=rtol)
    # the delta p - y: rows 3 and 4 are wrong by 1 each, their inputs 1 and -1
    np.testing.assert_allclose(grads[0], [[(1 - 0) * 1 + (0 - 1) * -1]], rtol=rtol)
    net.fit(X, y, epochs=1, learning_rate=0.1)
    np.testing.assert_allclose(net.history["loss"], [expected], rtol=rtol)
    np.testing.assert_allclose(net.weights[0], [[1000 - 0.2]], rtol=rtol)


@pytest.mark.parametrize("backend", ["cython", "numpy"])
def test_the_gradient_is_p_minus_y(backend):
    """``loss_and_gradient`` of a network without a hidden layer: the gradient of the binary
    cross-entropy is ``X.T @ (p - y)`` (the sigmoid's slope cancels), against finite
    differences of the loss too."""
    rng = np.random.default_rng(2)
    X = make_inputs(rng, 9, 3)
    y = rng.integers(0, 2, size=(9, 2)).astype(np.float64)
    net = tinynet.Network([3, 2], output="logistic", bias=True, seed=0, backend=backend)
    p = net.predict(X)
    loss, weight_grads, bias_grads = net.loss_and_gradient(X, y)
    np.testing.assert_allclose(loss, binary_log_loss(y, p).sum(), rtol=1e-13)
    np.testing.assert_allclose(weight_grads[0], X.T @ (p - y), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(bias_grads[0], (p - y).sum(axis=0), rtol=1e-12, atol=1e-15)
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


@pytest.mark.parametrize("dtype", DTYPES.values(), ids=DTYPES.keys())
def test_lbfgs_with_a_logistic_output_agrees(dtype):
    """L-BFGS, both reductions: the same iterations in both backends, the loss falling."""
    rng = np.random.default_rng(3)
    X = make_inputs(rng, 20, 3)
    y = rng.integers(0, 2, size=(20, 2)).astype(np.float64)
    for reduction in ("sum", "mean"):
        options = {"optimizer": "lbfgs", "l2": 0.01, "reduction": reduction}
        case = Case([3, 4, 2], "tanh", "logistic", bias=True, dtype=dtype, seed=2, X=X, y=y,
                    epochs=5, options=options)  # fmt: skip
        assert_backends_agree(case)
        loss = case.train("cython").history["loss"]
        assert loss[-1] < loss[0]


@pytest.mark.parametrize(
    ("bad", "name"),
    [
        (lambda y: y + 1, "y"),
        (lambda y: y - 0.5, "y"),
    ],
)
def test_targets_outside_zero_one_are_refused(bad, name):
    """A ValueError naming the targets, from fit (y and the validation targets) and
    loss_and_gradient, before anything changes."""
    rng = np.random.default_rng(4)
    X, y = make_inputs(rng, 6, 3), rng.integers(0, 2, size=(6, 2)).astype(float)
    net = tinynet.Network([3, 2], output="logistic", seed=0).fit(X, y, epochs=1)
    before = net.__getstate__()
    with pytest.raises(ValueError, match=rf"^{name} must hold values in \[0, 1\]"):
        net.fit(X, bad(y), epochs=1)
    with pytest.raises(ValueError, match=r"^validation_data\[1\] must hold values in \[0, 1\]"):
        net.fit(X, y, epochs=1, validation_data=(X, bad(y)))
    with pytest.raises(ValueError, match=rf"^{name} must hold values in \[0, 1\]"):
        net.loss_and_gradient(X, bad(y))
    with pytest.raises(ValueError, match=rf"^{name} must hold values in \[0, 1\]"):
        net.fit(X, bad(y), epochs=1, optimizer="lbfgs")
    assert_same_state(net.__getstate__(), before)
    # other outputs take any targets, as before
    tinynet.Network([3, 2], output="sigmoid", seed=0).fit(X, bad(y), epochs=1)


def test_a_logistic_network_saves_loads_and_pickles(tmp_path):
    """The output, weights, history and optimizer state come back; the copies train on as
    the original."""
    rng = np.random.default_rng(5)
    X, y = make_inputs(rng, 10, 3), rng.integers(0, 2, size=(10, 2)).astype(float)
    net = tinynet.Network([3, 4, 2], output="logistic", bias=True, batch_norm=True, seed=3)
    options = dict(batch_size=4, optimizer="adam", learning_rate=0.01, reduction="mean")
    net.fit(X, y, epochs=3, **options)
    assert "output='logistic'" in repr(net)
    net.save(tmp_path / "net.tinynet")
    copies = [tinynet.load(tmp_path / "net.tinynet"), pickle.loads(pickle.dumps(net))]
    for other in copies:
        assert other.output == "logistic"
        assert_same_state(other.__getstate__(), net.__getstate__())
        other.fit(X, y, epochs=2, resume=True, **options)
    net.fit(X, y, epochs=2, resume=True, **options)
    for other in copies:
        assert_same_state(other.__getstate__(), net.__getstate__())


def test_the_small_road_leaves_a_logistic_output_to_the_general_loop():
    """A fit the small road would take with a sigmoid output takes the general loop with a
    logistic one, whether the small road is allowed or not."""
    machine = choices()
    for output, lanes in [("sigmoid", 4), ("logistic", 0)]:
        architecture = Architecture(np.array([3, 4, 1], dtype=np.intp), output=output)
        assert small_road_lanes(architecture, Training(batch_size=4), 4, False, machine) == lanes
    X = np.array([[0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1]], dtype=float)
    y = np.array([[0], [1], [1], [0]], dtype=float)
    fits = []
    for allowed in (True, False):
        with small_road(allowed), matmuls("loops"):
            net = tinynet.Network([3, 4, 1], output="logistic", seed=1)
            fits.append(net.fit(X, y, epochs=200))
    np.testing.assert_array_equal(fits[0].weights[1], fits[1].weights[1])
    assert fits[0].history["loss"][-1] < 0.1 * fits[0].history["loss"][0]
