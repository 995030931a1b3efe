"""tinynet.Ensemble: member k ends bit for bit where Network(layers, seed=seeds[k]).fit(
X[rows[k]], y[rows[k]], <member k's options>) ends, over random architectures, options,
per-member values, rows, sample weights, validation, dtypes, backends and thread counts; the
checks before training (nothing changes on bad input); divergence, failing callbacks and
early stopping per member; predict, members, history; from_networks; save, load and pickle."""

from __future__ import annotations

import contextlib
import io
import json
import os
import pickle
import signal
import threading
import time
import zipfile
from typing import Any

import numpy as np
import pytest
from helpers import ACTIVATIONS, INITS, assert_same_state, make_inputs, matmuls
from hypothesis import given, settings
from hypothesis import strategies as st

import tinynet
from benchmarks import ensemble as bench
from tinynet import _core, _plan, _threads
from tinynet.ensemble import available_cores

OUTPUTS = ("sigmoid", "linear", "softmax", "logistic", "poisson")


def targets(rng: np.random.Generator, n: int, n_outputs: int, output: str) -> np.ndarray:
    """Random targets ``output`` can mean."""
    if output == "softmax":
        return np.eye(n_outputs)[rng.integers(0, n_outputs, size=n)]
    if output in ("sigmoid", "logistic"):
        return rng.random((n, n_outputs))
    if output == "poisson":
        return rng.poisson(1.0, size=(n, n_outputs)).astype(np.float64)
    return rng.standard_normal((n, n_outputs))


def states_equal(ensemble_member: tinynet.Network, alone: tinynet.Network) -> None:
    assert_same_state(ensemble_member.__getstate__(), alone.__getstate__())


def assert_history_rows(ensemble: tinynet.Ensemble, networks: list[tinynet.Network]) -> None:
    """The ensemble's history is the members', padded with NaN."""
    history = ensemble.history
    assert set(history) == set(networks[0].history)
    length = max(len(net.history["loss"]) for net in networks)
    for name, values in history.items():
        assert values.shape == (len(networks), length)
        assert values.dtype == np.float64
        for k, net in enumerate(networks):
            n = len(net.history[name])
            np.testing.assert_array_equal(values[k, :n], net.history[name])
            assert np.isnan(values[k, n:]).all()


@st.composite
def ensemble_cases(draw: st.DrawFn) -> dict[str, Any]:
    """A network, data, K members with their seeds, per-member options, rows, sample weights
    and validation, and the fit's shared options."""
    activation = draw(st.sampled_from(ACTIVATIONS))
    output = draw(st.sampled_from(OUTPUTS))
    hidden = draw(st.lists(st.integers(1, 6), max_size=2))
    n_outputs = draw(st.integers(2 if output == "softmax" else 1, 4))
    layers = [draw(st.integers(1, 5)), *hidden, n_outputs]
    batch_norm = bool(hidden) and draw(st.booleans())
    n = draw(st.integers(2, 14))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    X = make_inputs(rng, n, layers[0], scale=draw(st.floats(0.1, 1.0)))
    y = targets(rng, n, n_outputs, output)
    K = draw(st.integers(1, 3))
    network = {
        "activation": activation,
        "output": output,
        "bias": draw(st.booleans()),
        "dtype": draw(st.sampled_from([np.float64, np.float32])),
        "backend": draw(st.sampled_from(["cython", "numpy"])),
        "init": draw(st.sampled_from(INITS)),
        "batch_norm": batch_norm,
    }
    seeds = draw(st.lists(st.integers(0, 2**32 - 1), min_size=K, max_size=K))
    min_rows = 2 if batch_norm else 1
    rows = None
    if draw(st.booleans()):
        rows = [rng.integers(0, n, size=draw(st.integers(min_rows, n + 3))) for _ in range(K)]

    def member_or_shared(values: list[Any]) -> Any:
        """The members' values as a list, or (all equal) sometimes as one value."""
        if all(v == values[0] for v in values) and draw(st.booleans()):
            return values[0]
        return values

    names = ["sgd", "adam", "adamw", "rmsprop", "lbfgs"]
    optimizers = draw(st.lists(st.sampled_from(names), min_size=K, max_size=K))
    if draw(st.booleans()):  # one optimizer for all
        optimizers = [optimizers[0]] * K
    # An instance sometimes, with its own hyperparameters.
    optimizers = [
        tinynet.Adam(beta_1=0.8) if name == "adam" and draw(st.booleans()) else name
        for name in optimizers
    ]
    momenta = [
        draw(st.sampled_from([0.0, 0.5, 0.9])) if name == "sgd" else 0.0 for name in optimizers
    ]
    rates = [draw(st.floats(0.01, 0.1)) * (1 - m) / n for m in momenta]
    lbfgs = [name == "lbfgs" for name in optimizers]
    dropouts = [
        0.0 if (not hidden or no) else draw(st.just(0.0) | st.floats(0.0, 0.6)) for no in lbfgs
    ]
    clips = [None if no else draw(st.none() | st.floats(0.01, 1.0)) for no in lbfgs]
    l2s = [draw(st.just(0.0) | st.floats(0.0, 0.5)) for _ in range(K)]
    learning_rate = member_or_shared(rates)
    if not any(lbfgs) and draw(st.booleans()):
        learning_rate = tinynet.schedules.step(rates[0], 2, 0.5)
        rates = [learning_rate] * K
    sample_weight = None
    weights: list[np.ndarray | None] = [None] * K
    choice = draw(st.sampled_from(["none", "shared", "members"]))
    if choice == "shared":
        sample_weight = rng.uniform(0.1, 2.0, size=n)
        weights = [sample_weight] * K
    elif choice == "members":
        sample_weight = rng.uniform(0.1, 2.0, size=(K, n))
        weights = list(sample_weight)
    validation = draw(st.sampled_from(["none", "shared", "rows"]))
    fit: dict[str, Any] = {
        "epochs": draw(st.integers(1, 8)),
        "batch_size": draw(st.none() | st.integers(min_rows, n)),
        "shuffle": draw(st.booleans()),
        "reduction": draw(st.sampled_from(["sum", "mean"])),
        # Nesterov's momentum is SGD's: the others refuse it.
        "nesterov": all(name == "sgd" for name in optimizers) and draw(st.booleans()),
    }
    options = {
        "learning_rate": learning_rate,
        "momentum": member_or_shared(momenta),
        "l2": member_or_shared(l2s),
        "dropout": member_or_shared(dropouts),
        "clip": member_or_shared(clips),
        "optimizer": member_or_shared(optimizers),
    }
    members = [
        {
            "learning_rate": rates[k],
            "momentum": momenta[k],
            "l2": l2s[k],
            "dropout": dropouts[k],
            "clip": clips[k],
            "optimizer": optimizers[k],
        }
        for k in range(K)
    ]
    if validation == "shared":
        n_val = draw(st.integers(1, 6))
        fit["validation_data"] = (
            make_inputs(rng, n_val, layers[0]),
            targets(rng, n_val, n_outputs, output),
        )
    validation_rows = None
    if validation == "rows":
        validation_rows = [rng.integers(0, n, size=draw(st.integers(1, n))) for _ in range(K)]
    return {
        "layers": layers,
        "network": network,
        "seeds": seeds,
        "X": X,
        "y": y,
        "rows": rows,
        "validation_rows": validation_rows,
        "sample_weight": sample_weight,
        "weights": weights,
        "fit": fit,
        "options": options,
        "members": members,
        "n_threads": draw(st.sampled_from([1, 2])),
        # Every product to BLAS, none, or by size: the members on other threads run with
        # the caller's choice.
        "matmuls": draw(st.sampled_from(["blas", "loops", "default"])),
    }


