"""A fit's plan (``tinynet._plan``): the machine choices, the road and the layouts the
compiled core is handed.

What is checked here:

* ``forced`` overrides the choices in the current thread only (another thread keeps
  ``DEFAULTS``, and the trainers made in each thread follow their own), and puts them back
  when its block ends, nested or raising;
* ``forced`` refuses a bad choice, naming it, before it changes anything;
* ``make_plan`` sends a fit to the small networks' road only when every condition holds
  (each one is broken in turn), with 4 lanes or ``_core.SMALL_MAX_UNITS``;
* the plan's layouts: the synapse offsets are ``tinynet._layout``'s, and the small road's
  padded layout is consistent, for random small networks; a prediction's plan takes the
  general loop;
* the compiled ``Trainer`` refuses a plan that does not match its network;
* ``_core.blas_library()``, ``instruction_set()`` and ``blas_crossover()`` report the
  choices in force, and a fit's results depend on the crossover only within rounding and
  not at all on the thread it runs in.
"""

from __future__ import annotations

import dataclasses
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest
from helpers import assert_close, make_inputs, make_targets, tolerance
from hypothesis import given, settings
from hypothesis import strategies as st

import tinynet
from tinynet import _core, _layout, _plan
from tinynet._plan import DEFAULTS, Choices, choices, forced, forward_plan, make_plan
from tinynet._settings import HISTORY_KEYS, Architecture, Training, history_keys

# The blog's data: three inputs (the third always 1) and their XOR.
XOR_X = np.array([[0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1]], dtype=np.float64)
XOR_Y = np.array([[0], [1], [1], [0]], dtype=np.float64)
# Far above any product of the networks below: only the other conditions decide the road.
NO_BLAS = 2**62
# Choices unlike the defaults in every field (the library too, where there are two).
OTHER = {
    "small_road": False,
    "blas_crossover": 0,
    "instruction_set": "baseline",
    "blas_library": "scipy",
    "split_batches": False,
}
TIMEOUT = 30  # seconds a thread may wait for the other

needs_road = pytest.mark.skipif(
    not _core.SMALL_ROAD_BUILT, reason="the core was built without the small networks' road"
)


def architecture(
    layers: list[int], output: str = "sigmoid", bias: bool = False, activation: str = "sigmoid"
) -> Architecture:
    """The architecture record of ``layers``."""
    return Architecture(np.array(layers, dtype=np.intp), activation, output, bias)


def xor_trainer() -> Any:
    """A compiled trainer of the blog's fit (3-4-1, sigmoid, full batch of the 4 rows), made
    as ``Network.fit`` makes it, under the choices in force here."""
    arch = architecture([3, 4, 1])
    params = np.random.default_rng(0).uniform(-1, 1, _layout.n_params([3, 4, 1]))
    return _core.Trainer(XOR_X.copy(), XOR_Y.copy(), params, arch, Training(batch_size=4))


def padded_layout(sizes: list[int], bias: bool, lanes: int) -> tuple[list[int], list[int], int]:
    """The small road's layout, written independently of ``make_plan``: each synapse's rows
    (``k`` weights and a bias row, ``lanes`` wide), then the columns (``j``) of synapses 1
    and on; ``transposed[0]``, unused, is where the rows end."""
    padded = [0]
    for k in sizes[:-1]:
        padded.append(padded[-1] + (k + bias) * lanes)
    transposed, at = [padded[-1]], padded[-1]
    for j in sizes[2:]:
        transposed.append(at)
        at += j * lanes
    return padded, transposed, at


# --- forced: per thread, and undone --------------------------------------------------------


