"""The compiled elementwise kernels (exp, sigmoid, tanh) against numpy and long double,
through their thin twins in ``_core``, in every instruction set the CPU runs."""

import numpy as np
import pytest
from helpers import instruction_set
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tinynet import _core, _random, reference
from tinynet._plan import forced

INSTRUCTION_SETS = _core.instruction_sets()


@pytest.fixture(params=INSTRUCTION_SETS)
def isa(request: pytest.FixtureRequest):
    """Each instruction set this CPU runs, in turn."""
    with instruction_set(request.param):
        yield request.param


def samples(dtype: type) -> np.ndarray:
    """Every binade from 1e-30 up to where the sigmoid saturates, both signs, and extremes."""
    rng = np.random.default_rng(20150712)
    magnitudes = np.concatenate(
        [np.logspace(-30, np.log10(800.0), 50_000), rng.uniform(0.0, 50.0, 50_000), [0.0]]
    )
    extremes = [1e30, -1e30, np.finfo(dtype).max, -np.finfo(dtype).max, np.inf, -np.inf]
    return np.concatenate([magnitudes, -magnitudes, extremes]).astype(dtype)


def ulp_error(values: np.ndarray, truth: np.ndarray, dtype: type) -> np.ndarray:
    """|values - truth| in units of the dtype's spacing at truth (subnormals included)."""
    spacing = np.spacing(truth.astype(dtype)).astype(np.longdouble)
    return np.abs(values.astype(np.longdouble) - truth) / spacing


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sigmoid_is_within_a_few_ulp_everywhere_without_warnings(dtype, isa):
    x = samples(dtype)
    out = np.empty_like(x)
    _core.sigmoid(x, out)  # filterwarnings=error: an overflow warning would fail the test
    assert out.dtype == dtype
    assert ((out >= 0) & (out <= 1)).all()
    # long double stands in for the exact value (80-bit on x86; elsewhere float64).
    wide = x.astype(np.longdouble)
    with np.errstate(over="ignore"):
        truth = 1 / (1 + np.exp(-wide))
    # exp's rounding, then one each for the sum and the division. Measured worst cases:
    # 2.04 ulp (float64 core), 2.04 (float64 numpy), 2.01 (float32 core: 2.08 with fused
    # multiply-adds), 3.2 (float32 numpy).
    assert ulp_error(out, truth, dtype).max() <= 4
    assert ulp_error(reference.sigmoid(x), truth, dtype).max() <= 4


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sigmoid_saturates_exactly_and_keeps_nan(dtype, isa):
    x = np.array([np.inf, -np.inf, 1e30, -1e30, 0.0, np.nan], dtype=dtype)
    out = np.empty_like(x)
    _core.sigmoid(x, out)
    np.testing.assert_array_equal(out, np.array([1, 0, 1, 0, 0.5, np.nan], dtype=dtype))


@pytest.mark.parametrize("function", ["exp", "sigmoid", "tanh"])
def test_twins_reject_mismatched_lengths(function):
    with pytest.raises(ValueError, match="length"):
        getattr(_core, function)(np.zeros(3), np.zeros(2))


def whole_range(dtype: type) -> np.ndarray:
    """Every float from where exp underflows to 0 to where it overflows, densely, both far
    beyond those ends, the subnormal results, and the special values."""
    info = np.finfo(dtype)
    rng = np.random.default_rng(19)
    low, high = np.log(float(info.smallest_subnormal)) - 2, np.log(float(info.max)) + 2
    magnitudes = np.logspace(-40, 308, 20_000)
    points = [
        rng.uniform(low, high, 200_000),
        np.linspace(low, high, 200_000),
        magnitudes,
        -magnitudes,
        [0.0, -0.0, np.inf, -np.inf, info.tiny, -info.tiny, info.max, -info.max],
    ]
    with np.errstate(over="ignore"):  # float32: the magnitudes beyond its range become inf
        return np.concatenate(points).astype(dtype)


def truth_of(function: str, x: np.ndarray) -> np.ndarray:
    """The function in long double (80-bit on x86; elsewhere float64, a weaker check)."""
    with np.errstate(over="ignore"):
        return getattr(np, function)(x.astype(np.longdouble))