def train_alone(case: dict[str, Any]) -> tuple[list[tinynet.Network], list[int]]:
    """Each member's network trained alone, and the members that diverged."""
    X, y, rows = case["X"], case["y"], case["rows"]
    networks, diverged = [], []
    for k, seed in enumerate(case["seeds"]):
        net = tinynet.Network(case["layers"], seed=seed, **case["network"])
        index = slice(None) if rows is None else rows[k]
        weights = case["weights"][k]
        options = dict(case["fit"])
        if case["validation_rows"] is not None:
            at = case["validation_rows"][k]
            options["validation_data"] = (X[at], y[at])
        try:
            net.fit(
                X[index],
                y[index],
                sample_weight=None if weights is None else weights[index],
                **options,
                **case["members"][k],
            )
        except FloatingPointError:
            diverged.append(k)
        networks.append(net)
    return networks, diverged


def train_together(case: dict[str, Any], diverged: list[int]) -> tinynet.Ensemble:
    ensemble = tinynet.Ensemble(
        case["layers"], len(case["seeds"]), seeds=case["seeds"], **case["network"]
    )
    arguments = {
        **case["fit"],
        **case["options"],
        "rows": case["rows"],
        "validation_rows": case["validation_rows"],
        "sample_weight": case["sample_weight"],
        "n_threads": case["n_threads"],
    }
    if diverged:
        with pytest.raises(FloatingPointError, match=f"member {diverged[0]} in epoch"):
            ensemble.fit(case["X"], case["y"], **arguments)
    else:
        assert ensemble.fit(case["X"], case["y"], **arguments) is ensemble
    return ensemble


@settings(max_examples=60, deadline=None)
@given(ensemble_cases())
def test_every_member_ends_where_its_network_ends_alone(case: dict[str, Any]) -> None:
    with matmuls(case["matmuls"]):
        networks, diverged = train_alone(case)
        ensemble = train_together(case, diverged)
    assert len(ensemble) == len(networks)
    for member, alone in zip(ensemble.members, networks, strict=True):
        states_equal(member, alone)
    assert_history_rows(ensemble, networks)
    predictions = ensemble.predict(case["X"])
    assert predictions.shape == (len(networks), len(case["X"]), case["layers"][-1])
    for k, alone in enumerate(networks):
        np.testing.assert_array_equal(predictions[k], alone.predict(case["X"]), strict=True)


# --- fixed cases -----------------------------------------------------------------------------