def test_forced_holds_in_its_thread_only():
    """While thread A sits inside ``forced`` (held there by events), the main thread (B)
    still sees ``DEFAULTS``, and each thread's trainer for the blog's fit is planned with
    its own thread's choices: the road in B, the general loop and the forced machine in A.
    A context variable leaking across threads, or a global set by ``forced``, shows here."""
    inside, done = threading.Event(), threading.Event()
    seen: dict[str, Any] = {}

    def thread_a() -> None:
        with forced(**OTHER) as chosen:
            seen["chosen"] = chosen
            seen["choices"] = choices()
            seen["trainer"] = xor_trainer()
            inside.set()
            seen["released"] = done.wait(TIMEOUT)
            seen["choices_at_end"] = choices()

    a = threading.Thread(target=thread_a)
    a.start()
    try:
        assert inside.wait(TIMEOUT), "thread A never entered its block"
        assert choices() == DEFAULTS
        trainer = xor_trainer()
        assert trainer.plan.machine == DEFAULTS
        assert trainer.small == DEFAULTS.small_road
        if _core.SMALL_ROAD_BUILT:
            assert trainer.small and trainer.plan.lanes == 4
    finally:
        done.set()
        a.join(TIMEOUT)
    assert not a.is_alive()
    assert seen["released"]
    expected = Choices(**OTHER)
    assert seen["chosen"] == seen["choices"] == seen["choices_at_end"] == expected
    assert not seen["trainer"].small and seen["trainer"].plan.lanes == 0
    assert seen["trainer"].plan.machine == expected
    assert choices() == DEFAULTS


def test_forced_blocks_in_two_threads_at_once():
    """Two threads inside different ``forced`` blocks at the same time (a barrier holds
    both there) each see their own choices, and neither changes the main thread's."""
    barrier = threading.Barrier(2, timeout=TIMEOUT)

    def inside(crossover: int) -> tuple[Choices, Choices]:
        with forced(blas_crossover=crossover):
            barrier.wait()  # both blocks are entered
            first = choices()
            barrier.wait()  # both have read theirs
            return first, _core.blas_crossover()

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(inside, [7, 11]))
    assert [(c.blas_crossover, reported) for c, reported in results] == [(7, 7), (11, 11)]
    assert choices() == DEFAULTS


def test_forced_yields_and_undoes_its_choices():
    before = choices()
    with forced(blas_crossover=5) as chosen:
        assert chosen == choices() == dataclasses.replace(before, blas_crossover=5)
    assert choices() == before


def test_nested_blocks_undo_in_order():
    """Each block keeps the choices it does not name from the block around it, and leaving
    it restores that block's choices, not the defaults."""
    before = choices()
    with forced(blas_crossover=3):
        outer = choices()
        with forced(instruction_set="baseline"):
            assert choices() == dataclasses.replace(
                before, blas_crossover=3, instruction_set="baseline"
            )
            with forced(blas_crossover=9):
                assert choices().blas_crossover == 9
                assert choices().instruction_set == "baseline"
            assert choices().blas_crossover == 3
        assert choices() == outer
    assert choices() == before


def test_a_block_that_raises_is_undone():
    before = choices()
    with pytest.raises(KeyError, match="boom"), forced(blas_crossover=1):
        with forced(small_road=False):
            assert choices() != before
            raise KeyError("boom")
    assert choices() == before


# --- forced: refusals ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "named"),
    [
        ({"instruction_set": "x86-64-v9"}, ValueError, "instruction_set"),
        ({"instruction_set": "BASELINE"}, ValueError, "instruction_set"),
        ({"blas_library": "mkl"}, ValueError, "blas_library"),
        ({"blas_library": ""}, ValueError, "blas_library"),
        ({"blas_crossover": -1}, ValueError, "blas_crossover"),
        ({"blas_crossover": np.int64(-5)}, ValueError, "blas_crossover"),
        ({"blas_crossover": True}, TypeError, "blas_crossover"),
        ({"blas_crossover": 100.0}, TypeError, "blas_crossover"),
        ({"blas_crossover": "100"}, TypeError, "blas_crossover"),
        ({"small_road": 1}, TypeError, "small_road"),
        ({"small_road": "no"}, TypeError, "small_road"),
        ({"split_batches": 0}, TypeError, "split_batches"),
        ({"split_batches": "yes"}, TypeError, "split_batches"),
        ({"whole_runs": 1}, TypeError, "whole_runs"),
        # A good choice does not let a bad one through.
        ({"blas_crossover": 0, "blas_library": "mkl"}, ValueError, "blas_library"),
    ],
)
def test_forced_refuses_bad_choices(kwargs, error, named):
    before = choices()
    with forced(blas_crossover=17):  # not the defaults: the refusal must not reset them
        inner = choices()
        with pytest.raises(error, match=named), forced(**kwargs):
            pytest.fail("the block was entered")
        assert choices() == inner
    assert choices() == before


