"""The small networks' road (``csrc/tinynet_road_small.hh``): full-batch fits of networks no
wider than ``_core.SMALL_MAX_UNITS`` train a whole epoch per call, on rows padded to 4 or 8
lanes, compiled per instruction set.

The road promises the general loop's results bit for bit, as long as that loop does its
matrix products in its own loops (no BLAS): the same sums in the same order, for every
activation, output, option, dtype, depth and instruction set. So most checks here train the
same network twice, once on the road and once with it switched off
(``helpers.small_road``), both under ``matmuls("loops")`` (which lets any network that
fits the road take it), and compare weights, biases and history with
``assert_array_equal``. Each also checks that the road really was taken (or not), by
recording the trainers that ``Network.fit`` makes: a check that compared the general loop
with itself would pass whatever the road did.

The rest: which fits take the road under the default crossover; long trainings on rows
that are mostly padding; divergence and its rollback; the momentum's velocity carried from
one run of a trainer to the next, and Ctrl-C within a run; and agreement with the numpy
reference within the tolerance of test_backends.py.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from helpers import (
    MATMULS,
    assert_close,
    instruction_set,
    make_inputs,
    make_targets,
    matmuls,
    random_biases,
    small_road,
    tolerance,
)
from hypothesis import given, settings
from hypothesis import strategies as st

import tinynet
from tinynet import _core, _fitting, network
from tinynet._layout import split
from tinynet._plan import forced
from tinynet._settings import Architecture, Training

DTYPES = (np.float64, np.float32)
INSTRUCTION_SETS = _core.instruction_sets()
# The blog's data: three inputs (the third always 1) and their XOR.
XOR_X = np.array([[0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1]])
XOR_Y = np.array([[0], [1], [1], [0]])
# Rows far beyond what the default crossover lets onto the road.
TALL_BATCH = 256


@dataclass
class Case:
    """A network and data to train on one road or the other."""

    layers: list[int]
    X: np.ndarray
    y: np.ndarray
    epochs: int
    activation: str = "sigmoid"
    output: str = "sigmoid"
    bias: bool = False
    dtype: Any = np.float64
    seed: int = 0
    options: dict[str, Any] = field(default_factory=dict)
    biases: list[np.ndarray] | None = None  # None: the biases start at zero


@dataclass
class Outcome:
    """What a fit left: the network, whether it raised FloatingPointError, and whether its
    trainer took the road."""

    net: tinynet.Network
    diverged: bool
    small: bool


@contextmanager
def trainers_made() -> Iterator[list[Any]]:
    """The compiled trainers that ``Network.fit`` makes meanwhile, in a list."""
    made: list[Any] = []

    def make(*args: Any, **kwargs: Any) -> Any:
        trainer = _core.Trainer(*args, **kwargs)
        made.append(trainer)
        return trainer

    saved = network.BACKENDS["cython"]
    network.BACKENDS["cython"] = SimpleNamespace(Trainer=make, forward=_core.forward)
    try:
        yield made
    finally:
        network.BACKENDS["cython"] = saved


def direct_trainer(case: Case) -> tuple[Any, np.ndarray]:
    """A compiled trainer of ``case``, made as ``Network.fit`` makes it (full batch), and the
    parameter vector it trains in place."""
    dtype = np.dtype(case.dtype)
    architecture = Architecture(
        layer_sizes=np.array(case.layers, dtype=np.intp),
        activation=case.activation,
        output=case.output,
        bias=case.bias,
    )
    options = dict(case.options)
    options["clip"] = options.get("clip") or 0.0
    training = Training(batch_size=len(case.X), **options)
    params = network.initial_params(
        architecture.layer_sizes, case.seed, dtype, "uniform", case.bias
    )
    if case.biases is not None:
        for target, b in zip(split(params, case.layers, True)[1], case.biases, strict=True):
            target[...] = b
    X = np.ascontiguousarray(case.X, dtype=dtype)
    y = np.ascontiguousarray(case.y, dtype=dtype)
    return _core.Trainer(X, y, params, architecture, training), params


def road_is_built() -> bool:
    """Whether the blog's network takes the road with the switch at its default: whether
    the core was built with GCC's vector extensions (GCC and clang)."""
    with matmuls("default"):
        trainer, _ = direct_trainer(Case([3, 4, 1], XOR_X, XOR_Y, epochs=1))
    return bool(trainer.small)


ROAD_BUILT = road_is_built()

# MSVC builds have no road (every fit takes the general loop); GCC and clang builds must.
pytestmark = pytest.mark.skipif(
    sys.platform == "win32" and not ROAD_BUILT,
    reason="the core was built without GCC's vector extensions: no small networks' road",
)