rng = np.random.default_rng(1717)
X = rng.standard_normal((23, 5))
Y = rng.random((23, 3))
LAYERS = [5, 6, 3]


def ensemble(n_members: int = 4, **options: Any) -> tinynet.Ensemble:
    return tinynet.Ensemble(LAYERS, n_members, seeds=range(10, 10 + n_members), **options)


def alone(k: int, **options: Any) -> tinynet.Network:
    return tinynet.Network(LAYERS, seed=10 + k, **options)


def snapshot(ens: tinynet.Ensemble) -> list[dict[str, Any]]:
    return [member.__getstate__() for member in ens.members]


def assert_unchanged(ens: tinynet.Ensemble, before: list[dict[str, Any]]) -> None:
    for after, was in zip(snapshot(ens), before, strict=True):
        assert_same_state(after, was)


@pytest.mark.parametrize("n_threads", [1, 2, None])
def test_a_second_fit_and_a_resumed_one_continue_as_each_network_would(n_threads) -> None:
    ens = ensemble(3, bias=True)
    options = {"epochs": 6, "batch_size": 5, "momentum": [0.0, 0.5, 0.9], "dropout": 0.2}
    ens.fit(X, Y, n_threads=n_threads, learning_rate=0.02, **options)
    ens.fit(X, Y, n_threads=n_threads, learning_rate=0.01, **options)
    ens.fit(X, Y, n_threads=n_threads, learning_rate=0.01, resume=True, **options)
    for k, member in enumerate(ens.members):
        net = alone(k, bias=True)
        momentum = options["momentum"][k]
        common = {**options, "momentum": momentum}
        net.fit(X, Y, learning_rate=0.02, **common)
        net.fit(X, Y, learning_rate=0.01, **common)
        net.fit(X, Y, learning_rate=0.01, resume=True, **common)
        states_equal(member, net)


def test_the_members_train_on_shared_data_without_copies(monkeypatch) -> None:
    seen: list[tuple[Any, Any, Any]] = []
    fit = tinynet.Network.fit

    def spy(self, X_in, y_in, **options):
        seen.append((X_in, y_in, options["validation_data"]))
        return fit(self, X_in, y_in, **options)

    monkeypatch.setattr(tinynet.Network, "fit", spy)
    Xc, Yc = np.ascontiguousarray(X), np.ascontiguousarray(Y)
    validation = (Xc[:5].copy(), Yc[:5].copy())
    ensemble(4).fit(Xc, Yc, epochs=2, validation_data=validation, n_threads=2)
    assert len(seen) == 4
    for X_in, y_in, val in seen:
        assert X_in is Xc and y_in is Yc  # no conversion, no copy
        assert val[0] is validation[0] and val[1] is validation[1]
    # Integers are converted once, for all the members.
    seen.clear()
    ensemble(3).fit(np.arange(23 * 5).reshape(23, 5) % 3, Yc, epochs=1)
    assert seen[0][0] is seen[1][0] is seen[2][0]
    assert seen[0][0].dtype == np.float64


def test_rows_bootstrap_and_cross_validation_folds() -> None:
    folds = np.array_split(np.random.default_rng(0).permutation(len(X)), 4)
    train = [np.concatenate(folds[:i] + folds[i + 1 :]) for i in range(4)]
    ens = ensemble(4).fit(
        X, Y, epochs=5, learning_rate=0.05, rows=train, validation_rows=folds, n_threads=2
    )
    for k, member in enumerate(ens.members):
        net = alone(k).fit(
            X[train[k]],
            Y[train[k]],
            epochs=5,
            learning_rate=0.05,
            validation_data=(X[folds[k]], Y[folds[k]]),
        )
        states_equal(member, net)
    assert set(ens.history) == {"loss", "mae", "val_loss", "val_mae"}
    # Bootstrap rows as a 2-D array (repeats allowed), and per-member sample weights.
    boot = np.random.default_rng(1).integers(0, len(X), size=(4, len(X)))
    counts = np.stack([np.bincount(b, minlength=len(X)) for b in boot]).astype(float)
    by_rows = ensemble(4).fit(X, Y, epochs=3, learning_rate=0.02, rows=boot)
    by_weights = ensemble(4).fit(X, Y, epochs=3, learning_rate=0.02, sample_weight=counts)
    for k in range(4):
        states_equal(by_rows.members[k], alone(k).fit(X[boot[k]], Y[boot[k]], epochs=3,
                                                      learning_rate=0.02))  # fmt: skip
        states_equal(
            by_weights.members[k],
            alone(k).fit(X, Y, epochs=3, learning_rate=0.02, sample_weight=counts[k]),
        )


