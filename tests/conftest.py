"""Fixtures shared by the test modules."""

import numpy as np
import pytest

from tinynet import _core


def pytest_report_header() -> str:
    """Which build of the compiled core the suite runs against."""
    build = "bounds-checked" if _core.BOUNDS_CHECKED else "release"
    return f"tinynet core: {build} build, {_core.instruction_set()} kernels"


@pytest.fixture(params=["cython", "numpy"])
def backend(request: pytest.FixtureRequest) -> str:
    """Each backend in turn: the compiled core and the numpy reference."""
    return request.param


@pytest.fixture(params=[np.float64, np.float32], ids=["float64", "float32"])
def dtype(request: pytest.FixtureRequest) -> type:
    """Each supported dtype in turn."""
    return request.param
