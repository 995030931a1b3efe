"""``tinynet.Adam(epsilon_hat=True)`` and ``AdamW(epsilon_hat=True)``: Kingma and Ba's
"epsilon hat", added to the root of the uncorrected second moment.

Both backends against a hand-written numpy loop of the formula, on a network whose gradient
is written out by hand (one linear layer, the squared error); the checks of the argument,
its repr, and that it travels with a fit that resumes, a save and a pickle. The core
against the reference on random networks draws it in test_reduction.py.
"""

from __future__ import annotations

import copy
import math
import pickle

import numpy as np
import pytest
from helpers import assert_same_state, make_inputs, make_targets

import tinynet


def numpy_adam(X, y, W, b, *, epochs, batch_size, lr, beta_1, beta_2, epsilon, l2, decay, mean):
    """Adam with epsilon hat on ``out = X @ W + b`` and the loss ``0.5 * sum((y - out)**2)``
    (summed, or with ``mean`` divided by the batch's rows, l2's term included), batches in
    order, AdamW's decoupled ``decay`` on ``W``."""
    W, b = W.copy(), b.copy()
    m = [np.zeros_like(W), np.zeros_like(b)]
    v = [np.zeros_like(W), np.zeros_like(b)]
    t = 0
    for _ in range(epochs):
        for start in range(0, len(X), batch_size):
            xb, yb = X[start : start + batch_size], y[start : start + batch_size]
            error = xb @ W + b - yb
            grads = [xb.T @ error + l2 * W, error.sum(axis=0)]
            if mean:
                grads = [g / len(xb) for g in grads]
            t += 1
            W *= 1 - lr * decay
            step = lr * math.sqrt(1 - beta_2**t) / (1 - beta_1**t)
            params = [W, b]
            for i, g in enumerate(grads):
                m[i] = beta_1 * m[i] + (1 - beta_1) * g
                v[i] = beta_2 * v[i] + (1 - beta_2) * g * g
                params[i] -= step * m[i] / (np.sqrt(v[i]) + epsilon)
    return W, b


@pytest.mark.parametrize("backend", ["cython", "numpy"])
@pytest.mark.parametrize("kind", ["adam", "adamw"])
@pytest.mark.parametrize("mean", [False, True])
def test_epsilon_hat_is_kingma_and_bas_efficient_form(backend, kind, mean):
    """Five epochs of batches of 4 (the last of 3) with an epsilon large enough to matter:
    the hand-written loop's weights, and not those of PyTorch's form."""
    rng = np.random.default_rng(0)
    X, y = make_inputs(rng, 11, 3), make_targets(rng, 11, 2, "linear")
    hyper = dict(beta_1=0.8, beta_2=0.95, epsilon=1e-3)
    decay = 0.2 if kind == "adamw" else 0.0
    net = tinynet.Network([3, 2], output="linear", bias=True, seed=4, backend=backend)
    make = tinynet.Adam if kind == "adam" else tinynet.AdamW
    extra = {"weight_decay": decay} if kind == "adamw" else {}
    options = dict(epochs=5, batch_size=4, shuffle=False, learning_rate=0.05, l2=0.1,
                   reduction="mean" if mean else "sum")  # fmt: skip
    hat = copy.deepcopy(net).fit(
        X, y, optimizer=make(**hyper, **extra, epsilon_hat=True), **options
    )
    plain = copy.deepcopy(net).fit(X, y, optimizer=make(**hyper, **extra), **options)
    W, b = numpy_adam(X, y, net.weights[0], net.biases[0], epochs=5, batch_size=4, lr=0.05,
                      l2=0.1, decay=decay, mean=mean, **hyper)  # fmt: skip
    np.testing.assert_allclose(hat.weights[0], W, rtol=1e-12)
    np.testing.assert_allclose(hat.biases[0], b, rtol=1e-12)
    assert not np.allclose(plain.weights[0], W, rtol=1e-6)


