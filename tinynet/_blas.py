"""Where to find the BLAS that numpy's own matrix products use, for the compiled core.

numpy's wheels bundle an OpenBLAS built with 64-bit integers (``numpy.libs`` on Linux and
Windows, ``numpy/.dylibs`` on macOS), often a newer one than scipy's, and faster here in
float32. Calling it rather than scipy's also keeps one BLAS, and one pool of BLAS threads, in a
process that uses numpy. Only a library that exports gemm with the ILP64 suffix is taken,
so that the width of its integers is known; anything else leaves the core on scipy's BLAS.
"""

from __future__ import annotations

import ctypes
from pathlib import Path
from typing import NamedTuple

import numpy as np

# The suffixes of an ILP64 OpenBLAS's Fortran symbols: numpy 2's "scipy-openblas64"
# (scipy_dgemm_64_), and numpy 1.x's openblas64_ (dgemm_64_).
PREFIXES = ("scipy_", "")
SUFFIX = "64_"


class Gemm(NamedTuple):
    """The addresses of an ILP64 BLAS's dgemm and sgemm, and the file they are in."""

    dgemm: int
    sgemm: int
    library: str


def bundled_libraries() -> list[Path]:
    """The OpenBLAS files numpy's wheel ships, if any."""
    package = Path(np.__file__).resolve().parent
    folders = (package.parent / "numpy.libs", package / ".dylibs")
    return sorted(
        path for folder in folders if folder.is_dir() for path in folder.glob("*openblas*")
    )


def numpy_gemm() -> Gemm | None:
    """dgemm and sgemm of the ILP64 OpenBLAS numpy bundles, or None if there is none.

    numpy has already loaded the library, so opening it again returns the same copy.
    """
    for path in bundled_libraries():
        try:
            library = ctypes.CDLL(str(path))
        except OSError:
            continue
        for prefix in PREFIXES:
            try:
                dgemm = getattr(library, f"{prefix}dgemm_{SUFFIX}")
                sgemm = getattr(library, f"{prefix}sgemm_{SUFFIX}")
            except AttributeError:
                continue
            d_address = ctypes.cast(dgemm, ctypes.c_void_p).value
            s_address = ctypes.cast(sgemm, ctypes.c_void_p).value
            if d_address and s_address:
                return Gemm(d_address, s_address, path.name)
    return None
