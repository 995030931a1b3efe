"""The Python layer of the optimizers, sample weights, batch normalisation's options and
state, ``loss_and_gradient``, ``ReduceLROnPlateau`` and the L-BFGS fit.

Bad input is refused before any backend runs, naming the argument, the network unchanged.
The tests of training behaviour run through both backends.
"""

from __future__ import annotations

import dataclasses
import math
import pickle

import numpy as np
import pytest
from helpers import assert_same_state

import tinynet
from tinynet import LBFGS, SGD, Adam, AdamW, Network, ReduceLROnPlateau, RMSprop

rng = np.random.default_rng(15)
X = rng.standard_normal((11, 3))
Y = rng.random((11, 2))
LAYERS = [3, 5, 2]


def unchanged(net: Network, call, error: type[BaseException], match: str) -> None:
    """``call`` raises ``error`` matching ``match`` and leaves ``net`` as it was."""
    before = net.__getstate__()
    with pytest.raises(error, match=match):
        call()
    assert_same_state(net.__getstate__(), before)


# --- the optimizer classes ----------------------------------------------------------------


def test_the_classes_are_exported_with_the_issues_defaults():
    assert SGD() == SGD(momentum=0.0, nesterov=False)
    assert Adam() == Adam(beta_1=0.9, beta_2=0.999, epsilon=1e-8)
    assert AdamW() == AdamW(beta_1=0.9, beta_2=0.999, epsilon=1e-8, weight_decay=0.01)
    assert RMSprop() == RMSprop(rho=0.99, epsilon=1e-8, momentum=0.0)
    assert LBFGS() == LBFGS(max_fun=15000, tol=1e-7)
    assert repr(Adam(beta_1=0.5)) == "Adam(beta_1=0.5, beta_2=0.999, epsilon=1e-08)"
    assert repr(LBFGS()) == "LBFGS(max_fun=15000, tol=1e-07)"
    with pytest.raises(dataclasses.FrozenInstanceError):
        Adam().beta_1 = 0.5  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(AdamW(weight_decay=0.1))) == AdamW(weight_decay=0.1)


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda: SGD(momentum=1.0), ValueError, "momentum"),
        (lambda: SGD(momentum=-0.1), ValueError, "momentum"),
        (lambda: SGD(nesterov=1), TypeError, "nesterov"),
        (lambda: Adam(beta_1=1.0), ValueError, "beta_1"),
        (lambda: Adam(beta_2=math.nan), ValueError, "beta_2"),
        (lambda: Adam(epsilon=-1e-8), ValueError, "epsilon"),
        (lambda: Adam(epsilon="small"), TypeError, "epsilon"),
        (lambda: AdamW(weight_decay=-0.01), ValueError, "weight_decay"),
        (lambda: AdamW(weight_decay=math.inf), ValueError, "weight_decay"),
        (lambda: RMSprop(rho=1.5), ValueError, "rho"),
        (lambda: RMSprop(momentum=math.inf), ValueError, "momentum"),
        (lambda: LBFGS(max_fun=0), ValueError, "max_fun"),
        (lambda: LBFGS(max_fun=1.5), TypeError, "max_fun"),
        (lambda: LBFGS(tol=-1.0), ValueError, "tol"),
    ],
)
def test_hyperparameters_are_checked(make, error, match):
    with pytest.raises(error, match=match):
        make()


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"optimizer": "adagrad"}, ValueError, "optimizer must be one of"),
        ({"optimizer": "Adam"}, ValueError, "optimizer must be one of"),
        ({"optimizer": None}, TypeError, "optimizer must be"),
        ({"optimizer": Adam}, TypeError, "optimizer must be"),  # the class, not an instance
        ({"optimizer": SGD(momentum=0.9), "momentum": 0.5}, ValueError, "conflicts"),
        ({"optimizer": SGD(nesterov=False), "nesterov": True}, ValueError, "conflicts"),
        ({"optimizer": "adam", "momentum": 0.9}, ValueError, "momentum and nesterov"),
        ({"optimizer": RMSprop(), "nesterov": True}, ValueError, "momentum and nesterov"),
        ({"optimizer": "lbfgs", "dropout": 0.5}, ValueError, "dropout"),
        ({"optimizer": "lbfgs", "clip": 1.0}, ValueError, "clip"),
        ({"optimizer": "lbfgs", "learning_rate": lambda e: 0.1}, ValueError, "learning_rate"),
        ({"resume": 1}, TypeError, "resume"),
    ],
)
def test_fit_refuses_bad_optimizers(options, error, match):
    net = Network(LAYERS, seed=0)
    unchanged(net, lambda: net.fit(X, Y, epochs=2, **options), error, match)


