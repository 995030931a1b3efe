"""Two fits in two threads against one after the other, with and without tinynet's BLAS limit.

    python -m benchmarks.threads [--quick] [--repeats 9] [--target 1.5] [--only SHAPE[,SHAPE]]

Shapes (``--only`` names), float64, full batch, seeds 0 and 1: ``small``, 512 x 8-16-1 (its
products go to BLAS: above the crossover of 100 multiply-adds), and ``digits``, 1797 x
64-32-10 (whose fits split each batch over two threads of their own, with BLAS on one:
``tinynet._plan.splits_batches``). For each shape, interleaved in every repeat:

- ``core``: ``Network.fit`` as a user runs it, BLAS on its default threads: one fit after the
  other, then both at once in two threads;
- ``core, limit on``: the same two fits in two threads with tinynet's limit on
  (``TINYNET_LIMIT_BLAS_THREADS=1``, :mod:`tinynet._threads`), which puts the fits' BLAS on
  one thread while both run;
- ``core, BLAS pinned``: both ways inside ``threadpoolctl``'s limit of one BLAS thread;
- ``numpy``: the blog's loop in numpy, both ways with BLAS pinned to one thread (numpy's
  products are not tinynet's to limit).

Each timed run lasts at least ``--target`` seconds (default 1.5): tinynet limits BLAS from
when the second fit starts, and OpenBLAS's idle threads, woken by the first fit's first
products, then spin for up to about 0.1 s (its thread timeout) on the cores the fits need,
which fits much shorter than that cannot make up for. The ratio is one after the other's
median over the two threads' (2.00 is perfect; the ``core,
limit on`` row shares ``core``'s one-after-the-other samples). The two threads must give the
weights of one after the other, bit for bit (``core, limit on``: within the tests' tolerance,
as BLAS on one thread may add a product's terms in another order), or the shape is not timed
and the exit status is 1. ``python -m tinynet bench --only threads`` runs the same through the
suite.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from threadpoolctl import ThreadpoolController  # type: ignore[import-untyped]

from benchmarks._contenders import Run, numpy_loop, tinynet_core
from benchmarks.suite import (
    CASES,
    TOL_EPS,
    Case,
    Timing,
    environment,
    make_problem,
    measure,
    render,
    report_errors,
    span,
)
from tinynet import _threads

SHAPES = {
    "small": Case("512 x 8-16-1", (8, 16, 1), 512, None, 2e-3, check_epochs=5),
    "digits": CASES["digits"],
}
# The least seconds of one timed run (see the module's docstring).
TARGET = 1.5
HEADER = ["shape (float64)", "contender", "one after the other ms/epoch"]
HEADER += ["in two threads ms/epoch", "ratio"]

# Trains two networks for a number of epochs; gives their weights.
Pair = Callable[[int], list[list[np.ndarray]]]


def one_after_the_other(a: Run, b: Run) -> Pair:
    """``a``, then ``b``, for the same number of epochs."""
    return lambda epochs: [a(epochs), b(epochs)]


def in_two_threads(pool: ThreadPoolExecutor, a: Run, b: Run) -> Pair:
    """``a`` and ``b`` for the same number of epochs, at once, in ``pool``'s threads."""
    return lambda epochs: [f.result() for f in [pool.submit(a, epochs), pool.submit(b, epochs)]]


def within(block: Callable[[], contextlib.AbstractContextManager[object]], pair: Pair) -> Pair:
    """``pair``, run inside a fresh ``block()`` each time."""

    def run(epochs: int) -> list[list[np.ndarray]]:
        with block():
            return pair(epochs)

    return run


