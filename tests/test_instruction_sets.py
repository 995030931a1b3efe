"""Fits in each instruction set the kernels are compiled for (``_core.instruction_sets()``).

The build lets the compiler fuse multiply-adds (setup.py), which x86-64-v3 and x86-64-v4 have
and the SSE2 baseline has not; every kernel of a fit runs in its plan's instruction set. So:

* within one instruction set, every road computes alike: one epoch of SGD with a learning rate
  of 1 moves each weight by exactly the gradient ``loss_and_gradient`` computes, and records
  its loss, on the general loop, on the small networks' road and in an ensemble's lanes;
* x86-64-v3 and x86-64-v4 give identical fits, predictions and gradients, whatever the
  options (each family reaches its own kernels of the general loop);
* the baseline gives the same fits, to rounding.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from helpers import assert_close, instruction_set, make_inputs, make_targets, small_road

import tinynet
from tinynet import _core

INSTRUCTION_SETS = _core.instruction_sets()
# The instruction sets with fused multiply-adds.
FUSED = [name for name in INSTRUCTION_SETS if name != "baseline"]


@dataclass
class Case:
    """A network and a fit of it."""

    layers: list[int]
    network: dict[str, Any] = field(default_factory=dict)
    fit: dict[str, Any] = field(default_factory=dict)
    rows: int = 24
    output: str = "sigmoid"
    validation: bool = False  # validate on the first rows
    weighted: bool = False  # random sample weights


def general_cases() -> dict[str, Case]:
    """Fits that between them run every kernel of the general loop."""
    return {
        "sgd, momentum, nesterov, l2, clip, mini-batches": Case(
            [4, 6, 3],
            {"activation": "tanh", "bias": True},
            {
                "learning_rate": 0.05,
                "momentum": 0.9,
                "nesterov": True,
                "l2": 0.01,
                "clip": 0.5,
                "batch_size": 5,
            },
        ),
        "dropout, relu, linear output": Case(
            [4, 9, 2],
            {"activation": "relu", "output": "linear", "bias": True},
            {"learning_rate": 0.01, "dropout": 0.3, "batch_size": 6},
            output="linear",
        ),
        "adam, softmax, validation": Case(
            [5, 8, 3],
            {"output": "softmax", "bias": True, "init": "xavier"},
            {"learning_rate": 0.01, "optimizer": "adam", "batch_size": 8},
            output="softmax",
            validation=True,
        ),
        "adamw, logistic, sample weights, mean": Case(
            [3, 7, 2],
            {"output": "logistic", "bias": True},
            {
                "learning_rate": 0.02,
                "optimizer": tinynet.AdamW(weight_decay=0.1),
                "reduction": "mean",
                "l2": 0.001,
            },
            output="logistic",
            weighted=True,
        ),
        "rmsprop with momentum, poisson": Case(
            [3, 5, 1],
            {"output": "poisson", "activation": "tanh", "bias": True},
            {"learning_rate": 0.003, "optimizer": tinynet.RMSprop(momentum=0.5)},
            output="poisson",
        ),
        "batch normalisation": Case(
            [4, 6, 5, 2],
            {"batch_norm": True, "bias": True},
            {"learning_rate": 0.05, "batch_size": 8, "momentum": 0.5},
        ),
        "products through BLAS": Case(
            [20, 16, 3],
            {"bias": True, "activation": "tanh"},
            {"learning_rate": 0.01, "batch_size": 32, "momentum": 0.5},
            rows=96,
        ),
    }


GENERAL = general_cases()


def data(case: Case, dtype: type) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """The case's inputs, targets and extra fit arguments (validation data, sample weights)."""
    rng = np.random.default_rng(len(case.layers) * 100 + case.rows)
    X = make_inputs(rng, case.rows, case.layers[0]).astype(dtype)
    if case.output == "poisson":
        y = rng.poisson(2.0, (case.rows, case.layers[-1])).astype(dtype)
    else:
        y = make_targets(rng, case.rows, case.layers[-1], case.output).astype(dtype)
    extra: dict[str, Any] = {}
    if case.validation:
        extra["validation_data"] = (X[:5], y[:5])
    if case.weighted:
        extra["sample_weight"] = rng.uniform(0.5, 2.0, case.rows)
    return X, y, extra


def fitted(case: Case, dtype: type, isa: str) -> dict[str, Any]:
    """The case fitted for 6 epochs in instruction set ``isa``: its parameters, history,
    predictions and loss and gradient after the fit."""
    X, y, extra = data(case, dtype)
    with instruction_set(isa):
        net = tinynet.Network(case.layers, seed=3, dtype=dtype, **case.network)
        net.fit(X, y, epochs=6, **case.fit, **extra)
        loss, weight_grads, bias_grads, *_ = net.loss_and_gradient(X, y)
        return {
            "parameters": net.weights + net.biases,
            "history": {key: np.asarray(values) for key, values in net.history.items()},
            "predict": net.predict(X),
            "loss": np.array([loss]),
            "gradient": weight_grads + bias_grads,
        }