def test_members_spread_over_threads_with_the_callers_machine_choices() -> None:
    threads: dict[int, set[int]] = {}
    crossovers: set[int] = set()
    lock = threading.Lock()
    second = threading.Event()

    def recorder(k, n_threads):
        def record(network, epoch, logs):
            with lock:
                threads.setdefault(k, set()).add(threading.get_ident())
                crossovers.add(_plan.choices().blas_crossover)
            if k == 1:
                second.set()
            if k == 0 and n_threads == 2:  # the other thread takes member 1 meanwhile
                assert second.wait(10)

        return record

    for n_threads, expected in ((1, 1), (2, 2)):
        threads.clear()
        crossovers.clear()
        second.clear()
        with _plan.forced(blas_crossover=12345):
            ensemble(6).fit(
                X,
                Y,
                epochs=300,
                learning_rate=0.01,
                callbacks=[[recorder(k, n_threads)] for k in range(6)],
                n_threads=n_threads,
            )
        assert all(len(idents) == 1 for idents in threads.values())  # a member stays put
        used = set().union(*threads.values())
        assert len(used) == expected
        if n_threads == 1:
            assert used == {threading.get_ident()}
        assert crossovers == {12345}


def test_early_stopping_per_member_pads_the_history_with_nan() -> None:
    stops = [tinynet.EarlyStopping(monitor="loss", patience=1, min_delta=d) for d in (0, 1, 0.1)]
    ens = ensemble(3).fit(X, Y, epochs=40, learning_rate=0.05, callbacks=[[s] for s in stops])
    nets = [
        alone(k).fit(
            X,
            Y,
            epochs=40,
            learning_rate=0.05,
            callbacks=[tinynet.EarlyStopping(monitor="loss", patience=1, min_delta=d)],
        )
        for k, d in enumerate((0, 1, 0.1))
    ]
    lengths = [len(net.history["loss"]) for net in nets]
    assert min(lengths) < max(lengths)
    for member, net in zip(ens.members, nets, strict=True):
        states_equal(member, net)
    assert_history_rows(ens, nets)
    with pytest.raises(ValueError, match=r"callbacks\[0\] and callbacks\[1\] share one Early"):
        ensemble(2).fit(X, Y, epochs=2, callbacks=[[stops[0]], [stops[0]]])
    with pytest.raises(TypeError, match=r"callbacks\[0\] must be member 0's list"):
        ensemble(2).fit(X, Y, epochs=2, callbacks=[stops[0], stops[1]])


def test_a_diverging_member_lets_the_others_finish() -> None:
    rates = [0.05, 1e6, 0.05, 1e6]
    ens = ensemble(4, output="linear")
    with pytest.raises(
        FloatingPointError, match=r"2 of 4 members \(member 1 in epoch \d+, member 3"
    ):
        ens.fit(X, Y * 1e3, epochs=30, learning_rate=rates, n_threads=2)
    nets = []
    for k, rate in enumerate(rates):
        net = alone(k, output="linear")
        if rate > 1:
            with pytest.raises(FloatingPointError):
                net.fit(X, Y * 1e3, epochs=30, learning_rate=rate)
        else:
            net.fit(X, Y * 1e3, epochs=30, learning_rate=rate)
        nets.append(net)
    for member, net in zip(ens.members, nets, strict=True):
        states_equal(member, net)
    assert_history_rows(ens, nets)
    assert np.isnan(ens.history["loss"][1, -1]) and not np.isnan(ens.history["loss"][0]).any()


@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyboardInterrupt()])
def test_a_failing_callback_stops_the_fit_at_completed_epochs(error) -> None:
    def fail_at_epoch_3(network, epoch, logs):
        if epoch == 3:
            raise error

    ens = ensemble(4).fit(X, Y, epochs=2, learning_rate=0.01)
    before = snapshot(ens)
    callbacks = [None, None, [fail_at_epoch_3], None]
    with pytest.raises(type(error)) as raised:
        ens.fit(X, Y, epochs=10, learning_rate=0.02, callbacks=callbacks, n_threads=1)
    assert "raised by member 2; members [3] were not trained" in str(raised.value.__notes__)
    members = ens.members
    for k in (0, 1):  # trained in full
        net = alone(k).fit(X, Y, epochs=2, learning_rate=0.01)
        states_equal(members[k], net.fit(X, Y, epochs=10, learning_rate=0.02))
    assert len(members[2].history["loss"]) == 4  # its epochs 0 to 3
    assert_same_state(members[3].__getstate__(), before[3])  # not started
    # With two threads, the member in the other thread finishes its fit.
    started = threading.Event()

    def fail_once_the_other_runs(network, epoch, logs):
        if epoch == 3:
            assert started.wait(10)
            raise error

    def starting(network, epoch, logs):
        started.set()

    ens = ensemble(2)
    with pytest.raises(type(error)):
        ens.fit(X, Y, epochs=200, callbacks=[[fail_once_the_other_runs], [starting]], n_threads=2)
    assert [len(m.history["loss"]) for m in ens.members] == [4, 200]


