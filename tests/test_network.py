"""The public ``Network``: its state, conversions and validation."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import tinynet

X = np.array([[0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1]], dtype=np.float64)
Y = np.array([[0], [1], [1], [0]], dtype=np.float64)


def snapshot(net: tinynet.Network) -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
    """The network's weights and history, copied."""
    return net.weights, {key: np.array(value) for key, value in net.history.items()}


def assert_unchanged(net: tinynet.Network, before) -> None:
    weights, history = before
    assert len(net.weights) == len(weights)
    for w_now, w_before in zip(net.weights, weights, strict=True):
        assert w_now.dtype == w_before.dtype
        np.testing.assert_array_equal(w_now, w_before)
    assert set(net.history) == set(history)
    for key, value in history.items():
        np.testing.assert_array_equal(np.asarray(net.history[key]), value)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


# --- weights -------------------------------------------------------------------------------


def test_weights_have_the_layer_shapes(backend, dtype):
    net = tinynet.Network([3, 4, 2], seed=0, dtype=dtype, backend=backend)
    assert [w.shape for w in net.weights] == [(3, 4), (4, 2)]
    assert all(w.dtype == dtype for w in net.weights)
    assert all(((w >= -1) & (w < 1)).all() for w in net.weights)
    assert net.layer_sizes == [3, 4, 2]
    assert net.dtype == dtype
    assert net.backend == backend


def test_weights_getter_returns_copies(backend):
    net = tinynet.Network([3, 4, 1], seed=0, backend=backend)
    expected = net.predict(X)
    before = snapshot(net)
    weights = net.weights
    for w in weights:
        w[...] = 7.0
    assert_unchanged(net, before)
    np.testing.assert_array_equal(net.predict(X), expected)

    sizes = net.layer_sizes
    sizes.append(5)
    assert net.layer_sizes == [3, 4, 1]


def test_weights_setter_round_trip(backend, dtype):
    net = tinynet.Network([3, 4, 1], seed=0, dtype=dtype, backend=backend)
    rng = np.random.default_rng(1)
    new = [rng.standard_normal((3, 4)), rng.standard_normal((4, 1))]
    net.weights = new
    for w, n in zip(net.weights, new, strict=True):
        assert w.dtype == dtype
        np.testing.assert_array_equal(w, n.astype(dtype))
    # Assigning copies: changing the assigned arrays afterwards does not reach the network.
    new[0][...] = 0
    assert not (net.weights[0] == 0).all()


def test_weights_setter_accepts_ints_lists_and_tuples():
    net = tinynet.Network([2, 2, 1], seed=0)
    net.weights = ([[1, -2], [3, 4]], np.array([[1], [0]], dtype=np.int8))
    np.testing.assert_array_equal(net.weights[0], [[1.0, -2.0], [3.0, 4.0]])
    np.testing.assert_array_equal(net.weights[1], [[1.0], [0.0]])
    assert all(w.dtype == np.float64 for w in net.weights)


