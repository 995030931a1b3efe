"""How a fit runs in the compiled core: which road, which BLAS, which instruction set.

(Transitional: the overrides are applied to the core's process-wide defaults.)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from numbers import Integral

from tinynet import _core


def _check(
    small_road: bool | None,
    blas_library: str | None,
    instruction_set: str | None,
    blas_crossover: int | None,
) -> None:
    """Refuse a choice :func:`forced` cannot make, naming the argument.

    Raises
    ------
    TypeError
        If a choice is of the wrong type.
    ValueError
        If ``instruction_set`` is unknown or this CPU does not run it, ``blas_library`` is
        not one of ``_core.blas_libraries()``, or ``blas_crossover`` is negative.
    """
    if small_road is not None and not isinstance(small_road, bool):
        raise TypeError(f"small_road must be a bool or None, not {type(small_road).__name__}")
    if instruction_set is not None:
        if not isinstance(instruction_set, str):
            raise TypeError(
                f"instruction_set must be a str or None, not {type(instruction_set).__name__}"
            )
        if instruction_set not in _core.INSTRUCTION_SETS:
            raise ValueError(
                f"instruction_set: unknown instruction set {instruction_set!r} "
                f"(known: {', '.join(_core.INSTRUCTION_SETS)})"
            )
        if instruction_set not in _core.instruction_sets():
            raise ValueError(
                f"instruction_set: this CPU does not run {instruction_set!r} "
                f"(it runs: {', '.join(_core.instruction_sets())})"
            )
    if blas_library is not None:
        if not isinstance(blas_library, str):
            raise TypeError(
                f"blas_library must be a str or None, not {type(blas_library).__name__}"
            )
        if blas_library not in _core.blas_libraries():
            raise ValueError(
                f"blas_library: BLAS library {blas_library!r} is not available "
                f"(available: {', '.join(_core.blas_libraries())})"
            )
    if blas_crossover is not None:
        # A bool is an Integral, but True as a number of multiply-adds is a mistake.
        if isinstance(blas_crossover, bool) or not isinstance(blas_crossover, Integral):
            raise TypeError(
                f"blas_crossover must be an int or None, not {type(blas_crossover).__name__}"
            )
        if blas_crossover < 0:
            raise ValueError(f"blas_crossover must be at least 0, not {blas_crossover}")


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
    and the number of multiply-adds from which a product goes to BLAS (0: all).

    A choice that cannot be made raises TypeError or ValueError, naming the argument, on
    entering the block and before anything is changed."""
    _check(small_road, blas_library, instruction_set, blas_crossover)
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
