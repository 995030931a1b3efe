"""Time the blog's three-layer XOR network: the blog's own numpy loop, tinynet's numpy
reference backend and tinynet's compiled core, in one process, interleaved.

    python benchmarks/bench_xor.py [--epochs 60000] [--repeats 7] [--dtype float64]

Prints the median (and the spread) of each, and the speed-ups as ratios of medians.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np

import tinynet

X = np.array([[0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1]])
Y = np.array([[0, 1, 1, 0]]).T


def blog_loop(epochs: int, dtype: type) -> np.ndarray:
    """The blog's eleven lines, as published (Python 3's ``range`` for ``xrange``)."""
    X_, y = X.astype(dtype), Y.astype(dtype)
    np.random.seed(1)
    syn0 = (2 * np.random.random((3, 4)) - 1).astype(dtype)
    syn1 = (2 * np.random.random((4, 1)) - 1).astype(dtype)
    for _ in range(epochs):
        l1 = 1 / (1 + np.exp(-(np.dot(X_, syn0))))
        l2 = 1 / (1 + np.exp(-(np.dot(l1, syn1))))
        l2_delta = (y - l2) * (l2 * (1 - l2))
        l1_delta = l2_delta.dot(syn1.T) * (l1 * (1 - l1))
        syn1 += l1.T.dot(l2_delta)
        syn0 += X_.T.dot(l1_delta)
    return l2


def tinynet_fit(backend: str) -> Callable[[int, type], np.ndarray]:
    def fit(epochs: int, dtype: type) -> np.ndarray:
        net = tinynet.Network([3, 4, 1], seed=1, dtype=dtype, backend=backend)
        return net.fit(X, Y, epochs=epochs).weights[0]

    return fit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=60000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    args = parser.parse_args()
    dtype = np.dtype(args.dtype).type

    contenders = {
        "blog's numpy loop": blog_loop,
        "tinynet numpy reference": tinynet_fit("numpy"),
        "tinynet compiled core": tinynet_fit("cython"),
    }
    times: dict[str, list[float]] = {name: [] for name in contenders}
    with np.errstate(over="ignore"):  # the blog's sigmoid overflows exp for large inputs
        for _ in range(args.repeats):  # interleaved, so that all share the machine's mood
            for name, run in contenders.items():
                start = time.perf_counter()
                run(args.epochs, dtype)
                times[name].append(time.perf_counter() - start)

    print(f"XOR 3-4-1, {args.epochs} epochs, {args.dtype}, {args.repeats} repeats")
    print(f"{'':26}{'median ms':>11}{'min ms':>10}{'max ms':>10}")
    for name, samples in times.items():
        print(
            f"{name:26}{statistics.median(samples) * 1e3:11.2f}"
            f"{min(samples) * 1e3:10.2f}{max(samples) * 1e3:10.2f}"
        )
    compiled = statistics.median(times["tinynet compiled core"])
    for name in ("blog's numpy loop", "tinynet numpy reference"):
        ratio = statistics.median(times[name]) / compiled
        print(f"compiled core vs {name}: {ratio:.1f}x")


if __name__ == "__main__":
    main()
