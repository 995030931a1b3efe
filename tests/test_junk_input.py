"""Junk input: whatever is passed to tinynet, a call succeeds or raises TypeError/ValueError.

The promise tested here, with hypothesis: for any junk — Python objects of every kind,
numpy arrays of every dtype (object, complex, strings, bytes, datetimes, structured, bool,
integers and floats of every width), shape and layout (0-d, empty, mismatched, Fortran,
strided, reversed, read-only, byte-swapped), values (NaN, infinities, huge, subnormal,
negative) and nested ragged lists — passed as ``X``, ``y``, a keyword of ``fit``, an argument
of ``Network``, an assignment to ``weights``/``biases`` or ``validation_data``:

* the call succeeds, or raises ``TypeError`` or ``ValueError`` (``fit`` may also raise
  ``FloatingPointError``, which reports divergence) — never another exception, never a
  warning, never a crash;
* when it raises, the network is unchanged: its ``__getstate__()`` is equal, arrays bit for
  bit (except after a ``FloatingPointError``, which keeps the epochs before it);
* when ``fit`` succeeds (or diverges, keeping the epochs before), every weight is finite and
  the network's state is a valid one.

``tinynet.load`` of random bytes, of a saved file cut short and of one with a byte changed
raises ``ValueError`` (or, for a byte the zip format does not check, loads the original
network), and ``__setstate__`` of a state with junk in one entry raises only ``TypeError`` or
``ValueError``.

Inputs that once broke the promise (huge reals and layer sizes, dtypes that numpy fails to
parse, changed zip header fields, a history allocated for all epochs up front) are kept as
regression tests at the end. A callable callback that fails when called is not junk the
checks can see: the fit raises its error and keeps the epochs before it, as documented.
"""

from __future__ import annotations

import fractions
import numbers
import struct
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from helpers import assert_same_state
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as npst

import tinynet
from tinynet import Network
from tinynet._layout import n_params

LAYERS = [3, 4, 2]
ALLOWED = (TypeError, ValueError)

FUZZ = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

rng = np.random.default_rng(20240611)
X_GOOD = rng.standard_normal((5, 3))
Y_GOOD = rng.random((5, 2))


# --- checking a call --------------------------------------------------------------------
# (assert_same_state is in helpers.py: test_reliability.py compares states with it too.)


