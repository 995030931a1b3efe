"""Fixtures shared by the test modules."""

import logging

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


@pytest.fixture(scope="module")
def dask_client():
    """A client of a local cluster of two single-threaded worker processes, for the module
    (skipped without dask.distributed)."""
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address="127.0.0.1:0",  # any free port: 8787 may be taken
            silence_logs=logging.ERROR,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client