def test_an_sgd_instance_agreeing_with_fits_momentum_is_allowed():
    """The refusal is for a conflict: an SGD instance with fit's momentum left at its default
    (or equal) trains as fit's momentum does."""
    nets = [Network(LAYERS, seed=3) for _ in range(3)]
    nets[0].fit(X, Y, epochs=3, batch_size=4, momentum=0.9, nesterov=True)
    nets[1].fit(X, Y, epochs=3, batch_size=4, optimizer=SGD(0.9, True))
    nets[2].fit(X, Y, epochs=3, batch_size=4, momentum=0.9, optimizer=SGD(0.9, True))
    for net in nets[1:]:
        np.testing.assert_array_equal(
            net.__getstate__()["params"], nets[0].__getstate__()["params"]
        )


def test_resume_with_another_kind_of_optimizer_is_refused():
    net = Network(LAYERS, seed=0)
    state = net.__getstate__()
    n = len(state["params"])
    state.update(
        fits=1,
        updates=3,
        slots=np.zeros((2, n)),
        resume={"optimizer": "adam", "hyperparameters": {}, "fit": 0, "epochs": 3},
    )
    net.__setstate__(state)
    unchanged(
        net,
        lambda: net.fit(X, Y, epochs=1, optimizer="rmsprop", resume=True),
        ValueError,
        "optimizer 'adam'",
    )
    unchanged(net, lambda: net.fit(X, Y, epochs=1, resume=True), ValueError, "not 'sgd'")


# --- sample weights -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("weights", "error", "match"),
    [
        (np.ones(10), ValueError, r"shape \(11,\)"),
        (np.ones((11, 1)), ValueError, r"shape \(11,\)"),
        (-np.ones(11), ValueError, "negative"),
        (np.zeros(11), ValueError, "all zero"),
        (np.r_[np.ones(10), np.nan], ValueError, "NaN"),
        (np.r_[np.ones(10), np.inf], ValueError, "NaN or infinite"),
        (["a"] * 11, TypeError, "sample_weight"),
        ("heavy", TypeError, "sample_weight"),
        (np.full(11, 1e300), ValueError, "sample_weight"),
    ],
)
def test_bad_sample_weights_are_refused(weights, error, match):
    for net in (Network(LAYERS, seed=0), Network(LAYERS, seed=0, dtype=np.float32)):
        if net.dtype == np.float64 and weights is not None and np.size(weights) == 11:
            if np.asarray(weights).dtype.kind == "f" and np.all(np.asarray(weights) == 1e300):
                continue  # representable in float64, and summed there: not an error
        unchanged(net, lambda n=net: n.fit(X, Y, epochs=1, sample_weight=weights), error, match)
        unchanged(
            net,
            lambda n=net: n.loss_and_gradient(X, Y, sample_weight=weights),
            error,
            match,
        )


def test_unit_sample_weights_change_nothing(backend):
    a = Network(LAYERS, seed=1, backend=backend).fit(X, Y, epochs=4, batch_size=4)
    b = Network(LAYERS, seed=1, backend=backend)
    b.fit(X, Y, epochs=4, batch_size=4, sample_weight=np.ones(11))
    np.testing.assert_allclose(b.weights[0], a.weights[0], rtol=1e-12)
    np.testing.assert_allclose(b.history["loss"], a.history["loss"], rtol=1e-12)


def test_integer_sample_weights_repeat_rows_in_a_full_batch(backend):
    """Weight 2 on a row is that row twice, in the summed gradient and in the weighted means
    of the history."""
    weights = np.array([2, 1, 0, 3, 1, 1, 1, 2, 1, 1, 1])
    repeated = np.repeat(np.arange(11), weights)
    a = Network(LAYERS, seed=2, backend=backend).fit(X[repeated], Y[repeated], epochs=3)
    b = Network(LAYERS, seed=2, backend=backend)
    b.fit(X, Y, epochs=3, sample_weight=weights)
    for u, v in zip(b.weights, a.weights, strict=True):
        np.testing.assert_allclose(u, v, rtol=1e-10)
    np.testing.assert_allclose(b.history["loss"], a.history["loss"], rtol=1e-10)
    np.testing.assert_allclose(b.history["mae"], a.history["mae"], rtol=1e-10)