def attempt(call: Callable[[], Any], allowed: tuple[type[BaseException], ...]) -> Any:
    """Run ``call``; return the ``allowed`` exception it raised, or None if it succeeded.

    Any other exception propagates (the test fails with it); any warning fails the test.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            call()
        except allowed as error:
            outcome = error
        else:
            outcome = None
    assert not caught, [f"{w.category.__name__}: {w.message}" for w in caught]
    return outcome


def attempt_on(net: Network, call: Callable[[], Any], *, may_diverge: bool = False) -> Any:
    """:func:`attempt`, and if ``call`` raised, check that ``net`` is unchanged (not after a
    ``FloatingPointError``, allowed only if ``may_diverge``)."""
    before = net.__getstate__()
    error = attempt(call, (*ALLOWED, FloatingPointError) if may_diverge else ALLOWED)
    if error is not None and not isinstance(error, FloatingPointError):
        assert_same_state(net.__getstate__(), before)
    return error


def assert_valid(net: Network) -> None:
    """A network fit for use: finite parameters, a state that passes its own checks."""
    assert all(np.isfinite(w).all() for w in net.weights + net.biases)
    clone = Network.__new__(Network)
    clone.__setstate__(net.__getstate__())
    assert_same_state(clone.__getstate__(), net.__getstate__())


def fit_call(net: Network, X: Any, y: Any, **options: Any) -> Callable[[], Any]:
    """A ``net.fit`` of 2 epochs (unless given), for :func:`attempt_on`."""
    options.setdefault("epochs", 2)
    return lambda: net.fit(X, y, **options)


# --- guarding the fuzz against inputs that are valid but costly -------------------------


def costly_layers(layers: Any) -> bool:
    """Whether ``Network(layers)`` would be valid but big: sizes above 1000 whose parameters
    (fewer than 2**60, so not refused as too large) it would try to allocate. Such sizes are
    not junk, and could take all the memory; huge sizes have tests of their own."""
    if isinstance(layers, np.ndarray) and layers.ndim != 1:
        return False
    if not isinstance(layers, (list, tuple, np.ndarray)) or len(layers) < 2:
        return False
    if not all(
        isinstance(size, numbers.Integral)
        and not isinstance(size, (bool, np.bool_, np.timedelta64))
        and size > 0
        for size in layers
    ):
        return False  # refused before anything is allocated
    sizes = [int(size) for size in layers]
    return max(sizes) > 1000 and n_params(sizes, bias=True) < 2**60


# --- strategies ---------------------------------------------------------------------------

SHAPES = npst.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)
NUMERIC_DTYPES = st.one_of(
    npst.boolean_dtypes(),
    npst.integer_dtypes(endianness="?"),
    npst.unsigned_integer_dtypes(endianness="?"),
    npst.floating_dtypes(endianness="?", sizes=(16, 32, 64, 128)),
)
OTHER_DTYPES = st.one_of(
    npst.complex_number_dtypes(endianness="?"),
    npst.datetime64_dtypes(endianness="?"),
    npst.timedelta64_dtypes(endianness="?"),
    npst.byte_string_dtypes(endianness="?", max_len=3),
    npst.unicode_string_dtypes(endianness="?", max_len=3),
    npst.array_dtypes(max_size=2),
)


def numpy_scalars(*, small_ints: bool) -> st.SearchStrategy[Any]:
    """numpy scalars of every dtype; integer ones in 0..6 if ``small_ints``."""
    integers = st.one_of(
        npst.integer_dtypes(endianness="?"), npst.unsigned_integer_dtypes(endianness="?")
    )
    others = st.one_of(
        npst.boolean_dtypes(),
        npst.floating_dtypes(endianness="?", sizes=(16, 32, 64, 128)),
        OTHER_DTYPES,
    )
    return st.one_of(
        npst.arrays(others, ()),
        npst.arrays(integers, (), elements=st.integers(0, 6) if small_ints else None),
    ).map(lambda a: a[()])


def plain_scalars(ints: st.SearchStrategy[int] | None = None) -> st.SearchStrategy[Any]:
    """Python and numpy scalars and small objects of every kind (none callable); Python
    integers from ``ints`` (default: any)."""
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers() if ints is None else ints,
        st.floats(),
        st.complex_numbers(),
        st.fractions(),
        st.decimals(),
        st.text(max_size=4),
        st.binary(max_size=4),
        numpy_scalars(small_ints=ints is not None),
        st.sampled_from([Ellipsis, NotImplemented, range(3), frozenset({1}), object()]),
        st.builds(lambda: (i for i in range(3))),
        st.builds(dict),
        st.builds(bytearray, st.binary(max_size=4)),
    )


def arrays_of(dtypes: st.SearchStrategy[np.dtype], shapes: Any) -> st.SearchStrategy:
    """Arrays of ``dtypes`` and ``shapes``, with any values, or tame ones for floats."""
    return st.one_of(
        npst.arrays(dtypes, shapes),
        npst.arrays(
            st.sampled_from([np.float64, np.float32]), shapes, elements=st.floats(-3, 3, width=32)
        ),
        npst.arrays(np.dtype(object), shapes, elements=plain_scalars()),
    )


@st.composite
def laid_out(draw: st.DrawFn, arrays: st.SearchStrategy[np.ndarray]) -> np.ndarray:
    """An array from ``arrays``, as drawn or as a Fortran-ordered copy, a strided or reversed
    view, or a read-only copy (the same values each time)."""
    array = draw(arrays)
    layout = draw(st.sampled_from(["as drawn", "fortran", "strided", "reversed", "read-only"]))
    if layout == "fortran":
        return np.asfortranarray(array)
    if array.ndim and layout == "strided":
        return np.repeat(array, 2, axis=0)[::2]
    if array.ndim and layout == "reversed":
        return array[::-1].copy()[::-1]
    if layout == "read-only":
        array = array.copy()
        array.flags.writeable = False
    return array


def any_arrays() -> st.SearchStrategy[np.ndarray]:
    """Arrays of any dtype, shape and layout."""
    return laid_out(arrays_of(st.one_of(NUMERIC_DTYPES, OTHER_DTYPES), SHAPES))


def junk(leaves: st.SearchStrategy[Any] | None = None) -> st.SearchStrategy[Any]:
    """Anything: scalars, objects, arrays, and nested (ragged) lists, tuples and dicts of
    them."""
    if leaves is None:
        leaves = st.one_of(plain_scalars(), any_arrays())
    return st.recursive(
        leaves,
        lambda children: st.one_of(
            st.lists(children, max_size=4),
            st.tuples(children, children),
            st.dictionaries(st.text(max_size=2), children, max_size=2),
        ),
        max_leaves=6,
    )


def shaped(shape: tuple[int, ...]) -> st.SearchStrategy[Any]:
    """Arrays of exactly ``shape`` (any dtype, values and layout), their nested lists, or
    junk."""
    arrays = laid_out(arrays_of(st.one_of(NUMERIC_DTYPES, NUMERIC_DTYPES, OTHER_DTYPES), shape))
    return st.one_of(arrays, arrays, arrays.map(lambda a: a.tolist()), junk())


@st.composite
def training_data(draw: st.DrawFn) -> tuple[Any, Any]:
    """``(X, y)`` for a network of ``LAYERS``: often of matching shapes, else anything."""
    n = draw(st.integers(1, 6))
    X = draw(shaped((n, LAYERS[0])))
    y = draw(st.one_of(shaped((n, LAYERS[-1])), shaped((draw(st.integers(0, 6)), LAYERS[-1]))))
    return X, y


# Small integers for arguments that size something: epochs beyond a few would make a fit
# slow or endless (see test_huge_epochs_allocate_nothing_up_front); large layer sizes
# are drawn only where they are refused (HUGE_SIZES).
SMALL_INTS = st.integers(-3, 6)
SMALL_JUNK = junk(plain_scalars(SMALL_INTS))
REALS = st.one_of(
    st.floats(),
    st.floats(0, 1),
    st.integers(),
    st.fractions(),
    npst.arrays(NUMERIC_DTYPES, ()).map(lambda a: a[()]),
)

FIT_KEYWORDS = {
    "epochs": st.one_of(SMALL_INTS, SMALL_JUNK),
    "learning_rate": st.one_of(REALS, junk()),
    "batch_size": st.one_of(st.integers(), junk()),
    "shuffle": junk(),
    "momentum": st.one_of(REALS, junk()),
    "nesterov": junk(),
    "l2": st.one_of(REALS, junk()),
    "dropout": st.one_of(REALS, junk()),
    "clip": st.one_of(REALS, junk()),
    "validation_data": st.one_of(
        st.none(),
        st.tuples(shaped((3, LAYERS[0])), shaped((3, LAYERS[-1]))),
        st.lists(shaped((2, LAYERS[0])), max_size=3),
        junk(),
    ),
    "callbacks": junk(),
    "verbose": st.one_of(st.integers(-2, 3), SMALL_JUNK),
    "progress": junk(),
}
REAL_KEYWORDS = ("learning_rate", "momentum", "l2", "dropout", "clip")

SIZES = st.lists(st.one_of(SMALL_INTS, SMALL_INTS, SMALL_JUNK), max_size=4)
# Layer sizes so large that every synapse has 2**62 weights or more: refused unallocated.
HUGE_SIZES = st.lists(
    st.one_of(st.integers(2**31, 2**80), st.integers(2**31, 2**64 - 1).map(np.uint64)),
    min_size=2,
    max_size=4,
)
CONSTRUCTOR_ARGUMENTS = {
    "layers": st.one_of(
        SIZES,
        SIZES.map(tuple),
        HUGE_SIZES,
        npst.arrays(NUMERIC_DTYPES, npst.array_shapes(min_dims=0, max_dims=2, max_side=4)),
        SMALL_JUNK,
    ),
    "activation": st.one_of(st.sampled_from(["sigmoid", "tanh", "relu", "Sigmoid"]), junk()),
    "output": st.one_of(st.sampled_from(["sigmoid", "linear", "softmax", ""]), junk()),
    "bias": junk(),
    "seed": st.one_of(st.integers(), junk()),
    "dtype": st.one_of(
        st.text(max_size=4),
        NUMERIC_DTYPES,
        OTHER_DTYPES,
        st.sampled_from(
            [
                np.float16,
                np.float32,
                np.float64,
                np.longdouble,
                np.int8,
                np.complex64,
                float,
                int,
                complex,
                str,
                bytes,
                object,
                bool,
                np.datetime64,
                "float32",
                ">f8",
                "f4,f4",
            ]
        ),
        junk(),
    ),
    "backend": st.one_of(st.sampled_from(["cython", "numpy", "CYTHON", "c"]), junk()),
    "init": st.one_of(st.sampled_from(["uniform", "xavier", "he", "glorot"]), junk()),
}


def networks() -> st.SearchStrategy[Network]:
    """Small valid networks of ``LAYERS`` in both backends and dtypes, with or without bias
    units, with all outputs."""
    return st.builds(
        lambda backend, dtype, bias, output, activation: Network(
            LAYERS,
            backend=backend,
            dtype=dtype,
            bias=bias,
            output=output,
            activation=activation,
            seed=0,
        ),
        st.sampled_from(["cython", "numpy"]),
        st.sampled_from([np.float64, np.float32]),
        st.booleans(),
        st.sampled_from(["sigmoid", "linear", "softmax"]),
        st.sampled_from(["sigmoid", "tanh", "relu"]),
    )


# --- fit, predict, the constructor and the weights ----------------------------------------


@FUZZ
@given(net=networks(), data=training_data())
def test_fit_on_junk_data(net, data):
    """fit(X, y) with junk X and y: succeeds or diverges (a valid network, finite weights),
    or raises TypeError/ValueError and leaves the network unchanged."""
    X, y = data
    if not isinstance(attempt_on(net, fit_call(net, X, y), may_diverge=True), ALLOWED):
        assert_valid(net)


@FUZZ
@given(net=networks(), data=st.data(), keyword=st.sampled_from(sorted(FIT_KEYWORDS)))
def test_fit_with_a_junk_keyword(net, data, keyword):
    """fit with one keyword junk, the data good: succeeds or diverges (a valid network), or
    raises TypeError/ValueError and leaves the network unchanged."""
    value = data.draw(FIT_KEYWORDS[keyword], label=keyword)
    call = fit_call(net, X_GOOD, Y_GOOD, **{keyword: value})
    if not isinstance(attempt_on(net, call, may_diverge=True), ALLOWED):
        assert_valid(net)


def extreme_floats(shape: tuple[int, ...]) -> st.SearchStrategy[np.ndarray]:
    """float64 arrays of ``shape`` with any finite values: huge, subnormal, zero, negative."""
    return npst.arrays(
        np.float64, shape, elements=st.floats(allow_nan=False, allow_infinity=False)
    )


@FUZZ
@given(
    net=networks(),
    X=extreme_floats((4, LAYERS[0])),
    y=extreme_floats((4, LAYERS[-1])),
    validation=st.none() | st.tuples(extreme_floats((2, LAYERS[0])), extreme_floats((2, 2))),
    options=st.fixed_dictionaries(
        {
            "learning_rate": st.floats(1e-300, 1e300),
            "batch_size": st.none() | st.integers(1, 5),
            "shuffle": st.booleans(),
            "momentum": st.floats(0, 1, exclude_max=True),
            "nesterov": st.booleans(),
            "l2": st.floats(0, 1e300),
            "dropout": st.floats(0, 1, exclude_max=True),
            "clip": st.none() | st.floats(5e-324, 1e300),
        }
    ),
)
def test_fit_with_extreme_values_and_every_option(net, X, y, validation, options):
    """Finite but extreme data with every training option: succeeds with finite weights,
    diverges (FloatingPointError) or refuses (e.g. values beyond float32), unchanged."""
    call = fit_call(net, X, y, validation_data=validation, **options)
    if not isinstance(attempt_on(net, call, may_diverge=True), ALLOWED):
        assert_valid(net)


@FUZZ
@given(net=networks(), X=st.one_of(shaped((4, LAYERS[0])), shaped((LAYERS[0],)), junk()))
def test_predict_on_junk(net, X):
    """predict(X) with junk X: succeeds, or raises and leaves the network unchanged."""
    attempt_on(net, lambda: net.predict(X))


@FUZZ
@given(data=st.data(), argument=st.sampled_from(sorted(CONSTRUCTOR_ARGUMENTS)))
def test_constructor_with_a_junk_argument(data, argument):
    """Network(...) with one junk argument: succeeds (a valid network) or raises."""
    value = data.draw(CONSTRUCTOR_ARGUMENTS[argument], label=argument)
    if argument == "layers":
        assume(not costly_layers(value))
    arguments = {"layers": LAYERS, argument: value}
    made = []
    if attempt(lambda: made.append(Network(**arguments)), ALLOWED) is None:
        assert_valid(made[0])


def parameter_lists(shapes: list[tuple[int, ...]]) -> st.SearchStrategy[Any]:
    """Lists (or tuples) of arrays for ``weights``/``biases``: of these shapes (any dtype,
    values, layout), of one array too few or too many, or junk."""
    right = st.tuples(*(shaped(shape) for shape in shapes))
    return st.one_of(
        right.map(list),
        right,
        right.map(lambda arrays: list(arrays)[:-1]),
        right.map(lambda arrays: [*arrays, arrays[0]]),
        junk(),
    )


@FUZZ
@given(
    net=networks(),
    weights=parameter_lists([(3, 4), (4, 2)]),
    biases=parameter_lists([(4,), (2,)]),
    which=st.sampled_from(["weights", "biases"]),
)
def test_assigning_junk_weights_or_biases(net, weights, biases, which):
    """net.weights = junk, net.biases = junk: succeeds (finite values) or raises, unchanged."""
    value = weights if which == "weights" else biases
    if attempt_on(net, lambda: setattr(net, which, value)) is None:
        assert_valid(net)


CURATED_JUNK = [
    None,
    "abc",
    b"abc",
    {"X": 1},
    {1, 2, 3},
    (i for i in range(3)),
    object(),
    3.5,
    10**400,
    [[1, 2, 3], [4, 5]],
    [[1, [2, 3], 4]],
    [[None, None, None]],
    [[fractions.Fraction(1, 3)] * 3] * 5,
    np.array(1.0),
    np.empty((0, 3)),
    np.empty((5, 0)),
    np.zeros((5, 3, 1)),
    np.zeros((5, 3), dtype=complex),
    np.zeros((5, 3), dtype=object),
    np.zeros((5, 3), dtype="U3"),
    np.zeros((5, 3), dtype="S3"),
    np.zeros((5, 3), dtype="datetime64[s]"),
    np.zeros((5, 3), dtype="timedelta64[s]"),
    np.zeros((5, 3), dtype=[("a", "f8"), ("b", "i4")]),
    np.full((5, 3), np.nan),
    np.full((5, 3), -np.inf),
    np.full((5, 3), np.longdouble("1e4000")),
    np.full((5, 3), 1e300),
    np.full((5, 3), 5e-324),
    np.full((5, 3), np.iinfo(np.uint64).max, dtype=np.uint64),
    np.ones((5, 3), dtype=np.float16),
    np.ones((5, 3), dtype=">f4"),
    np.ones((6, 3))[::2][:5],
]


@pytest.mark.parametrize("junk_value", CURATED_JUNK, ids=lambda v: type(v).__name__)
@pytest.mark.parametrize("backend", ["cython", "numpy"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
def test_curated_junk_everywhere(junk_value, backend, dtype):
    """Each junk value of the list as X, y, both, validation data, weights and predict's X."""
    net = Network(LAYERS, backend=backend, dtype=dtype, bias=True, seed=0)
    calls = [
        fit_call(net, junk_value, Y_GOOD),
        fit_call(net, X_GOOD, junk_value),
        fit_call(net, junk_value, junk_value),
        fit_call(net, X_GOOD, Y_GOOD, validation_data=(junk_value, Y_GOOD)),
        fit_call(net, X_GOOD, Y_GOOD, validation_data=(X_GOOD, junk_value)),
        lambda: setattr(net, "weights", [junk_value, np.zeros((4, 2))]),
        lambda: setattr(net, "biases", [np.zeros(4), junk_value]),
        lambda: net.predict(junk_value),
    ]
    for call in calls:
        if not isinstance(attempt_on(net, call, may_diverge=True), ALLOWED):
            assert_valid(net)


