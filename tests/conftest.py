"""Fixtures shared by the test modules."""

import numpy as np
import pytest


@pytest.fixture(params=["cython", "numpy"])
def backend(request: pytest.FixtureRequest) -> str:
    """Each backend in turn: the compiled core and the numpy reference."""
    return request.param


@pytest.fixture(params=[np.float64, np.float32], ids=["float64", "float32"])
def dtype(request: pytest.FixtureRequest) -> type:
    """Each supported dtype in turn."""
    return request.param
