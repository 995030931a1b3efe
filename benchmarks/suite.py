"""tinynet's benchmark suite: the compiled core against plain numpy running the same algorithm.

    python -m tinynet bench [--quick] [--repeats 5] [--only NAME[,NAME]]
        [--plot PATH] [--markdown] [--blas-threads N]

``--plot benchmarks/speedup.png`` saves the plot as the README's (matplotlib). ``--quick`` is a
smoke run of about half a minute; the default run takes a few minutes.

Cases (``--only`` names), each in float64 and float32 unless said otherwise:

- ``xor``: the blog's 3-4-1 XOR network, 60000 epochs, timed as whole runs; numpy runs the
  blog's eleven lines verbatim, seeded as published (the weights of ``Network(seed=1)``).
- ``digits``: 1797 x 64-32-10 (the 8x8 digits' shape), full batch, ms per epoch.
- ``mnist-batch``: 6400 x 784-128-10 in batches of 64 rows, in order, ms per epoch.
- ``mnist-full``: 10000 x 784-128-10, full batch, ms per epoch; also the GFLOP/s the core
  reaches against one plain numpy GEMM of the algorithm's biggest product.
- ``digits-adam``, ``mnist-batch-adam``: the digits' and mnist-batch's shapes trained with
  Adam (PyTorch's update and default hyperparameters, one step per batch) instead of the
  blog's update; numpy runs the blog's loop with Adam's update. For ``mnist-batch-adam`` the
  suite also times both contenders with the blog's update (SGD) in the same repeats: the
  "adam / sgd" table gives Adam's epoch time over SGD's, for the core and for numpy.
- ``digits-batchnorm``, ``mnist-batch-batchnorm``: the same shapes with the hidden layer
  batch-normalised (PyTorch's ``BatchNorm1d`` in training mode), trained by the blog's
  update; numpy runs the blog's loop with batch normalisation.

The core's contender for the Adam and batch-normalisation cases is ``Network.fit`` with
those options (``benchmarks._contenders.options_core``). Their GFLOP/s count the matrix
products only.

For digits and both MNIST shapes the suite also times an epoch's matrix products alone, made
with numpy's BLAS as numpy's loop makes them: numpy's time over theirs is the most that any
loop making those products with that BLAS could gain over numpy.
- ``threads``: two networks (float64, seeds 0 and 1; 512 x 8-16-1 and the digits' shape)
  trained in two threads at once against one after the other: the core as a user runs it
  (tinynet puts BLAS on one thread while both fit), with that limiting off, and the core and
  numpy's loop with BLAS pinned to one thread (:mod:`benchmarks.threads`).
- ``memory``: the peak memory (tracemalloc) of one epoch of the digits and mnist-batch cases
  against a budget: the inputs, targets and weights plus one batch's layer outputs and deltas.

The data are seeded random inputs in [0, 1) and one-hot targets (no download); beyond the XOR
the weights are the blog's draws scaled to Glorot's bound (``init="xavier"``) and the learning
rate is about one over the batch's rows (the gradient is summed over them), so that the
sigmoids do not saturate. Every contender starts from a tinynet network's ``weights``.

Before timing a case, each contender trains a few epochs and must end within 2000 machine
epsilons (the tests' tolerance, scaled by the largest weight) of numpy's weights: the proof
that they run the same algorithm (a failure is printed as an ERROR, the case is not timed and
the exit status is 1). Then all run interleaved, ``--repeats`` times, each for as many epochs
as take about 0.3 s (the XOR: one whole run), 0.1 s apart, and the table shows medians with
their [min-max] spread; a speed-up is numpy's median over the contender's. The optional peers,
PyTorch (CPU, its default threads) and numba (``@njit`` of the numpy loop), join when they
import; their columns show '-' otherwise. Every BLAS library keeps its default threads unless
``--blas-threads`` limits them; the header lists them, with the load average at the start.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import math
import os
import platform
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

import numpy as np

import tinynet
from benchmarks._contenders import (
    PEERS,
    Problem,
    Run,
    blog_xor,
    describe_peers,
    initial_batch_norm,
    numpy_contender,
    numpy_loop,
    optional,
    options_core,
    tinynet_core,
)
from tinynet._blog import XOR_X, XOR_Y

threadpoolctl = optional("threadpoolctl")

DTYPES = (np.float64, np.float32)
TOL_EPS = 2000  # as tests/helpers.py: the core and numpy agree within this many epsilons


@dataclass(frozen=True)
class Timing:
    """How to time.

    Attributes
    ----------
    repeats : int
        Timed runs of each contender, interleaved; the tables show their median.
    target : float
        The least seconds of one timed run: it does as many units (epochs) as take that
        long, at least one.
    settle : float
        Seconds of sleep before each timed run, so that the BLAS threads of the run before
        (which spin for a while after their last call) are asleep: with two BLAS libraries
        in the process (numpy's and another), their threads otherwise compete for the cores.
    """

    repeats: int
    target: float = 0.3
    settle: float = 0.1


@dataclass(frozen=True)
class Case:
    """One benchmark problem.

    Attributes
    ----------
    name : str
        The ``--only`` name.
    layers : tuple of int
        The layer sizes, input first.
    n_samples : int
        Rows of training data.
    batch_size : int or None
        Rows per update; ``None`` for the full batch.
    learning_rate : float
        The blog's ``alpha``.
    check_epochs : int
        Epochs of the agreement check.
    run_epochs : int or None
        Time whole runs of this many epochs (the XOR); ``None`` times epochs.
    gemm : bool
        Also time one numpy GEMM of the biggest product, for the GFLOP/s table.
    optimizer : str
        ``"sgd"`` (the blog's update) or ``"adam"``.
    batch_norm : bool
        Batch-normalise the hidden layer.
    sgd_baseline : bool
        Also time both contenders with the blog's update on the same problem, for the
        "adam / sgd" table.
    """

    name: str
    layers: tuple[int, ...]
    n_samples: int
    batch_size: int | None
    learning_rate: float
    check_epochs: int
    run_epochs: int | None = None
    gemm: bool = False
    optimizer: str = "sgd"
    batch_norm: bool = False
    sgd_baseline: bool = False

    @property
    def flops_per_epoch(self) -> int:
        """``2 * n * k * j`` for each matrix product of an epoch.

        Per synapse ``k x j``: the forward product and the weight gradient, and the hidden
        delta's product for every synapse but the first (no delta is computed for the input).
        """
        return sum(
            (2 if i == 0 else 3) * 2 * self.n_samples * k * j
            for i, (k, j) in enumerate(itertools.pairwise(self.layers))
        )

    @property
    def biggest_product(self) -> tuple[int, int, int]:
        """``(n, k, j)`` of the algorithm's biggest product, ``(n x k) . (k x j)``."""
        k, j = max(itertools.pairwise(self.layers), key=lambda kj: kj[0] * kj[1])
        return self.batch_size or self.n_samples, k, j

    @property
    def flops_per_unit(self) -> int:
        """Flops per timed unit: an epoch, or a whole run for the XOR."""
        return self.flops_per_epoch * (self.run_epochs or 1)


CASES = {
    case.name: case
    for case in (
        Case("xor", (3, 4, 1), 4, None, 1.0, check_epochs=10, run_epochs=60000),
        Case("digits", (64, 32, 10), 1797, None, 1e-3, check_epochs=5),
        Case("mnist-batch", (784, 128, 10), 6400, 64, 1e-2, check_epochs=1),
        Case("mnist-full", (784, 128, 10), 10000, None, 1e-4, check_epochs=3, gemm=True),
        # Adam moves each weight by at most about its learning rate per update.
        Case("digits-adam", (64, 32, 10), 1797, None, 1e-2, check_epochs=10, optimizer="adam"),
        Case(
            "mnist-batch-adam",
            (784, 128, 10),
            6400,
            64,
            1e-3,
            check_epochs=2,
            optimizer="adam",
            sgd_baseline=True,
        ),
        Case("digits-batchnorm", (64, 32, 10), 1797, None, 1e-3, check_epochs=5, batch_norm=True),
        Case(
            "mnist-batch-batchnorm",
            (784, 128, 10),
            6400,
            64,
            1e-2,
            check_epochs=1,
            batch_norm=True,
        ),
    )
}
SECTIONS = ("threads", "memory")


@dataclass
class Result:
    """One case in one dtype: seconds per unit of each contender, one sample per repeat."""

    case: Case
    dtype: str
    samples: dict[str, list[float]]

    def median(self, name: str) -> float:
        """The median seconds per unit of contender ``name``."""
        return statistics.median(self.samples[name])

    def speedup(self, name: str) -> float:
        """numpy's median over ``name``'s."""
        return self.median("numpy") / self.median(name)

    def gflops(self, name: str) -> float:
        """The algorithm's GFLOP/s at ``name``'s median time."""
        return self.case.flops_per_unit / self.median(name) / 1e9


def make_problem(case: Case, dtype: type, seed: int = 0) -> Problem:
    """The case's data and a tinynet network's initial weights (the blog's for the XOR)."""
    X: np.ndarray
    y: np.ndarray
    if case.name == "xor":
        X, y = XOR_X.astype(dtype), XOR_Y.astype(dtype)
        net = tinynet.Network(case.layers, seed=1, dtype=dtype)
    else:
        rng = np.random.default_rng(seed)
        X = rng.random((case.n_samples, case.layers[0]), dtype=dtype)
        labels = rng.integers(case.layers[-1], size=case.n_samples)
        y = np.eye(case.layers[-1], dtype=dtype)[labels]
        net = tinynet.Network(case.layers, seed=seed, dtype=dtype, init="xavier")
    batch_size = case.batch_size or case.n_samples
    return Problem(
        X, y, net.weights, dtype(case.learning_rate), batch_size, case.optimizer, case.batch_norm
    )


def contenders(case: Case, problem: Problem) -> dict[str, Run]:
    """numpy (the baseline), tinynet's core, and the peers that import, on ``problem``.

    The peers run the blog's algorithm only: they join the cases of plain SGD.
    """
    if not problem.plain:
        return {"numpy": numpy_contender(problem), "core": options_core(problem)}
    numpy_run = blog_xor if case.name == "xor" else numpy_loop
    runs = {"numpy": numpy_run(problem), "core": tinynet_core(problem)}
    return runs | {name: factory(problem) for name, factory in PEERS.items()}


def sgd_baselines(problem: Problem) -> dict[str, Run]:
    """numpy and the core with the blog's update on ``problem``'s data and weights, the core
    through the same contender as the problem's own (for the "adam / sgd" table)."""
    sgd = replace(problem, optimizer="sgd")
    return {"numpy sgd": numpy_loop(sgd), "core sgd": options_core(sgd)}


def disagreements(problem: Problem, runs: dict[str, Run], epochs: int) -> dict[str, str]:
    """Train each contender ``epochs`` epochs and compare its weights with numpy's.

    Returns what went wrong, by contender: a difference beyond ``TOL_EPS`` epsilons of the
    dtype (times the largest weight, if above 1), or an exception. With batch normalisation
    the scales, shifts and running statistics are compared too. Under ``"numpy"``: that
    its weights moved too little for the comparison to prove anything.
    """
    expected = runs["numpy"](epochs)
    scale = max(1.0, *(float(np.abs(w).max()) for w in expected))
    tol = TOL_EPS * float(np.finfo(problem.X.dtype).eps) * scale
    problems = {}
    moved = max(
        float(np.abs(w - w0).max())
        for w, w0 in zip(expected, [*problem.weights, *initial_batch_norm(problem)], strict=True)
    )
    if moved < 100 * tol:
        problems["numpy"] = f"weights moved by only {moved:.3g} in {epochs} epochs"
    for name, run in runs.items():
        if name == "numpy":
            continue
        try:
            got = run(epochs)
        except Exception as error:  # reported; the contender is left out
            problems[name] = f"raised {error!r}"
            continue
        diff = max(float(np.abs(g - w).max()) for g, w in zip(got, expected, strict=True))
        if not diff <= tol:  # written so that NaN fails too
            problems[name] = (
                f"weights differ from numpy's after {epochs} epochs by up to {diff:.3g} "
                f"(tolerance {tol:.3g}): not the same algorithm"
            )
    return problems


def measure(runs: Mapping[str, Callable[[int], object]], timing: Timing) -> dict[str, list[float]]:
    """Seconds per unit of work of each run, one sample per repeat, the runs interleaved.

    ``run(units)`` does ``units`` units of work (epochs, products). A first, unrecorded call
    of one unit sizes each run: as many units as take ``timing.target`` seconds, at least one.
    """
    units = {}
    for name, run in runs.items():
        start = time.perf_counter()
        run(1)
        units[name] = max(1, math.ceil(timing.target / (time.perf_counter() - start)))
    samples: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(timing.repeats):  # interleaved, so that all share the machine's mood
        for name, run in runs.items():
            time.sleep(timing.settle)
            start = time.perf_counter()
            run(units[name])
            samples[name].append((time.perf_counter() - start) / units[name])
    return samples


def whole_runs(run: Run, epochs: int) -> Callable[[int], object]:
    """``run`` as units of ``epochs`` epochs each."""
    return lambda units: [run(epochs) for _ in range(units)]


def gemm(case: Case, dtype: type) -> Callable[[int], object]:
    """Products of the algorithm's biggest shape, ``(n, k) . (k, j)``, with numpy's BLAS."""
    n, k, j = case.biggest_product
    rng = np.random.default_rng(0)
    a = rng.random((n, k), dtype=dtype)
    b = rng.random((k, j), dtype=dtype)

    def products(units: int) -> None:
        for _ in range(units):
            a.dot(b)

    return products


def products_alone(case: Case, dtype: type) -> Callable[[int], object]:
    """An epoch's matrix products and nothing else, with numpy's BLAS, as numpy's loop does
    them: per batch, the forward product through each synapse, the hidden delta's through
    each synapse but the first, and each synapse's gradient (on stand-in data: the time of
    a product does not depend on its values)."""
    n, b = case.n_samples, case.batch_size or case.n_samples
    rng = np.random.default_rng(0)
    X = rng.random((n, case.layers[0]), dtype=dtype)
    synapses = [rng.random((k, j), dtype=dtype) for k, j in itertools.pairwise(case.layers)]
    deltas = [rng.random((b, j), dtype=dtype) for j in case.layers[1:]]

    def epoch() -> None:
        for start in range(0, n, b):
            layers = [X[start : start + b]]
            for syn in synapses:
                layers.append(layers[-1].dot(syn))
            rows = len(layers[0])
            for i, syn in enumerate(synapses):
                if i > 0:
                    deltas[i][:rows].dot(syn.T)
                layers[i].T.dot(deltas[i][:rows])

    def epochs(units: int) -> None:
        for _ in range(units):
            epoch()

    return epochs


def report_errors(what: str, problems: dict[str, str]) -> None:
    """Print each problem of ``problems`` (by contender) as an error on stderr."""
    for name, message in problems.items():
        print(f"ERROR: {what}, {name}: {message}", file=sys.stderr)


def speed_case(case: Case, dtype: type, timing: Timing) -> tuple[Result | None, bool]:
    """Check, then time one case in one dtype; whether all contenders agreed.

    A peer that fails the check is left out; the result is ``None`` if numpy or the core
    fails it.
    """
    dtype_name = np.dtype(dtype).name
    problem = make_problem(case, dtype)
    runs = contenders(case, problem)
    problems = disagreements(problem, runs, case.check_epochs)
    report_errors(f"{case.name} {dtype_name}", problems)
    if "numpy" in problems or "core" in problems:
        return None, False
    runs = {name: run for name, run in runs.items() if name not in problems}
    timed: dict[str, Callable[[int], object]] = dict(runs)
    if case.run_epochs:
        timed = {name: whole_runs(run, case.run_epochs) for name, run in runs.items()}
        timing = replace(timing, target=0.0)  # one whole run per repeat
    if case.gemm:
        timed["gemm"] = gemm(case, dtype)
    if not case.run_epochs:
        timed["products"] = products_alone(case, dtype)
    if case.sgd_baseline:
        baselines = sgd_baselines(problem)
        sgd_problems = disagreements(
            problem,
            {"numpy": baselines["numpy sgd"], "core": baselines["core sgd"]},
            case.check_epochs,
        )
        report_errors(f"{case.name} {dtype_name} (sgd)", sgd_problems)
        if sgd_problems:
            problems |= {f"{name} sgd": message for name, message in sgd_problems.items()}
        else:
            timed |= baselines
    return Result(case, dtype_name, measure(timed, timing)), not problems


def peak_bytes(problem: Problem, factory: Callable[[Problem], Run]) -> int:
    """The inputs, targets and weights plus the peak of what one epoch allocates (tracemalloc).

    numpy reports its arrays' memory to tracemalloc; memory a compiled extension takes with
    ``malloc`` or ``new`` directly is not seen.
    """
    run = factory(problem)
    tracemalloc.start()
    try:
        run(1)
        extra = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return problem.X.nbytes + problem.y.nbytes + sum(w.nbytes for w in problem.weights) + extra


def budget_bytes(problem: Problem) -> int:
    """Inputs, targets, weights, and one batch's layer outputs and deltas (l1, l2, deltas)."""
    batch_rows = min(problem.batch_size, len(problem.X))
    batch = 2 * batch_rows * sum(problem.layers[1:]) * problem.X.itemsize
    return problem.X.nbytes + problem.y.nbytes + sum(w.nbytes for w in problem.weights) + batch


def memory_case(dtypes: Sequence[type]) -> list[list[str]]:
    """Rows of peak memory against the budget, core and numpy, for digits and mnist-batch."""
    rows = []
    for name in ("digits", "mnist-batch"):
        for dtype in dtypes:
            problem = make_problem(CASES[name], dtype)
            budget = budget_bytes(problem)
            row = [name, np.dtype(dtype).name, f"{budget / 2**20:.2f}"]
            for factory in (tinynet_core, numpy_loop):
                peak = peak_bytes(problem, factory)
                row += [f"{peak / 2**20:.2f}", f"{peak / budget:.2f}x"]
            rows.append(row)
    return rows


def sig3(value: float) -> str:
    """``value`` to three significant digits, in fixed point."""
    digits = 2 - math.floor(math.log10(abs(value))) if value else 0
    return f"{value:.{max(0, digits)}f}"


def span(samples: list[float]) -> str:
    """Median ms and the [min-max] spread of samples in seconds."""
    low, mid, high = (v * 1e3 for v in (min(samples), statistics.median(samples), max(samples)))
    return f"{sig3(mid)} [{sig3(low)}-{sig3(high)}]"


def speed_rows(results: list[Result]) -> list[list[str]]:
    """The main table's rows: one per case and dtype."""
    rows = []
    for r in results:
        unit = f"run ({r.case.run_epochs} epochs)" if r.case.run_epochs else "epoch"
        peers = [f"{sig3(r.speedup(p))}x" if p in r.samples else "-" for p in ("torch", "numba")]
        rows.append(
            [
                r.case.name,
                r.dtype,
                unit,
                span(r.samples["numpy"]),
                span(r.samples["core"]),
                sig3(r.gflops("core")),
                f"{sig3(r.speedup('core'))}x",
                *peers,
            ]
        )
    return rows


def products_rows(results: list[Result]) -> list[list[str]]:
    """An epoch's matrix products alone against numpy's and the core's whole epochs."""
    rows = []
    for r in results:
        if "products" not in r.samples:
            continue
        products = r.median("products")
        rows.append(
            [
                r.case.name,
                r.dtype,
                span(r.samples["products"]),
                sig3(r.median("numpy") * 1e3),
                sig3(r.median("core") * 1e3),
                f"{sig3(r.speedup('products'))}x",
                f"{r.median('core') / products:.2f}",
            ]
        )
    return rows


def adam_rows(results: list[Result]) -> list[list[str]]:
    """Adam's epoch time over SGD's, core and numpy, for cases that timed SGD beside Adam."""
    rows = []
    for r in results:
        if "core sgd" not in r.samples:
            continue
        row = [r.case.name, r.dtype]
        for name in ("core", "numpy"):
            sgd, adam = r.median(f"{name} sgd"), r.median(name)
            row += [sig3(sgd * 1e3), sig3(adam * 1e3), f"{adam / sgd:.2f}"]
        rows.append(row)
    return rows


def gflops_rows(results: list[Result]) -> list[list[str]]:
    """GFLOP/s of the core and the numpy loop against one GEMM, for cases that timed one."""
    rows = []
    for r in results:
        if "gemm" not in r.samples:
            continue
        n, k, j = r.case.biggest_product
        gemm_flops = 2 * n * k * j / r.median("gemm") / 1e9
        core, loop = r.gflops("core"), r.gflops("numpy")
        rows.append(
            [
                r.case.name,
                r.dtype,
                sig3(core),
                sig3(loop),
                f"({n}x{k}).({k}x{j})",
                sig3(gemm_flops),
                f"{core / gemm_flops:.1%}",
            ]
        )
    return rows


def render(header: list[str], rows: list[list[str]], markdown: bool = False, left: int = 2) -> str:
    """A table, as aligned text or as Markdown; the first ``left`` columns align left."""
    if markdown:
        rule = ["---" if i < left else "---:" for i in range(len(header))]
        return "\n".join("| " + " | ".join(row) + " |" for row in [header, rule, *rows])
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(
            cell.ljust(w) if i < left else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in [header, *rows]
    ]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def plot(results: list[Result], path: str) -> None:
    """Save the core's speed-up over numpy against flops per epoch (log-log) to ``path``."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import matplotlib.ticker
    except ImportError:
        print("plot skipped: matplotlib is not installed (pip install matplotlib)")
        return
    markers = dict(zip(CASES, "osD^vPX*", strict=True))
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for r in results:
        color = "C0" if r.dtype == "float64" else "C1"
        ax.scatter(
            r.case.flops_per_epoch,
            r.speedup("core"),
            marker=markers[r.case.name],
            color=color,
            s=60,
            label=f"{r.case.name} {r.dtype}",
        )
    ax.axhline(1.0, color="grey", linestyle="--", linewidth=1)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}x"))
    ax.set_xlabel("flops per epoch (matrix products)")
    ax.set_ylabel("speed-up of tinynet's core over numpy")
    ax.set_title("tinynet's compiled core vs the same algorithm in numpy")
    ax.legend(fontsize="small")
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    print(f"plot: {path}")


def blas_libraries() -> list[dict[str, str | int]]:
    """threadpoolctl's description of each BLAS library loaded in the process."""
    if threadpoolctl is None:
        return []
    return [pool for pool in threadpoolctl.threadpool_info() if pool["user_api"] == "blas"]


def environment(timing: Timing) -> str:
    """A few lines on what is measured, with what, and how."""
    core = Path(tinynet._core.__file__)
    built = datetime.fromtimestamp(core.stat().st_mtime).isoformat(sep=" ", timespec="seconds")
    load = f", load average {os.getloadavg()[0]:.2f}" if hasattr(os, "getloadavg") else ""
    pools = blas_libraries()
    blas = "; ".join(
        f"{pool['internal_api']} {pool['version']} ({Path(str(pool['filepath'])).parent.name}) "
        f"on {pool['num_threads']} thread{'s' if pool['num_threads'] != 1 else ''}"
        for pool in pools
    )
    lines = [
        f"tinynet {tinynet.__version__}, core {core.name} built {built}; numpy "
        f"{np.__version__}, Python {platform.python_version()}, {os.cpu_count()} CPUs{load}",
        f"BLAS: {blas or 'threads unknown (threadpoolctl is not installed)'}; the core's "
        f"products go to {tinynet._core.blas_library()}'s",
        f"peers: {describe_peers()}",
        f"medians of {timing.repeats} interleaved repeats of at least {timing.target:g} s each "
        f"(the XOR: one whole run), {timing.settle:g} s apart; [min-max] in brackets; "
        "speed-up = numpy median / contender median",
    ]
    competing = tinynet._core.blas_library() != "numpy" and len(pools) > 1
    if competing and any(pool["num_threads"] != 1 for pool in pools):
        lines.insert(2, "  (several BLAS libraries: their threads compete; see --blas-threads)")
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None, prog: str | None = None) -> argparse.Namespace:
    """The command line; ``--only`` becomes a list of names."""
    names = [*CASES, *SECTIONS]
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short runs, 3 repeats: a smoke run")
    parser.add_argument("--repeats", type=int, help="timed repeats per case (default 5; 3 quick)")
    parser.add_argument("--only", metavar="NAME[,NAME]", help=f"cases: {', '.join(names)}")
    parser.add_argument(
        "--plot",
        default="",
        metavar="PATH",
        help="save the speed-up plot there (matplotlib; the README's: benchmarks/speedup.png)",
    )
    parser.add_argument("--markdown", action="store_true", help="print the tables in Markdown too")
    parser.add_argument(
        "--blas-threads",
        type=int,
        metavar="N",
        help="limit every BLAS library to N threads (threadpoolctl); default: their own",
    )
    args = parser.parse_args(argv)
    args.only = [name.strip() for name in args.only.split(",")] if args.only else names
    unknown = [name for name in args.only if name not in names]
    if unknown:
        parser.error(f"unknown case {', '.join(unknown)}; cases: {', '.join(names)}")
    if args.repeats is None:
        args.repeats = 3 if args.quick else 5
    if args.repeats < 3:
        parser.error("--repeats must be at least 3 (the tables show medians)")
    if args.blas_threads is not None and (args.blas_threads < 1 or threadpoolctl is None):
        parser.error("--blas-threads needs N >= 1 and threadpoolctl (pip install threadpoolctl)")
    return args


def run_suite(args: argparse.Namespace) -> bool:
    """Run the cases of ``args.only``, print the tables (and the plot); whether all agreed."""
    timing = Timing(args.repeats, 0.02, 0.02) if args.quick else Timing(args.repeats)
    print(environment(timing), flush=True)
    tables: list[tuple[str, list[str], list[list[str]], int]] = []
    ok, start = True, time.perf_counter()

    def progress(what: str) -> None:
        print(f"  {time.perf_counter() - start:6.1f} s: {what}", file=sys.stderr, flush=True)

    results = []
    for name in (name for name in CASES if name in args.only):
        for dtype in DTYPES:
            result, agreed = speed_case(CASES[name], dtype, timing)
            ok = ok and agreed
            results += [result] if result is not None else []
            progress(f"{name} {np.dtype(dtype).name}")
    if results:
        header = ["case", "dtype", "ms per", "numpy ms", "core ms", "core GFLOP/s"]
        header += ["core vs numpy", "torch vs numpy", "numba vs numpy"]
        tables.append(("Speed", header, speed_rows(results), 3))
    rows = adam_rows(results)
    if rows:
        header = ["case", "dtype", "core sgd ms", "core adam ms", "core adam / sgd"]
        header += ["numpy sgd ms", "numpy adam ms", "numpy adam / sgd"]
        title = "Adam's epoch against SGD's (the blog's update), same data, same repeats"
        tables.append((title, header, rows, 2))
    rows = gflops_rows(results)
    if rows:
        header = ["case", "dtype", "core GFLOP/s", "numpy loop GFLOP/s", "GEMM"]
        header += ["numpy GEMM GFLOP/s", "core / GEMM"]
        tables.append(("GFLOP/s against one GEMM", header, rows, 2))
    rows = products_rows(results)
    if rows:
        header = ["case", "dtype", "products ms", "numpy ms", "core ms"]
        header += ["numpy / products", "core / products"]
        title = (
            "An epoch's matrix products alone, with numpy's BLAS (numpy / products: the most "
            "any loop making them with that BLAS could gain over numpy's)"
        )
        tables.append((title, header, rows, 2))
    if "threads" in args.only:
        from benchmarks import threads  # imports this module: not at the top

        long_runs = timing if args.quick else replace(timing, target=threads.TARGET)
        rows, threads_ok = threads.threads_rows(long_runs)
        ok = ok and threads_ok
        title = "Two fits in two threads (ratio: 2.00 is perfect; python -m benchmarks.threads)"
        tables.append((title, threads.HEADER, rows, 2))
        progress("threads")
    if "memory" in args.only:
        header = ["case", "dtype", "budget MiB", "core peak MiB", "core / budget"]
        header += ["numpy peak MiB", "numpy / budget"]
        tables.append(("Memory of one epoch (tracemalloc)", header, memory_case(DTYPES), 2))
        progress("memory")

    for title, header, rows, left in tables:
        print(f"\n{title}\n{render(header, rows, left=left)}")
    if args.markdown:
        for title, header, rows, left in tables:
            print(f"\n{title}\n\n{render(header, rows, markdown=True, left=left)}")
    if args.plot and results:
        plot(results, args.plot)
    return ok


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """Run the suite; returns the exit status (1 if any check failed)."""
    args = parse_args(argv, prog)
    limits = contextlib.nullcontext()
    if args.blas_threads is not None and threadpoolctl is not None:  # parse_args checked both
        limits = threadpoolctl.threadpool_limits(limits=args.blas_threads, user_api="blas")
    with limits:
        return 0 if run_suite(args) else 1


if __name__ == "__main__":
    sys.exit(main())
