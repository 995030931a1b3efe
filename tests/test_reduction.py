"""``fit(..., reduction="mean")``: each batch's gradient divided by the batch's weight.

The compiled core against the numpy reference on random networks and options (hypothesis,
in the regime of test_backends_optimizers.py), the history's ``"loss"`` and ``"penalty"``
against their definition computed directly in numpy, L-BFGS's mean objective,
``loss_and_gradient``, resume, saving, rollback and the checks of the argument.
test_torch_oracle.py holds the mean against PyTorch.
"""

from __future__ import annotations

import copy
import gc
import os
import pickle
import signal
import sys
import threading
from typing import Any

import numpy as np
import pytest
import scipy.optimize
from helpers import (
    OPTIMIZER_KINDS,
    Case,
    assert_backends_agree,
    assert_same_state,
    assert_trained_alike,
    make_inputs,
    make_targets,
    matmuls,
    optimizer_cases,
    small_road,
)
from hypothesis import given, settings
from hypothesis import strategies as st

import tinynet
from tinynet._plan import choices, small_road_lanes
from tinynet._settings import Architecture, Training

KINDS = OPTIMIZER_KINDS
OUTPUTS = ("sigmoid", "linear", "softmax", "logistic")
DTYPES = {"float64": np.float64, "float32": np.float32}


@pytest.mark.parametrize("dtype", DTYPES.values(), ids=DTYPES.keys())
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=10, deadline=None, derandomize=True)
@given(data=st.data())
def test_backends_agree_with_the_mean(kind, weighted, dtype, data):
    """Weights, biases, batch normalisation, the history with its penalty, predictions."""
    batch_norm = data.draw(st.booleans())
    case = data.draw(
        optimizer_cases(kind, batch_norm, weighted, dtype, None, reduction="mean", outputs=OUTPUTS)
    )
    assert_backends_agree(case)


def test_the_history_has_a_penalty_only_with_the_mean():
    """``"penalty"`` after the validation measures, with the mean alone."""
    rng = np.random.default_rng(0)
    X, y = make_inputs(rng, 9, 3), make_targets(rng, 9, 2, "linear")
    validation = (make_inputs(rng, 4, 3), make_targets(rng, 4, 2, "linear"))
    for reduction, keys in [
        ("sum", ["loss", "mae", "val_loss", "val_mae"]),
        ("mean", ["loss", "mae", "val_loss", "val_mae", "penalty"]),
    ]:
        net = tinynet.Network([3, 4, 2], output="linear", seed=1)
        net.fit(
            X, y, epochs=3, batch_size=4, l2=0.1, reduction=reduction, validation_data=validation
        )
        assert list(net.history) == keys
        assert all(len(values) == 3 for values in net.history.values())
        net.fit(X, y, epochs=2, reduction=reduction)
        assert list(net.history) == [key for key in keys if not key.startswith("val_")]


@pytest.mark.parametrize("backend", ["cython", "numpy"])
@pytest.mark.parametrize("weighted", [False, True])
def test_the_history_is_scikit_learns_loss(backend, weighted):
    """``"loss"`` and ``"penalty"`` of a fit of 3 epochs of 11 rows in batches of 4 (a last
    batch of 3), against their definition computed directly: plain SGD replayed in numpy
    batch by batch from ``loss_and_gradient(reduction="mean")`` (whose loss is the batch's
    ``(sum_r w_r * loss_r + l2 / 2 * |W|^2) / W_b``), the weights squared before each
    update, each batch counted ``rows_b`` times, divided by the 11 rows."""
    rng = np.random.default_rng(7)
    X, y = make_inputs(rng, 11, 3), make_targets(rng, 11, 2, "logistic")
    sample_weight = rng.uniform(0.1, 2.0, size=11) if weighted else None
    l2, rate, epochs = 0.3, 0.5, 3
    net = tinynet.Network(
        [3, 5, 2], activation="tanh", output="logistic", bias=True, seed=2, backend=backend
    )
    replay = copy.deepcopy(net)
    net.fit(X, y, epochs=epochs, learning_rate=rate, batch_size=4, shuffle=False, l2=l2,
            sample_weight=sample_weight, reduction="mean")  # fmt: skip
    losses, penalties = [], []
    for _ in range(epochs):
        loss_total = penalty_total = 0.0
        for start in range(0, 11, 4):
            rows = slice(start, start + 4)
            w = None if sample_weight is None else sample_weight[rows]
            weight = len(X[rows]) if w is None else float(w.sum())
            squares = sum(float(np.sum(syn**2)) for syn in replay.weights)
            loss, weight_grads, bias_grads = replay.loss_and_gradient(
                X[rows], y[rows], sample_weight=w, l2=l2, reduction="mean"
            )
            n_rows = len(X[rows])
            loss_total += n_rows * loss
            penalty_total += n_rows * l2 / 2 * squares / weight
            replay.weights = [
                s - rate * g for s, g in zip(replay.weights, weight_grads, strict=True)
            ]
            replay.biases = [b - rate * g for b, g in zip(replay.biases, bias_grads, strict=True)]
        losses.append(loss_total / 11)
        penalties.append(penalty_total / 11)
    np.testing.assert_allclose(net.history["loss"], losses, rtol=1e-12)
    np.testing.assert_allclose(net.history["penalty"], penalties, rtol=1e-12)
    assert net.history["penalty"][-1] < net.history["penalty"][0]  # l2 shrinks the weights
    for got, want in zip(net.weights + net.biases, replay.weights + replay.biases, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12)