def train(
    case: Case,
    *,
    road: bool,
    products: str = "loops",
    backend: str = "cython",
    callbacks: list[Callable[..., Any]] | None = None,
) -> Outcome:
    """Fit ``case`` with the road switched on or off and the products in ``products``."""
    with matmuls(products), small_road(road), trainers_made() as made:
        net = tinynet.Network(
            case.layers,
            activation=case.activation,
            output=case.output,
            bias=case.bias,
            seed=case.seed,
            dtype=case.dtype,
            backend=backend,
        )
        if case.biases is not None:
            net.biases = case.biases
        try:
            net.fit(case.X, case.y, epochs=case.epochs, callbacks=callbacks, **case.options)
        except FloatingPointError:
            diverged = True
        else:
            diverged = False
    assert len(made) == (backend == "cython")
    return Outcome(net, diverged, bool(made[0].small) if made else False)


def assert_identical(first: Outcome, second: Outcome) -> None:
    """The same weights, biases and history, bit for bit, and the same ending."""
    assert first.diverged == second.diverged
    one, other = first.net, second.net
    for i, (p, q) in enumerate(
        zip(one.weights + one.biases, other.weights + other.biases, strict=True)
    ):
        assert p.dtype == q.dtype == one.dtype
        np.testing.assert_array_equal(p, q, err_msg=f"parameter {i}")
    assert set(one.history) == set(other.history)
    for key, values in other.history.items():
        np.testing.assert_array_equal(one.history[key], values, err_msg=f"history[{key!r}]")


def assert_road_matches_general_loop(case: Case, products: str = "loops") -> Outcome:
    """Train ``case`` on the road and off it: the first must take it, the second not, and
    the two give the same bits. Returns the road's outcome."""
    road = train(case, road=True, products=products)
    general = train(case, road=False, products=products)
    assert road.small, "the fit did not take the road"
    assert not general.small, "the fit took the road with the road switched off"
    assert_identical(road, general)
    return road


# --- bit for bit the general loop ----------------------------------------------------------


