"""Measure where BLAS starts to beat the core's own loops for the matrix products, the
value behind ``blas::crossover`` in csrc/tinynet_blas.hh (``tinynet._core.blas_crossover()``).

    python -m benchmarks.crossover [--repeats 5] [--dtype float64]

Trains one-synapse networks (so each epoch is one product forward and one for the update)
on shapes from tiny to large, with every product in the loops and then every product in
BLAS, interleaved, and prints the median time per epoch of each and their ratio by the
number of multiply-adds per product.

Both sides run the general training loop: every timed fit is forced off the small networks'
road (csrc/tinynet_road_small.hh), which the smallest of these shapes would otherwise take when
their products stay in the loops, and which has no BLAS side to compare with.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Sequence

import numpy as np

import tinynet
from tinynet import _core
from tinynet._plan import forced

# (samples, inputs, outputs): the layer shapes of small to mid-sized networks.
SHAPES = [
    (4, 3, 4),
    (4, 4, 8),
    (8, 4, 8),
    (8, 8, 8),
    (16, 8, 4),
    (16, 8, 8),
    (16, 16, 8),
    (32, 16, 8),
    (64, 16, 16),
    (64, 32, 16),
    (64, 32, 32),
    (64, 64, 32),
    (128, 64, 32),
    (64, 128, 64),
    (256, 64, 64),
    (512, 128, 64),
]
# The crossover (multiply-adds from which a product goes to BLAS) that sends every product to
# the loops, and the one that sends every product to BLAS.
LOOPS, BLAS = 2**62, 0


def time_per_epoch(shape: tuple[int, int, int], dtype: type, crossover: int) -> float:
    """Seconds per epoch of a full-batch linear fit of ``shape`` in the general loop.

    Parameters
    ----------
    shape : tuple of int
        ``(n, k, j)``: samples, inputs, outputs; each product is ``n * k * j`` multiply-adds.
    dtype : type
        ``numpy.float64`` or ``numpy.float32``.
    crossover : int
        :data:`LOOPS` or :data:`BLAS`: where the fit's products go.

    Returns
    -------
    float
        Seconds per epoch.
    """
    n, k, j = shape
    rng = np.random.default_rng(0)
    X: np.ndarray = rng.random((n, k)).astype(dtype)
    y: np.ndarray = rng.random((n, j)).astype(dtype)
    net = tinynet.Network([k, j], output="linear", seed=1, dtype=dtype)
    epochs = max(10, int(2e7 / (n * k * j)))
    # Off the small road: it would take the smallest shapes when their products stay in the
    # loops, and time a different loop from the BLAS side's.
    with forced(small_road=False, blas_crossover=crossover):
        start = time.perf_counter()
        net.fit(X, y, epochs=epochs, learning_rate=1e-4, progress=False)
        return (time.perf_counter() - start) / epochs


def main(argv: Sequence[str] | None = None) -> int:
    """The command line; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.crossover", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--repeats", type=int, default=5, help="timed fits per shape and side")
    parser.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    dtype = np.dtype(args.dtype).type
    print(
        f"{args.dtype}, general loop (no small road), medians of {args.repeats}; the core "
        f"sends products of {_core.blas_crossover()} multiply-adds or more to "
        f"{_core.blas_library()}'s BLAS"
    )
    header = ("n x k x j", 16), ("multiply-adds", 15), ("loops us", 10), ("BLAS us", 10)
    print("".join(f"{name:>{width}}" for name, width in header) + f"{'loops/BLAS':>12}")
    for shape in SHAPES:
        loops, blas = [], []
        for _ in range(args.repeats):
            loops.append(time_per_epoch(shape, dtype, LOOPS))
            blas.append(time_per_epoch(shape, dtype, BLAS))
        loops_us, blas_us = statistics.median(loops) * 1e6, statistics.median(blas) * 1e6
        name = "x".join(map(str, shape))
        print(
            f"{name:>16}{np.prod(shape):>15}{loops_us:10.2f}{blas_us:10.2f}"
            f"{loops_us / blas_us:12.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