@pytest.mark.parametrize("backend", ["cython", "numpy"])
def test_the_mean_divides_each_batch_by_its_weight(backend):
    """Plain SGD, one epoch of batches 4, 4 and 3: the mean's update of each batch is the
    sum's with the rate divided by the batch's rows; so with rows of weight 2, by 2 * rows.
    A short last batch takes its own weight, not the others'."""
    rng = np.random.default_rng(3)
    X, y = make_inputs(rng, 11, 3), make_targets(rng, 11, 1, "linear")
    net = tinynet.Network([3, 1], output="linear", bias=True, seed=0, backend=backend)
    for weight, divisor in [(None, 1.0), (np.full(11, 2.0), 2.0)]:
        mean, summed = copy.deepcopy(net), copy.deepcopy(net)
        for start, rows in [(0, 4), (4, 4), (8, 3)]:
            part = slice(start, start + rows)
            w = None if weight is None else weight[part]
            summed.fit(X[part], y[part], epochs=1, learning_rate=0.1 / (rows * divisor),
                       sample_weight=w)  # fmt: skip
        mean.fit(X, y, epochs=1, learning_rate=0.1, batch_size=4, shuffle=False,
                 sample_weight=weight, reduction="mean")  # fmt: skip
        for got, want in zip(
            mean.weights + mean.biases, summed.weights + summed.biases, strict=True
        ):
            np.testing.assert_allclose(got, want, rtol=1e-14)


@pytest.mark.parametrize("backend", ["cython", "numpy"])
def test_a_batch_of_weight_zero_moves_nothing(backend):
    """Sample weights of zero over a whole batch: no gradient (not a division by zero), and
    nothing towards the loss; the other batch trains as alone."""
    rng = np.random.default_rng(4)
    X, y = make_inputs(rng, 8, 3), make_targets(rng, 8, 2, "sigmoid")
    weight = np.r_[np.zeros(4), rng.uniform(0.5, 1.5, size=4)]
    net = tinynet.Network([3, 4, 2], bias=True, seed=5, backend=backend)
    both = copy.deepcopy(net).fit(X, y, epochs=2, learning_rate=0.5, batch_size=4, shuffle=False,
                                  l2=0.1, sample_weight=weight, reduction="mean")  # fmt: skip
    alone = copy.deepcopy(net).fit(X[4:], y[4:], epochs=2, learning_rate=0.5, l2=0.1,
                                   sample_weight=weight[4:], reduction="mean")  # fmt: skip
    for got, want in zip(both.weights + both.biases, alone.weights + alone.biases, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-14)
    np.testing.assert_allclose(both.history["loss"], alone.history["loss"] / 2, rtol=1e-14)
    np.testing.assert_allclose(both.history["penalty"], alone.history["penalty"] / 2, rtol=1e-14)


