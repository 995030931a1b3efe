"""The compiled core against the numpy reference on the training options: the optimizers
(SGD with and without momentum or Nesterov, Adam, AdamW, RMSprop with and without momentum,
L-BFGS), batch normalisation, sample weights, schedules, ``loss_and_gradient`` and resume.

The tolerance is test_backends.py's (``helpers.tolerance``), in the same stable regime as
``helpers.cases``: small inputs, SGD's rate per sample (divided by the number of rows), and
for the adaptive optimizers, whose steps do not grow with the gradient, rates that keep a
step small against the weights. Each optimizer x batch normalisation x sample weights x dtype
is a case of its own (a schedule, none, cosine or step, by turns among them), so that none
can go undrawn; the rest (shapes, seeds, hyperparameters, dropout, clip, shuffle, batches,
l2, validation) hypothesis draws.

Where a bias feeds a batch-normalised layer and an adaptive optimizer trains it, that bias
moves by rounding noise alone (see ``helpers.Case.noise_driven`` and test_torch_oracle.py's
``noise_driven``): it, the running means that follow it and the validation measures taken
with them are left out; everything else is held to the usual tolerance.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from helpers import (
    ACTIVATIONS,
    OPTIMIZER_KINDS,
    OUTPUTS,
    Case,
    assert_backends_agree,
    assert_close,
    assert_trained_alike,
    make_inputs,
    make_targets,
    matmuls,
    optimizer_cases,
    tolerance,
)
from hypothesis import given, settings

# The draws are derandomized (the same examples on every run, CI's empty example database
# included): adaptive optimizers divide each step by the root of its own squares, so in
# float32 a gradient that is zero up to rounding can now and then take a step of a
# learning rate either way in one backend and not the other (about 1 draw in 3000 here);
# float64 draws of the same regime agree to rounding.
from hypothesis import strategies as st

import tinynet

KINDS = OPTIMIZER_KINDS
SCHEDULES = (None, "cosine", "step")
COMBINATIONS = list(itertools.product(KINDS, [False, True], [False, True]))
DTYPES = {"float64": np.float64, "float32": np.float32}


def combination_ids(combination: tuple[str, bool, bool]) -> str:
    kind, batch_norm, weighted = combination
    return f"{kind}-{'bn' if batch_norm else 'nobn'}-{'weighted' if weighted else 'unweighted'}"


@pytest.mark.parametrize("dtype", DTYPES.values(), ids=DTYPES.keys())
@pytest.mark.parametrize("combination", COMBINATIONS, ids=map(combination_ids, COMBINATIONS))
@settings(max_examples=15, deadline=None, derandomize=True)
@given(data=st.data())
def test_backends_agree_with_every_optimizer(combination, dtype, data):
    """Weights, biases, batch normalisation, history and predictions, for every optimizer x
    batch normalisation x sample weights x dtype; the schedule by turns."""
    kind, batch_norm, weighted = combination
    schedule = SCHEDULES[COMBINATIONS.index(combination) % len(SCHEDULES)]
    assert_backends_agree(data.draw(optimizer_cases(kind, batch_norm, weighted, dtype, schedule)))


def test_every_schedule_meets_every_optimizer():
    """The turns of the schedules above reach every optimizer with each schedule."""
    drawn = {(kind, SCHEDULES[i % len(SCHEDULES)]) for i, (kind, _, _) in enumerate(COMBINATIONS)}
    assert drawn == set(itertools.product(KINDS, SCHEDULES))


@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=25, deadline=None, derandomize=True)
@given(data=st.data())
def test_resume_is_one_longer_fit(kind, data):
    """fit(a) then fit(b, resume=True) in the core ends bit for bit where fit(a + b) ends in
    the core, which is within the tolerance of fit(a + b) in the reference."""
    batch_norm, weighted = data.draw(st.booleans()), data.draw(st.booleans())
    dtype = data.draw(st.sampled_from(list(DTYPES.values())))
    schedule = data.draw(st.sampled_from(SCHEDULES))
    case = data.draw(optimizer_cases(kind, batch_norm, weighted, dtype, schedule, min_epochs=2))
    first = data.draw(st.integers(1, case.epochs - 1))
    with matmuls(case.matmuls):
        resumed = case.network("cython")
        resumed.fit(case.X, case.y, epochs=first, **case.options)
        resumed.fit(case.X, case.y, epochs=case.epochs - first, resume=True, **case.options)
        whole = case.network("cython").fit(case.X, case.y, epochs=case.epochs, **case.options)
        reference = case.network("numpy").fit(case.X, case.y, epochs=case.epochs, **case.options)
    for name in ("weights", "biases"):
        for got, want in zip(getattr(resumed, name), getattr(whole, name), strict=True):
            np.testing.assert_array_equal(got, want, strict=True, err_msg=name)
    for got, want in zip(resumed.batch_norm, whole.batch_norm, strict=True):
        for key, value in want.items():
            np.testing.assert_array_equal(got[key], value, strict=True, err_msg=key)
    assert resumed.history.keys() == whole.history.keys()
    for key, values in whole.history.items():
        np.testing.assert_array_equal(resumed.history[key], values[first:], err_msg=key)
    np.testing.assert_array_equal(resumed.predict(case.X), whole.predict(case.X))
    assert_trained_alike(case, whole, reference)


@pytest.mark.parametrize("dtype", DTYPES.values(), ids=DTYPES.keys())
@settings(max_examples=60, deadline=None, derandomize=True)
@given(data=st.data())
def test_loss_and_gradient_agree(dtype, data):
    """``Network.loss_and_gradient`` on random networks (random weights, biases, scales and
    shifts), with and without batch normalisation, sample weights and l2."""
    draw = data.draw
    activation = draw(st.sampled_from(ACTIVATIONS if dtype is np.float64 else ACTIVATIONS[:2]))
    output = draw(st.sampled_from(OUTPUTS))
    batch_norm, bias, weighted = draw(st.booleans()), draw(st.booleans()), draw(st.booleans())
    hidden = draw(st.lists(st.integers(1, 8), min_size=int(batch_norm), max_size=2))
    layers = [draw(st.integers(1, 6)), *hidden, draw(st.integers(2, 5))]
    n = draw(st.integers(2 if batch_norm else 1, 20))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    X = make_inputs(rng, n, layers[0], scale=draw(st.floats(0.1, 2.0)))
    y = make_targets(rng, n, layers[-1], output)
    weights = [rng.uniform(-1, 1, size=(k, j)) for k, j in itertools.pairwise(layers)]
    biases = [rng.uniform(-0.5, 0.5, size=j) for j in layers[1:]]
    norms = [
        {
            "scale": rng.uniform(0.5, 1.5, size=j),
            "shift": rng.uniform(-0.5, 0.5, size=j),
            "running_mean": rng.uniform(-0.5, 0.5, size=j),
            "running_var": rng.uniform(0.5, 1.5, size=j),
        }
        for j in hidden
    ]
    sample_weight = rng.uniform(0.1, 1.5, size=n) if weighted else None
    l2 = draw(st.just(0.0) | st.floats(0.0, 0.5))
    epsilon = draw(st.floats(1e-5, 1e-2))
    results = {}
    for backend in ("cython", "numpy"):
        net = tinynet.Network(
            layers,
            activation=activation,
            output=output,
            bias=bias,
            batch_norm=batch_norm,
            batch_norm_epsilon=epsilon,
            dtype=dtype,
            backend=backend,
        )
        net.weights = weights
        if bias:
            net.biases = biases
        if batch_norm:
            net.batch_norm = norms
        results[backend] = net.loss_and_gradient(X, y, sample_weight=sample_weight, l2=l2)
    core, reference = results["cython"], results["numpy"]
    tol = tolerance(dtype)
    assert len(core) == len(reference) == 3 + batch_norm
    assert isinstance(core[0], float)
    assert_close(core[0], reference[0], tol, "loss")
    for name, got, want in zip(("weights", "biases"), core[1:3], reference[1:3], strict=True):
        assert len(got) == len(want) == (len(layers) - 1 if name == "weights" or bias else 0)
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            assert g.dtype == w.dtype == dtype
            if name == "biases" and batch_norm and i < len(hidden):
                # A bias feeding a batch-normalised layer: its gradient is zero up to the
                # rounding of sum_rows(dz) (test_torch_oracle.py), and dz, which divides by
                # the batch's standard deviation, can be far larger than any gradient the
                # API returns: no tolerance relative to those covers its rounding.
                assert np.isfinite(g).all()
                continue
            assert_close(g, w, tol, f"{name}[{i}]")
    if batch_norm:
        for i, (g, w) in enumerate(zip(core[3], reference[3], strict=True)):
            assert g.keys() == w.keys() == {"scale", "shift"}
            for key in g:
                assert_close(g[key], w[key], tol, f"batch_norm[{i}][{key!r}]")


@pytest.mark.parametrize("dtype", DTYPES.values(), ids=DTYPES.keys())
@pytest.mark.parametrize("batch_norm", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
def test_lbfgs_agrees(dtype, batch_norm, weighted):
    """A few L-BFGS iterations on a small smooth problem (tanh, a linear output, l2): the
    same losses, weights and predictions in both backends."""
    rng = np.random.default_rng(5 + 2 * batch_norm + weighted)
    X = make_inputs(rng, 24, 3)
    y = make_targets(rng, 24, 2, "linear")
    sample_weight = rng.uniform(0.1, 1.5, size=24) if weighted else None
    case = Case(
        [3, 5, 2],
        "tanh",
        "linear",
        bias=True,
        dtype=dtype,
        seed=11,
        X=X,
        y=y,
        epochs=6,
        options={"optimizer": "lbfgs", "l2": 0.01, "sample_weight": sample_weight},
        network_options={"batch_norm": batch_norm},
    )
    core, reference = case.train("cython"), case.train("numpy")
    assert len(reference.history["loss"]) == case.epochs  # no early convergence
    assert not case.noise_driven  # L-BFGS does not divide a gradient by its size
    assert_trained_alike(case, core, reference)
    loss = reference.history["loss"]
    assert loss[-1] < loss[0]
