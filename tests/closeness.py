"""How close the compiled core and the numpy reference must come (see test_backends.py's
docstring for where the tolerance comes from)."""

from __future__ import annotations

import numpy as np

# Worst case of the regime the tests draw from: ~1500 eps; measured: at most ~21 eps.
TOL_EPS = 2000


def tolerance(dtype) -> float:
    """``TOL_EPS`` machine epsilons of ``dtype``."""
    return TOL_EPS * float(np.finfo(dtype).eps)


def assert_close(actual, desired, tol: float, what: str) -> None:
    """``|actual - desired| <= tol * max(1, max |desired|)``, everywhere."""
    actual = np.asarray(actual, dtype=np.float64)
    desired = np.asarray(desired, dtype=np.float64)
    assert actual.shape == desired.shape, what
    scale = max(1.0, float(np.max(np.abs(desired)))) if desired.size else 1.0
    np.testing.assert_allclose(actual, desired, rtol=0, atol=tol * scale, err_msg=what)