def ulp_error_finite(values: np.ndarray, truth: np.ndarray, dtype: type) -> np.ndarray:
    """ulp_error where the correctly rounded result is finite; exact agreement elsewhere."""
    with np.errstate(over="ignore"):
        rounded = truth.astype(dtype)
    finite = np.isfinite(rounded)
    np.testing.assert_array_equal(values[~finite], rounded[~finite])
    return ulp_error(values[finite], truth[finite], dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_exp_is_within_one_ulp_over_the_whole_range(dtype, isa):
    x = whole_range(dtype)
    out = np.empty_like(x)
    _core.exp(x, out)  # filterwarnings=error: no overflow warning either
    truth = truth_of("exp", x)
    # Measured worst cases: 0.96 ulp (float64; 0.996 with fused multiply-adds), 1.01
    # (float32; 1.03 fused); numpy.exp's own are 0.72 and 2.4 on the same points. Results in
    # the subnormal range are rounded once too.
    assert ulp_error_finite(out, truth, dtype).max() <= 1.5
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(np.isinf(out), np.isinf(np.exp(x)))
        expected_zero = np.exp(x) == 0
    np.testing.assert_array_equal(out == 0, expected_zero)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_tanh_is_within_a_few_ulp_over_the_whole_range(dtype, isa):
    x = whole_range(dtype)
    out = np.empty_like(x)
    _core.tanh(x, out)
    # expm1's rounding, then one each for the sum and the division. Measured worst cases:
    # 2.35 ulp (float64) and 2.48 (float32), fused or not; numpy's: 1.1 and 1.3. Odd, exactly.
    assert ulp_error_finite(out, truth_of("tanh", x), dtype).max() <= 3
    negated = np.empty_like(x)
    _core.tanh(-x, negated)
    np.testing.assert_array_equal(negated, -out)


@pytest.mark.parametrize("function", ["exp", "sigmoid", "tanh"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_special_values(function, dtype, isa):
    x = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0], dtype=dtype)
    out = np.empty_like(x)
    getattr(_core, function)(x, out)
    expected = {
        "exp": [np.nan, np.inf, 0.0, 1.0, 1.0],
        "sigmoid": [np.nan, 1.0, 0.0, 0.5, 0.5],
        "tanh": [np.nan, 1.0, -1.0, 0.0, -0.0],
    }[function]
    np.testing.assert_array_equal(out, np.array(expected, dtype=dtype))
    assert np.signbit(out[3:]).tolist() == [False, function == "tanh"]


def results_by_instruction_set(function: str, x: np.ndarray) -> dict[str, np.ndarray]:
    """``function`` of ``x`` in each instruction set this CPU runs."""
    results = {}
    for name in INSTRUCTION_SETS:
        with instruction_set(name):
            out = np.empty_like(x)
            getattr(_core, function)(x, out)
            results[name] = out
    return results


# The instruction sets with fused multiply-adds, which the build lets the compiler use.
FUSED = [name for name in INSTRUCTION_SETS if name != "baseline"]


@pytest.mark.parametrize("function", ["exp", "sigmoid", "tanh"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_fused_instruction_sets_give_the_same_bits(function, dtype):
    """x86-64-v3 and x86-64-v4 both have fused multiply-adds, and the kernels compiled for
    each fuse the same ones: identical bits, wider vectors or not."""
    if len(FUSED) < 2:
        pytest.skip("this CPU runs fewer than two instruction sets with fused multiply-adds")
    results = results_by_instruction_set(function, whole_range(dtype))
    for name in FUSED[1:]:
        np.testing.assert_array_equal(results[name], results[FUSED[0]], err_msg=name)


@pytest.mark.parametrize("function", ["exp", "sigmoid", "tanh"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_baseline_differs_from_the_fused_sets_by_rounding(function, dtype):
    """The SSE2 baseline has no fused multiply-add: it rounds each product apart, so its
    results may differ from the fused sets'. By rounding only: the same non-finite values, and
    finite ones at most 3 ulp apart (each within its bound of the exact value above, on
    either side of it: measured 1 ulp apart for exp, 2 for sigmoid, 3 for tanh)."""
    if not FUSED:
        pytest.skip("this CPU runs no instruction set with fused multiply-adds")
    x = whole_range(dtype)
    results = results_by_instruction_set(function, x)
    baseline, fused = results["baseline"], results[FUSED[0]]
    finite = np.isfinite(fused)
    np.testing.assert_array_equal(baseline[~finite], fused[~finite])
    assert ulp_error(baseline[finite], fused[finite].astype(np.longdouble), dtype).max() <= 3
    # Not a vacuous bound: the two do round differently somewhere.
    assert (baseline != fused).any()


@pytest.mark.parametrize("size", [0, 1, 3, 7, 8, 9, 16, 17, 33])
def test_every_length_is_computed(size):
    """Vector loops with remainders: each element in place, none beyond."""
    x = np.linspace(-3, 3, size + 1)
    out = np.full(size + 1, -7.0)
    _core.exp(x[:size], out[:size])
    np.testing.assert_allclose(out[:size], np.exp(x[:size]), rtol=4e-16)
    assert out[size] == -7.0


def test_instruction_set_choice():
    assert _core.instruction_set() == INSTRUCTION_SETS[-1]
    assert INSTRUCTION_SETS[0] == "baseline"
    with pytest.raises(ValueError, match="unknown instruction set"):
        with forced(instruction_set="avx9000"):
            pass
    assert _core.instruction_set() == INSTRUCTION_SETS[-1]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
# The instruction set stays the fixture's for every example.
@settings(
    deadline=None, max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    size=st.integers(1, 70),
    planted=st.lists(st.tuples(st.integers(0, 69), st.sampled_from(["nan", "inf", "-inf"]))),
    seed=st.integers(0, 2**32 - 1),
)
def test_the_finite_check_finds_every_nan_and_infinity(dtype, isa, size, planted, seed):
    """At any position, including a vector's tail; the largest finite values, subnormals and
    zeros of either sign are finite."""
    info = np.finfo(dtype)
    rng = np.random.default_rng(seed)
    choices = np.array([info.max, -info.max, info.smallest_subnormal, -0.0, 0.0, 1.0], dtype)
    x = np.where(rng.random(size) < 0.5, rng.choice(choices, size), rng.standard_normal(size))
    x = x.astype(dtype)
    for position, value in planted:
        if position < size:
            x[position] = float(value)
    assert _core.finite(x) == bool(np.isfinite(x).all())


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_finite_check_sees_every_position(dtype, isa):
    for size in range(1, 40):
        x = np.ones(size, dtype)
        assert _core.finite(x)
        for position in range(size):
            for value in (np.nan, np.inf, -np.inf):
                x[position] = value
                assert not _core.finite(x), (size, position, value)
            x[position] = 1


# Rows from none to past 2**16: one to four radix passes over the keys' top bytes, and for
# the bigger sizes a few rows whose top bytes tie, which the insertion pass must order.
@pytest.mark.parametrize("n", [0, 1, 2, 3, 255, 256, 1437, 16000, 70000, 300000])
@pytest.mark.parametrize("first", [0, 123456789])
def test_the_shuffled_order_is_the_references(n, first):
    key = 0x5EED_0000_0000_0000 + n
    expected = _random.random_order(key, first, n)
    np.testing.assert_array_equal(_core.shuffled_order(key, first, n), expected, strict=True)


def test_the_shuffled_order_sorts_the_whole_keys_when_top_bytes_tie():
    # Enough rows that some pairs share the sorted top bytes (3 of them for 16000 rows).
    key, n = 42, 16000
    bits = _random.random_bits(key, np.arange(n, dtype=np.uint64))
    assert len(np.unique(bits >> np.uint64(40))) < n  # the insertion pass has work to do
    order = _core.shuffled_order(key, 0, n)
    assert np.all(np.diff(bits[order].astype(object)) > 0)  # distinct keys, increasing


@given(key=st.integers(0, 2**64 - 1), counter=st.integers(0, 2**64 - 1))
def test_a_derived_key_is_splitmix64s_output_for_its_counter(key, counter):
    """derive_key, in Python's integers, gives random_bits' number, in numpy's wrapping
    uint64 arithmetic, up to the counter that wraps around."""
    with np.errstate(over="ignore"):
        expected = int(_random.random_bits(key, np.array([counter], dtype=np.uint64))[0])
    assert _random.derive_key(key, counter) == expected


def test_the_shuffled_order_refuses_a_negative_count():
    with pytest.raises(ValueError, match="n must be at least 0"):
        _core.shuffled_order(1, 0, -1)