# --- loading files and unpickling -------------------------------------------------------


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, dict[str, Any], str]:
    """A trained network's file (bytes), its state, and a path to write variants to."""
    directory = tmp_path_factory.mktemp("junk")
    net = Network(LAYERS, bias=True, seed=1).fit(
        X_GOOD, Y_GOOD, epochs=3, validation_data=(X_GOOD, Y_GOOD)
    )
    net.save(directory / "net.tinynet")
    return (directory / "net.tinynet").read_bytes(), net.__getstate__(), str(directory / "v")


def load_bytes(blob: bytes, path: str) -> Any:
    """``tinynet.load`` of a file holding ``blob``: the network, or the ValueError raised."""
    with open(path, "wb") as file:
        file.write(blob)
    loaded = []
    error = attempt(lambda: loaded.append(tinynet.load(path)), (ValueError,))
    return error if error is not None else loaded[0]


def central_header_fields(blob: bytes) -> dict[str, list[int]]:
    """The offsets in ``blob`` (a zip archive without comment) of each central-directory
    entry's "version needed", "flags" and "method" fields (two bytes each)."""
    assert blob[-22:-18] == b"PK\x05\x06"
    count, _, start = struct.unpack("<10xHII", blob[-22:-2])
    fields: dict[str, list[int]] = {"version": [], "flags": [], "method": []}
    for _ in range(count):
        assert blob[start : start + 4] == b"PK\x01\x02"
        fields["version"].append(start + 6)
        fields["flags"].append(start + 8)
        fields["method"].append(start + 10)
        name, extra, comment = struct.unpack("<HHH", blob[start + 28 : start + 34])
        start += 46 + name + extra + comment
    return fields