def test_forced_refuses_an_instruction_set_the_cpu_does_not_run(monkeypatch):
    """The widest compiled instruction set, as if this CPU did not run it: known to the core,
    but refused, and the choices are left alone. Where the CPU really does not run one, that
    one is refused without the patch."""
    widest = list(_core.INSTRUCTION_SETS)[-1]
    unrun = [name for name in _core.INSTRUCTION_SETS if name not in _core.instruction_sets()]
    for name in unrun:
        with pytest.raises(ValueError, match="does not run"), forced(instruction_set=name):
            pytest.fail("the block was entered")
    runs = _core.instruction_sets()
    monkeypatch.setattr(_core, "instruction_sets", lambda: [s for s in runs if s != widest])
    before = choices()
    with pytest.raises(ValueError, match=f"instruction_set {widest!r}"):
        with forced(instruction_set=widest):
            pytest.fail("the block was entered")
    assert choices() == before
    with forced(instruction_set="baseline"):  # a set it still runs is taken
        assert choices().instruction_set == "baseline"


def test_forced_accepts_numpy_scalars():
    with forced(small_road=np.bool_(False), blas_crossover=np.int32(12)) as chosen:
        assert chosen.small_road is False
        assert type(chosen.blas_crossover) is int and chosen.blas_crossover == 12


# --- make_plan: which road ---------------------------------------------------------------------

ROAD_ARCH = architecture([3, 4, 1])
ROAD_TRAINING = Training(batch_size=4)
ROAD_ROWS = 4
# The biggest product of the 3-4-1 network on 4 rows: 4 * 3 * 4 multiply-adds.
ROAD_PRODUCT = 48


@pytest.fixture
def road_choices():
    """Choices under which the base fit takes the road: the road on, no product to BLAS."""
    with forced(small_road=True, blas_crossover=NO_BLAS):
        yield


@needs_road
def test_the_base_fit_takes_the_road(road_choices):
    plan = make_plan(ROAD_ARCH, ROAD_TRAINING, ROAD_ROWS, False)
    assert plan.lanes == 4 and plan.road == "small"
    assert plan.machine == choices()


@needs_road
@pytest.mark.parametrize(
    ("arch", "training", "n_rows", "validation"),
    [
        pytest.param(ROAD_ARCH, Training(batch_size=3), 4, False, id="mini-batches"),
        pytest.param(ROAD_ARCH, Training(batch_size=1), 4, False, id="one-row-batches"),
        pytest.param(ROAD_ARCH, Training(batch_size=4, dropout=0.1), 4, False, id="dropout"),
        pytest.param(ROAD_ARCH, ROAD_TRAINING, 4, True, id="validation"),
        pytest.param(architecture([3, 4, 2], "softmax"), ROAD_TRAINING, 4, False, id="softmax"),
        pytest.param(
            architecture([3, _core.SMALL_MAX_UNITS + 1, 1]), ROAD_TRAINING, 4, False, id="wide"
        ),
        pytest.param(
            architecture([_core.SMALL_MAX_UNITS + 1, 4, 1]),
            ROAD_TRAINING,
            4,
            False,
            id="wide-input",
        ),
        pytest.param(
            architecture([3, 4, _core.SMALL_MAX_UNITS + 1]),
            ROAD_TRAINING,
            4,
            False,
            id="wide-output",
        ),
    ],
)
def test_each_broken_condition_sends_the_fit_to_the_general_loop(
    road_choices, arch, training, n_rows, validation
):
    """The base fit with one condition of the road broken: the general loop, with the
    synapse offsets and no padded layout."""
    plan = make_plan(arch, training, n_rows, validation)
    assert plan.lanes == 0 and plan.road == "general"
    assert plan.padded_size == 0 and plan.padded_offsets.size == 0
    sizes = list(arch.layer_sizes)
    np.testing.assert_array_equal(plan.offsets, _layout.offsets(sizes, arch.bias))