def test_predict_is_the_forward_pass_of_the_weights(backend):
    """predict = sigmoid(sigmoid(X . syn0) . syn1), the blog's forward propagation."""
    net = tinynet.Network([3, 4, 2], seed=3, backend=backend)
    rng = np.random.default_rng(2)
    inputs = rng.standard_normal((5, 3))
    syn0, syn1 = net.weights
    expected = sigmoid(sigmoid(inputs @ syn0) @ syn1)
    np.testing.assert_allclose(net.predict(inputs), expected, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize(
    ("weights", "error", "match"),
    [
        ([np.zeros((3, 4))], ValueError, r"weights must be a list of 2 arrays, got 1"),
        ([np.zeros((3, 4))] * 3, ValueError, r"weights must be a list of 2 arrays, got 3"),
        ([np.zeros((4, 3)), np.zeros((4, 1))], ValueError, r"weights\[0\] must have shape"),
        ([np.zeros((3, 4)), np.zeros(4)], ValueError, r"weights\[1\] must have shape"),
        ([np.zeros((3, 4)), np.zeros((1, 4, 1))], ValueError, r"weights\[1\] must have shape"),
        ([np.zeros((3, 4)), np.full((4, 1), np.nan)], ValueError, r"weights\[1\] holds NaN"),
        ([np.full((3, 4), np.inf), np.zeros((4, 1))], ValueError, r"weights\[0\] holds NaN"),
        ([np.zeros((3, 4)), []], ValueError, r"weights\[1\] is empty"),
        ([np.zeros((3, 4)), [["a"], ["b"], ["c"], ["d"]]], TypeError, r"weights\[1\]"),
        ([np.zeros((3, 4), dtype=complex), np.zeros((4, 1))], TypeError, r"weights\[0\]"),
        ([np.zeros((3, 4), dtype=object), np.zeros((4, 1))], TypeError, r"weights\[0\]"),
        ([None, np.zeros((4, 1))], TypeError, r"weights\[0\]"),
        ([[[1, 2, 3, 4], [1, 2]], np.zeros((4, 1))], TypeError, r"weights\[0\]"),
        (np.zeros((2, 3, 4)), TypeError, r"weights must be a list"),
        (None, TypeError, r"weights must be a list"),
        (iter([np.zeros((3, 4)), np.zeros((4, 1))]), TypeError, r"weights must be a list"),
    ],
)
def test_weights_setter_rejects(backend, weights, error, match):
    net = tinynet.Network([3, 4, 1], seed=0, backend=backend)
    before = snapshot(net)
    with pytest.raises(error, match=match):
        net.weights = weights
    assert_unchanged(net, before)


def test_weights_too_large_for_float32_are_rejected(backend):
    net = tinynet.Network([3, 1], seed=0, dtype=np.float32, backend=backend)
    before = snapshot(net)
    with pytest.raises(ValueError, match=r"weights\[0\] holds values too large for float32"):
        net.weights = [np.full((3, 1), 1e300)]
    assert_unchanged(net, before)


# --- fit and history -----------------------------------------------------------------------


def test_history_before_fit_is_empty():
    net = tinynet.Network([3, 1], seed=0)
    assert set(net.history) == {"mae", "loss"}
    assert len(net.history["mae"]) == len(net.history["loss"]) == 0


def test_history_has_one_value_per_epoch_and_is_replaced_by_each_fit(backend):
    net = tinynet.Network([3, 4, 1], seed=1, backend=backend)
    assert net.fit(X, Y, epochs=7) is net
    assert len(net.history["mae"]) == len(net.history["loss"]) == 7
    net.fit(X, Y, epochs=3)
    assert len(net.history["mae"]) == len(net.history["loss"]) == 3
    for key, upper in (("mae", 1.0), ("loss", 0.5)):
        values = np.asarray(net.history[key])
        assert values.dtype == np.float64
        assert ((values > 0) & (values < upper)).all()


def test_history_is_taken_before_each_update(backend, dtype):
    """history[e] is epoch e's forward pass, before its update: epoch 0 sees the starting
    weights, and mae/loss are the mean |y - out| and 0.5 * sum (y - out)**2 / n_samples.

    The errors y - out are in the network's dtype and their sums are taken in float64 (one
    float64 per epoch), so they match that evaluation from the network's own outputs to
    float64 rounding.
    """
    rng = np.random.default_rng(6)
    inputs, y = rng.standard_normal((40, 3)), rng.random((40, 2))
    net = tinynet.Network([3, 5, 2], seed=4, dtype=dtype, backend=backend)
    error = (y.astype(dtype) - net.predict(inputs)).astype(np.float64)
    net.fit(inputs, y, epochs=2)
    np.testing.assert_allclose(net.history["mae"][0], np.mean(np.abs(error)), rtol=1e-13)
    np.testing.assert_allclose(
        net.history["loss"][0], 0.5 * np.sum(error**2) / len(inputs), rtol=1e-13
    )


def test_fit_continues_from_the_current_weights(backend, dtype):
    """Full-batch training has no state besides the weights: 4 + 6 epochs = 10 epochs."""
    once = tinynet.Network([3, 4, 1], seed=2, dtype=dtype, backend=backend)
    once.fit(X, Y, epochs=10)
    twice = tinynet.Network([3, 4, 1], seed=2, dtype=dtype, backend=backend)
    twice.fit(X, Y, epochs=4).fit(X, Y, epochs=6)
    for w_once, w_twice in zip(once.weights, twice.weights, strict=True):
        np.testing.assert_array_equal(w_once, w_twice)
    np.testing.assert_array_equal(np.asarray(once.history["mae"])[4:], twice.history["mae"])


def test_fit_does_not_modify_its_inputs(backend):
    inputs, targets = X.copy(), Y.copy()
    tinynet.Network([3, 4, 1], seed=0, backend=backend).fit(inputs, targets, epochs=5)
    np.testing.assert_array_equal(inputs, X)
    np.testing.assert_array_equal(targets, Y)


def test_learning_rate_scales_the_update(backend):
    """One epoch: the change of the weights is proportional to learning_rate."""
    start = tinynet.Network([3, 1], seed=0, backend=backend).weights[0]
    steps = []
    for learning_rate in (0.5, 1.0):
        net = tinynet.Network([3, 1], seed=0, backend=backend)
        net.fit(X, Y, epochs=1, learning_rate=learning_rate)
        steps.append(net.weights[0] - start)
    assert np.abs(steps[1]).max() > 0
    np.testing.assert_allclose(2 * steps[0], steps[1], rtol=1e-12, atol=1e-15)


def train_on(inputs, targets, backend: str) -> tinynet.Network:
    return tinynet.Network([3, 4, 1], seed=5, backend=backend).fit(inputs, targets, epochs=20)


def read_only(array: np.ndarray) -> np.ndarray:
    array = array.copy()
    array.flags.writeable = False
    return array


@pytest.mark.parametrize(
    ("inputs", "targets"),
    [
        (X.tolist(), Y.tolist()),
        (X.astype(int), Y.astype(int)),
        (X.astype(bool), Y.astype(bool)),
        (X.astype(np.float32), Y.astype(np.float32)),
        (X.astype(np.uint8), Y.ravel().tolist()),
        (np.asfortranarray(X), np.asfortranarray(Y)),
        (np.repeat(X, 2, axis=1)[:, ::2], np.repeat(Y, 2, axis=0)[::2]),  # strided views
        (read_only(X), read_only(Y)),
        (tuple(map(tuple, X)), Y.ravel()),
        (read_only(X), read_only(Y.ravel())),
    ],
    ids=[
        "lists",
        "ints",
        "bools",
        "float32",
        "uint8-and-list",
        "fortran",
        "strided",
        "read-only",
        "tuples-1d-y",
        "read-only-1d-y",
    ],
)
def test_fit_converts_array_likes(backend, inputs, targets):
    expected = train_on(X, Y, backend)
    net = train_on(inputs, targets, backend)
    for w, e in zip(net.weights, expected.weights, strict=True):
        np.testing.assert_array_equal(w, e)
    np.testing.assert_array_equal(net.history["mae"], expected.history["mae"])


def test_y_may_be_1d_for_one_output(backend):
    one_d = tinynet.Network([3, 1], seed=0, backend=backend).fit(X, [0, 1, 1, 0], epochs=5)
    two_d = tinynet.Network([3, 1], seed=0, backend=backend).fit(X, Y, epochs=5)
    np.testing.assert_array_equal(one_d.weights[0], two_d.weights[0])


# --- predict -------------------------------------------------------------------------------


def test_predict_shapes(backend, dtype):
    net = tinynet.Network([3, 4, 2], seed=0, dtype=dtype, backend=backend)
    out = net.predict(X)
    assert out.shape == (4, 2)
    assert out.dtype == dtype
    assert ((out >= 0) & (out <= 1)).all()

    one = net.predict([1, 0, 0])  # one sample in, one row out
    assert one.shape == (2,)
    np.testing.assert_array_equal(one, net.predict([[1, 0, 0]])[0])
    np.testing.assert_array_equal(net.predict(X.tolist()), out)
    np.testing.assert_array_equal(net.predict(X[2]), out[2])
    assert net.predict(X[:1]).shape == (1, 2)


def test_predict_accepts_non_contiguous_and_read_only(backend):
    net = tinynet.Network([3, 4, 1], seed=0, backend=backend)
    expected = net.predict(X)
    np.testing.assert_array_equal(net.predict(np.asfortranarray(X)), expected)
    np.testing.assert_array_equal(net.predict(np.repeat(X, 2, axis=1)[:, ::2]), expected)
    np.testing.assert_array_equal(net.predict(read_only(X)), expected)


# --- validation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("layers", "error"),
    [
        ([3], ValueError),
        ([], ValueError),
        ([3, 0], ValueError),
        ([3, -1], ValueError),
        ([0, 1], ValueError),
        ([3.0, 1], TypeError),
        ([3, 1.5], TypeError),
        ([True, 1], TypeError),
        ([3, np.timedelta64(1, "D")], TypeError),
        (["3", 1], TypeError),
        ("31", TypeError),
        (3, TypeError),
        (None, TypeError),
    ],
)
def test_layers_are_validated(layers, error):
    with pytest.raises(error, match="layers"):
        tinynet.Network(layers)