@settings(FUZZ, max_examples=150)
@given(
    blob=st.one_of(
        st.binary(max_size=2000),
        st.binary(max_size=200).map(lambda b: b"PK\x03\x04" + b),
        st.binary(max_size=100).map(lambda b: b + b"PK\x05\x06"),
    )
)
def test_load_random_bytes(saved, blob):
    """Random bytes (some with zip signatures) are not a network: ValueError."""
    assert isinstance(load_bytes(blob, saved[2]), ValueError)


@settings(FUZZ, max_examples=150)
@given(data=st.data())
def test_load_a_truncated_file(saved, data):
    """A saved file cut short anywhere: ValueError."""
    blob = saved[0]
    length = data.draw(st.integers(0, len(blob) - 1), label="length")
    assert isinstance(load_bytes(blob[:length], saved[2]), ValueError)


@settings(FUZZ, max_examples=300)
@given(data=st.data())
def test_load_a_file_with_a_byte_changed(saved, data):
    """A saved file with one byte changed: ValueError, or (a byte the zip format does not
    check) the original network."""
    blob, state, path = saved
    position = data.draw(st.integers(0, len(blob) - 1), label="position")
    flip = data.draw(st.integers(1, 255), label="xor")
    changed = bytearray(blob)
    changed[position] ^= flip
    outcome = load_bytes(bytes(changed), path)
    if not isinstance(outcome, ValueError):
        assert_same_state(outcome.__getstate__(), state)


