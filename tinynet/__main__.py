"""``python -m tinynet``: train the blog's networks, print what the blog prints, and time the
three-layer network in the compiled core against the blog's own numpy loop (and against the
numpy reference); ``python -m tinynet bench`` runs the benchmark suite (:mod:`benchmarks`)."""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Sequence

import tinynet
from tinynet._blog import NEURON_X, NEURON_Y, XOR_X, XOR_Y, eleven_lines


def blog_results() -> None:
    """The posts' three networks, printed as the posts print them."""
    # The blog prints the forward pass of its last iteration: the output after one update
    # fewer than its iteration count.
    print("Two-layer network, 10000 iterations")
    two_layer = tinynet.Network([3, 1], seed=1).fit(XOR_X, [0, 0, 1, 1], epochs=9999)
    print("Output After Training:")
    print(two_layer.predict(XOR_X))

    print("\nThree-layer network, 60000 iterations")
    three_layer = tinynet.Network([3, 4, 1], seed=1).fit(XOR_X, XOR_Y, epochs=59999)
    for mae in three_layer.history["mae"][::10000]:
        print(f"Error:{mae:.12g}")
    print("Output After Training:")
    print(three_layer.predict(XOR_X))

    print("\nSingle neuron (the second post), 10000 iterations")
    neuron = tinynet.Network([3, 1], seed=1)
    print("Random starting synaptic weights:", neuron.weights[0].ravel())
    neuron.fit(NEURON_X, NEURON_Y, epochs=10000)
    print("New synaptic weights after training:", neuron.weights[0].ravel())
    print("Considering new situation [1, 0, 0] -> ?:", neuron.predict([1, 0, 0]))


def median_seconds(run: Callable[[], object], repeats: int) -> float:
    """Median seconds of ``repeats`` calls of ``run``."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def fit_xor(backend: str, epochs: int) -> Callable[[], object]:
    """A training of the three-layer XOR network from the blog's weights, in ``backend``
    (making the network included, as the blog's loop includes drawing its weights)."""

    def run() -> None:
        tinynet.Network([3, 4, 1], seed=1, backend=backend).fit(XOR_X, XOR_Y, epochs=epochs)

    return run


def speed(epochs: int, repeats: int) -> None:
    """Print the compiled core's time on the blog's XOR against the blog's own numpy loop
    (the speed-up) and against the numpy reference.

    The reference (``backend="numpy"``) is slower than the blog's loop: it also records the
    history and evaluates an overflow-free sigmoid, so a speed-up over it would flatter.
    """
    compiled = median_seconds(fit_xor("cython", epochs), repeats)
    blog = median_seconds(lambda: eleven_lines(XOR_X, XOR_Y, epochs), repeats)
    numpy_reference = median_seconds(fit_xor("numpy", epochs), repeats)
    print(f"\nSpeed: three-layer XOR, {epochs} epochs, float64, median of {repeats} runs")
    print(f"  compiled core             {compiled * 1e3:9.2f} ms")
    print(f"  the blog's numpy loop     {blog * 1e3:9.2f} ms  (its eleven lines, as published)")
    print(f'  tinynet\'s numpy reference {numpy_reference * 1e3:9.2f} ms  (backend="numpy")')
    print(f"  speed-up {blog / compiled:9.1f}x against the blog's numpy loop")
    print(f"  speed-up {numpy_reference / compiled:9.1f}x against tinynet's numpy reference")


def main(argv: Sequence[str] | None = None) -> int:
    """The command line; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m tinynet",
        description="Train the blog's networks, print the blog's results and the speed-up "
        "of the compiled core over the blog's numpy loop on the blog's XOR.",
        epilog="python -m tinynet bench [options] runs the benchmark suite "
        "(python -m tinynet bench --help: its options).",
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help="timed runs of each (the medians are printed)"
    )
    parser.add_argument("--no-speed", action="store_true", help="skip the timing")
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["bench"]:  # every later argument, --help included, is the suite's
        try:
            from benchmarks.suite import main as bench_main
        except ImportError as error:
            if error.name not in ("benchmarks", "benchmarks.suite"):
                raise
            parser.error(
                "the benchmark suite lives in the benchmarks/ folder of a checkout (and of the "
                "sdist): run python -m tinynet bench from its top"
            )
        return bench_main(argv[1:], prog="python -m tinynet bench")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    print(f"tinynet {tinynet.__version__}\n")
    blog_results()
    if not args.no_speed:
        speed(60000, args.repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
