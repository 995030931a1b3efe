"""Measure where BLAS starts to beat the core's own loops for the matrix products, the
value behind ``blas::crossover`` in csrc/tinynet_blas.hh.

    python benchmarks/crossover.py [--repeats 5] [--dtype float64]

Trains one-synapse networks (so each epoch is one product forward and one for the update)
on shapes from tiny to large, with every product in the loops and then every product in
BLAS, interleaved, and prints the median time per epoch of each and their ratio by the
number of multiply-adds per product.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import tinynet
from tinynet import _core

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
LOOPS, BLAS = 2**62, 0


def time_per_epoch(shape: tuple[int, int, int], dtype: type, crossover: int) -> float:
    """Seconds per epoch of a full-batch linear fit of ``shape``, products as ``crossover``
    says."""
    n, k, j = shape
    rng = np.random.default_rng(0)
    X, y = rng.random((n, k)).astype(dtype), rng.random((n, j)).astype(dtype)
    net = tinynet.Network([k, j], output="linear", seed=1, dtype=dtype)
    epochs = max(10, int(2e7 / (n * k * j)))
    saved = _core.blas_crossover()
    _core.set_blas_crossover(crossover)
    try:
        start = time.perf_counter()
        net.fit(X, y, epochs=epochs, learning_rate=1e-4)
        return (time.perf_counter() - start) / epochs
    finally:
        _core.set_blas_crossover(saved)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    args = parser.parse_args()
    dtype = np.dtype(args.dtype).type
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


if __name__ == "__main__":
    main()