@FUZZ
@given(path=junk().filter(lambda value: not isinstance(value, str)))
def test_load_and_save_with_a_junk_path(saved, path):
    """A path that is not a str or os.PathLike: TypeError, and a save leaves the network as
    it was (a str names a file: not junk, so not drawn)."""
    net = Network.__new__(Network)
    net.__setstate__(saved[1])
    assert isinstance(attempt(lambda: tinynet.load(path), ALLOWED), TypeError)
    assert isinstance(attempt_on(net, lambda: net.save(path)), TypeError)


STATE_JUNK = st.one_of(
    junk(),
    SIZES,
    HUGE_SIZES,
    st.sampled_from(["float32", "float64", "cython", "numpy", "tanh", "softmax", "he"]),
    st.lists(st.sampled_from(["loss", "mae", "val_loss", "val_mae", "acc"]), max_size=5),
    laid_out(arrays_of(NUMERIC_DTYPES, st.sampled_from([(34,), (26,), (0, 2), (3, 4)]))),
    laid_out(arrays_of(NUMERIC_DTYPES, st.sampled_from([(3, 2), (3, 4), (34,)]))),
)


@FUZZ
@given(data=st.data())
def test_setstate_with_a_junk_entry(saved, data):
    """__setstate__ of a network's state with one entry junk, dropped or added, or of junk
    instead of the state: TypeError or ValueError, or (a valid state) a working network."""
    state = dict(saved[1])
    how = data.draw(st.sampled_from(["replace"] * 5 + ["drop", "add", "whole"]), label="how")
    key = data.draw(st.sampled_from(sorted(state)), label="key")
    if how == "replace":
        state[key] = data.draw(STATE_JUNK, label="value")
    elif how == "drop":
        del state[key]
    elif how == "add":
        state[data.draw(st.text(max_size=3), label="new key")] = 0
    else:
        state = data.draw(junk(), label="state")
    net = Network.__new__(Network)
    if attempt(lambda: net.__setstate__(state), ALLOWED) is None:
        assert_valid(net)
        attempt(lambda: net.predict(X_GOOD), ())