def test_predict_members_len_repr_and_seeds() -> None:
    ens = ensemble(3, bias=True).fit(X, Y, epochs=3)
    out = ens.predict(X)
    assert out.shape == (3, 23, 3) and out.dtype == np.float64
    assert ens.predict(X[0]).shape == (3, 3)
    members = ens.members
    for k, member in enumerate(members):
        np.testing.assert_array_equal(out[k], member.predict(X))
        np.testing.assert_array_equal(ens.predict(X[0])[k], member.predict(X[0]))
    members[0].weights = [np.zeros((5, 6)), np.zeros((6, 3))]  # a copy: the ensemble keeps its
    np.testing.assert_array_equal(ens.predict(X), out)
    assert len(ens) == ens.n_members == 3
    assert ens.seeds == (10, 11, 12)
    assert repr(ens) == (
        "Ensemble([5, 6, 3], 3, seeds=range(10, 13), activation='sigmoid', output='sigmoid', "
        "bias=True, dtype=np.float64, backend='cython', init='uniform')"
    )
    drawn = tinynet.Ensemble(LAYERS, 5, dtype=np.float32)
    assert len(set(drawn.seeds)) == 5 and all(0 <= s < 2**32 for s in drawn.seeds)
    again = tinynet.Ensemble(LAYERS, 5, seeds=drawn.seeds, dtype=np.float32)
    for a, b in zip(drawn.members, again.members, strict=True):
        states_equal(a, b)
    assert "seeds=[" in repr(drawn) and "dtype=np.float32" in repr(drawn)
    assert ens.layer_sizes == LAYERS and ens.bias and ens.dtype == np.float64


def test_verbose_lines_name_the_member_and_progress_counts_members(capsys) -> None:
    ens = ensemble(2).fit(X, Y, epochs=4, verbose=2, progress=False, n_threads=1)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("  ")[0] for line in lines] == [
        "member 0: epoch 2/4",
        "member 0: epoch 4/4",
        "member 1: epoch 2/4",
        "member 1: epoch 4/4",
    ]
    states_equal(ens.members[1], alone(1).fit(X, Y, epochs=4))


BAD = [
    ({"epochs": 0}, ValueError, "epochs must be at least 1"),
    (
        {"learning_rate": [0.1, 0.1]},
        ValueError,
        "learning_rate must be one value or a sequence of 3",
    ),
    ({"learning_rate": [0.1, 0.1, -1.0]}, ValueError, "member 2: learning_rate must be finite"),
    ({"momentum": [0.1, 1.0, 0.1]}, ValueError, "member 1: momentum"),
    ({"l2": np.ones((3, 1))}, ValueError, "l2 must be one value or a 1-D sequence"),
    ({"dropout": [0, 0, 1]}, ValueError, "member 2: dropout"),
    ({"clip": [None, -1, None]}, ValueError, "member 1: clip"),
    (
        {"clip": [None, 1.0, None], "optimizer": ["sgd", "lbfgs", "sgd"]},
        ValueError,
        "member 1: dropout and clip do not apply",
    ),
    ({"optimizer": ["sgd", "adam", "nadam"]}, ValueError, "member 2: optimizer must be"),
    ({"optimizer": ["adam", "sgd", "sgd"], "momentum": 0.5}, ValueError, "member 0: momentum"),
    ({"rows": [[0, 1], [2, 3]]}, ValueError, r"rows must hold one index array per member \(3\)"),
    ({"rows": [[0, 1], [2, 23], [1]]}, ValueError, r"rows\[1\] \(member 1's rows\) must hold"),
    ({"rows": [[0, 1], [-1], [1]]}, ValueError, r"rows\[1\] .* got values in \[-1, -1\]"),
    ({"rows": [[0, 1], [], [1]]}, ValueError, r"rows\[1\] .* is empty"),
    ({"rows": [[0, 1], [True, False], [1]]}, TypeError, r"rows\[1\] .* integer indices"),
    ({"rows": [[0, 1], [0.5], [1]]}, TypeError, r"rows\[1\] .* integer indices"),
    ({"rows": "abc"}, TypeError, "rows must be None or a sequence"),
    ({"validation_rows": [[0], [1], [2]], "validation_data": (X, Y)}, ValueError, "not both"),
    ({"sample_weight": np.ones((2, 23))}, ValueError, r"sample_weight must have shape \(23,\)"),
    (
        {"sample_weight": np.r_[np.zeros(22), 1], "rows": [[22], [21], [22]]},
        ValueError,
        "member 1: sample_weight is all zero",
    ),
    (
        {"sample_weight": [np.ones(23), np.ones(23), -np.ones(23)]},
        ValueError,
        r"sample_weight\[2\] must not be negative",
    ),
    ({"callbacks": [None, None]}, ValueError, "one list of callbacks per member"),
    ({"callbacks": [None, None, [1]]}, TypeError, r"member 2: callbacks\[0\] is not callable"),
    ({"n_threads": 0}, ValueError, "n_threads must be at least 1"),
    ({"n_threads": 1.5}, TypeError, "n_threads must be an integer"),
    ({"batch_size": 0}, ValueError, "batch_size must be at least 1"),
    ({"reduction": "max"}, ValueError, "reduction must be one of"),
    (
        {"learning_rate": [0.1, 0.1, lambda e: -1.0]},
        ValueError,
        "member 2: learning_rate must be finite and at least 0 .the schedule's value",
    ),
]