@needs_road
@pytest.mark.parametrize("output", ["sigmoid", "linear"])
@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu"])
def test_the_roads_outputs_and_activations_take_it(road_choices, output, activation):
    arch = architecture([3, 4, 1], output, activation=activation)
    assert make_plan(arch, ROAD_TRAINING, ROAD_ROWS, False).lanes == 4


@needs_road
def test_the_crossover_bounds_the_road():
    """The road only while the biggest product (rows * k * j) is below the crossover: at
    the crossover the product would go to BLAS, and the fit to the general loop."""
    for crossover, lanes in [(ROAD_PRODUCT, 0), (ROAD_PRODUCT + 1, 4), (0, 0)]:
        with forced(small_road=True, blas_crossover=crossover):
            plan = make_plan(ROAD_ARCH, ROAD_TRAINING, ROAD_ROWS, False)
        assert plan.lanes == lanes, crossover
    # More rows make bigger products: 5 rows reach a crossover 4 rows do not.
    with forced(small_road=True, blas_crossover=5 * 12):
        assert make_plan(ROAD_ARCH, Training(batch_size=4), 4, False).lanes == 4
        assert make_plan(ROAD_ARCH, Training(batch_size=5), 5, False).lanes == 0


def test_the_road_switched_off_sends_the_fit_to_the_general_loop():
    with forced(small_road=False, blas_crossover=NO_BLAS):
        plan = make_plan(ROAD_ARCH, ROAD_TRAINING, ROAD_ROWS, False)
    assert plan.lanes == 0 and not plan.machine.small_road


@needs_road
@pytest.mark.parametrize(
    ("layers", "lanes"),
    [
        ([1, 1], 4),
        ([3, 4, 1], 4),
        ([4, 4, 4, 4], 4),
        ([3, 5, 1], _core.SMALL_MAX_UNITS),
        ([5, 1], _core.SMALL_MAX_UNITS),
        ([2, 3, _core.SMALL_MAX_UNITS], _core.SMALL_MAX_UNITS),
        ([_core.SMALL_MAX_UNITS] * 5, _core.SMALL_MAX_UNITS),
    ],
)
def test_the_lanes_follow_the_widest_layer(road_choices, layers, lanes):
    plan = make_plan(architecture(layers), Training(batch_size=2), 2, False)
    assert plan.lanes == lanes


# --- layouts -----------------------------------------------------------------------------------


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("layers", [[3, 4, 1], [2, 30, 20, 3], [7, 1]])
def test_the_offsets_are_the_layouts(layers, bias):
    """``plan.offsets`` are ``_layout.offsets`` (as ``intp``), on either road, and each
    synapse's ``_layout.unpack`` block starts and ends at them."""
    arch = architecture(layers, bias=bias)
    plan = make_plan(arch, Training(batch_size=3), 3, False)
    expected = _layout.offsets(layers, bias)
    assert plan.offsets.dtype == np.intp
    np.testing.assert_array_equal(plan.offsets, expected)
    params = np.arange(expected[-1], dtype=np.float64)
    blocks = _layout.unpack(params, layers, bias)
    assert len(blocks) == len(plan.offsets) - 1
    for block, start, stop in zip(blocks, plan.offsets[:-1], plan.offsets[1:], strict=True):
        assert block.size == stop - start
        assert block.ravel()[0] == start and block.ravel()[-1] == stop - 1


@st.composite
def small_fits(draw: st.DrawFn) -> tuple[list[int], bool, int]:
    """Layer sizes (2 to 5 layers of 1 to 8 units), bias or not, and a number of rows."""
    layers = draw(st.lists(st.integers(1, _core.SMALL_MAX_UNITS), min_size=2, max_size=5))
    return layers, draw(st.booleans()), draw(st.integers(1, 16))