# --- regressions: inputs that once broke the promise --------------------------------------


@pytest.mark.parametrize("keyword", REAL_KEYWORDS)
@pytest.mark.parametrize("value", [10**400, -(10**400), fractions.Fraction(10**400, 3)])
def test_a_real_keyword_beyond_float_range(keyword, value):
    """A Python int or Fraction that float() refuses (it raised OverflowError): ValueError,
    the network unchanged."""
    net = Network(LAYERS, seed=0)
    error = attempt_on(net, fit_call(net, X_GOOD, Y_GOOD, **{keyword: value}))
    assert isinstance(error, ValueError)


@pytest.mark.parametrize(
    "make",
    [
        lambda: Network([2**40, 2]),  # numpy's MemoryError
        lambda: Network([2**64, 2]),  # OverflowError converting to intp
        lambda: Network([3, np.uint64(2**63)]),
        lambda: Network.__new__(Network).__setstate__(
            {**Network(LAYERS).__getstate__(), "layers": [3, 2**70]}
        ),
    ],
    ids=["2**40", "2**64", "uint64(2**63)", "setstate"],
)
def test_huge_layer_sizes(make):
    """Layer sizes too large to allocate or index (they raised MemoryError or
    OverflowError): ValueError."""
    assert isinstance(attempt(make, ALLOWED), ValueError)