# --- schedules and ReduceLROnPlateau ------------------------------------------------------


@pytest.mark.parametrize(
    ("schedule", "error", "match"),
    [
        (lambda epoch: -0.1, ValueError, "learning_rate must be finite and at least 0"),
        (lambda epoch: math.nan, ValueError, "learning_rate must be finite"),
        (lambda epoch: math.inf, ValueError, "learning_rate must be finite"),
        (lambda epoch: "fast", TypeError, "learning_rate must be a real number"),
        (lambda epoch: None, TypeError, "learning_rate must be a real number"),
        (lambda epoch: 1e300, ValueError, "too large for float32"),
    ],
)
def test_a_schedules_bad_first_rate_is_refused_before_training(schedule, error, match):
    net = Network(LAYERS, seed=0, dtype=np.float32)
    unchanged(net, lambda: net.fit(X, Y, epochs=3, learning_rate=schedule), error, match)


def test_a_schedules_bad_later_rate_keeps_the_epochs_before(backend):
    net = Network(LAYERS, seed=0, backend=backend)
    with pytest.raises(ValueError, match="epoch 2"):
        net.fit(X, Y, epochs=5, learning_rate=lambda e: 0.1 if e < 2 else -1.0, verbose=1)
    assert len(net.history["loss"]) == 2
    clean = Network(LAYERS, seed=0, backend=backend).fit(X, Y, epochs=2, learning_rate=0.1)
    np.testing.assert_array_equal(net.weights[0], clean.weights[0])


def test_a_constant_schedule_is_its_rate(backend):
    a = Network(LAYERS, seed=4, backend=backend).fit(X, Y, epochs=5, learning_rate=0.3)
    b = Network(LAYERS, seed=4, backend=backend).fit(X, Y, epochs=5, learning_rate=lambda e: 0.3)
    np.testing.assert_array_equal(b.weights[1], a.weights[1])


def test_the_schedule_is_evaluated_per_epoch_and_a_zero_rate_freezes(backend):
    """Rate 0 for epochs 2 and 3: the weights do not move there (a rate of 0 is allowed)."""
    seen: list[int] = []

    def schedule(epoch: int) -> float:
        seen.append(epoch)
        return 0.0 if epoch in (2, 3) else 0.5

    net = Network(LAYERS, seed=5, backend=backend)
    net.fit(X, Y, epochs=4, learning_rate=schedule, callbacks=[lambda *a: None])
    assert sorted(set(seen)) == [0, 1, 2, 3]
    two = Network(LAYERS, seed=5, backend=backend).fit(X, Y, epochs=2, learning_rate=0.5)
    np.testing.assert_array_equal(net.weights[0], two.weights[0])


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"monitor": "accuracy"}, ValueError),
        ({"factor": 1.0}, ValueError),
        ({"factor": -0.5}, ValueError),
        ({"patience": -1}, ValueError),
        ({"patience": 1.5}, TypeError),
        ({"min_lr": -1e-3}, ValueError),
        ({"min_lr": math.nan}, ValueError),
    ],
)
def test_reduce_lr_on_plateau_checks_its_arguments(options, error):
    with pytest.raises(error, match=next(iter(options))):
        ReduceLROnPlateau(**options)


