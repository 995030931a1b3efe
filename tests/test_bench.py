"""Pieces of the benchmarks (tinynet/bench/) that their tables rest on, and their command
lines; speed itself is measured there, never asserted here."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from helpers import TOL_EPS, assert_close, tolerance

import tinynet
from tinynet._blog import XOR_X, XOR_Y, eleven_lines
from tinynet.bench import crossover, suite


def run_python(*args: str) -> subprocess.CompletedProcess[str]:
    """``python -W error *args``, importing the same tinynet as this test session (in
    development, the one built in place)."""
    env = dict(os.environ)
    package_parent = os.path.dirname(os.path.dirname(tinynet.__file__))
    env["PYTHONPATH"] = os.pathsep.join([package_parent, *filter(None, [env.get("PYTHONPATH")])])
    return subprocess.run(
        [sys.executable, "-W", "error", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def counting_dot(monkeypatch) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """Record the shapes of every ndarray.dot the suite makes (numpy's ndarray is not
    patchable, so the suite's arrays are wrapped in a subclass that records)."""
    shapes: list[tuple[tuple[int, ...], tuple[int, ...]]] = []

    class Recording(np.ndarray):
        def dot(self, other, out=None):
            shapes.append((self.shape, other.shape))
            return np.asarray(self).dot(np.asarray(other)).view(Recording)

    real_rng = np.random.default_rng

    class Rng:
        def __init__(self, seed):
            self.rng = real_rng(seed)

        def random(self, shape, dtype):
            return self.rng.random(shape, dtype=dtype).view(Recording)

    monkeypatch.setattr(suite.np.random, "default_rng", Rng)
    return shapes


@pytest.mark.parametrize("batch_size", [None, 4])
def test_products_alone_makes_the_epochs_products(monkeypatch, batch_size):
    """Per batch: a forward product per synapse, a hidden delta's per synapse but the first,
    a gradient per synapse; the flops they add up to are the case's flops per epoch."""
    shapes = counting_dot(monkeypatch)
    case = suite.Case("test", (5, 4, 3, 2), 10, batch_size, 0.1, check_epochs=1)
    suite.products_alone(case, np.float64)(1)
    batches = 1 if batch_size is None else 3  # 10 rows in batches of 4, 4 and 2
    assert len(shapes) == batches * (3 + 2 + 3)
    flops = sum(2 * a[0] * a[1] * b[1] for a, b in shapes)
    assert flops == case.flops_per_epoch
    assert ((10, 5), (5, 4)) in shapes or ((4, 5), (5, 4)) in shapes


def test_products_rows_compare_numpy_and_the_core_with_the_products():
    case = suite.CASES["digits"]
    samples = {"numpy": [0.004] * 3, "core": [0.003] * 3, "products": [0.002] * 3}
    (row,) = suite.products_rows([suite.Result(case, "float64", samples)])
    assert row[:2] == ["digits", "float64"]
    assert row[3:] == ["4.00", "3.00", "2.00x", "1.50"]
    xor = suite.Result(suite.CASES["xor"], "float64", {"numpy": [1.0] * 3, "core": [0.1] * 3})
    assert suite.products_rows([xor]) == []


def test_the_suite_checks_contenders_with_the_tests_tolerance():
    assert suite.TOL_EPS == TOL_EPS


@pytest.mark.parametrize(
    ("module", "options"),
    [("crossover", ["--repeats", "--dtype"]), ("digits", ["--epochs", "--batch-size"])],
)
def test_benchmark_modules_run_from_the_command_line(module, options):
    result = run_python("-m", f"tinynet.bench.{module}", "--help")
    assert result.returncode == 0, result.stderr
    assert f"python -m tinynet.bench.{module}" in result.stdout
    for option in options:
        assert option in result.stdout


def test_the_suite_does_not_import_the_command_line():
    """tinynet/__main__.py imports the suite (lazily, for ``bench``): the suite takes the
    blog's data from tinynet._blog, not from it, so there is no import circle."""
    code = "import sys, tinynet.bench.suite; assert 'tinynet.__main__' not in sys.modules"
    result = run_python("-c", code)
    assert result.returncode == 0, result.stderr


def test_the_blogs_eleven_lines_train_the_blogs_network():
    """The XOR baseline (the suite's and ``python -m tinynet``'s) starts from the weights of
    ``Network([3, 4, 1], seed=1)`` and runs the same algorithm."""
    net = tinynet.Network([3, 4, 1], seed=1, backend="numpy")
    assert_close(eleven_lines(XOR_X, XOR_Y, 0)[0], net.weights[0], 0.0, "syn0 at the start")
    net.fit(XOR_X, XOR_Y, epochs=100)
    for got, expected in zip(eleven_lines(XOR_X, XOR_Y, 100), net.weights, strict=True):
        assert_close(got, expected, tolerance(np.float64), "weights after 100 epochs")


def test_crossover_times_the_general_loop_with_and_without_blas(monkeypatch):
    """Each timed fit is forced off the small road, every product to BLAS or none."""
    seen: list[dict[str, object]] = []
    real_forced = crossover.forced

    def recording(**choices):
        seen.append(choices)
        return real_forced(**choices)

    monkeypatch.setattr(crossover, "forced", recording)
    for side in (crossover.LOOPS, crossover.BLAS):
        assert crossover.time_per_epoch((8, 8, 8), np.float64, side) > 0
    assert seen == [
        {"small_road": False, "blas_crossover": 2**62},
        {"small_road": False, "blas_crossover": 0},
    ]