@st.composite
def road_cases(draw: st.DrawFn) -> Case:
    """Any network the road takes under ``matmuls("loops")``, with any of its options."""
    layers = draw(st.lists(st.integers(1, _core.SMALL_MAX_UNITS), min_size=2, max_size=5))
    # Or a tall batch: under matmuls("loops") nothing but the crossover bounds the rows.
    n = draw(st.integers(1, 32) | st.just(TALL_BATCH))
    output = draw(st.sampled_from(["sigmoid", "linear"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    X = make_inputs(rng, n, layers[0], scale=draw(st.floats(0.1, 2.0)))
    y = make_targets(rng, n, layers[-1], output)
    rate = draw(st.floats(0.01, 2.0))
    options = {
        # Per sample (stable training) or summed (chaotic, now and then diverging): the two
        # roads must agree either way.
        "learning_rate": rate / n if draw(st.booleans()) else rate,
        # All full batches; shuffling a full batch changes nothing.
        "batch_size": draw(st.sampled_from([None, n, n + 3])),
        "shuffle": draw(st.booleans()),
        "momentum": draw(st.just(0.0) | st.floats(0.0, 0.95)),
        "nesterov": draw(st.booleans()),
        "l2": draw(st.just(0.0) | st.floats(0.0, 0.5)),
        "clip": draw(st.none() | st.floats(0.01, 2.0)),
    }
    bias = draw(st.booleans())
    # Biases that start off zero: a bias row lost on the way into the padded weights
    # shows at once.
    biases = random_biases(rng, layers) if bias and draw(st.booleans()) else None
    return Case(
        layers,
        X,
        y,
        epochs=draw(st.integers(1, 20)),
        activation=draw(st.sampled_from(["sigmoid", "tanh", "relu", "linear"])),
        output=output,
        bias=bias,
        biases=biases,
        dtype=draw(st.sampled_from(DTYPES)),
        seed=draw(st.integers(0, 2**32 - 1)),
        options=options,
    )


@settings(deadline=None, max_examples=60)
@given(case=road_cases())
def test_the_road_gives_the_general_loops_bits(case):
    """Random shapes (2 to 5 layers of 1 to 8 units, padded to 4 or 8 lanes), activations,
    outputs, biases, options, dtypes and seeds: the road's weights, biases and history are
    the general loop's, bit for bit. A sum taken in another order, a step computed from
    padded lanes, an option applied differently (l2 on the biases, Nesterov's step, clipping
    before or after the hidden delta) or a rollback that differs would show here."""
    assert_road_matches_general_loop(case)


def fixed_cases(dtype: type) -> list[Case]:
    """A handful of networks covering every activation, output and option, in ``dtype``."""
    rng = np.random.default_rng(20150712)
    cases = [
        Case([3, 4, 1], XOR_X, XOR_Y, epochs=50),
        Case(
            [2, 8, 8, 3],
            make_inputs(rng, 9, 2),
            make_targets(rng, 9, 3, "linear"),
            epochs=20,
            activation="tanh",
            output="linear",
            bias=True,
            options={
                "learning_rate": 0.02,
                "momentum": 0.9,
                "nesterov": True,
                "l2": 0.01,
                "clip": 0.05,
            },
        ),
        Case(
            [5, 3, 7, 2, 1],
            make_inputs(rng, 13, 5),
            make_targets(rng, 13, 1, "sigmoid"),
            epochs=20,
            activation="relu",
            bias=True,
            options={"learning_rate": 0.1, "momentum": 0.5, "clip": 0.01},
        ),
        Case(
            [8, 8],
            make_inputs(rng, 4, 8),
            make_targets(rng, 4, 8, "linear"),
            epochs=20,
            output="linear",
            options={"learning_rate": 0.1, "l2": 0.1, "clip": 0.3},
        ),
        Case(
            [1, 2, 1],
            make_inputs(rng, 30, 1),
            make_targets(rng, 30, 1, "sigmoid"),
            epochs=20,
            options={"learning_rate": 0.5, "momentum": 0.3},
        ),
    ]
    return [dataclasses.replace(case, dtype=dtype, seed=i) for i, case in enumerate(cases)]


@pytest.mark.parametrize("number", range(len(fixed_cases(np.float64))))
@pytest.mark.parametrize("isa", INSTRUCTION_SETS)
def test_the_road_gives_the_general_loops_bits_in_every_instruction_set(isa, dtype, number):
    """The road is compiled once per instruction set (its vector code, and the sigmoid and
    tanh it inlines): each must give the general loop's bits in the same instruction set.
    A multiply-add fused on one road and not on the other, or a wider set summing in another
    order, would show here."""
    with instruction_set(isa):
        assert_road_matches_general_loop(fixed_cases(dtype)[number])


# The instruction sets with fused multiply-adds, which the build lets the compiler use.
FUSED = [name for name in INSTRUCTION_SETS if name != "baseline"]


def test_the_road_gives_the_same_bits_in_the_fused_instruction_sets(dtype):
    """x86-64-v3 and x86-64-v4 both fuse multiply-adds, the same ones: the road's epoch
    compiled for each gives identical bits, whatever its vectors' width."""
    if len(FUSED) < 2:
        pytest.skip("this CPU runs fewer than two instruction sets with fused multiply-adds")
    cases = fixed_cases(dtype)
    with instruction_set(FUSED[0]):
        expected = [train(case, road=True) for case in cases]
    for isa in FUSED[1:]:
        with instruction_set(isa):
            for case, first in zip(cases, expected, strict=True):
                outcome = train(case, road=True)
                assert outcome.small
                assert_identical(outcome, first)


def test_the_baseline_road_differs_from_the_fused_sets_by_rounding(dtype):
    """The SSE2 baseline rounds each product apart where the other sets fuse it into a
    multiply-add, so its fits may differ from theirs, by rounding only: the same endings, and
    weights, biases and history within 64 machine epsilons (measured: at most 2.3, a few
    roundings compounded over these cases' 20 to 50 epochs)."""
    if not FUSED:
        pytest.skip("this CPU runs no instruction set with fused multiply-adds")
    tol = 64 * float(np.finfo(dtype).eps)
    for case in fixed_cases(dtype):
        with instruction_set("baseline"):
            baseline = train(case, road=True)
        with instruction_set(FUSED[0]):
            fused = train(case, road=True)
        assert baseline.small and fused.small
        assert baseline.diverged == fused.diverged
        one, other = baseline.net, fused.net
        for i, (p, q) in enumerate(
            zip(one.weights + one.biases, other.weights + other.biases, strict=True)
        ):
            assert_close(p, q, tol, f"parameter {i}")
        for key, values in other.history.items():
            assert_close(one.history[key], values, tol, f"history[{key!r}]")


# --- which fits take the road --------------------------------------------------------------


def eligibility_case(
    layers: list[int] | None = None, n: int = 2, output: str = "sigmoid", **options: Any
) -> Case:
    """A fit of ``n`` rows with ``options``. With the defaults, 2 rows through [3, 4, 2]
    (at most 2 x 3 x 4 = 24 multiply-adds a product, and 2 x 9 x 4 = 72 with a layer of 9),
    every product stays below the crossover of 100, so that only the option under test can
    keep a fit off the road."""
    layers = layers or [3, 4, 2]
    rng = np.random.default_rng(4)
    X, y = make_inputs(rng, n, layers[0]), make_targets(rng, n, layers[-1], output)
    return Case(layers, X, y, epochs=3, output=output, options=options)


OFF_THE_ROAD = {
    "mini-batches": eligibility_case(batch_size=1),
    "dropout": eligibility_case(dropout=0.2),
    "validation data": eligibility_case(validation_data=(np.ones((2, 3)), np.ones((2, 2)))),
    "softmax output": eligibility_case(output="softmax"),
    "9 inputs": eligibility_case([9, 4, 2]),
    "9 hidden units": eligibility_case([3, 9, 2]),
    "9 outputs": eligibility_case([3, 4, 9]),
    "9 units in a deep layer": eligibility_case([2, 3, 2, 9, 1]),
    "a product at the crossover (5 x 5 x 4)": eligibility_case([5, 4, 1], n=5),
    "a product above the crossover (8 x 4 x 4)": eligibility_case([4, 4, 1], n=8),
}

ON_THE_ROAD = {
    "the blog's XOR": Case([3, 4, 1], XOR_X, XOR_Y, epochs=100),
    "the blog's two-layer network": Case([3, 1], XOR_X, XOR_Y, epochs=100),
    "batch_size n": eligibility_case(batch_size=2),
    "batch_size above n": eligibility_case(batch_size=100),
    "shuffle of a full batch": eligibility_case(shuffle=True, batch_size=None),
    "linear output": eligibility_case(output="linear"),
    "8 units everywhere (1 x 8 x 8)": eligibility_case([8, 8, 8], n=1),
    "a product below the crossover (11 x 3 x 3)": eligibility_case([3, 3, 1], n=11),
}


def test_the_cases_are_sized_for_the_default_crossover():
    assert MATMULS["default"] == _core.blas_crossover() == 100
    assert _core.SMALL_MAX_UNITS == 8


@pytest.mark.parametrize("case", OFF_THE_ROAD.values(), ids=OFF_THE_ROAD.keys())
def test_fits_that_do_not_take_the_road(case):
    """Each of these differs from a fit that takes the road (see eligibility_case) by one
    thing the road does not do: mini-batches, dropout, validation, softmax, a layer wider
    than 8 lanes, or a product that the general loop hands to BLAS (whose sums the road
    cannot match)."""
    assert not train(case, road=True, products="default").small


@pytest.mark.parametrize("case", ON_THE_ROAD.values(), ids=ON_THE_ROAD.keys())
def test_fits_that_take_the_road_by_default(case):
    """With the default settings these take the road, and give the bits of the general
    loop with the default crossover (every product of theirs below it, in the loops)."""
    assert_road_matches_general_loop(case, products="default")


def test_the_blogs_network_learns_xor_on_the_road():
    road = train(Case([3, 4, 1], XOR_X, XOR_Y, epochs=10_000, seed=1), road=True)
    assert road.small
    np.testing.assert_array_equal(road.net.predict(XOR_X).round(), XOR_Y)


def test_the_crossover_bounds_the_rows():
    """A full batch takes the road while its biggest product stays below the crossover: at
    the default one, a 2-2-1 network's (n x 2 x 2) up to 24 rows, not 25; with every product
    in the loops, any number of rows."""
    most = (_core.blas_crossover() - 1) // (2 * 2)
    assert_road_matches_general_loop(eligibility_case([2, 2, 1], n=most), products="default")
    assert not train(eligibility_case([2, 2, 1], n=most + 1), road=True, products="default").small
    assert_road_matches_general_loop(eligibility_case([2, 2, 1], n=TALL_BATCH))


def test_switching_the_road_off_and_on():
    case = ON_THE_ROAD["the blog's XOR"]
    assert not train(case, road=False, products="default").small
    assert train(case, road=True, products="default").small
    # Restored by small_road: a plain fit takes it again.
    with trainers_made() as made:
        tinynet.Network([3, 4, 1], seed=0).fit(XOR_X, XOR_Y, epochs=1)
    assert made[0].small


# --- the padding -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("layers", "activation", "bias", "options"),
    [
        ([3, 5, 2, 1], "sigmoid", False, {"learning_rate": 0.5}),
        ([3, 5, 2, 1], "sigmoid", True, {"learning_rate": 0.2, "momentum": 0.9, "l2": 1e-3}),
        ([1, 3, 2, 1], "sigmoid", True, {"learning_rate": 0.5, "nesterov": True, "momentum": 0.5}),
        ([6, 1, 7, 2], "tanh", True, {"learning_rate": 0.1, "clip": 0.02}),
    ],
    ids=["8 lanes", "8 lanes, bias, momentum, l2", "4 lanes, bias, nesterov", "tanh, clip"],
)
def test_the_padding_stays_zero_over_long_trainings(layers, activation, bias, options, dtype):
    """Mixed widths, so that most lanes of most rows are padding, and a sigmoid, whose
    padded lanes hold sigmoid(0) = 0.5, not 0. Over 2000 epochs (with momentum, l2, clip
    and biases in some) the road must still give the general loop's bits, without
    diverging, and finite weights that have learned something. A padded weight or velocity
    that moved off zero and grew would overflow, and roll the training back, where the
    general loop goes on (test_divergence_rolls_back_as_the_general_loop_does catches it
    where training diverges anyway)."""
    rng = np.random.default_rng(11)
    n = 8
    case = Case(
        layers,
        make_inputs(rng, n, layers[0]),
        make_targets(rng, n, layers[-1], "sigmoid"),
        epochs=2000,
        activation=activation,
        bias=bias,
        dtype=dtype,
        seed=12,
        options=options,
    )
    road = assert_road_matches_general_loop(case)
    assert not road.diverged
    for p in road.net.weights + road.net.biases:
        assert np.isfinite(p).all()
    assert len(road.net.history["loss"]) == 2000
    assert road.net.history["loss"][-1] < road.net.history["loss"][0]


# --- divergence ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("activation", "bias"), [("sigmoid", False), ("sigmoid", True), ("tanh", True), ("relu", True)]
)
@pytest.mark.parametrize("learning_rate", [1e6, 1e2])
def test_divergence_rolls_back_as_the_general_loop_does(learning_rate, activation, bias, dtype):
    """A huge learning rate with a linear output: the weights overflow after a few epochs
    (3 to 69 here). Both roads must raise FloatingPointError after the same completed
    epochs, and keep the same weights (those before the failing epoch, finite) and the same
    history.

    The padded lanes only ever feed other padded lanes, so a padding that leaks (a padded
    weight or velocity moving off zero) shows only when it overflows first: the road would
    roll back earlier than the general loop. The hidden layer of 1 unit among wider ones
    (8 lanes) makes most lanes padding, and a sigmoid's padding holds sigmoid(0) = 0.5: a
    column step left unmasked diverges in about half as many epochs. (Without biases, a
    relu network's units all die in the first epoch instead, and it trains on.)"""
    rng = np.random.default_rng(13)
    case = Case(
        [2, 1, 5, 4],
        make_inputs(rng, 6, 2),
        make_targets(rng, 6, 4, "linear"),
        epochs=1000,
        activation=activation,
        output="linear",
        bias=bias,
        dtype=dtype,
        seed=14,
        options={"learning_rate": learning_rate},
    )
    road = assert_road_matches_general_loop(case)
    assert road.diverged
    completed = len(road.net.history["loss"])
    assert 0 < completed < case.epochs
    for p in road.net.weights + road.net.biases:
        assert np.isfinite(p).all()
    assert np.isfinite(road.net.history["loss"]).all()


# --- one fit, several runs -------------------------------------------------------------------

MOMENTUM_CASES = [
    Case(
        [3, 4, 1],
        XOR_X,
        XOR_Y,
        epochs=12,
        options={"learning_rate": 0.5, "momentum": 0.9},
    ),
    Case(
        [3, 6, 2, 2],
        make_inputs(np.random.default_rng(15), 10, 3),
        make_targets(np.random.default_rng(16), 10, 2, "linear"),
        epochs=12,
        activation="tanh",
        output="linear",
        bias=True,
        options={"learning_rate": 0.02, "momentum": 0.8, "nesterov": True, "l2": 0.01},
    ),
]


@pytest.mark.parametrize("case", MOMENTUM_CASES, ids=["4 lanes", "8 lanes, bias, nesterov"])
def test_the_velocity_survives_between_runs(case, dtype):
    """A trainer's ``run`` pads the weights and the velocity on the way in and writes both
    back on the way out: 5 epochs and then 7 must give the bits of 12 at once. A velocity
    not written back (or not reloaded) would restart the momentum at zero; the general
    loop's trainer must agree too."""
    case = dataclasses.replace(case, dtype=dtype)
    runs = {}
    for road, chunks in [(True, [12]), (True, [5, 7]), (False, [5, 7])]:
        with matmuls("loops"), small_road(road):
            trainer, params = direct_trainer(case)
            assert trainer.small == road
            history = np.full((sum(chunks), 4), np.nan)
            start = 0
            for chunk in chunks:
                assert trainer.run(chunk, history[start : start + chunk]) == chunk
                start += chunk
            assert trainer.epoch == 12
        runs[road, len(chunks)] = params, history
    whole = runs[True, 1]
    for key in [(True, 2), (False, 2)]:
        np.testing.assert_array_equal(runs[key][0], whole[0], err_msg=f"{key}: params")
        np.testing.assert_array_equal(runs[key][1], whole[1], err_msg=f"{key}: history")
    assert not np.array_equal(whole[0], direct_trainer(case)[1]), "the weights never moved"


def test_a_fit_with_callbacks_runs_an_epoch_at_a_time_with_the_same_bits(dtype):
    """With callbacks, ``fit`` runs its trainer one epoch per call: 12 calls on the road,
    with momentum, must give the bits of one call of 12."""
    case = dataclasses.replace(MOMENTUM_CASES[1], dtype=dtype)
    seen: list[int] = []
    per_epoch = train(case, road=True, callbacks=[lambda net, epoch, logs: seen.append(epoch)])
    assert seen == list(range(12))
    whole = train(case, road=True)
    assert per_epoch.small and whole.small
    assert_identical(per_epoch, whole)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT is delivered differently")
def test_ctrl_c_on_the_road_keeps_the_last_completed_epoch():
    """The road looks for Ctrl-C between its epochs (every 20 ms). A network of 128 rows
    takes about 1 s for a chunk of ``_fitting.MAX_CHUNK`` epochs, so Ctrl-C after 0.1 s
    lands inside the road's run, not between two chunks: the network must then be bit for
    bit where the general loop leaves it after the same number of epochs (an epoch counted
    but its weights not kept, or the reverse, would be one epoch off)."""
    rng = np.random.default_rng(19)
    n = 128
    case = Case(
        [8, 8, 8, 1],
        make_inputs(rng, n, 8),
        make_targets(rng, n, 1, "sigmoid"),
        epochs=10**9,
        seed=20,
        options={"learning_rate": 0.5 / n, "momentum": 0.9},
    )
    timer = threading.Timer(0.1, os.kill, (os.getpid(), signal.SIGINT))
    with matmuls("loops"), small_road(True), trainers_made() as made:
        net = tinynet.Network(case.layers, seed=case.seed)
        timer.start()
        with pytest.raises(KeyboardInterrupt):
            net.fit(case.X, case.y, epochs=case.epochs, **case.options)
    timer.join()
    assert made[0].small
    completed = len(net.history["loss"])
    assert 0 < completed < case.epochs
    assert completed % _fitting.MAX_CHUNK != 0, "Ctrl-C came between two runs"
    general = train(dataclasses.replace(case, epochs=completed), road=False)
    assert not general.small
    assert_identical(Outcome(net, False, True), general)


# --- whole runs ------------------------------------------------------------------------------
#
# The smallest fits on the road (tinynet._plan.runs_whole: one hidden layer of at most 4
# units over at most 4 inputs, one output, at most _core.TINY_ROWS rows, no momentum, no
# clipping) run all their epochs in one compiled call with their weights in registers
# (csrc/tinynet_road_tiny.hh). Each check trains such a fit whole and again an epoch per
# call of the road (``whole_runs=False``) and in the general loop, and asks for the same bits.


def train_whole(case: Case, *, whole: bool) -> tuple[Outcome, bool]:
    """Fit ``case`` on the road, whole runs allowed or not; the outcome, and whether the
    fit's plan ran it whole."""
    with forced(whole_runs=whole):
        outcome = train(case, road=True)
    return outcome, trained_whole(case)


def trained_whole(case: Case) -> bool:
    """Whether a fit of ``case`` on the road runs whole, by its trainer's plan (made as
    ``Network.fit`` makes it: the options that decide it, the rate fixed)."""
    options = {key: case.options[key] for key in ("momentum", "clip") if key in case.options}
    with matmuls("loops"), small_road(True):
        trainer, _ = direct_trainer(dataclasses.replace(case, options=options))
    return bool(trainer.plan.whole_run)


def assert_whole_run_matches(case: Case) -> Outcome:
    """``case`` runs whole, and gives the bits of the road an epoch at a time and of the
    general loop. Returns the whole run's outcome."""
    whole, ran_whole = train_whole(case, whole=True)
    with forced(whole_runs=False):
        per_epoch = train(case, road=True)
        assert not trained_whole(case)
    general = train(case, road=False)
    assert ran_whole, "the fit did not run whole"
    assert whole.small and per_epoch.small and not general.small
    assert_identical(whole, per_epoch)
    assert_identical(whole, general)
    return whole


@st.composite
def whole_cases(draw: st.DrawFn) -> Case:
    """Any fit that runs whole, with any of its options: sizes 1 to 4, 1 to 4 rows."""
    layers = [draw(st.integers(1, 4)), draw(st.integers(1, 4)), 1]
    n = draw(st.integers(1, _core.TINY_ROWS))
    output = draw(st.sampled_from(["sigmoid", "linear"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    X = make_inputs(rng, n, layers[0], scale=draw(st.floats(0.1, 3.0)))
    y = make_targets(rng, n, 1, output)
    rate = draw(st.floats(0.01, 4.0))
    options: dict[str, Any] = {
        "learning_rate": rate / n if draw(st.booleans()) else rate,
        "l2": draw(st.just(0.0) | st.floats(0.0, 0.5)),
        "batch_size": draw(st.sampled_from([None, n, n + 3])),
        "shuffle": draw(st.booleans()),
    }
    if draw(st.booleans()):
        options["learning_rate"] = tinynet.schedules.step(rate, draw(st.integers(1, 7)), 0.5)
    bias = draw(st.booleans())
    return Case(
        layers,
        X,
        y,
        epochs=draw(st.integers(1, 300)),
        activation=draw(st.sampled_from(["sigmoid", "tanh", "relu", "linear"])),
        output=output,
        bias=bias,
        biases=random_biases(rng, layers) if bias and draw(st.booleans()) else None,
        dtype=draw(st.sampled_from(DTYPES)),
        seed=draw(st.integers(0, 2**32 - 1)),
        options=options,
    )


@settings(deadline=None, max_examples=80)
@given(case=whole_cases(), isa=st.sampled_from(INSTRUCTION_SETS))
def test_whole_runs_give_the_roads_bits(case, isa):
    """Random sizes, row counts (the padding rows and lanes must add nothing), activations,
    outputs, biases, l2, schedules, dtypes, seeds and instruction sets: weights, biases and
    history bit for bit those of the road an epoch at a time and of the general loop, and
    the same ending (summed learning rates of up to 4 diverge now and then)."""
    with instruction_set(isa):
        assert_whole_run_matches(case)


WHOLE_RUN_EXCLUDED = {
    "momentum": Case([3, 4, 1], XOR_X, XOR_Y, epochs=5, options={"momentum": 0.5}),
    "clip": Case([3, 4, 1], XOR_X, XOR_Y, epochs=5, options={"clip": 0.5}),
    "5 rows": Case([3, 4, 1], np.vstack([XOR_X, XOR_X[:1]]), np.vstack([XOR_Y, XOR_Y[:1]]), 5),
    "two hidden layers": Case([3, 4, 2, 1], XOR_X, XOR_Y, epochs=5),
    "no hidden layer": Case([3, 1], XOR_X, XOR_Y, epochs=5),
    "two outputs": Case([3, 4, 2], XOR_X, np.hstack([XOR_Y, 1 - XOR_Y]), epochs=5),
    "5 hidden units": Case([3, 5, 1], XOR_X, XOR_Y, epochs=5),
    "5 inputs": Case([5, 4, 1], np.hstack([XOR_X, XOR_X[:, :2]]), XOR_Y, epochs=5),
}


@pytest.mark.parametrize("case", WHOLE_RUN_EXCLUDED.values(), ids=WHOLE_RUN_EXCLUDED.keys())
def test_fits_beyond_whole_runs_take_the_road_an_epoch_at_a_time(case):
    """One thing beyond a whole run's bounds each: such fits still take the road, an epoch
    per call, with its bits."""
    assert not trained_whole(case)
    assert_road_matches_general_loop(case)


def test_the_blogs_xor_runs_whole_by_default():
    case = Case([3, 4, 1], XOR_X, XOR_Y, epochs=1000, seed=1)
    with trainers_made() as made:
        net = tinynet.Network(case.layers, seed=case.seed)
        net.fit(case.X, case.y, epochs=case.epochs)
    assert made[0].small and made[0].plan.whole_run
    assert_whole_run_matches(case)


def run_direct(
    case: Case, *, whole: bool, epochs: int, interrupt_after: float | None = None
) -> tuple[Any, np.ndarray, np.ndarray]:
    """A compiled trainer of ``case`` on the road (whole runs allowed or not) after one run
    of ``epochs`` epochs, or until the SIGINT sent ``interrupt_after`` seconds into the run;
    its parameters and its history."""
    with forced(whole_runs=whole), matmuls("loops"), small_road(True):
        trainer, params = direct_trainer(case)
    assert trainer.plan.whole_run == whole
    history = np.full((epochs, 4), np.nan)
    if interrupt_after is None:
        trainer.run(epochs, history)
    else:
        timer = threading.Timer(interrupt_after, os.kill, (os.getpid(), signal.SIGINT))
        timer.start()
        try:
            with pytest.raises(KeyboardInterrupt):
                trainer.run(epochs, history)
        finally:
            timer.join()
    return trainer, params, history[: trainer.epoch]


def assert_same_run(one: tuple[Any, np.ndarray, np.ndarray], other: tuple[Any, ...]) -> None:
    assert one[0].epoch == other[0].epoch and one[0].updates == other[0].updates
    np.testing.assert_array_equal(one[1], other[1])
    np.testing.assert_array_equal(one[2][:, :2], other[2][:, :2])


def test_a_long_whole_run_pauses_for_signals_and_keeps_its_bits(dtype):
    """A whole run returns to look for signals every 20 ms and goes on from where it was:
    one run of 500,000 epochs (about 45 ms whole, on the blog's network and data) pauses at
    least once, and must end bit for bit where the road an epoch at a time ends."""
    case = Case([3, 4, 1], XOR_X, XOR_Y, epochs=500_000, seed=1, dtype=dtype)
    whole = run_direct(case, whole=True, epochs=case.epochs)
    assert whole[0].epoch == case.epochs
    assert_same_run(whole, run_direct(case, whole=False, epochs=case.epochs))


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT is delivered differently")
def test_ctrl_c_in_a_whole_run_keeps_the_last_completed_epoch():
    """Ctrl-C 30 ms into one run of 1,500,000 epochs (about 0.14 s whole) lands inside it:
    the trainer keeps the epochs completed before the run looked for it, bit for bit where
    the road an epoch at a time leaves the network after that many epochs."""
    case = Case([3, 4, 1], XOR_X, XOR_Y, epochs=1_500_000, seed=2, bias=True)
    whole = run_direct(case, whole=True, epochs=case.epochs, interrupt_after=0.03)
    completed = whole[0].epoch
    assert 0 < completed < case.epochs
    assert_same_run(whole, run_direct(case, whole=False, epochs=completed))


@pytest.mark.parametrize("bias", [False, True])
def test_a_whole_run_that_diverges_rolls_back_as_the_road_does(bias, dtype):
    """A learning rate far too big: the loss turns non-finite within a few epochs. The whole
    run must stop at the same epoch, keep the weights of the epoch before, raise, and record
    the same history as the road an epoch at a time and the general loop."""
    rng = np.random.default_rng(3)
    case = Case(
        [4, 4, 1],
        make_inputs(rng, 4, 4, scale=3.0),
        make_targets(rng, 4, 1, "linear"),
        epochs=200,
        activation="relu",
        output="linear",
        bias=bias,
        dtype=dtype,
        options={"learning_rate": 50.0},
    )
    assert assert_whole_run_matches(case).diverged


def test_a_whole_run_resumes_where_the_last_fit_ended(dtype):
    """Two fits of 70 and 30 epochs, the second resumed (each a whole run of its own), end
    where one of 100 does, with a schedule that reads the epoch count: the same weights,
    biases and last 30 epochs' history."""
    schedule = tinynet.schedules.step(2.0, 9, 0.7)
    nets = []
    for epochs in ([100], [70, 30]):
        with trainers_made() as made:
            net = tinynet.Network([3, 4, 1], seed=4, dtype=dtype, bias=True)
            for count in epochs:
                net.fit(XOR_X, XOR_Y, epochs=count, learning_rate=schedule, resume=True)
        assert len(made) == len(epochs) and all(trainer.plan.whole_run for trainer in made)
        nets.append(net)
    one, other = nets
    for p, q in zip(one.weights + one.biases, other.weights + other.biases, strict=True):
        np.testing.assert_array_equal(p, q)
    for key, values in other.history.items():
        np.testing.assert_array_equal(one.history[key][-30:], values)


# --- against the numpy reference -------------------------------------------------------------


@pytest.mark.parametrize(
    ("layers", "n", "activation", "output", "bias", "options"),
    [
        ([3, 4, 1], 4, "sigmoid", "sigmoid", False, {}),
        ([2, 3, 3, 2], 8, "tanh", "linear", True, {"momentum": 0.5, "l2": 0.01}),
        ([8, 8], 1, "sigmoid", "linear", True, {"clip": 0.1}),
        ([1, 8, 1], 12, "relu", "sigmoid", True, {"momentum": 0.9, "nesterov": True}),
        ([4, 2, 3, 2, 1], 6, "tanh", "sigmoid", False, {"l2": 0.1}),
    ],
)
def test_the_road_agrees_with_the_reference(layers, n, activation, output, bias, options, dtype):
    """Under the default settings (these all take the road), in the stable regime of
    test_backends.py (a learning rate per sample divided by n and by ``1 / (1 -
    momentum)``, inputs of norm about 1): within ``TOL_EPS`` of the numpy reference."""
    rng = np.random.default_rng(17)
    rate = 0.5 * (1 - options.get("momentum", 0.0)) / n
    case = Case(
        layers,
        make_inputs(rng, n, layers[0]),
        make_targets(rng, n, layers[-1], output),
        epochs=50,
        activation=activation,
        output=output,
        bias=bias,
        dtype=dtype,
        seed=18,
        options={"learning_rate": rate, **options},
    )
    core = train(case, road=True, products="default")
    reference = train(case, road=True, backend="numpy")
    assert core.small
    assert not core.diverged and not reference.diverged
    tol = tolerance(dtype)
    for i, (p_core, p_ref) in enumerate(
        zip(
            core.net.weights + core.net.biases,
            reference.net.weights + reference.net.biases,
            strict=True,
        )
    ):
        assert p_core.dtype == p_ref.dtype == dtype
        assert_close(p_core, p_ref, tol, f"parameter {i}")
    for key, values in reference.net.history.items():
        assert len(core.net.history[key]) == len(values) == case.epochs
        assert_close(core.net.history[key], values, tol, f"history[{key!r}]")
    assert_close(core.net.predict(case.X), reference.net.predict(case.X), tol, "predict")