@needs_road
@settings(deadline=None, max_examples=60)
@given(fit=small_fits())
def test_the_padded_layout_is_consistent(fit):
    """Random small networks on the road: 4 lanes if no layer is wider than 4, else
    ``SMALL_MAX_UNITS``; the rows of synapse i take ``(k + bias) * lanes`` elements from
    ``padded_offsets[i]``, the columns of synapse i >= 1 ``sizes[i + 1] * lanes`` from
    ``transposed_offsets[i]``, end to end from 0 to ``padded_size``; and the compiled trainer
    accepts the plan."""
    layers, bias, n_rows = fit
    arch = architecture(layers, bias=bias)
    with forced(small_road=True, blas_crossover=NO_BLAS):
        plan = make_plan(arch, Training(batch_size=n_rows), n_rows, False)
        lanes = 4 if max(layers) <= 4 else _core.SMALL_MAX_UNITS
        assert plan.lanes == lanes
        padded, transposed = list(plan.padded_offsets), list(plan.transposed_offsets)
        assert len(padded) == len(layers) and len(transposed) == len(layers) - 1
        assert padded[0] == 0
        for i, k in enumerate(layers[:-1]):
            assert padded[i + 1] - padded[i] == (k + bias) * lanes
        assert transposed[0] == padded[-1]
        end = padded[-1]  # where the columns of synapse 1 start
        for i in range(1, len(layers) - 1):
            assert transposed[i] == end
            end += layers[i + 1] * lanes
        assert plan.padded_size == end
        assert (padded, transposed, plan.padded_size) == padded_layout(layers, bias, lanes)
        np.testing.assert_array_equal(plan.offsets, _layout.offsets(layers, bias))

        rng = np.random.default_rng(n_rows)
        X = make_inputs(rng, n_rows, layers[0])
        y = make_targets(rng, n_rows, layers[-1], "sigmoid")
        params = rng.uniform(-1, 1, _layout.n_params(layers, bias))
        trainer = _core.Trainer(X, y, params, arch, Training(batch_size=n_rows))
        assert trainer.small and trainer.plan.lanes == lanes


@pytest.mark.parametrize("bias", [False, True])
def test_a_predictions_plan_takes_the_general_loop(bias):
    arch = architecture([3, 4, 1], bias=bias)
    with forced(blas_crossover=NO_BLAS, small_road=True) as chosen:
        plan = forward_plan(arch)
        fit_plan = make_plan(arch, ROAD_TRAINING, ROAD_ROWS, False)
    assert plan.lanes == 0 and plan.road == "general" and plan.padded_size == 0
    assert plan.machine == chosen
    np.testing.assert_array_equal(plan.offsets, fit_plan.offsets)


# --- the core refuses a plan that does not match ----------------------------------------------


def corrupt(**changes: Any):
    """A function of a plan: the plan with ``changes``, each a function of the old value."""

    def change(plan: _plan.Plan) -> _plan.Plan:
        return dataclasses.replace(
            plan, **{name: f(getattr(plan, name)) for name, f in changes.items()}
        )

    return change


def bumped(index: int, by: int = 1):
    """A function of an offsets array: a copy with ``[index]`` moved by ``by``."""

    def bump(offsets: np.ndarray) -> np.ndarray:
        offsets = offsets.copy()
        offsets[index] += by
        return offsets

    return bump


def make_corrupt_trainer(monkeypatch, change, layers, bias=False, batch_size=None):
    """Make a trainer of a sigmoid network on 4 rows with ``make_plan`` patched to apply
    ``change`` to the plan it makes."""
    real = _plan.make_plan
    monkeypatch.setattr(_plan, "make_plan", lambda *args: change(real(*args)))
    arch = architecture(layers, bias=bias)
    rng = np.random.default_rng(1)
    X, y = make_inputs(rng, 4, layers[0]), make_targets(rng, 4, layers[-1], "sigmoid")
    params = rng.uniform(-1, 1, _layout.n_params(layers, bias))
    return _core.Trainer(X, y, params, arch, Training(batch_size=batch_size or 4))


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(corrupt(offsets=lambda o: o + 1), id="all-shifted"),
        pytest.param(corrupt(offsets=bumped(1)), id="one-moved"),
        pytest.param(corrupt(offsets=bumped(-1)), id="length"),
        pytest.param(corrupt(offsets=lambda o: o[:-1]), id="one-missing"),
        pytest.param(corrupt(offsets=lambda o: np.append(o, o[-1])), id="one-extra"),
        pytest.param(
            corrupt(offsets=lambda o: np.array(_layout.offsets([3, 5, 2], True))), id="bias"
        ),
    ],
)
@pytest.mark.parametrize("road", [True, False], ids=["small", "general"])
def test_the_core_refuses_offsets_that_do_not_match(monkeypatch, change, road):
    with forced(small_road=road, blas_crossover=NO_BLAS):
        with pytest.raises(ValueError, match="offsets"):
            make_corrupt_trainer(monkeypatch, change, [3, 5, 2])


