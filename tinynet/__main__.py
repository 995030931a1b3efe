"""``python -m tinynet``: train the blog's networks, print what the blog prints, and time the
three-layer network in the compiled core against the numpy reference; ``python -m tinynet
bench`` runs the benchmark suite (:mod:`tinynet.bench`)."""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Sequence

import tinynet
from tinynet._blog import NEURON_X, NEURON_Y, XOR_X, XOR_Y


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


def time_fit(backend: str, epochs: int, repeats: int) -> float:
    """Median seconds of ``repeats`` trainings of the three-layer XOR network."""
    times = []
    for _ in range(repeats):
        net = tinynet.Network([3, 4, 1], seed=1, backend=backend)
        start = time.perf_counter()
        net.fit(XOR_X, XOR_Y, epochs=epochs)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def speed(epochs: int, repeats: int) -> None:
    """Print the compiled core's time against the numpy reference's on the blog's XOR."""
    compiled = time_fit("cython", epochs, repeats)
    numpy_reference = time_fit("numpy", epochs, repeats)
    print(f"\nSpeed: three-layer XOR, {epochs} epochs, float64, median of {repeats} runs")
    print(f"  compiled core    {compiled * 1e3:9.2f} ms")
    print(f"  numpy reference  {numpy_reference * 1e3:9.2f} ms")
    print(f"  speed-up         {numpy_reference / compiled:9.1f}x")


def main(argv: Sequence[str] | None = None) -> int:
    """The command line; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m tinynet",
        description="Train the blog's networks, print the blog's results and the speed-up "
        "of the compiled core over the numpy reference on the blog's XOR.",
        epilog="python -m tinynet bench [options] runs the benchmark suite "
        "(python -m tinynet bench --help: its options).",
    )
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per backend")
    parser.add_argument("--no-speed", action="store_true", help="skip the timing")
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["bench"]:  # every later argument, --help included, is the suite's
        from tinynet.bench.suite import main as bench_main

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
