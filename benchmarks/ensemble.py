"""Time :class:`tinynet.Ensemble` against the same networks fitted one after the other.

    python -m benchmarks.ensemble [--repeats 5] [--sweep-epochs 20000] [--digits-epochs 200]

Two cases, each run ``--repeats`` times, the contenders interleaved within each repeat after
one untimed warm-up of each; the figures are medians:

- **sweep**: the blog's network (``[3, 4, 1]``, sigmoid, float64) on its XOR data, seeds
  0-63, ``--sweep-epochs`` epochs each: 64 ``Network`` fits in a loop, against one
  ``Ensemble([3, 4, 1], 64, seeds=range(64)).fit`` with ``n_threads=1`` and ``n_threads=2``.
- **digits**: 16 members of ``1797 x 64-32-10`` (the shape of scikit-learn's digits, random
  data of that shape here, so that scikit-learn is not needed), sigmoid hidden units,
  softmax output, full batch, ``--digits-epochs`` epochs, in float64 and float32.

Every timed ensemble is checked against its loop (the members' weights bit for bit; an
ensemble whose members train in two threads with BLAS held on one thread, against the loop
run with BLAS on one thread), and the ratios printed are the loop's median time over the
ensemble's (above 1: the ensemble is faster). The machine's other load moves these figures;
ratios within one run are what to compare.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

import tinynet
from tinynet._blog import XOR_X, XOR_Y


def loop(
    layers: list[int], seeds: Sequence[int], X: np.ndarray, y: np.ndarray, **options: object
) -> Callable[[], list[tinynet.Network]]:
    """The networks fitted one after the other."""
    network_options = {k: options.pop(k) for k in ("output", "dtype") if k in options}

    def run() -> list[tinynet.Network]:
        return [
            tinynet.Network(layers, seed=seed, **network_options).fit(X, y, **options)  # type: ignore[arg-type]
            for seed in seeds
        ]

    return run


def together(
    layers: list[int],
    seeds: Sequence[int],
    X: np.ndarray,
    y: np.ndarray,
    n_threads: int,
    **options: object,
) -> Callable[[], tinynet.Ensemble]:
    """The same networks as one ensemble, on ``n_threads`` threads."""
    network_options = {k: options.pop(k) for k in ("output", "dtype") if k in options}

    def run() -> tinynet.Ensemble:
        ensemble = tinynet.Ensemble(layers, len(seeds), seeds=seeds, **network_options)  # type: ignore[arg-type]
        return ensemble.fit(X, y, n_threads=n_threads, **options)  # type: ignore[arg-type]

    return run


def timed(run: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    result = run()
    return time.perf_counter() - start, result


def compare(
    name: str,
    contenders: dict[str, Callable[[], object]],
    repeats: int,
    one_blas_thread: Sequence[str] = (),
) -> dict[str, float]:
    """Median seconds of each contender, interleaved; the ensembles checked against the
    loop, bit for bit: those in ``one_blas_thread`` (several threads training members that
    use BLAS, which then keeps to one thread) against the loop run with BLAS on one
    thread."""
    for run in contenders.values():  # warm-up, untimed
        run()
    with threadpool_limits(1, user_api="blas"):
        on_one_thread = contenders["loop"]() if one_blas_thread else None
    times: dict[str, list[float]] = {label: [] for label in contenders}
    for _ in range(repeats):
        results: dict[str, Any] = {}
        for label, run in contenders.items():
            seconds, results[label] = timed(run)
            times[label].append(seconds)
        for label, result in results.items():
            if label == "loop":
                continue
            networks = on_one_thread if label in one_blas_thread else results["loop"]
            for member, network in zip(result.members, networks, strict=True):
                for a, b in zip(member.weights, network.weights, strict=True):
                    if not np.array_equal(a, b):
                        raise AssertionError(f"{name}: {label} differs from the loop")
    medians = {label: statistics.median(values) for label, values in times.items()}
    base = medians["loop"]
    print(f"\n{name} (median of {repeats})")
    for label, seconds in medians.items():
        print(f"  {label:<22} {seconds * 1e3:9.1f} ms   x{base / seconds:5.2f}")
    return medians


def main(argv: Sequence[str] | None = None) -> int:
    """Run both cases and print their medians and ratios."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ensemble", description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--sweep-epochs", type=int, default=20000)
    parser.add_argument("--digits-epochs", type=int, default=200)
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.sweep_epochs < 1 or args.digits_epochs < 1:
        parser.error("--repeats and the epochs must be at least 1")
    print(
        f"tinynet {tinynet.__version__}, numpy {np.__version__}, Python {sys.version.split()[0]}"
    )

    X = XOR_X.astype(np.float64)
    y = XOR_Y.astype(np.float64)
    seeds = range(64)
    sweep = {"epochs": args.sweep_epochs}
    compare(
        f"sweep: 64 x [3, 4, 1] on XOR, {args.sweep_epochs} epochs, float64",
        {
            "loop": loop([3, 4, 1], seeds, X, y, **sweep),
            "Ensemble n_threads=1": together([3, 4, 1], seeds, X, y, 1, **sweep),
            "Ensemble n_threads=2": together([3, 4, 1], seeds, X, y, 2, **sweep),
        },
        args.repeats,
    )

    rng = np.random.default_rng(0)
    X = rng.random((1797, 64))
    y = np.eye(10)[rng.integers(0, 10, size=1797)]
    for dtype in (np.float64, np.float32):
        options = {
            "epochs": args.digits_epochs,
            "learning_rate": 1e-3,
            "output": "softmax",
            "dtype": dtype,
        }
        seeds = range(16)
        compare(
            f"digits' shape: 16 x [64, 32, 10], 1797 rows, full batch, "
            f"{args.digits_epochs} epochs, {np.dtype(dtype).name}",
            {
                "loop": loop([64, 32, 10], seeds, X, y, **options),
                "Ensemble n_threads=1": together([64, 32, 10], seeds, X, y, 1, **options),
                "Ensemble n_threads=2": together([64, 32, 10], seeds, X, y, 2, **options),
            },
            args.repeats,
            one_blas_thread=["Ensemble n_threads=2"],
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
