"""The BLAS libraries the core's matrix products go to: numpy's bundled ILP64 OpenBLAS when it
is found (the default), else scipy's; each must train as the numpy reference does."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from helpers import DTYPES, Case, assert_backends_agree, blas_library, cases
from hypothesis import given, settings

from tinynet import _blas, _core
from tinynet._plan import forced


def test_the_default_library_is_the_first_available():
    libraries = _core.blas_libraries()
    assert libraries[-1] == "scipy"
    assert set(libraries) <= {"numpy", "scipy"}
    assert _core.blas_library() == libraries[0]
    assert ("numpy" in libraries) == (_core.NUMPY_GEMM is not None)


def test_numpy_wheels_bundle_an_ilp64_openblas_that_is_found():
    """numpy's wheels for this platform ship their OpenBLAS beside the package: if they do,
    the core must find its gemm (a change of the library's layout or names fails here)."""
    if not _blas.bundled_libraries():
        pytest.skip("this numpy bundles no OpenBLAS (not a wheel, or another BLAS)")
    gemm = _blas.numpy_gemm()
    assert gemm is not None
    assert gemm.dgemm and gemm.sgemm and gemm.dgemm != gemm.sgemm
    assert "openblas" in gemm.library


def test_no_bundled_library_means_scipy(monkeypatch):
    monkeypatch.setattr(_blas, "bundled_libraries", lambda: [])
    assert _blas.numpy_gemm() is None


def test_a_file_that_is_not_a_library_is_skipped(monkeypatch, tmp_path):
    fake = tmp_path / "libopenblas64_-fake.so"
    fake.write_bytes(b"not a shared library")
    monkeypatch.setattr(_blas, "bundled_libraries", lambda: [Path(fake)])
    assert _blas.numpy_gemm() is None


@pytest.mark.parametrize("name", ["mkl", "", "NUMPY"])
def test_unknown_libraries_are_refused(name):
    with pytest.raises(ValueError, match="BLAS library"):
        with forced(blas_library=name):
            pass


@pytest.mark.parametrize("library", _core.blas_libraries())
@settings(deadline=None, max_examples=25)
@given(case=cases())
def test_every_library_trains_as_the_reference(library, case):
    """Every product through BLAS (whatever its size), with every option: a wrong
    transpose, leading dimension or integer width in the call would fail this."""
    with blas_library(library):
        assert_backends_agree(dataclasses.replace(case, matmuls="blas"))


@pytest.mark.parametrize("library", _core.blas_libraries())
@pytest.mark.parametrize("dtype", DTYPES, ids=["float64", "float32"])
def test_every_library_takes_the_big_products_by_default(library, dtype):
    """Mini-batches of a 64-48-10 network with bias and momentum: products of up to 32 x 64 x
    48, which go to BLAS with the default crossover."""
    rng = np.random.default_rng(3)
    case = Case(
        [64, 48, 10],
        "sigmoid",
        "sigmoid",
        True,
        dtype,
        seed=2,
        X=rng.standard_normal((96, 64)) / 8,
        y=np.eye(10)[rng.integers(0, 10, 96)],
        epochs=5,
        options={"batch_size": 32, "learning_rate": 0.05, "momentum": 0.5},
        matmuls="default",
    )
    with blas_library(library):
        assert_backends_agree(case)
