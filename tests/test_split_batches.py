"""Batches split over two threads (``csrc/tinynet_helper.hh``, ``tinynet._plan.splits_batches``).

The fit trains the first half of each batch's rows, its helper thread the second, and each
synapse's step is the first half's part plus the second's. So:

* which fits split follows the plan's rule, and ``_plan.forced(split_batches=False)`` stops it;
* a split fit agrees with the same fit unsplit to rounding, over activations, outputs,
  optimizers, sample weights, reductions, clipping and shuffling;
* its numbers do not depend on which thread trained each second half: the fit that trains
  every half itself (``_core.helper_mode("fit")``), the fit whose helper trains every half
  (``"helper"``) and the fit that decides as it goes (``"adaptive"``, the default) end bit
  for bit alike, run after run, and a member of an ensemble ends where its fit alone ends;
* an interrupted split fit keeps its last completed epoch, as every fit does.

The tests lower ``SPLIT_MIN_WORK`` so that small networks split too.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest
from helpers import assert_close, assert_same_state, make_inputs, make_targets, tolerance
from hypothesis import given, settings
from hypothesis import strategies as st

import tinynet
from tinynet import _core, _plan
from tinynet._settings import Architecture, Training


@pytest.fixture
def split_small(monkeypatch):
    """Let every batch of two rows or more split, whatever its work."""
    monkeypatch.setattr(_plan, "SPLIT_MIN_WORK", 0)


@contextmanager
def recorded_plans() -> Iterator[list]:
    """The plans of the fits made in the block (``tinynet._plan.make_plan``'s results)."""
    plans: list = []
    original = _plan.make_plan

    def make_plan(*args, **kwargs):
        plans.append(original(*args, **kwargs))
        return plans[-1]

    _plan.make_plan = make_plan
    try:
        yield plans
    finally:
        _plan.make_plan = original


@contextmanager
def halves_trained_by(mode: str) -> Iterator[None]:
    """Who trains the split batches' second halves in the block (``_core.helper_mode``)."""
    before = _core.helper_mode(mode)
    try:
        yield
    finally:
        _core.helper_mode(before)


def splits(layers, batch_size, **options) -> bool:
    """Whether a fit of ``layers`` in batches of ``batch_size`` rows splits them."""
    network = {key: options.pop(key) for key in ("batch_norm",) if key in options}
    architecture = Architecture(np.array(layers, dtype=np.intp), batch_norm=bool(network))
    return _plan.splits_batches(architecture, Training(batch_size=batch_size, **options))


def test_the_plan_splits_mid_sized_and_whole_batches():
    # scikit-learn's digits in its MLP's batches of 200: 1.5 million multiply-adds a batch.
    assert splits([64, 100, 10], 200)
    assert splits([64, 100, 10], 200, optimizer="adam", l2=1e-4, clip=1.0)
    assert splits([64, 100, 10], 1797)  # full-batch digits
    assert splits([20, 100, 2], 16000)


@pytest.mark.parametrize(
    ("layers", "batch_size", "options"),
    [
        ([784, 128, 10], 64, {}),  # MNIST: a synapse too wide
        ([30, 100, 2], 200, {}),  # breast cancer: too little work
        ([64, 100, 10], 1, {}),  # one row
        ([64, 100, 10], 200, {"dropout": 0.2}),
        ([64, 100, 10], 200, {"batch_norm": True}),
    ],
)
def test_the_plan_keeps_other_batches_whole(layers, batch_size, options):
    assert not splits(layers, batch_size, **options)


def test_forced_stops_the_split():
    with _plan.forced(split_batches=False):
        assert not splits([64, 100, 10], 200)
    assert splits([64, 100, 10], 200)


@st.composite
def split_fits(draw: st.DrawFn) -> dict:
    """A network and a fit of it in mini-batches: random shapes and options."""
    hidden = draw(st.lists(st.integers(1, 12), min_size=1, max_size=2))
    n_in, n_out = draw(st.integers(1, 8)), draw(st.integers(1, 4))
    output = draw(st.sampled_from(["sigmoid", "linear", "softmax", "logistic"]))
    if output == "softmax":
        n_out = max(n_out, 2)
    rows = draw(st.integers(4, 40))
    optimizer = draw(st.sampled_from(["sgd", "momentum", "adam", "adamw", "rmsprop"]))
    fit = {
        "epochs": draw(st.integers(1, 4)),
        "batch_size": draw(st.integers(2, rows)),
        "shuffle": draw(st.booleans()),
        "l2": draw(st.sampled_from([0.0, 1e-3])),
        "clip": draw(st.sampled_from([None, 0.5])),
        "reduction": draw(st.sampled_from(["sum", "mean"])),
    }
    if optimizer == "momentum":
        fit.update(momentum=0.9, nesterov=draw(st.booleans()))
    elif optimizer == "adamw":
        fit["optimizer"] = tinynet.AdamW(weight_decay=0.1)
    elif optimizer != "sgd":
        fit["optimizer"] = optimizer
    adaptive = optimizer in ("adam", "adamw", "rmsprop")
    fit["learning_rate"] = 0.01 if adaptive or fit["reduction"] == "mean" else 0.5 / rows
    return {
        "layers": [n_in, *hidden, n_out],
        "network": {
            "activation": draw(st.sampled_from(["sigmoid", "tanh", "relu"])),
            "output": output,
            "bias": draw(st.booleans()),
            "dtype": draw(st.sampled_from([np.float64, np.float32])),
            "seed": draw(st.integers(0, 2**16)),
        },
        "fit": fit,
        "rows": rows,
        "weighted": draw(st.booleans()),
    }


def fitted(case: dict) -> tinynet.Network:
    """The network of ``case`` after its fit, on inputs and targets drawn from its seed."""
    rng = np.random.default_rng(case["network"]["seed"])
    n_in, n_out = case["layers"][0], case["layers"][-1]
    X = make_inputs(rng, case["rows"], n_in)
    y = make_targets(rng, case["rows"], n_out, case["network"]["output"])
    weights = rng.uniform(0.1, 2.0, case["rows"]) if case["weighted"] else None
    network = tinynet.Network(case["layers"], **case["network"])
    return network.fit(X, y, sample_weight=weights, **case["fit"])


@pytest.mark.usefixtures("split_small")
@settings(max_examples=60, deadline=None)
@given(case=split_fits())
def test_a_split_fit_agrees_with_the_unsplit_one(case):
    # Off the small networks' road, which full batches of these sizes would take unsplit.
    with _plan.forced(small_road=False, split_batches=False):
        whole = fitted(case)
    with _plan.forced(small_road=False), recorded_plans() as plans:
        split = fitted(case)
    assert plans and all(plan.split for plan in plans)  # the fit did split
    tol = tolerance(case["network"]["dtype"])
    for name in ("weights", "biases"):
        for i, (a, b) in enumerate(zip(getattr(split, name), getattr(whole, name), strict=True)):
            assert_close(a, b, tol, f"{name}[{i}]")
    for key, values in whole.history.items():
        assert_close(split.history[key], values, tol, f"history[{key!r}]")


def digits_sized_data() -> tuple[np.ndarray, np.ndarray]:
    """Random inputs and one-hot targets of the digits' shape, 1000 rows."""
    rng = np.random.default_rng(7)
    return rng.standard_normal((1000, 64)), np.eye(10)[rng.integers(0, 10, 1000)]


def digits_sized_fit(**fit) -> tinynet.Network:
    """A fit of the digits' shape in batches of 200, which splits at the default work
    (long enough for the helper to train many halves)."""
    network = tinynet.Network(
        [64, 100, 10], activation="relu", output="softmax", bias=True, seed=3, init="xavier"
    )
    options = {"epochs": 12, "batch_size": 200, "learning_rate": 1e-3, "optimizer": "adam"}
    return network.fit(*digits_sized_data(), **{**options, **fit})


def test_the_numbers_do_not_depend_on_which_thread_trains_a_half():
    assert splits([64, 100, 10], 200, optimizer="adam")
    with halves_trained_by("fit"):
        fit_only = digits_sized_fit().__getstate__()
    with halves_trained_by("helper"):
        helper_only = digits_sized_fit().__getstate__()
    assert_same_state(helper_only, fit_only)
    for _ in range(3):
        assert_same_state(digits_sized_fit().__getstate__(), fit_only)


def test_the_helper_mode_is_one_of_three():
    assert _core.helper_mode("adaptive") == "adaptive"  # the default
    with pytest.raises(ValueError, match="mode must be one of"):
        _core.helper_mode("sometimes")
    assert _core.helper_mode("adaptive") == "adaptive"


@pytest.mark.parametrize("mode", ["fit", "helper"])
def test_either_thread_agrees_with_the_unsplit_fit(mode):
    with _plan.forced(split_batches=False):
        whole = digits_sized_fit(shuffle=False)
    with halves_trained_by(mode):
        split = digits_sized_fit(shuffle=False)
    for a, b in zip(split.weights, whole.weights, strict=True):
        assert_close(a, b, tolerance(np.float64), "weights")
    # Split, the sums are taken in another order: not the same bits.
    assert any(not np.array_equal(a, b) for a, b in zip(split.weights, whole.weights, strict=True))


def test_an_ensemble_member_ends_where_its_fit_alone_ends():
    rng = np.random.default_rng(11)
    X = rng.standard_normal((600, 64))
    y = np.eye(10)[rng.integers(0, 10, 600)]
    options = {"epochs": 4, "batch_size": 200, "learning_rate": 0.01, "momentum": 0.9}
    network = {"activation": "tanh", "output": "softmax", "bias": True}
    ensemble = tinynet.Ensemble([64, 100, 10], 3, seeds=[1, 2, 3], **network)
    ensemble.fit(X, y, n_threads=2, **options)
    for seed, member in zip([1, 2, 3], ensemble.members, strict=True):
        alone = tinynet.Network([64, 100, 10], seed=seed, **network).fit(X, y, **options)
        assert_same_state(member.__getstate__(), alone.__getstate__())


def test_an_interrupted_split_fit_keeps_its_last_completed_epoch():
    def stop_in_epoch_3(network, epoch, logs):
        if epoch == 2:
            raise KeyboardInterrupt

    three = digits_sized_fit(epochs=3)
    network = tinynet.Network(
        [64, 100, 10], activation="relu", output="softmax", bias=True, seed=3, init="xavier"
    )
    with pytest.raises(KeyboardInterrupt):
        network.fit(
            *digits_sized_data(),
            epochs=12,
            batch_size=200,
            learning_rate=1e-3,
            optimizer="adam",
            callbacks=[stop_in_epoch_3],
        )
    assert_same_state(network.__getstate__(), three.__getstate__())


@pytest.mark.usefixtures("split_small")
def test_lone_batches_train_both_halves_alike():
    # One batch a call: no helper thread, both halves on the fit's; two a call: the helper.
    rng = np.random.default_rng(5)
    X, y = rng.standard_normal((30, 6)), np.eye(3)[rng.integers(0, 3, 30)]
    options = {"learning_rate": 0.01, "optimizer": "adam", "shuffle": False}

    def network() -> tinynet.Network:
        return tinynet.Network([6, 9, 3], output="softmax", bias=True, seed=2)

    together = network().fit(X, y, epochs=4, **options)
    apart = network()
    for epoch in range(4):
        apart.fit(X, y, epochs=1, resume=epoch > 0, **options)
    for a, b in zip(apart.weights + apart.biases, together.weights + together.biases, strict=True):
        np.testing.assert_array_equal(a, b, strict=True)
