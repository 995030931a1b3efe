"""Context managers that run the compiled core in one of its modes: every matrix product
through BLAS or through its own loops, and the elementwise kernels of one instruction set."""

from collections.abc import Iterator
from contextlib import contextmanager

from tinynet import _core

# The modes of the matrix products: all through BLAS, none, or the sizes decide.
MATMULS = {"blas": 0, "loops": 2**62, "default": _core.blas_crossover()}


@contextmanager
def matmuls(mode: str) -> Iterator[None]:
    """Send every product to BLAS (``"blas"``), to the core's loops (``"loops"``), or by
    their size, as the core does by default (``"default"``)."""
    saved = _core.blas_crossover()
    _core.set_blas_crossover(MATMULS[mode])
    try:
        yield
    finally:
        _core.set_blas_crossover(saved)


@contextmanager
def instruction_set(name: str) -> Iterator[None]:
    """Run the elementwise kernels compiled for ``name``."""
    saved = _core.instruction_set()
    _core.use_instruction_set(name)
    try:
        yield
    finally:
        _core.use_instruction_set(saved)


@contextmanager
def blas_library(name: str) -> Iterator[None]:
    """Send the matrix products to BLAS library ``name`` (see ``_core.blas_libraries``)."""
    saved = _core.blas_library()
    _core.use_blas_library(name)
    try:
        yield
    finally:
        _core.use_blas_library(saved)
