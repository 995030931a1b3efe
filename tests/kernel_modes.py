"""Context managers that run the compiled core in one of its modes: every matrix product
through BLAS or through its own loops, the elementwise kernels of one instruction set, and
the BLAS library the products go to."""

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from tinynet import _core

# The modes of the matrix products: all through BLAS, none, or the sizes decide.
MATMULS = {"blas": 0, "loops": 2**62, "default": _core.blas_crossover()}


@contextmanager
def switched(get: Callable[[], Any], use: Callable[[Any], None], value: Any) -> Iterator[None]:
    """``use(value)`` for the block, then back to what ``get()`` gave before it."""
    saved = get()
    use(value)
    try:
        yield
    finally:
        use(saved)


def matmuls(mode: str) -> AbstractContextManager[None]:
    """Send every product to BLAS (``"blas"``), to the core's loops (``"loops"``), or by
    their size, as the core does by default (``"default"``)."""
    return switched(_core.blas_crossover, _core.set_blas_crossover, MATMULS[mode])


def instruction_set(name: str) -> AbstractContextManager[None]:
    """Run the elementwise kernels compiled for ``name``."""
    return switched(_core.instruction_set, _core.use_instruction_set, name)


def blas_library(name: str) -> AbstractContextManager[None]:
    """Send the matrix products to BLAS library ``name`` (see ``_core.blas_libraries``)."""
    return switched(_core.blas_library, _core.use_blas_library, name)