@needs_road
@pytest.mark.parametrize(
    ("change", "layers"),
    [
        pytest.param(corrupt(padded_size=lambda s: s - 1), [3, 4, 1], id="size-short"),
        pytest.param(corrupt(padded_size=lambda s: s + 1), [3, 4, 1], id="size-long"),
        pytest.param(corrupt(padded_size=lambda s: s - 1), [2, 1], id="size-short-one-synapse"),
        pytest.param(corrupt(padded_size=lambda s: s - 1), [2, 3, 4, 2], id="size-short-deep"),
        pytest.param(corrupt(transposed_offsets=bumped(-1)), [2, 3, 4, 2], id="columns-moved"),
        pytest.param(corrupt(transposed_offsets=lambda t: t[:-1]), [3, 4, 1], id="columns-gone"),
        pytest.param(corrupt(padded_offsets=lambda p: p[:-1]), [3, 4, 1], id="rows-gone"),
        pytest.param(corrupt(lanes=lambda n: 2), [1, 1], id="two-lanes"),
        pytest.param(corrupt(lanes=lambda n: 16), [3, 4, 1], id="sixteen-lanes"),
        # A layout that is consistent, but 4 lanes wide for a layer of 5 units.
        pytest.param(
            lambda plan: dataclasses.replace(
                plan,
                lanes=4,
                padded_offsets=np.array(padded_layout([3, 5, 1], False, 4)[0], np.intp),
                transposed_offsets=np.array(padded_layout([3, 5, 1], False, 4)[1], np.intp),
                padded_size=padded_layout([3, 5, 1], False, 4)[2],
            ),
            [3, 5, 1],
            id="too-narrow",
        ),
    ],
)
def test_the_core_refuses_a_padded_layout_that_does_not_match(monkeypatch, change, layers):
    with forced(small_road=True, blas_crossover=NO_BLAS):
        assert make_plan(architecture(layers), ROAD_TRAINING, 4, False).lanes > 0
        with pytest.raises(ValueError, match="small networks"):
            make_corrupt_trainer(monkeypatch, change, layers)


@needs_road
@pytest.mark.parametrize(
    "change",
    [
        pytest.param(corrupt(padded_offsets=bumped(0, 10**6)), id="rows-far-away"),
        pytest.param(corrupt(padded_offsets=bumped(1, 4)), id="rows-overlap"),
        pytest.param(corrupt(transposed_offsets=bumped(1, 4)), id="columns-overlap"),
    ],
)
def test_the_core_refuses_padded_offsets_that_do_not_match(monkeypatch, change):
    """Offsets moved inside an otherwise consistent small-road plan (only made, never run:
    running it would read and write outside the padded buffer)."""
    with forced(small_road=True, blas_crossover=NO_BLAS):
        with pytest.raises(ValueError, match="small networks"):
            make_corrupt_trainer(monkeypatch, change, [2, 3, 4, 2])