@pytest.mark.parametrize("backend", ["cython", "numpy"])
def test_the_default_is_pytorchs_form_bit_for_bit(backend):
    """``epsilon_hat=False`` is what Adam without it does."""
    rng = np.random.default_rng(1)
    X, y = make_inputs(rng, 9, 3), make_targets(rng, 9, 2, "softmax")
    nets = [tinynet.Network([3, 4, 2], output="softmax", bias=True, seed=2, backend=backend)
            for _ in range(3)]  # fmt: skip
    nets[0].fit(X, y, epochs=3, batch_size=4, optimizer="adam", learning_rate=0.01)
    nets[1].fit(X, y, epochs=3, batch_size=4, optimizer=tinynet.Adam(), learning_rate=0.01)
    nets[2].fit(X, y, epochs=3, batch_size=4, optimizer=tinynet.Adam(epsilon_hat=False),
                learning_rate=0.01)  # fmt: skip
    for other in nets[1:]:
        assert_same_state(other.__getstate__(), nets[0].__getstate__())


@pytest.mark.parametrize("make", [tinynet.Adam, tinynet.AdamW])
@pytest.mark.parametrize(
    ("value", "error"),
    [(1, TypeError), (0, TypeError), ("yes", TypeError), (None, TypeError), (1.0, TypeError)],
)
def test_a_bad_epsilon_hat_is_refused(make, value, error):
    """Only True and False (numpy's too): an error naming ``epsilon_hat``."""
    with pytest.raises(error, match=r"^epsilon_hat must be True or False"):
        make(epsilon_hat=value)
    assert make(epsilon_hat=np.bool_(True)).epsilon_hat is True


def test_epsilon_hat_is_a_keyword_and_shows_when_set():
    """Keyword only; the repr and the hyperparameters name it when it is set, and read as
    before when it is not; AdamW's positional weight_decay stays where it was."""
    with pytest.raises(TypeError):
        tinynet.Adam(0.9, 0.999, 1e-8, True)  # type: ignore[misc]
    assert repr(tinynet.Adam()) == "Adam(beta_1=0.9, beta_2=0.999, epsilon=1e-08)"
    assert repr(tinynet.Adam(epsilon_hat=True)) == (
        "Adam(beta_1=0.9, beta_2=0.999, epsilon=1e-08, epsilon_hat=True)"
    )
    assert repr(tinynet.AdamW(0.8, 0.9, 1e-7, 0.1, epsilon_hat=True)) == (
        "AdamW(beta_1=0.8, beta_2=0.9, epsilon=1e-07, weight_decay=0.1, epsilon_hat=True)"
    )
    assert tinynet.AdamW(0.8, 0.9, 1e-7, 0.1).weight_decay == 0.1
    assert "epsilon_hat" not in tinynet.Adam().hyperparameters()
    assert tinynet.AdamW(epsilon_hat=True).hyperparameters()["epsilon_hat"] is True
    assert tinynet.Adam(epsilon_hat=True) != tinynet.Adam()
    assert eval(repr(tinynet.Adam(epsilon_hat=True)), {"Adam": tinynet.Adam}) == tinynet.Adam(
        epsilon_hat=True
    )


@pytest.mark.parametrize("backend", ["cython", "numpy"])
def test_epsilon_hat_travels_with_resume_save_and_pickle(backend, tmp_path):
    """A fit with epsilon hat, saved or pickled and resumed, ends bit for bit where one
    longer fit ends; the saved state names it."""
    rng = np.random.default_rng(3)
    X, y = make_inputs(rng, 10, 3), make_targets(rng, 10, 2, "linear")
    optimizer = tinynet.AdamW(epsilon=1e-3, weight_decay=0.1, epsilon_hat=True)
    options = dict(batch_size=4, optimizer=optimizer, learning_rate=0.02, reduction="mean")
    net = tinynet.Network([3, 4, 2], output="linear", bias=True, seed=5, backend=backend)
    whole = copy.deepcopy(net).fit(X, y, epochs=5, **options)
    first = copy.deepcopy(net).fit(X, y, epochs=2, **options)
    assert first.__getstate__()["resume"]["hyperparameters"]["epsilon_hat"] is True
    first.save(tmp_path / "net.tinynet")
    for resumed in (tinynet.load(tmp_path / "net.tinynet"), pickle.loads(pickle.dumps(first))):
        resumed.fit(X, y, epochs=3, resume=True, **options)
        for got, want in zip(resumed.weights + resumed.biases, whole.weights + whole.biases,
                             strict=True):  # fmt: skip
            np.testing.assert_array_equal(got, want)
        assert resumed.__getstate__()["resume"] == whole.__getstate__()["resume"]