def pairs(case: Case, pool: ThreadPoolExecutor) -> dict[str, tuple[Pair, Pair]]:
    """Each contender's (one after the other, in two threads) on ``case``'s two problems."""
    problems = [make_problem(case, np.float64, seed) for seed in (0, 1)]
    blas = ThreadpoolController().select(user_api="blas")

    def pinned() -> contextlib.AbstractContextManager[object]:
        return blas.limit(limits=1)

    def limit_on() -> contextlib.AbstractContextManager[object]:
        return _threads.limiting(True)

    found: dict[str, tuple[Pair, Pair]] = {}
    for name, factory, block in (
        ("core", tinynet_core, None),
        ("core, limit on", tinynet_core, limit_on),
        ("core, BLAS pinned", tinynet_core, pinned),
        ("numpy, BLAS pinned", numpy_loop, pinned),
    ):
        a, b = (factory(problem) for problem in problems)
        sequential, threaded = one_after_the_other(a, b), in_two_threads(pool, a, b)
        if block is not None:
            threaded = within(block, threaded)
            if block is pinned:  # the limit changes nothing for one fit at a time
                sequential = within(block, sequential)
        found[name] = (sequential, threaded)
    return found


def largest_difference(sequential: Pair, threaded: Pair, epochs: int) -> float:
    """The largest difference between the weights of ``sequential`` and ``threaded``."""
    return max(
        float(np.abs(s - t).max())
        for one, other in zip(sequential(epochs), threaded(epochs), strict=True)
        for s, t in zip(one, other, strict=True)
    )


def threads_rows(
    timing: Timing, shapes: Sequence[str] = tuple(SHAPES)
) -> tuple[list[list[str]], bool]:
    """The table's rows for ``shapes``, and whether the threads gave the sequential weights."""
    rows, ok = [], True
    # With the limit on, the core's fits get BLAS on one thread from when both run: at the
    # digits' size that adds some of OpenBLAS's sums in another order. Pinned or unlimited,
    # threads change no bit.
    tolerance = TOL_EPS * float(np.finfo(np.float64).eps)
    with ThreadPoolExecutor(max_workers=2) as pool:
        for shape in shapes:
            case = SHAPES[shape]
            contenders = pairs(case, pool)
            wrong = {
                name: f"two threads changed the weights by up to {difference:.3g}"
                for name, (sequential, threaded) in contenders.items()
                if (difference := largest_difference(sequential, threaded, case.check_epochs))
                > (tolerance if name == "core, limit on" else 0.0)
            }
            if wrong:
                report_errors(f"threads, {case.name}", wrong)
                ok = False
                continue
            runs: dict[str, Pair] = {}
            for name, (sequential, threaded) in contenders.items():
                if name != "core, limit on":
                    runs[f"{name}: sequential"] = sequential
                runs[f"{name}: threaded"] = threaded
            samples = measure(runs, timing)
            for name in contenders:
                before = samples[f"{'core' if name == 'core, limit on' else name}: sequential"]
                after = samples[f"{name}: threaded"]
                ratio = statistics.median(before) / statistics.median(after)
                rows.append([case.name, name, span(before), span(after), f"{ratio:.2f}"])
    return rows, ok


@contextlib.contextmanager
def clock() -> Iterator[None]:
    """Print the seconds the block took, to stderr."""
    start = time.perf_counter()
    yield
    print(f"  {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the shapes and print the table; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.threads", description=__doc__)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--quick", action="store_true", help="short runs, 3 repeats: a smoke run")
    parser.add_argument("--repeats", type=int, help="timed repeats (default 9; 3 quick)")
    parser.add_argument(
        "--target", type=float, default=TARGET, help=f"seconds per timed run (default {TARGET})"
    )
    parser.add_argument("--only", metavar="SHAPE[,SHAPE]", help=f"shapes: {', '.join(SHAPES)}")
    args = parser.parse_args(argv)
    shapes = [name.strip() for name in args.only.split(",")] if args.only else list(SHAPES)
    unknown = [name for name in shapes if name not in SHAPES]
    if unknown:
        parser.error(f"unknown shape {', '.join(unknown)}; shapes: {', '.join(SHAPES)}")
    repeats = args.repeats if args.repeats is not None else 3 if args.quick else 9
    if repeats < 3:
        parser.error("--repeats must be at least 3 (the table shows medians)")
    timing = Timing(repeats, 0.02, 0.02) if args.quick else Timing(repeats, args.target)
    print(environment(timing), flush=True)
    with clock():
        rows, ok = threads_rows(timing, shapes)
    print(f"\nTwo fits in two threads (ratio: 2.00 is perfect)\n{render(HEADER, rows, left=2)}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
