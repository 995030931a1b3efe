"""The compiled elementwise kernels against numpy, through their thin twins in ``_core``."""

import numpy as np
import pytest

from tinynet import _core, reference

# Below these, exp(x) rounds to zero in the dtype; the kernel's domain is x <= 0.
EXP_FLOOR = {np.float64: -746.0, np.float32: -104.0}
# Measured worst cases over the samples below: 2.1 ulp (float64), 1.7 ulp (float32).
# numpy's own float32 exp reaches 2.3 ulp on them; 3 ulp is "a few" with a margin.
MAX_ULP = 3.0


def ulp_error(values: np.ndarray, truth: np.ndarray, dtype: type) -> np.ndarray:
    """|values - truth| in units of the dtype's spacing at truth (subnormals included)."""
    spacing = np.spacing(truth.astype(dtype)).astype(np.longdouble)
    return np.abs(values.astype(np.longdouble) - truth) / spacing


def nonpositive_samples(dtype: type) -> np.ndarray:
    """Every binade from 1e-30 to the floor, a uniform sweep, and the edges."""
    floor = EXP_FLOOR[dtype]
    rng = np.random.default_rng(20150712)
    return np.concatenate(
        [
            -np.logspace(-30, np.log10(-floor), 100_000),
            rng.uniform(floor, 0.0, 100_000),
            [0.0, -0.0, -1e-300, floor + 1.0, floor + 1e-3],
        ]
    ).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_exp_neg_is_within_a_few_ulp_over_the_whole_range(dtype):
    x = nonpositive_samples(dtype)
    out = np.empty_like(x)
    _core.exp_neg(x, out)
    # long double is exp's correctly-rounded stand-in (80-bit on x86; elsewhere as float64).
    truth = np.exp(x.astype(np.longdouble))
    assert ulp_error(out, truth, dtype).max() <= MAX_ULP


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_exp_neg_saturates_to_zero_and_keeps_nan(dtype):
    x = np.array([EXP_FLOOR[dtype] - 1.0, -1e30, -np.inf, np.nan, 0.0], dtype=dtype)
    out = np.empty_like(x)
    _core.exp_neg(x, out)
    np.testing.assert_array_equal(out, np.array([0.0, 0.0, 0.0, np.nan, 1.0], dtype=dtype))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sigmoid_matches_the_reference_and_numpy_everywhere(dtype):
    x = nonpositive_samples(dtype)
    x = np.concatenate([x, -x, np.array([1e30, -1e30, np.inf, -np.inf], dtype=dtype)])
    out = np.empty_like(x)
    _core.sigmoid(x, out)  # filterwarnings=error: any overflow warning fails the test
    assert out.dtype == dtype
    assert ((out >= 0) & (out <= 1)).all()
    expected = reference.sigmoid(x)
    # exp's few ulp, plus one rounding each for the sum and the division.
    assert ulp_error(out, expected.astype(np.longdouble), dtype).max() <= MAX_ULP + 2


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sigmoid_of_nan_is_nan(dtype):
    out = np.empty(1, dtype=dtype)
    _core.sigmoid(np.array([np.nan], dtype=dtype), out)
    assert np.isnan(out[0])


def test_kernel_twins_reject_mismatched_lengths():
    with pytest.raises(ValueError, match="length"):
        _core.exp_neg(np.zeros(3), np.zeros(2))
    with pytest.raises(ValueError, match="length"):
        _core.sigmoid(np.zeros(3), np.zeros(2))