def test_reduce_lr_on_plateau_follows_pytorchs_rule():
    """Mode min, relative threshold 1e-4, no cooldown: a cut after more than ``patience``
    epochs without an improvement, the count starting again after it."""
    plateau = ReduceLROnPlateau(factor=0.5, patience=2, min_lr=0.1)
    assert repr(plateau) == "ReduceLROnPlateau(monitor='loss', factor=0.5, patience=2, min_lr=0.1)"
    plateau.fit_started(None, False)  # type: ignore[arg-type]
    # 1.0 improves; 0.99995 is within the threshold of it: not an improvement
    losses = [1.0, 0.99995, 1.0, 1.0, 0.5, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6]
    cuts = []
    for epoch, loss in enumerate(losses):
        assert plateau(None, epoch, {"loss": loss}) is False  # type: ignore[arg-type]
        cuts.append(plateau.reductions)
    assert cuts == [0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 3]
    assert plateau.best == 0.5
    assert plateau.adjust_learning_rate(1.0) == 0.125
    assert plateau.adjust_learning_rate(0.5) == 0.1  # min_lr
    plateau.fit_started(None, True)  # type: ignore[arg-type]
    assert plateau.reductions == 3  # a resumed fit continues
    plateau.fit_started(None, False)  # type: ignore[arg-type]
    assert plateau.reductions == 0 and plateau.adjust_learning_rate(0.7) == 0.7
    with pytest.raises(ValueError, match="val_loss"):
        ReduceLROnPlateau(monitor="val_loss")(None, 0, {"loss": 1.0})  # type: ignore[arg-type]


def test_reduce_lr_on_plateau_cuts_the_rate_of_the_epochs_after(backend):
    """Patience 0: every epoch that does not improve on the best loss so far by PyTorch's
    relative threshold (1e-4) halves the rate of the epochs after it; the fit equals one
    whose schedule gives those rates."""
    plateau = ReduceLROnPlateau(factor=0.5, patience=0)
    net = Network(LAYERS, seed=6, backend=backend)
    net.fit(X, Y, epochs=6, learning_rate=3.0, callbacks=[plateau])
    rates, best, reductions = [], np.inf, 0
    for loss in net.history["loss"]:
        rates.append(3.0 * 0.5**reductions)
        if loss < best * (1 - 1e-4):
            best = loss
        else:
            reductions += 1
    assert reductions > 0, "the case must cut the rate at least once"
    assert plateau.reductions == reductions
    same = Network(LAYERS, seed=6, backend=backend)
    same.fit(X, Y, epochs=6, learning_rate=lambda e: rates[e])
    np.testing.assert_array_equal(net.weights[0], same.weights[0])


# --- batch normalisation ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"batch_norm": 1}, TypeError, "batch_norm must be True or False"),
        ({"batch_norm": True, "layers": [3, 2]}, ValueError, "batch_norm needs a hidden"),
        ({"batch_norm_momentum": 1.5}, ValueError, "batch_norm_momentum"),
        ({"batch_norm_momentum": -0.1}, ValueError, "batch_norm_momentum"),
        ({"batch_norm_epsilon": 0.0}, ValueError, "batch_norm_epsilon"),
        ({"batch_norm_epsilon": math.nan}, ValueError, "batch_norm_epsilon"),
        ({"batch_norm_epsilon": "1e-5"}, TypeError, "batch_norm_epsilon"),
    ],
)
def test_batch_norm_options_are_checked(options, error, match):
    layers = options.pop("layers", LAYERS)
    with pytest.raises(error, match=match):
        Network(layers, **options)


def test_batch_norm_starts_as_pytorch_and_round_trips():
    net = Network([3, 5, 4, 2], batch_norm=True, bias=True, seed=0, batch_norm_momentum=0.2)
    assert "batch_norm=True, batch_norm_momentum=0.2" in repr(net)
    layers = net.batch_norm
    assert [sorted(layer) for layer in layers] == [
        ["running_mean", "running_var", "scale", "shift"]
    ] * 2
    for layer, units in zip(layers, [5, 4], strict=True):
        np.testing.assert_array_equal(layer["scale"], np.ones(units))
        np.testing.assert_array_equal(layer["shift"], np.zeros(units))
        np.testing.assert_array_equal(layer["running_mean"], np.zeros(units))
        np.testing.assert_array_equal(layer["running_var"], np.ones(units))
    layers[0]["scale"][:] = 7  # copies: the network is not changed
    assert net.batch_norm[0]["scale"][0] == 1
    # the weights are the network without batch norm's (the same draws)
    plain = Network([3, 5, 4, 2], bias=True, seed=0)
    for a, b in zip(net.weights, plain.weights, strict=True):
        np.testing.assert_array_equal(a, b)
    assert Network(LAYERS).batch_norm == []

    new = [
        {"scale": [2.0] * 5, "shift": np.arange(5), "running_mean": np.ones(5),
         "running_var": np.full(5, 4.0)},
        {"scale": np.full(4, 0.5), "shift": np.zeros(4), "running_mean": -np.ones(4),
         "running_var": np.full(4, 0.25)},
    ]  # fmt: skip
    net.batch_norm = new
    for got, want in zip(net.batch_norm, new, strict=True):
        for name in want:
            np.testing.assert_array_equal(got[name], np.asarray(want[name], dtype=float))
    clone = pickle.loads(pickle.dumps(net))
    assert_same_state(clone.__getstate__(), net.__getstate__())
    for a, b in zip(clone.batch_norm, net.batch_norm, strict=True):
        np.testing.assert_array_equal(a["running_var"], b["running_var"])


