"""Pieces of the benchmark suite (tinynet/bench/suite.py) that its tables rest on; speed
itself is measured there, never asserted here."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import TOL_EPS

from tinynet.bench import suite


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