@pytest.mark.parametrize(("options", "error", "message"), BAD)
def test_bad_options_are_refused_before_any_member_changes(options, error, message) -> None:
    ens = ensemble(3)
    ens.fit(X, Y, epochs=2)
    before = snapshot(ens)
    arguments = {"epochs": 3, **options}
    with pytest.raises(error, match=message):
        ens.fit(X, Y, **arguments)
    assert_unchanged(ens, before)


def test_bad_data_and_member_specific_checks_are_refused_before_training() -> None:
    ens = ensemble(3, batch_norm=True, output="logistic")
    before = snapshot(ens)
    with pytest.raises(ValueError, match="member 1: X has one row: batch normalisation"):
        ens.fit(X, Y, epochs=2, rows=[[0, 1], [2], [3, 4]])
    with pytest.raises(ValueError, match="y must hold values in"):
        ens.fit(X, Y + 1, epochs=2)
    with pytest.raises(ValueError, match="X has 4 features"):
        ens.fit(X[:, :4], Y, epochs=2)
    with pytest.raises(ValueError, match="X holds NaN"):
        ens.fit(np.where(X > 2, np.nan, X), Y, epochs=2)
    assert_unchanged(ens, before)
    ens.fit(X, Y, epochs=2, optimizer=["adam", "sgd", "adam"])
    before = snapshot(ens)
    with pytest.raises(ValueError, match="member 0: resume=True continues a fit with optimizer"):
        ens.fit(X, Y, epochs=2, optimizer="sgd", resume=True)
    assert_unchanged(ens, before)


def test_constructor_checks() -> None:
    with pytest.raises(ValueError, match=r"seeds must hold n_members \(3\) seeds"):
        tinynet.Ensemble(LAYERS, 3, seeds=[1, 2])
    with pytest.raises(ValueError, match=r"seeds\[1\] must be below 2\*\*32"):
        tinynet.Ensemble(LAYERS, 2, seeds=[1, 2**32])
    with pytest.raises(TypeError, match="n_members must be an integer"):
        tinynet.Ensemble(LAYERS, 2.0)
    with pytest.raises(ValueError, match="n_members must be at least 1"):
        tinynet.Ensemble(LAYERS, 0)
    with pytest.raises(ValueError, match="activation"):
        tinynet.Ensemble(LAYERS, 2, activation="gelu")
    with pytest.raises(TypeError, match="seeds must be None or a sequence"):
        tinynet.Ensemble(LAYERS, 2, seeds=3)


def test_from_networks_copies_networks_of_one_architecture() -> None:
    nets = [alone(k, bias=True).fit(X, Y, epochs=2, optimizer="adam") for k in range(3)]
    ens = tinynet.Ensemble.from_networks(nets)
    assert ens.seeds is None and len(ens) == 3 and "seeds" not in repr(ens)
    ens.fit(X, Y, epochs=3, optimizer="adam", resume=True)
    for member, net in zip(ens.members, nets, strict=True):
        states_equal(member, net.fit(X, Y, epochs=3, optimizer="adam", resume=True))
    nets[0].weights = [np.zeros((5, 6)), np.zeros((6, 3))]  # the ensemble holds copies
    assert not (ens.members[0].weights[0] == 0).all()
    with pytest.raises(ValueError, match=r"networks\[1\] has bias False, networks\[0\] True"):
        tinynet.Ensemble.from_networks([nets[0], alone(1)])
    with pytest.raises(ValueError, match=r"networks\[1\] has dtype"):
        tinynet.Ensemble.from_networks([alone(0), alone(1, dtype=np.float32)])
    with pytest.raises(ValueError, match=r"networks\[1\] has layer_sizes"):
        tinynet.Ensemble.from_networks([alone(0), tinynet.Network([5, 3])])
    with pytest.raises(ValueError, match="batch_norm_momentum"):
        tinynet.Ensemble.from_networks(
            [alone(0, batch_norm=True), alone(1, batch_norm=True, batch_norm_momentum=0.2)]
        )
    with pytest.raises(TypeError, match=r"networks\[1\] must be a tinynet.Network"):
        tinynet.Ensemble.from_networks([alone(0), "net"])
    with pytest.raises(TypeError, match="networks must be a sequence"):
        tinynet.Ensemble.from_networks(alone(0))
    with pytest.raises(ValueError, match="networks is empty"):
        tinynet.Ensemble.from_networks([])
    kept = tinynet.Ensemble.from_networks(nets, seeds=range(3))
    assert kept.seeds == (0, 1, 2) and "seeds=range(0, 3)" in repr(kept)
    with pytest.raises(ValueError, match=r"seeds must hold n_members \(3\) seeds"):
        tinynet.Ensemble.from_networks(nets, seeds=[1, 2])
    with pytest.raises(ValueError, match=r"seeds\[1\]"):
        tinynet.Ensemble.from_networks(nets[:2], seeds=[1, -2])


def trained(backend: str = "cython") -> tinynet.Ensemble:
    ens = ensemble(3, bias=True, batch_norm=True, backend=backend)
    return ens.fit(X, Y, epochs=4, batch_size=8, optimizer="adam", dropout=[0, 0.2, 0.4])