def good_layers(net: Network) -> list[dict]:
    return net.batch_norm


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        (lambda b: b[:1], ValueError, "list of 2 dicts"),
        (lambda b: b[0], TypeError, "list of 2 dicts"),
        (lambda b: np.array(b), TypeError, "list of 2 dicts"),
        (lambda b: [b[0], (1, 2)], TypeError, r"batch_norm\[1\] must be a dict"),
        (lambda b: [b[0], {**b[1], "extra": 1}], ValueError, "entries"),
        (lambda b: [{k: v for k, v in b[0].items() if k != "shift"}, b[1]], ValueError, "entries"),
        (lambda b: [{**b[0], "scale": np.ones(4)}, b[1]], ValueError, r"shape \(5,\)"),
        (lambda b: [b[0], {**b[1], "shift": np.full(4, np.nan)}], ValueError, "NaN"),
        (lambda b: [b[0], {**b[1], "running_var": -np.ones(4)}], ValueError, "non-negative"),
        (lambda b: [b[0], {**b[1], "running_var": np.full(4, np.nan)}], ValueError, "running"),
        (lambda b: [b[0], {**b[1], "running_mean": ["x"] * 4}], TypeError, "running_mean"),
    ],
)
def test_bad_batch_norm_assignments_are_refused(change, error, match):
    net = Network([3, 5, 4, 2], batch_norm=True, seed=0)
    net.batch_norm = [{**layer, "shift": layer["shift"] + 0.5} for layer in net.batch_norm]

    def assign():
        net.batch_norm = change(net.batch_norm)

    unchanged(net, assign, error, match)


def test_batch_norm_on_a_network_without_it():
    net = Network(LAYERS, seed=0)
    net.batch_norm = []
    unchanged(net, lambda: setattr(net, "batch_norm", [{}]), ValueError, "list of 0 dicts")


@pytest.mark.parametrize(
    ("X_rows", "batch_size", "match"),
    [(1, None, "X has one row"), (11, 1, "batch_size 1")],
)
def test_batches_of_one_row_are_refused_with_batch_norm(X_rows, batch_size, match):
    net = Network(LAYERS, batch_norm=True, seed=0)
    call = lambda: net.fit(X[:X_rows], Y[:X_rows], epochs=1, batch_size=batch_size)  # noqa: E731
    unchanged(net, call, ValueError, match)
    unchanged(net, lambda: net.loss_and_gradient(X[:1], Y[:1]), ValueError, "X has one row")
    unchanged(
        net, lambda: net.fit(X[:1], Y[:1], epochs=1, optimizer="lbfgs"), ValueError, "one row"
    )


def test_a_last_batch_of_one_row_joins_the_batch_before(backend):
    """11 rows in batches of 5: the batches are 5 and 6 rows, not 5, 5 and 1; so training
    equals the fit with that one row put into the second batch by sample order, and the
    running statistics moved twice an epoch."""
    net = Network(LAYERS, batch_norm=True, seed=0, backend=backend)
    net.fit(X, Y, epochs=2, batch_size=5, shuffle=False)
    assert all(np.isfinite(layer["running_var"]).all() for layer in net.batch_norm)
    mean = net.batch_norm[0]["running_mean"]
    assert not np.allclose(mean, 0)
    assert np.isfinite(net.history["loss"]).all()


def test_predict_uses_the_running_statistics(backend):
    net = Network(LAYERS, batch_norm=True, seed=0, backend=backend)
    before = net.predict(X)
    layers = net.batch_norm
    layers[0]["running_var"] = np.full(5, 9.0)
    net.batch_norm = layers
    assert not np.allclose(net.predict(X), before)