@needs_road
@pytest.mark.parametrize(
    ("layers", "training", "n_rows", "whole"),
    [
        pytest.param([3, 4, 1], ROAD_TRAINING, 4, True, id="the blog's XOR"),
        pytest.param([1, 1, 1], Training(batch_size=1, l2=0.1), 1, True, id="1-1-1, l2"),
        pytest.param([4, 4, 1], Training(batch_size=3), 3, True, id="4-4-1 on 3 rows"),
        pytest.param([3, 4, 1], Training(batch_size=5), 5, False, id="5 rows"),
        pytest.param([3, 4, 1], Training(batch_size=4, momentum=0.5), 4, False, id="momentum"),
        pytest.param([3, 4, 1], Training(batch_size=4, clip=1.0), 4, False, id="clip"),
        pytest.param([3, 5, 1], ROAD_TRAINING, 4, False, id="5 hidden units (8 lanes)"),
        pytest.param([5, 4, 1], ROAD_TRAINING, 4, False, id="5 inputs"),
        pytest.param([3, 4, 2], ROAD_TRAINING, 4, False, id="two outputs"),
        pytest.param([3, 4, 4, 1], ROAD_TRAINING, 4, False, id="two hidden layers"),
        pytest.param([3, 1], ROAD_TRAINING, 4, False, id="no hidden layer"),
    ],
)
def test_the_smallest_fits_on_the_road_run_whole(road_choices, layers, training, n_rows, whole):
    """``runs_whole``'s bounds, one broken at a time; and never with whole runs switched
    off, nor off the small road."""
    plan = make_plan(architecture(layers), training, n_rows, False)
    assert plan.road == "small" and plan.whole_run == whole
    with forced(whole_runs=False):
        assert not make_plan(architecture(layers), training, n_rows, False).whole_run
    with forced(small_road=False):
        assert not make_plan(architecture(layers), training, n_rows, False).whole_run


@needs_road
@pytest.mark.parametrize(
    "layers", [[3, 4, 2], [3, 4, 4, 1], [5, 4, 1]], ids=["two outputs", "deep", "5 inputs"]
)
def test_the_core_refuses_a_whole_run_beyond_its_bounds(monkeypatch, layers):
    """A plan that says whole_run for a network a whole run cannot hold: refused when the
    trainer is made, before any epoch (it would read its weights out of bounds)."""
    with forced(small_road=True, blas_crossover=NO_BLAS):
        with pytest.raises(ValueError, match="whole run"):
            make_corrupt_trainer(
                monkeypatch, lambda plan: dataclasses.replace(plan, whole_run=True), layers
            )


@pytest.mark.parametrize(
    ("validation", "reduction", "columns"),
    [(False, "sum", 2), (True, "sum", 4), (False, "mean", 5), (True, "mean", 5)],
)
def test_a_run_takes_history_rows_as_wide_as_its_measures(validation, reduction, columns):
    """Rows of the loss and mean absolute error alone, then the validation's, then the
    penalty's: a row one column short is refused before any epoch, a full one has each
    of the fit's measures filled, in either order of the array (by epoch, or by measure as
    a fit's record is), with the same values. The first case runs whole, the others take
    the general loop (validation data, or reduction "mean")."""
    arch = architecture([3, 4, 1])
    data = (XOR_X.copy(), XOR_Y.copy())
    filled = [HISTORY_KEYS.index(name) for name in history_keys(validation, reduction == "mean")]
    assert filled[-1] == columns - 1
    histories = []
    for order in ("C", "F"):
        params = np.random.default_rng(0).uniform(-1, 1, _layout.n_params([3, 4, 1]))
        trainer = _core.Trainer(
            *data,
            params,
            arch,
            Training(batch_size=4, reduction=reduction),
            data if validation else None,
        )
        with pytest.raises(ValueError, match=f"at least {columns} columns"):
            trainer.run(3, np.full((3, columns - 1), np.nan, order=order))
        assert trainer.epoch == 0
        history = np.full((3, columns), np.nan, order=order)
        assert trainer.run(3, history) == 3
        assert np.isfinite(history[:, filled]).all()
        histories.append(history)
    np.testing.assert_array_equal(*histories)


@needs_road
def test_the_core_refuses_a_small_plan_for_mini_batches(monkeypatch):
    """A plan made for the full batch of 4 rows, handed to a fit of 2-row batches."""
    with forced(small_road=True, blas_crossover=NO_BLAS):
        road = make_plan(ROAD_ARCH, ROAD_TRAINING, ROAD_ROWS, False)
        assert road.lanes == 4
        with pytest.raises(ValueError, match="full batches"):
            make_corrupt_trainer(monkeypatch, lambda plan: road, [3, 4, 1], batch_size=2)