def assert_same(first: dict[str, Any], second: dict[str, Any], check: Any) -> None:
    """check(a, b, what) on every array of two ``fitted`` results."""
    for name in ("parameters", "gradient"):
        for i, (a, b) in enumerate(zip(first[name], second[name], strict=True)):
            check(a, b, f"{name} {i}")
    assert first["history"].keys() == second["history"].keys()
    for key, values in second["history"].items():
        check(first["history"][key], values, f"history[{key!r}]")
    check(first["predict"], second["predict"], "predict")
    check(first["loss"], second["loss"], "loss")


def identical(a: np.ndarray, b: np.ndarray, what: str) -> None:
    np.testing.assert_array_equal(a, b, err_msg=what, strict=True)


@pytest.mark.parametrize("name", GENERAL)
def test_the_fused_instruction_sets_give_the_same_fits(name, dtype):
    """x86-64-v3 and x86-64-v4 fuse the same multiply-adds in every kernel, whatever the
    width of their vectors: identical bits."""
    if len(FUSED) < 2:
        pytest.skip("this CPU runs fewer than two instruction sets with fused multiply-adds")
    first = fitted(GENERAL[name], dtype, FUSED[0])
    for isa in FUSED[1:]:
        assert_same(fitted(GENERAL[name], dtype, isa), first, identical)


@pytest.mark.parametrize("name", GENERAL)
def test_the_baseline_gives_the_fused_sets_fits_to_rounding(name, dtype):
    """The SSE2 baseline rounds each product apart where the other sets fuse it: its fits
    differ from theirs by rounding only, within 64 machine epsilons (relative to the largest
    value, or 1) over these 6 epochs (measured: at most 7.5)."""
    if not FUSED:
        pytest.skip("this CPU runs no instruction set with fused multiply-adds")
    tol = 64 * float(np.finfo(dtype).eps)

    def close(a: np.ndarray, b: np.ndarray, what: str) -> None:
        assert_close(a, b, tol, what)

    baseline = fitted(GENERAL[name], dtype, "baseline")
    fused = fitted(GENERAL[name], dtype, FUSED[0])
    assert_same(baseline, fused, close)
    differ = [
        not np.array_equal(a, b)
        for a, b in zip(baseline["parameters"], fused["parameters"], strict=True)
    ]
    assert any(differ), "no difference at all: are multiply-adds fused in the wider sets?"


# --- one step on every road, against loss_and_gradient -----------------------------------------

XOR_X = np.array([[0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1]], dtype=float)


def step_data(dtype: type) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(11)
    X = np.vstack([XOR_X, make_inputs(rng, 4, 3)]).astype(dtype)
    y = make_targets(rng, 8, 1, "sigmoid").astype(dtype)
    return X, y


def assert_one_step_is_the_gradient(
    start: tinynet.Network, stepped: tinynet.Network, loss_history: float, X, y
) -> None:
    """``stepped`` is ``start`` after one full-batch epoch of SGD at learning rate 1: each
    parameter moved by minus its gradient, rounded once (a multiply-add by 1, fused or not),
    and the epoch's loss that of ``loss_and_gradient``, over the rows."""
    loss, weight_grads, bias_grads = start.loss_and_gradient(X, y)
    before = start.weights + start.biases
    after = stepped.weights + stepped.biases
    for i, (w, g, moved) in enumerate(zip(before, weight_grads + bias_grads, after, strict=True)):
        np.testing.assert_array_equal(moved, w - g, err_msg=f"parameter {i}", strict=True)
    assert loss_history == loss / len(X)


@pytest.mark.parametrize("isa", INSTRUCTION_SETS)
@pytest.mark.parametrize("road", [False, True], ids=["general loop", "small road"])
@pytest.mark.parametrize("activation", ["sigmoid", "tanh"])
def test_one_epoch_moves_each_weight_by_its_gradient(isa, road, activation, dtype):
    """The general loop and the small networks' road (both under their default crossover)
    take the step ``loss_and_gradient`` computes, bit for bit, in every instruction set."""
    X, y = step_data(dtype)
    with instruction_set(isa), small_road(road):
        start = tinynet.Network([3, 4, 1], activation=activation, bias=True, seed=2, dtype=dtype)
        stepped = tinynet.Network([3, 4, 1], activation=activation, bias=True, seed=2, dtype=dtype)
        stepped.fit(X, y, epochs=1, learning_rate=1.0)
        assert_one_step_is_the_gradient(start, stepped, stepped.history["loss"][0], X, y)


@pytest.mark.parametrize("isa", INSTRUCTION_SETS)
def test_an_ensembles_lanes_move_each_weight_by_its_gradient(isa, dtype, monkeypatch):
    """Eight members in one group across the lanes: each takes its own network's step."""
    calls: list[int] = []
    real = _core.train_members

    def spy(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(_core, "train_members", spy)
    X, y = step_data(dtype)
    with instruction_set(isa):
        ensemble = tinynet.Ensemble([3, 4, 1], 8, seeds=range(8), bias=True, dtype=dtype)
        ensemble.fit(X, y, epochs=1, learning_rate=1.0)
        assert calls == [1]
        for k, member in enumerate(ensemble.members):
            start = tinynet.Network([3, 4, 1], bias=True, seed=k, dtype=dtype)
            assert_one_step_is_the_gradient(start, member, member.history["loss"][0], X, y)