# --- loss_and_gradient --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"l2": -1.0}, ValueError, "l2"),
        ({"l2": "big"}, TypeError, "l2"),
        ({"X": X[:, :2]}, ValueError, "X has 2 features"),
        ({"y": Y[:5]}, ValueError, "y has shape"),
    ],
)
def test_loss_and_gradient_checks_its_arguments(options, error, match):
    net = Network(LAYERS, seed=0)
    data = {"X": options.pop("X", X), "y": options.pop("y", Y)}
    unchanged(net, lambda: net.loss_and_gradient(data["X"], data["y"], **options), error, match)


@pytest.mark.parametrize("batch_norm", [False, True])
@pytest.mark.parametrize("bias", [False, True])
def test_loss_and_gradient_is_the_gradient_of_the_loss(backend, batch_norm, bias):
    """Central differences of the returned loss agree with the returned gradient, and the
    network is not changed."""
    net = Network([3, 4, 2], bias=bias, batch_norm=batch_norm, activation="tanh", seed=1,
                  output="softmax", backend=backend)  # fmt: skip
    targets = np.eye(2)[rng.integers(0, 2, 11)]
    weights = rng.random(11) + 0.5
    before = net.__getstate__()
    result = net.loss_and_gradient(X, targets, sample_weight=weights, l2=0.3)
    assert_same_state(net.__getstate__(), before)
    assert len(result) == (4 if batch_norm else 3)
    loss, weight_grads = result[0], result[1]
    assert isinstance(loss, float)
    h = 1e-6
    for i, shape in enumerate(w.shape for w in net.weights):
        for index in [(0, 0), (shape[0] - 1, shape[1] - 1)]:
            moved = []
            for sign in (1, -1):
                other = pickle.loads(pickle.dumps(net))
                syn = other.weights
                syn[i][index] += sign * h
                other.weights = syn
                moved.append(other.loss_and_gradient(X, targets, sample_weight=weights, l2=0.3)[0])
            np.testing.assert_allclose(
                weight_grads[i][index], (moved[0] - moved[1]) / (2 * h), rtol=1e-5, atol=1e-8
            )
    if batch_norm:
        assert [sorted(g) for g in result[3]] == [["scale", "shift"]]
        assert result[3][0]["scale"].shape == (4,)


# --- L-BFGS ---------------------------------------------------------------------------------


def test_lbfgs_trains_the_full_batch_and_records_each_iteration(backend):
    net = Network(LAYERS, seed=0, bias=True, backend=backend, output="linear")
    start = net.loss_and_gradient(X, Y, l2=0.01)[0]
    net.fit(X, Y, epochs=20, optimizer=LBFGS(tol=0.0), l2=0.01, batch_size=3)
    assert len(net.history["loss"]) == 20
    assert net.history["loss"][-1] < net.history["loss"][0] < start / len(X)
    assert np.all(np.diff(net.history["loss"]) <= 1e-12)
    assert net.loss_and_gradient(X, Y, l2=0.01)[0] < start
    assert net.__getstate__()["resume"]["optimizer"] == "lbfgs"


def test_lbfgs_callbacks_can_stop_it(backend):
    stop = tinynet.EarlyStopping(monitor="loss", patience=0, min_delta=1e9)
    net = Network(LAYERS, seed=0, backend=backend)
    net.fit(X, Y, epochs=50, optimizer="lbfgs", callbacks=[stop])
    assert len(net.history["loss"]) == 2


def test_lbfgs_with_batch_norm_on_a_constant_unit_saves_and_loads(tmp_path):
    """L-BFGS gives batch normalisation the full batch's statistics: a unit constant over
    the batch has a running variance of exactly 0, which is a variance (epsilon keeps the
    division finite), so the network predicts, pickles, saves and loads."""
    X = np.ones((2, 1))
    net = tinynet.Network([1, 1, 1], batch_norm=True, seed=0)
    net.fit(X, np.array([0.2, 0.2]), epochs=1, optimizer="lbfgs")
    assert net.batch_norm[0]["running_var"][0] == 0.0
    assert np.isfinite(net.predict(X)).all()
    copy = pickle.loads(pickle.dumps(net))
    net.save(tmp_path / "net.tinynet")
    loaded = tinynet.load(tmp_path / "net.tinynet")
    for other in (copy, loaded):
        np.testing.assert_array_equal(other.predict(X), net.predict(X))