@pytest.mark.parametrize(
    "dtype",
    [
        "a",  # DeprecationWarning: the alias 'a' is deprecated
        "S1,a2",
        ",",  # SyntaxError: numpy parses repeat counts with ast.literal_eval
        "01",
        "f8,(",
        {"a": ("f8", float("inf"))},  # OverflowError converting the offset
        {"a": ("f8", 2**70)},
        {"names": ["x"], "formats": {"x": "f8"}},  # KeyError: formats indexed by 0
        {"a": ("f8", np.complex128(1j))},  # ComplexWarning casting the offset
    ],
    ids=repr,
)
def test_dtypes_numpy_fails_to_parse(dtype):
    """Junk that np.dtype warns about or fails on with other exceptions: TypeError or
    ValueError, and no warning."""
    assert attempt(lambda: Network(LAYERS, dtype=dtype), ALLOWED) is not None


@pytest.mark.parametrize(
    ("field", "flip"),
    [
        ("version", 0x40),  # NotImplementedError: zip file version 8.4
        ("flags", 0x01),  # RuntimeError: encrypted, password required
        ("flags", 0x20),  # NotImplementedError: compressed patched data
        ("flags", 0x40),  # NotImplementedError: strong encryption
        ("method", 0x01),  # NotImplementedError: compression method not supported
        ("method", 0x08),  # deflate of stored bytes
        ("method", 0x0C),  # OSError: bzip2 of stored bytes, invalid data stream
        ("method", 0x0E),  # lzma of stored bytes
    ],
    ids=lambda v: v if isinstance(v, str) else f"^{v:#04x}",
)
def test_a_changed_zip_header_field(saved, field, flip):
    """A saved file whose first central-directory entry has a changed field (zipfile raised
    NotImplementedError, RuntimeError or OSError through load): ValueError."""
    blob, _, path = saved
    changed = bytearray(blob)
    changed[central_header_fields(blob)[field][0]] ^= flip
    assert isinstance(load_bytes(bytes(changed), path), ValueError)