def assert_same_ensemble(a: tinynet.Ensemble, b: tinynet.Ensemble) -> None:
    assert a.seeds == b.seeds and repr(a) == repr(b)
    for x, y in zip(a.members, b.members, strict=True):
        states_equal(x, y)
    # And they train on alike.
    options = {"epochs": 3, "batch_size": 8, "optimizer": "adam", "resume": True}
    a.fit(X, Y, **options)
    b.fit(X, Y, **options)
    for x, y in zip(a.members, b.members, strict=True):
        states_equal(x, y)


@pytest.mark.parametrize("how", ["save", "pickle"])
def test_save_load_and_pickle_keep_everything(how, tmp_path, backend) -> None:
    ens = trained(backend)
    if how == "save":
        ens.save(tmp_path / "ens.tinynet")
        copy = tinynet.Ensemble.load(tmp_path / "ens.tinynet")
    else:
        copy = pickle.loads(pickle.dumps(ens))
    assert_same_ensemble(ens, copy)


def test_each_member_of_the_file_is_a_network_file(tmp_path) -> None:
    ens = trained()
    path = tmp_path / "ens.tinynet"
    ens.save(path)
    with zipfile.ZipFile(path) as archive:
        (tmp_path / "m1.tinynet").write_bytes(archive.read("member_1.tinynet"))
    states_equal(tinynet.load(tmp_path / "m1.tinynet"), ens.members[1])
    with pytest.raises(ValueError, match="not a tinynet file"):
        tinynet.load(path)
    ens.members[0].save(tmp_path / "net.tinynet")
    with pytest.raises(ValueError, match="not a tinynet ensemble file"):
        tinynet.Ensemble.load(tmp_path / "net.tinynet")
    with pytest.raises(FileNotFoundError):
        tinynet.Ensemble.load(tmp_path / "missing.tinynet")


def rewritten(path, change) -> bytes:
    """The archive at ``path`` with its members passed through ``change(name, data)``
    (returning None drops a member), plus any extra members it returns for name None."""
    out = io.BytesIO()
    with zipfile.ZipFile(path) as archive, zipfile.ZipFile(out, "w") as new:
        for info in archive.infolist():
            data = change(info.filename, archive.read(info.filename))
            if data is not None:
                new.writestr(info.filename, data)
        extra = change(None, None)
        if extra:
            for name, data in extra.items():
                new.writestr(name, data)
    return out.getvalue()


def with_meta(**entries):
    def change(name, data):
        if name == "ensemble.json":
            return json.dumps({**json.loads(data), **entries})
        return data

    return change


def corrupt_member(index):
    def change(name, data):
        if name == f"member_{index}.tinynet":
            with zipfile.ZipFile(io.BytesIO(data)) as inner:
                params = bytearray(inner.read("params.npy"))
            params[-8:] = np.float64(np.nan).tobytes()
            out = io.BytesIO()
            with zipfile.ZipFile(io.BytesIO(data)) as inner, zipfile.ZipFile(out, "w") as new:
                for info in inner.infolist():
                    member = inner.read(info.filename)
                    new.writestr(
                        info.filename, bytes(params) if "params" in info.filename else member
                    )
            return out.getvalue()
        return data

    return change


TAMPERED = [
    (with_meta(format="other"), "not a tinynet ensemble file: format 'other'"),
    (with_meta(version=2), "ensemble file version 2 is not supported"),
    (with_meta(n_members=4), r"missing \['member_3.tinynet'\]"),
    (with_meta(n_members=2), r"unexpected \['member_2.tinynet'\]"),
    (with_meta(n_members=0), "n_members must be at least 1"),
    (with_meta(seeds=[1, 2]), r"seeds must hold n_members \(3\)"),
    (with_meta(extra=1), "ensemble.json must hold the entries"),
    (lambda name, data: None if name == "member_1.tinynet" else data, "missing"),
    (lambda name, data: None if name == "ensemble.json" else data, "has no ensemble.json"),
    (corrupt_member(2), "member 2: params holds NaN"),
    (
        lambda name, data: {"member_1.tinynet": b"x"} if name is None else data,
        "holds a member twice",
    ),
]


@pytest.mark.parametrize(("change", "message"), TAMPERED)
def test_tampered_files_are_refused(change, message, tmp_path) -> None:
    path = tmp_path / "ens.tinynet"
    trained().save(path)
    bad = tmp_path / "bad.tinynet"
    with pytest.warns(UserWarning) if "twice" in message else contextlib.nullcontext():
        bad.write_bytes(rewritten(path, change))
    with pytest.raises(ValueError, match=message):
        tinynet.Ensemble.load(bad)


def test_an_ensemble_of_other_architectures_in_a_file_is_refused(tmp_path) -> None:
    path = tmp_path / "ens.tinynet"
    trained().save(path)
    alone(0).save(tmp_path / "plain.tinynet")
    data = (tmp_path / "plain.tinynet").read_bytes()
    other = rewritten(path, lambda name, d: data if name == "member_1.tinynet" else d)
    (tmp_path / "mixed.tinynet").write_bytes(other)
    with pytest.raises(ValueError, match="member 1 has bias False, member 0 True"):
        tinynet.Ensemble.load(tmp_path / "mixed.tinynet")
    state = trained().__getstate__()
    state["members"][0] = alone(0).__getstate__()
    with pytest.raises(ValueError, match="member 1 has bias True, member 0 False"):
        tinynet.Ensemble.__new__(tinynet.Ensemble).__setstate__(state)


