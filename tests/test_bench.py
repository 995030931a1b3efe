"""Pieces of the benchmarks (benchmarks/) that their tables rest on, and their command
lines; speed itself is measured there, never asserted here."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
from helpers import TOL_EPS, assert_close, tolerance

import tinynet
from benchmarks import _contenders, crossover, sklearn_mlp, suite
from tinynet._blog import XOR_X, XOR_Y, eleven_lines


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
    [
        ("crossover", ["--repeats", "--dtype"]),
        ("digits", ["--epochs", "--batch-size"]),
        ("sklearn_mlp", ["--quick", "--datasets", "--folds"]),
    ],
)
def test_benchmark_modules_run_from_the_command_line(module, options):
    result = run_python("-m", f"benchmarks.{module}", "--help")
    assert result.returncode == 0, result.stderr
    assert f"python -m benchmarks.{module}" in result.stdout
    for option in options:
        assert option in result.stdout


def test_the_suite_does_not_import_the_command_line():
    """tinynet/__main__.py imports the suite (lazily, for ``bench``): the suite takes the
    blog's data from tinynet._blog, not from it, so there is no import circle."""
    code = "import sys, benchmarks.suite; assert 'tinynet.__main__' not in sys.modules"
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


# The Adam and batch-normalisation rows: tiny problems, a few epochs.
OPTION_CASES = {
    "adam, batches of 3": suite.Case("t", (5, 4, 3), 10, 3, 0.05, 5, optimizer="adam"),
    "adam, full batch": suite.Case("t", (5, 4, 3), 10, None, 0.05, 5, optimizer="adam"),
    # 10 rows in batches of 3: the last batch of one row joins the one before it.
    "batch norm, batches of 3": suite.Case("t", (5, 4, 3), 10, 3, 0.5, 5, batch_norm=True),
    "batch norm, batches of 4": suite.Case("t", (5, 4, 3), 10, 4, 0.5, 5, batch_norm=True),
    "batch norm, full batch": suite.Case("t", (5, 4, 3), 10, None, 0.5, 5, batch_norm=True),
}
NEW_ROWS = ["digits-adam", "mnist-batch-adam", "digits-batchnorm", "mnist-batch-batchnorm"]


@pytest.mark.parametrize("dtype", suite.DTYPES)
@pytest.mark.parametrize("name", OPTION_CASES)
def test_the_adam_and_batch_norm_contenders_agree_with_the_core(name, dtype):
    """numpy's loops with Adam or batch normalisation end where the core's Trainer ends, by
    the suite's own check (which also asks numpy's weights to have moved far enough)."""
    case = OPTION_CASES[name]
    problem = suite.make_problem(case, dtype)
    runs = suite.contenders(case, problem)
    assert set(runs) == {"numpy", "core"}  # the peers run the blog's update only
    assert suite.disagreements(problem, runs, case.check_epochs) == {}
    trained = runs["numpy"](case.check_epochs)
    # The weights, then the hidden layer's scales, shifts, running means and variances.
    assert len(trained) == (6 if case.batch_norm else 2)
    blog = _contenders.numpy_loop(problem)(case.check_epochs)
    assert not np.allclose(trained[0], blog[0]), "not the blog's update"


def test_the_new_rows_are_cases_of_the_suite_and_selectable():
    args = suite.parse_args(["--only", ",".join(NEW_ROWS)])
    assert args.only == NEW_ROWS
    for name in NEW_ROWS:
        case = suite.CASES[name]
        shape = suite.CASES[name.rsplit("-", 1)[0]]  # digits, mnist-batch
        assert (case.layers, case.n_samples, case.batch_size) == (
            shape.layers,
            shape.n_samples,
            shape.batch_size,
        )
        assert (case.optimizer, case.batch_norm) == (
            ("adam", False) if name.endswith("adam") else ("sgd", True)
        )
    assert [name for name in suite.CASES if suite.CASES[name].sgd_baseline] == ["mnist-batch-adam"]


def test_adam_rows_give_adams_epoch_over_sgds():
    case = suite.CASES["mnist-batch-adam"]
    samples = {"numpy": [0.06] * 3, "core": [0.046] * 3, "numpy sgd": [0.05] * 3}
    samples |= {"core sgd": [0.04] * 3, "products": [0.03] * 3}
    (row,) = suite.adam_rows([suite.Result(case, "float32", samples)])
    assert row == ["mnist-batch-adam", "float32", "40.0", "46.0", "1.15", "50.0", "60.0", "1.20"]
    plain = suite.Result(suite.CASES["digits"], "float64", {"numpy": [1.0] * 3, "core": [1.0] * 3})
    assert suite.adam_rows([plain]) == []


def test_an_adam_case_times_sgd_beside_it_and_its_tables_render():
    """The whole path of a case with ``sgd_baseline``, at a tiny size (no timing asserted)."""
    case = replace(OPTION_CASES["adam, batches of 3"], sgd_baseline=True)
    result, agreed = suite.speed_case(case, np.float32, suite.Timing(3, 0.0, 0.0))
    assert agreed and result is not None
    assert {"numpy", "core", "products", "numpy sgd", "core sgd"} <= set(result.samples)
    for rows in (suite.speed_rows([result]), suite.adam_rows([result])):
        assert len(rows) == 1
        for markdown in (False, True):
            text = suite.render([f"c{i}" for i in range(len(rows[0]))], rows, markdown)
            assert text.count("\n") == 2


def test_the_sklearn_mlp_benchmark_runs_quick(capsys):
    """The estimators against scikit-learn's MLP, a smoke run: a row per dataset and a
    verdict per target (never asserted: timings are not tests)."""
    assert sklearn_mlp.main(["--quick"]) == 0
    out = capsys.readouterr().out
    assert all(f"| {name} |" in out for name in sklearn_mlp.QUICK)
    assert out.count("PASS") + out.count("MISS") == 3
