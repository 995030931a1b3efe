"""How a fit runs in the compiled core: which road, which BLAS, which instruction set.

(Transitional: the overrides are applied to the core's process-wide defaults.)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from tinynet import _core


@contextmanager
def forced(
    *,
    small_road: bool | None = None,
    blas_library: str | None = None,
    instruction_set: str | None = None,
    blas_crossover: int | None = None,
) -> Iterator[None]:
    """Run the fits and predictions made in this block (in this thread) with these choices
    instead of the process defaults (None: the default): whether small networks take their
    own road, the BLAS library the products go to, the elementwise kernels' instruction set,
    and the number of multiply-adds from which a product goes to BLAS (0: all)."""
    saved = (_core.instruction_set(), _core.blas_library(), _core.blas_crossover())
    if instruction_set is not None:
        _core.use_instruction_set(instruction_set)
    if blas_library is not None:
        _core.use_blas_library(blas_library)
    if blas_crossover is not None:
        _core.set_blas_crossover(blas_crossover)
    if small_road is not None:
        _core.set_small_road(small_road)
    try:
        yield
    finally:
        _core.use_instruction_set(saved[0])
        _core.use_blas_library(saved[1])
        _core.set_blas_crossover(saved[2])
        _core.set_small_road(True)