@pytest.mark.parametrize("backend", ["cython", "numpy"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("batch_norm", [False, True])
def test_loss_and_gradient_mean_is_the_sum_over_the_weight(backend, weighted, batch_norm):
    """``loss_and_gradient(reduction="mean")``: the sum's loss and gradients divided by the
    total weight."""
    rng = np.random.default_rng(5)
    X, y = make_inputs(rng, 10, 3), make_targets(rng, 10, 2, "logistic")
    sample_weight = rng.uniform(0.1, 2.0, size=10) if weighted else None
    net = tinynet.Network([3, 4, 2], output="logistic", bias=True, seed=3, backend=backend,
                          batch_norm=batch_norm)  # fmt: skip
    total = 10 if sample_weight is None else float(sample_weight.sum())
    summed = net.loss_and_gradient(X, y, sample_weight=sample_weight, l2=0.2)
    mean = net.loss_and_gradient(X, y, sample_weight=sample_weight, l2=0.2, reduction="mean")
    assert isinstance(mean[0], float)
    np.testing.assert_allclose(mean[0], summed[0] / total, rtol=1e-14)
    assert len(mean) == len(summed) == 3 + batch_norm
    for got_parts, want_parts in zip(mean[1:3], summed[1:3], strict=True):
        for got, want in zip(got_parts, want_parts, strict=True):
            np.testing.assert_allclose(got, want / total, rtol=1e-14)
    if batch_norm:
        for got, want in zip(mean[3], summed[3], strict=True):
            for key in ("scale", "shift"):
                np.testing.assert_allclose(got[key], want[key] / total, rtol=1e-14, atol=1e-16)


@pytest.mark.parametrize("dtype", DTYPES.values(), ids=DTYPES.keys())
@pytest.mark.parametrize("weighted", [False, True])
def test_lbfgs_minimises_the_mean(dtype, weighted):
    """L-BFGS with the mean: both backends alike; each iteration's history is the mean
    objective at its weights (``loss_and_gradient(reduction="mean")``) and its l2 part; and
    the mean's minimum is the sum's (the same function, scaled), reached by both."""
    rng = np.random.default_rng(8 + weighted)
    X, y = make_inputs(rng, 24, 3), make_targets(rng, 24, 2, "logistic")
    sample_weight = rng.uniform(0.1, 1.5, size=24) if weighted else None
    l2 = 0.05
    options = {"optimizer": "lbfgs", "l2": l2, "sample_weight": sample_weight, "reduction": "mean"}
    case = Case([3, 5, 2], "tanh", "logistic", bias=True, dtype=dtype, seed=11, X=X, y=y,
                epochs=6, options=options)  # fmt: skip
    core, reference = case.train("cython"), case.train("numpy")
    assert list(core.history) == ["loss", "mae", "penalty"]
    assert len(reference.history["loss"]) == case.epochs
    assert_trained_alike(case, core, reference)
    if dtype is np.float64:
        loss = core.loss_and_gradient(X, y, sample_weight=sample_weight, l2=l2, reduction="mean")[
            0
        ]
        total = 24 if sample_weight is None else float(sample_weight.sum())
        penalty = l2 / 2 * sum(float(np.sum(w**2)) for w in core.weights) / total
        np.testing.assert_allclose(core.history["loss"][-1], loss, rtol=1e-12)
        np.testing.assert_allclose(core.history["penalty"][-1], penalty, rtol=1e-12)
        assert np.all(np.diff(core.history["loss"]) < 0)
        # scipy on the mean objective, from the same start, ends at the same weights
        net = case.network("cython")
        sizes = [w.size for w in net.weights] + [b.size for b in net.biases]
        shapes = [w.shape for w in net.weights] + [b.shape for b in net.biases]

        def objective(x):
            parts = np.split(x, np.cumsum(sizes)[:-1])
            net.weights = [p.reshape(s) for p, s in zip(parts[:2], shapes[:2], strict=True)]
            net.biases = parts[2:]
            value, weight_grads, bias_grads = net.loss_and_gradient(
                X, y, sample_weight=sample_weight, l2=l2, reduction="mean"
            )
            return value, np.concatenate([g.ravel() for g in weight_grads + bias_grads])

        start = np.concatenate([p.ravel() for p in net.weights + net.biases])
        found = scipy.optimize.minimize(
            objective, start, jac=True, method="L-BFGS-B",
            options={"maxiter": case.epochs, "maxfun": 15000, "gtol": 1e-7},
        )  # fmt: skip
        mine = np.concatenate([p.ravel() for p in core.weights + core.biases])
        np.testing.assert_allclose(mine, found.x, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(core.history["loss"][-1], found.fun, rtol=1e-12)


@pytest.mark.parametrize("kind", ["sgd-momentum", "adam", "rmsprop"])
@pytest.mark.parametrize("backend", ["cython", "numpy"])
def test_resume_with_the_mean_is_one_longer_fit(kind, backend):
    """fit(a) then fit(b, resume=True) ends bit for bit where fit(a + b) ends, the history
    and its penalty too; and through a save and load between them."""
    rng = np.random.default_rng(9)
    X, y = make_inputs(rng, 13, 3), make_targets(rng, 13, 2, "logistic")
    optimizer = {
        "sgd-momentum": tinynet.SGD(momentum=0.9, nesterov=True),
        "adam": tinynet.Adam(epsilon_hat=True),
        "rmsprop": tinynet.RMSprop(momentum=0.5),
    }[kind]
    options = dict(learning_rate=0.01, batch_size=5, l2=0.1, optimizer=optimizer, reduction="mean",
                   sample_weight=rng.uniform(0.5, 1.5, size=13))  # fmt: skip
    net = tinynet.Network([3, 6, 2], output="logistic", bias=True, seed=4, backend=backend,
                          batch_norm=True)  # fmt: skip
    whole = copy.deepcopy(net).fit(X, y, epochs=7, **options)
    first = copy.deepcopy(net).fit(X, y, epochs=3, **options)
    loaded = pickle.loads(pickle.dumps(first))
    for resumed in (first, loaded):
        resumed.fit(X, y, epochs=4, resume=True, **options)
        for got, want in zip(
            resumed.weights + resumed.biases, whole.weights + whole.biases, strict=True
        ):
            np.testing.assert_array_equal(got, want)
        for key, values in whole.history.items():
            np.testing.assert_array_equal(resumed.history[key], values[3:], err_msg=key)
        state, want = resumed.__getstate__(), whole.__getstate__()
        assert_same_state({**state, "history": None}, {**want, "history": None})


def test_a_fit_with_the_mean_saves_and_loads(tmp_path):
    """The penalty is part of the history a file and a pickle keep."""
    rng = np.random.default_rng(10)
    X, y = make_inputs(rng, 9, 3), make_targets(rng, 9, 2, "logistic")
    net = tinynet.Network([3, 4, 2], output="logistic", bias=True, seed=1)
    adam = tinynet.Adam(epsilon_hat=True)
    net.fit(X, y, epochs=4, batch_size=4, l2=0.1, reduction="mean", optimizer=adam,
            validation_data=(X[:3], y[:3]))  # fmt: skip
    net.save(tmp_path / "net.tinynet")
    for copy_ in (tinynet.load(tmp_path / "net.tinynet"), pickle.loads(pickle.dumps(net))):
        assert_same_state(copy_.__getstate__(), net.__getstate__())
        assert list(copy_.history) == ["loss", "mae", "val_loss", "val_mae", "penalty"]
        np.testing.assert_array_equal(copy_.history["penalty"], net.history["penalty"])
        np.testing.assert_array_equal(copy_.predict(X), net.predict(X))


@pytest.mark.parametrize("backend", ["cython", "numpy"])
def test_a_diverging_mean_fit_keeps_its_last_finite_epoch(backend):
    """Divergence rolls back as with the sum: the history (the penalty with it) ends at the
    last finite epoch, whose weights the network keeps."""
    rng = np.random.default_rng(11)
    X, y = make_inputs(rng, 12, 3, scale=3.0), 100 * make_targets(rng, 12, 1, "linear")
    net = tinynet.Network([3, 8, 1], activation="relu", output="linear", bias=True, seed=0,
                          backend=backend)  # fmt: skip
    options = dict(learning_rate=1e4, batch_size=5, l2=0.5, reduction="mean", shuffle=False)
    with pytest.raises(FloatingPointError) as error:
        net.fit(X, y, epochs=50, **options)
    done = len(net.history["loss"])
    assert f"epoch {done + 1}" in str(error.value)
    assert len(net.history["penalty"]) == done
    assert np.isfinite(net.history["loss"]).all() and np.isfinite(net.history["penalty"]).all()
    again = tinynet.Network([3, 8, 1], activation="relu", output="linear", bias=True, seed=0,
                            backend=backend)  # fmt: skip
    assert done >= 1  # the check below is of the epochs before the divergence
    again.fit(X, y, epochs=done, **options)
    for got, want in zip(net.weights, again.weights, strict=True):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("backend", ["cython", "numpy"])
def test_the_sum_is_the_default_bit_for_bit(backend):
    """``reduction="sum"`` is what a fit without it does."""
    rng = np.random.default_rng(12)
    X, y = make_inputs(rng, 10, 3), make_targets(rng, 10, 2, "softmax")
    nets = [
        tinynet.Network([3, 4, 2], output="softmax", seed=3, backend=backend) for _ in range(2)
    ]
    options = dict(epochs=3, batch_size=3, l2=0.1, optimizer="adam", learning_rate=0.01)
    nets[0].fit(X, y, **options)
    nets[1].fit(X, y, reduction="sum", **options)
    assert_same_state(nets[0].__getstate__(), nets[1].__getstate__())


@pytest.mark.parametrize(
    ("reduction", "error"),
    [("avg", ValueError), ("MEAN", ValueError), (None, TypeError), (1, TypeError)],
)
def test_a_bad_reduction_is_refused(reduction, error):
    """A ValueError or TypeError naming ``reduction``, the network unchanged."""
    rng = np.random.default_rng(13)
    X, y = make_inputs(rng, 6, 3), make_targets(rng, 6, 1, "sigmoid")
    net = tinynet.Network([3, 2, 1], seed=0).fit(X, y, epochs=2)
    before = net.__getstate__()
    with pytest.raises(error, match="reduction"):
        net.fit(X, y, epochs=2, reduction=reduction)
    with pytest.raises(error, match="reduction"):
        net.fit(X, y, epochs=2, optimizer="lbfgs", reduction=reduction)
    with pytest.raises(error, match="reduction"):
        net.loss_and_gradient(X, y, reduction=reduction)
    assert_same_state(net.__getstate__(), before)


def test_the_small_road_takes_the_sum_alone():
    """The mean goes down the general loop, where the small road would take the sum; the
    results do not depend on whether the small road is allowed."""
    architecture = Architecture(np.array([3, 4, 1], dtype=np.intp))
    machine = choices()
    assert small_road_lanes(architecture, Training(batch_size=4), 4, False, machine) == 4
    mean = Training(batch_size=4, reduction="mean")
    assert small_road_lanes(architecture, mean, 4, False, machine) == 0
    X = np.array([[0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1]], dtype=float)
    y = np.array([[0], [1], [1], [0]], dtype=float)
    fits = []
    for allowed in (True, False):
        with small_road(allowed), matmuls("loops"):
            net = tinynet.Network([3, 4, 1], seed=1)
            fits.append(
                net.fit(X, y, epochs=50, learning_rate=4.0, momentum=0.5, reduction="mean")
            )
    np.testing.assert_array_equal(fits[0].weights[0], fits[1].weights[0])
    np.testing.assert_array_equal(fits[0].history["loss"], fits[1].history["loss"])


def test_callbacks_see_the_penalty():
    """The logs passed to callbacks hold the penalty, as the history does."""
    rng = np.random.default_rng(14)
    X, y = make_inputs(rng, 8, 3), make_targets(rng, 8, 1, "linear")
    seen: list[dict[str, float]] = []
    net = tinynet.Network([3, 1], output="linear", seed=0)
    net.fit(
        X,
        y,
        epochs=3,
        l2=0.2,
        reduction="mean",
        callbacks=[lambda _n, _e, logs: seen.append(logs)],
    )
    assert [set(logs) for logs in seen] == [{"loss", "mae", "penalty"}] * 3
    for epoch, logs in enumerate(seen):
        for key, value in logs.items():
            assert value == net.history[key][epoch]


class Alarm(Exception):
    """What the test's signal handler raises."""


@pytest.mark.skipif(sys.platform == "win32", reason="no SIGUSR1")
@pytest.mark.parametrize("backend", ["cython", "numpy"])
def test_an_interrupted_mean_fit_keeps_its_completed_epochs(backend):
    """A signal handler's exception during a long fit with the mean (Adam, l2, sample
    weights, mini-batches): the network is where a fit of exactly the completed epochs
    leaves it, its history with the penalty too, and a resumed fit goes on from there."""
    rng = np.random.default_rng(15)
    X, y = make_inputs(rng, 50, 4), make_targets(rng, 50, 3, "logistic")
    options = dict(batch_size=8, l2=0.1, optimizer=tinynet.Adam(epsilon_hat=True),
                   learning_rate=1e-3, reduction="mean",
                   sample_weight=rng.uniform(0.5, 1.5, size=50))  # fmt: skip

    def network() -> tinynet.Network:
        return tinynet.Network([4, 16, 3], output="logistic", bias=True, seed=6, backend=backend)

    def handler(signum: int, frame: Any) -> None:
        raise Alarm

    net = network()
    gc.collect()
    gc.disable()  # no weak reference's callback to swallow the exception
    previous = signal.signal(signal.SIGUSR1, handler)
    try:
        threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGUSR1)).start()
        with pytest.raises(Alarm):
            net.fit(X, y, epochs=10_000_000, **options)
    finally:
        signal.signal(signal.SIGUSR1, previous)
        gc.enable()
    completed = len(net.history["loss"])
    assert 0 < completed < 10_000_000
    assert len(net.history["penalty"]) == completed
    clean = network().fit(X, y, epochs=completed, **options)
    assert_same_state(net.__getstate__(), clean.__getstate__())
    net.fit(X, y, epochs=2, resume=True, **options)
    clean.fit(X, y, epochs=2, resume=True, **options)
    assert_same_state(net.__getstate__(), clean.__getstate__())