def test_the_core_refuses_bad_machine_choices(monkeypatch):
    """Choices that ``forced`` would refuse, put into a plan directly: the core refuses them
    too (the last line of defence before the kernels)."""
    for machine, message in [
        (dataclasses.replace(DEFAULTS, blas_library="mkl"), "BLAS"),
        (dataclasses.replace(DEFAULTS, blas_crossover=-1), "blas_crossover"),
    ]:
        with pytest.raises(ValueError, match=message):
            make_corrupt_trainer(
                monkeypatch, corrupt(machine=lambda m, machine=machine: machine), [3, 4, 1]
            )
        monkeypatch.undo()


# --- the choices reported, and the fits made under them ---------------------------------------


def test_the_core_reports_the_choices_in_force():
    def reported() -> tuple[str, str, int]:
        return _core.blas_library(), _core.instruction_set(), _core.blas_crossover()

    defaults = (DEFAULTS.blas_library, DEFAULTS.instruction_set, DEFAULTS.blas_crossover)
    assert reported() == defaults
    library = _core.blas_libraries()[-1]
    with forced(blas_library=library, instruction_set="baseline", blas_crossover=12345):
        assert reported() == (library, "baseline", 12345)
    assert reported() == defaults
    with forced(**OTHER), ThreadPoolExecutor(1) as pool:
        assert pool.submit(reported).result(TIMEOUT) == defaults


# A network whose mini-batch products go to BLAS under the default crossover.
BIG_LAYERS = [20, 16, 3]
BIG_ROWS = 300


def big_fit(**choices_: Any) -> tinynet.Network:
    """Fit a 20-16-3 network (float64) on 300 rows in 30-row batches, 10 epochs, under
    ``forced(**choices_)``, recording the plans its trainers were made with."""
    rng = np.random.default_rng(2024)
    X = make_inputs(rng, BIG_ROWS, BIG_LAYERS[0])
    y = make_targets(rng, BIG_ROWS, BIG_LAYERS[-1], "sigmoid")
    with forced(**choices_) as chosen:
        net = tinynet.Network(BIG_LAYERS, bias=True, seed=5, dtype=np.float64)
        net.fit(X, y, epochs=10, learning_rate=0.05, batch_size=30, momentum=0.5)
        assert _core.blas_crossover() == chosen.blas_crossover
    return net


def parameters(net: tinynet.Network) -> list[np.ndarray]:
    return net.weights + net.biases


@pytest.mark.parametrize("library", _core.blas_libraries())
def test_fits_agree_across_crossovers_and_threads(library):
    """All products to BLAS or none: the same fit within rounding; and the same choices in
    another thread: the same fit, bit for bit (the plan, not the thread, decides)."""
    by_blas = big_fit(blas_crossover=0, blas_library=library)
    by_loops = big_fit(blas_crossover=NO_BLAS, blas_library=library)
    tol = tolerance(np.float64)
    for i, (p, q) in enumerate(zip(parameters(by_blas), parameters(by_loops), strict=True)):
        assert_close(p, q, tol, f"parameter {i}")
    assert_close(by_blas.history["loss"], by_loops.history["loss"], tol, "loss")
    with ThreadPoolExecutor(2) as pool:
        in_threads = [
            pool.submit(big_fit, blas_crossover=crossover, blas_library=library)
            for crossover in (0, NO_BLAS)
        ]
        elsewhere = [future.result(TIMEOUT) for future in in_threads]
    for here, there in zip([by_blas, by_loops], elsewhere, strict=True):
        for p, q in zip(parameters(here), parameters(there), strict=True):
            np.testing.assert_array_equal(p, q, strict=True)
        np.testing.assert_array_equal(here.history["loss"], there.history["loss"])


def test_a_plan_cannot_be_changed_after_it_is_made():
    """A plan's arrays are read-only, and the compiled trainer checks and keeps copies of
    them: nothing done to the plan after the trainer was made reaches its loops."""
    with forced(small_road=True, blas_crossover=NO_BLAS):
        plan = make_plan(ROAD_ARCH, ROAD_TRAINING, ROAD_ROWS, False)
    for array in (plan.offsets, plan.padded_offsets, plan.transposed_offsets):
        assert not array.flags.writeable
        with pytest.raises(ValueError, match="read-only"):
            array[0] = 10**6
