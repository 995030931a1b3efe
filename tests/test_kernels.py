"""The compiled elementwise sigmoid against numpy, through its thin twin in ``_core``."""

import numpy as np
import pytest

from tinynet import _core, reference


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
def test_sigmoid_is_within_a_few_ulp_everywhere_without_warnings(dtype):
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
    # 2.04 ulp (float64, both), 1.8 ulp (float32 core), 3.2 ulp (numpy's float32 exp).
    assert ulp_error(out, truth, dtype).max() <= 4
    assert ulp_error(reference.sigmoid(x), truth, dtype).max() <= 4


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sigmoid_saturates_exactly_and_keeps_nan(dtype):
    x = np.array([np.inf, -np.inf, 1e30, -1e30, 0.0, np.nan], dtype=dtype)
    out = np.empty_like(x)
    _core.sigmoid(x, out)
    np.testing.assert_array_equal(out, np.array([1, 0, 1, 0, 0.5, np.nan], dtype=dtype))


def test_sigmoid_twin_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="length"):
        _core.sigmoid(np.zeros(3), np.zeros(2))