@pytest.mark.parametrize("epochs", [2**40, 10**30])
def test_huge_epochs_allocate_nothing_up_front(epochs):
    """A fit told to run (nearly) for ever (it allocated a history for every epoch first,
    and raised MemoryError) trains until a callback stops it."""
    net = Network(LAYERS, seed=0)
    net.fit(X_GOOD, Y_GOOD, epochs=epochs, callbacks=[lambda net, epoch, logs: epoch >= 2])
    assert len(net.history["loss"]) == 3
    assert_valid(net)


# --- a callback that fails -------------------------------------------------------------------


def test_a_callback_that_raises_leaves_the_epochs_it_saw():
    """callbacks=[len] passes the check (len is callable) and fails when called, after the
    first epoch: the fit raises its TypeError and keeps that epoch, as documented."""
    net = Network(LAYERS, seed=0)
    with pytest.raises(TypeError):
        net.fit(X_GOOD, Y_GOOD, epochs=3, callbacks=[len])
    assert len(net.history["loss"]) == 1
    one_epoch = Network(LAYERS, seed=0).fit(X_GOOD, Y_GOOD, epochs=1)
    assert_same_state(net.__getstate__(), one_epoch.__getstate__())


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_finite_values_whose_sum_overflows_are_accepted(dtype):
    """The finiteness check sums first; a sum that overflows on finite values falls back to
    min and max, so huge finite inputs pass and any NaN or infinity among them is caught."""
    from tinynet._validation import all_finite

    big = np.full(8, np.finfo(dtype).max / 2, dtype=dtype)
    with np.errstate(over="ignore"):
        assert not np.isfinite(big.sum())
    assert all_finite(big)
    assert all_finite(-big)
    for bad in (np.nan, np.inf, -np.inf):
        spoiled = big.copy()
        spoiled[3] = bad
        assert not all_finite(spoiled)
    assert not all_finite(np.array([np.inf, -np.inf], dtype=dtype))  # a NaN sum
    net = tinynet.Network([8, 1], dtype=dtype)
    with pytest.raises(ValueError, match="NaN or infinite"):
        net.predict(np.where(np.arange(8) == 2, np.inf, big).reshape(1, -1))