@pytest.mark.parametrize(
    ("dtype", "error"),
    [
        (np.int32, ValueError),
        (np.float16, ValueError),
        (np.complex128, ValueError),
        (np.int64, ValueError),
        (object, ValueError),
        ("nonsense", TypeError),
        (None, TypeError),
    ],
)
def test_dtype_is_validated(dtype, error):
    with pytest.raises(error, match="dtype"):
        tinynet.Network([3, 1], dtype=dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64", np.dtype("float32"), float])
def test_dtype_accepts_names_and_dtypes(dtype):
    assert tinynet.Network([3, 1], dtype=dtype).dtype == np.dtype(dtype)


@pytest.mark.parametrize(
    ("backend", "error"),
    [
        ("torch", ValueError),
        ("", ValueError),
        ("Cython", ValueError),
        (None, TypeError),
        (1, TypeError),
    ],
)
def test_backend_is_validated(backend, error):
    with pytest.raises(error, match="backend"):
        tinynet.Network([3, 1], backend=backend)


@pytest.mark.parametrize(
    ("seed", "error"),
    [
        (-1, ValueError),
        (2**32, ValueError),
        (1.5, TypeError),
        (1.0, TypeError),
        (True, TypeError),
        ("1", TypeError),
    ],
)
def test_seed_is_validated(seed, error):
    with pytest.raises(error, match="seed"):
        tinynet.Network([3, 1], seed=seed)


@pytest.mark.parametrize("seed", [0, 2**32 - 1, np.int64(5), np.uint32(7)])
def test_seed_accepts_the_random_state_range(seed):
    net = tinynet.Network([3, 1], seed=seed)
    expected = tinynet.Network([3, 1], seed=int(seed)).weights[0]
    np.testing.assert_array_equal(net.weights[0], expected)


def test_network_options_are_keyword_only():
    with pytest.raises(TypeError):
        tinynet.Network([3, 1], 1)  # type: ignore[misc]


FIT_ERRORS = [
    # (keyword arguments of fit, exception, pattern its message must contain)
    ({"epochs": 0}, ValueError, "epochs"),
    ({"epochs": -1}, ValueError, "epochs"),
    ({"epochs": 1.5}, TypeError, "epochs"),
    ({"epochs": 2.0}, TypeError, "epochs"),
    ({"epochs": True}, TypeError, "epochs"),
    ({"epochs": "3"}, TypeError, "epochs"),
    ({"epochs": None}, TypeError, "epochs"),
    ({"learning_rate": 0}, ValueError, "learning_rate"),
    ({"learning_rate": -0.5}, ValueError, "learning_rate"),
    ({"learning_rate": float("nan")}, ValueError, "learning_rate"),
    ({"learning_rate": float("inf")}, ValueError, "learning_rate"),
    ({"learning_rate": -float("inf")}, ValueError, "learning_rate"),
    ({"learning_rate": np.float32("nan")}, ValueError, "learning_rate"),
    ({"learning_rate": "1.0"}, TypeError, "learning_rate"),
    ({"learning_rate": None}, TypeError, "learning_rate"),
    ({"learning_rate": True}, TypeError, "learning_rate"),
    ({"learning_rate": 1j}, TypeError, "learning_rate"),
    ({"X": [[0, 0, np.nan], *X[1:].tolist()]}, ValueError, "X holds NaN"),
    ({"X": [[0, 0, np.inf], *X[1:].tolist()]}, ValueError, "X holds NaN"),
    ({"X": np.zeros((0, 3)), "y": np.zeros((0, 1))}, ValueError, "X is empty"),
    ({"X": X[:, :, None]}, ValueError, "X must be 2-D"),
    ({"X": X[0], "y": [1]}, ValueError, "X must be 2-D"),
    ({"X": 1.0, "y": [1]}, ValueError, "X must be 2-D"),
    ({"y": 1.0}, ValueError, "y must be 2-D"),
    ({"X": X[:, :2]}, ValueError, "X has 2 features"),
    ({"X": np.hstack([X, X])}, ValueError, "X has 6 features"),
    ({"X": X.astype(complex)}, TypeError, "X must hold real numbers"),
    ({"X": X.astype(object)}, TypeError, "X must hold real numbers"),
    ({"X": X.astype(str)}, TypeError, "X must hold real numbers"),
    ({"X": [[0, 0, 1], [0, 1]]}, TypeError, "X must be an array of numbers"),
    ({"y": [[0], [1], [np.nan], [0]]}, ValueError, "y holds NaN"),
    ({"y": [[0], [1], [1]]}, ValueError, r"y has shape \(3, 1\)"),
    ({"y": [[0, 1, 1, 0]]}, ValueError, r"y has shape \(1, 4\)"),
    ({"y": np.zeros((4, 2))}, ValueError, r"y has shape \(4, 2\)"),
    ({"y": np.zeros((4, 1, 1))}, ValueError, "y must be 2-D"),
    ({"y": Y.astype(str)}, TypeError, "y must hold real numbers"),
]


def test_learning_rate_must_fit_the_dtype():
    net = tinynet.Network([3, 1], dtype=np.float32)
    with pytest.raises(ValueError, match=r"learning_rate .* too large for float32"):
        net.fit(X, Y, epochs=1, learning_rate=1e39)
    tinynet.Network([3, 1], dtype=np.float64).fit(X, Y, epochs=1, learning_rate=1e39)


def test_predict_rejects_a_scalar():
    with pytest.raises(ValueError, match="X must be 1-D"):
        tinynet.Network([1, 1]).predict(0.5)


@pytest.mark.parametrize(("kwargs", "error", "match"), FIT_ERRORS)
def test_fit_arguments_are_validated_and_a_failed_fit_changes_nothing(
    backend, kwargs, error, match
):
    net = tinynet.Network([3, 4, 1], seed=0, backend=backend).fit(X, Y, epochs=3)
    before = snapshot(net)
    arguments = {"X": X, "y": Y, "epochs": 5, "learning_rate": 1.0, **kwargs}
    inputs, targets = arguments.pop("X"), arguments.pop("y")
    with pytest.raises(error, match=match):
        net.fit(inputs, targets, **arguments)
    assert_unchanged(net, before)


def test_y_must_be_2d_for_several_outputs():
    net = tinynet.Network([3, 2], seed=0)
    with pytest.raises(ValueError, match="y must be 2-D"):
        net.fit(X, [0, 1, 1, 0], epochs=1)


def test_values_too_large_for_float32_are_rejected():
    net = tinynet.Network([3, 1], seed=0, dtype=np.float32)
    with pytest.raises(ValueError, match="X holds values too large for float32"):
        net.fit(X * 1e300, Y, epochs=1)
    with pytest.raises(ValueError, match="X holds values too large for float32"):
        net.predict([1e300, 0, 0])


@pytest.mark.parametrize(
    ("inputs", "error", "match"),
    [
        ([0, 0, np.nan], ValueError, "X holds NaN"),
        ([[0, 0, 1], [0, np.inf, 1]], ValueError, "X holds NaN"),
        (np.zeros((0, 3)), ValueError, "X is empty"),
        (np.zeros((2, 3, 1)), ValueError, "X must be 1-D .* or 2-D"),
        (1.0, ValueError, "X"),
        ([1, 0], ValueError, "X has 2 features"),
        ([[1, 0, 0, 1]], ValueError, "X has 4 features"),
        ([1j, 0, 0], TypeError, "X must hold real numbers"),
        (["a", "b", "c"], TypeError, "X must hold real numbers"),
        (np.array([1, 0, 0], dtype=object), TypeError, "X must hold real numbers"),
    ],
)
def test_predict_arguments_are_validated(backend, inputs, error, match):
    net = tinynet.Network([3, 1], seed=0, backend=backend)
    with pytest.raises(error, match=match):
        net.predict(inputs)


# --- divergence ----------------------------------------------------------------------------

DIVERGING_X = [[1e3, -1e3]]
DIVERGING_Y = [1]


def network_about_to_diverge(backend: str, dtype) -> tinynet.Network:
    """A trained network (non-empty history) whose weights are then set to (0.5, 0.5)."""
    net = tinynet.Network([2, 1], seed=0, dtype=dtype, backend=backend)
    net.fit([[1, 2], [3, 4]], [0, 1], epochs=4, learning_rate=0.1)
    net.weights = [np.full((2, 1), 0.5)]
    return net


def diverge(net: tinynet.Network) -> None:
    """A fit whose weights become infinite, in either dtype and backend.

    With weights (0.5, 0.5) the sample sits at the sigmoid's midpoint: delta 0.125, gradient
    +-125, and a learning rate of a tenth of the dtype's largest value makes the step
    overflow, whatever the order of the arithmetic.
    """
    learning_rate = float(np.finfo(net.dtype).max) / 10
    net.fit(DIVERGING_X, DIVERGING_Y, epochs=1, learning_rate=learning_rate)


def test_divergence_in_the_first_epoch_leaves_the_weights_unchanged(backend, dtype):
    net = network_about_to_diverge(backend, dtype)
    weights, _ = snapshot(net)
    with pytest.raises(FloatingPointError, match="diverged in epoch 1"):
        diverge(net)
    assert_unchanged(net, (weights, {"loss": np.empty(0), "mae": np.empty(0)}))
    # and the network still trains
    net.fit(DIVERGING_X, DIVERGING_Y, epochs=2, learning_rate=1e-3)
    assert len(net.history["mae"]) == 2
    assert np.isfinite(net.weights[0]).all()


def test_divergence_is_silent(backend, dtype):
    """Divergence is reported by the FloatingPointError alone, by both backends."""
    net = network_about_to_diverge(backend, dtype)
    with pytest.raises(FloatingPointError):
        diverge(net)


# --- pickling and repr ---------------------------------------------------------------------


def test_pickle_round_trip(backend, dtype):
    net = tinynet.Network([3, 4, 2], seed=9, dtype=dtype, backend=backend)
    net.fit(X, np.hstack([Y, 1 - Y]), epochs=25)
    clone = pickle.loads(pickle.dumps(net))
    assert clone is not net
    assert (clone.layer_sizes, clone.dtype, clone.backend) == (net.layer_sizes, dtype, backend)
    for w_clone, w_net in zip(clone.weights, net.weights, strict=True):
        assert w_clone.dtype == dtype
        np.testing.assert_array_equal(w_clone, w_net)
    np.testing.assert_array_equal(clone.predict(X), net.predict(X))
    np.testing.assert_array_equal(clone.history["mae"], net.history["mae"])
    # and both go on identically
    clone.fit(X, np.hstack([Y, 1 - Y]), epochs=5)
    net.fit(X, np.hstack([Y, 1 - Y]), epochs=5)
    np.testing.assert_array_equal(clone.predict(X), net.predict(X))


def test_repr_mentions_the_layer_sizes(backend):
    text = repr(tinynet.Network([3, 4, 1], dtype=np.float32, backend=backend))
    assert "[3, 4, 1]" in text
    assert "float32" in text
    assert backend in text