def test_a_failed_save_leaves_the_old_file_whole(tmp_path, monkeypatch) -> None:
    path = tmp_path / "ens.tinynet"
    old = trained()
    old.save(path)
    data = path.read_bytes()
    new = ensemble(3, bias=True, batch_norm=True)

    def full_disk(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("tinynet.ensemble.os.fsync", full_disk)
    with pytest.raises(OSError, match="No space left"):
        new.save(path)
    assert path.read_bytes() == data
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ens.tinynet"]
    monkeypatch.undo()
    assert_same_ensemble(tinynet.Ensemble.load(path), old)


def test_ctrl_c_stops_the_main_threads_member_and_waits_for_the_others() -> None:
    data = np.random.default_rng(2).standard_normal((64, 16))
    target = np.random.default_rng(3).random((64, 4))
    epochs = 40000
    ens = tinynet.Ensemble([16, 64, 64, 4], 2, seeds=[0, 1])
    timer = threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            ens.fit(data, target, epochs=epochs, learning_rate=1e-4, n_threads=2)
    finally:
        timer.cancel()
    lengths = sorted(len(member.history["loss"]) for member in ens.members)
    assert 0 < lengths[0] < epochs and lengths[1] == epochs
    # The interrupted member holds its last completed epoch, as a network interrupted there.
    k = [len(member.history["loss"]) for member in ens.members].index(lengths[0])
    net = tinynet.Network([16, 64, 64, 4], seed=k).fit(
        data, target, epochs=lengths[0], learning_rate=1e-4
    )
    states_equal(ens.members[k], net)


def test_the_benchmark_runs(capsys) -> None:
    assert bench.main(["--repeats", "1", "--sweep-epochs", "3", "--digits-epochs", "1"]) == 0
    out = capsys.readouterr().out
    assert out.count("Ensemble n_threads=2") == 3


@pytest.mark.parametrize(
    ("rows", "widths", "held"),
    [
        (1800, [64, 32, 10], True),  # 1800 x 64 x 32 multiply-adds: BLAS's own threads
        (64, [3, 4, 1], False),  # the blog's network: no product near BLAS's threads
    ],
)
def test_by_default_members_spread_over_threads_with_blas_on_one(rows, widths, held) -> None:
    """``n_threads=None``: the members spread over every core; while members whose products
    BLAS would spread over its own threads train, BLAS keeps to one thread (and gets its
    count back after); small members leave BLAS alone."""
    pools = _threads.pools_of(_threads.library_of(_core))
    if not pools or available_cores() < 2:
        pytest.skip("needs two cores and a BLAS whose thread count can be set")
    rng = np.random.default_rng(0)
    data_X = rng.random((rows, widths[0]))
    data_y = rng.random((rows, widths[-1]))
    seen: set[int] = set()
    counts: set[int | None] = set()
    lock = threading.Lock()

    def record(network, epoch, logs):
        with lock:
            seen.add(threading.get_ident())
            counts.add(pools[0].get())
        time.sleep(0.002)  # long enough for a second thread to take a member meanwhile

    before = pools[0].get()
    with _threads.limiting(False):
        tinynet.Ensemble(widths, 4, seeds=range(4)).fit(
            data_X,
            data_y,
            epochs=3,
            learning_rate=1e-4,
            callbacks=[[record] for _ in range(4)],
        )
    assert len(seen) == min(4, available_cores())
    assert counts == ({1} if held else {before})
    assert pools[0].get() == before


def test_by_default_members_keep_to_the_threads_blas_may_use() -> None:
    """``n_threads=None`` within a limit on BLAS's threads (a Dask worker's
    ``OPENBLAS_NUM_THREADS=1``, a ``threadpool_limits`` block) trains on no more threads
    than the limit: the members one after the other in the calling thread."""
    from threadpoolctl import threadpool_limits

    pools = _threads.pools_of(_threads.library_of(_core))
    if not pools or available_cores() < 2:
        pytest.skip("needs two cores and a BLAS whose thread count can be read")
    rng = np.random.default_rng(0)
    data_X, data_y = rng.random((64, 3)), rng.random((64, 1))
    seen: set[int] = set()

    def record(network, epoch, logs):
        seen.add(threading.get_ident())
        time.sleep(0.002)

    ensemble = tinynet.Ensemble([3, 4, 1], 4, seeds=range(4))
    with threadpool_limits(limits=1, user_api="blas"):
        ensemble.fit(data_X, data_y, epochs=3, callbacks=[[record] for _ in range(4)])
    assert seen == {threading.get_ident()}
    seen.clear()
    ensemble.fit(data_X, data_y, epochs=3, callbacks=[[record] for _ in range(4)])
    assert len(seen) == min(4, available_cores(), pools[0].get())
