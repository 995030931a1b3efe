"""Golden fits: what tinynet computes, recorded on one build and checked bit for bit on another.

For changes that must not change any result (moving code, reorganising the kernels):

    python tools/golden_fits.py record golden.npz    # on the build before the change
    python tools/golden_fits.py check golden.npz     # on the build after it

The set covers every option family (activations, outputs, bias, initialisations, momentum
and Nesterov, L2, clipping, dropout, shuffled mini-batches, validation data, callbacks),
both dtypes, the small networks' road and BLAS-sized networks, and divergence; each under
every instruction set this CPU runs, with the road on and off, and through each BLAS library
(``tinynet._plan.forced``). Record and check on the same machine: products through BLAS sum
in the library's own order.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Iterator
from typing import Any

import numpy as np

import tinynet
from tinynet import _core
from tinynet._plan import forced

Fit = tuple[str, dict[str, Any], np.ndarray, np.ndarray, dict[str, Any]]


def data(n: int, n_in: int, n_out: int, seed: int, output: str) -> tuple[np.ndarray, np.ndarray]:
    """Inputs in [-1, 1] and targets suited to ``output``."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, (n, n_in))
    if output == "softmax":
        y = np.eye(n_out)[rng.integers(0, n_out, n)]
    elif output == "linear":
        y = rng.normal(size=(n, n_out))
    else:
        y = (rng.uniform(size=(n, n_out)) > 0.5).astype(float)
    return X, y


def fits() -> Iterator[Fit]:
    """(name, Network arguments, X, y, fit arguments) for every fit of the set."""
    X = np.array([[0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1]])
    y = np.array([[0], [1], [1], [0]])
    for dtype in (np.float64, np.float32):
        name = dtype.__name__
        yield (
            f"xor-{name}",
            {"layers": [3, 4, 1], "seed": 1, "dtype": dtype},
            X,
            y,
            {"epochs": 3000},
        )
        yield (
            f"neuron-{name}",
            {"layers": [3, 1], "seed": 1, "dtype": dtype},
            X,
            y[:, 0],
            {"epochs": 3000},
        )
    shapes = {"small": (16, [3, 5, 4, 2]), "mid": (60, [7, 8, 3]), "blas": (300, [20, 32, 16, 3])}
    combinations = itertools.product(
        shapes.items(),
        ["sigmoid", "tanh", "relu"],
        ["sigmoid", "linear", "softmax"],
        [False, True],
        [np.float64, np.float32],
    )
    for i, ((shape, (n, layers)), hidden, output, bias, dtype) in enumerate(combinations, 1):
        X, y = data(n, layers[0], layers[-1], i, output)
        network = {
            "layers": layers,
            "activation": hidden,
            "output": output,
            "bias": bias,
            "seed": i,
            "dtype": dtype,
            "init": "xavier" if i % 2 else "uniform",
        }
        rate = 0.05 if output != "sigmoid" else 0.5
        options = [
            {"epochs": 40, "learning_rate": rate / n},
            {
                "epochs": 20,
                "learning_rate": rate / 8,
                "batch_size": 8,
                "momentum": 0.9,
                "nesterov": bool(i % 2),
            },
            {
                "epochs": 20,
                "learning_rate": rate / 5,
                "batch_size": 5,
                "shuffle": True,
                "l2": 1e-3,
                "clip": 0.5,
            },
            {
                "epochs": 15,
                "learning_rate": rate / 10,
                "batch_size": 10,
                "dropout": 0.3,
                "momentum": 0.5,
            },
            {
                "epochs": 10,
                "learning_rate": rate / n,
                "momentum": 0.8,
                "l2": 1e-2,
                "validation_data": data(11, layers[0], layers[-1], i + 1000, output),
            },
            {"epochs": 6, "learning_rate": rate / n, "callbacks": [lambda net, epoch, logs: None]},
        ]
        for j, option in enumerate(options):
            name = f"{shape}-{hidden}-{output}-{bias}-{dtype.__name__}-{j}"
            yield name, network, X, y, option
    for dtype in (np.float64, np.float32):
        name = dtype.__name__
        X, y = data(50, 4, 1, 7, "linear")
        network = {"layers": [4, 6, 1], "output": "linear", "seed": 3, "dtype": dtype}
        yield f"diverge-{name}", network, X * 1e3, y * 1e3, {"epochs": 200, "learning_rate": 10.0}
        X, y = data(300, 20, 3, 8, "linear")
        network = {
            "layers": [20, 32, 3],
            "output": "linear",
            "seed": 3,
            "dtype": dtype,
            "bias": True,
        }
        options = {"epochs": 200, "learning_rate": 1.0, "momentum": 0.9}
        yield f"diverge-blas-{name}", network, X * 1e2, y * 1e3, options


def run_all() -> dict[str, np.ndarray]:
    """Every fit's weights, history, outcome and predictions, by name."""
    results = {}
    for name, network, X, y, options in fits():
        arguments = dict(network)
        net = tinynet.Network(arguments.pop("layers"), **arguments)
        try:
            net.fit(X, y, progress=False, **options)
            outcome = "trained"
        except FloatingPointError:
            outcome = "diverged"
        parameters = net.weights + (net.biases if net.bias else [])
        results[f"{name}/params"] = np.concatenate([p.ravel() for p in parameters])
        results.update({f"{name}/{key}": values for key, values in net.history.items()})
        results[f"{name}/outcome"] = np.array(outcome)
        results[f"{name}/predict"] = net.predict(X)
    return results


def variants() -> Iterator[tuple[str, dict[str, Any]]]:
    """Every instruction set, the road on and off, every BLAS library."""
    for isa, road, library in itertools.product(
        _core.instruction_sets(), (True, False), _core.blas_libraries()
    ):
        yield (
            f"{isa}-{'road' if road else 'general'}-{library}",
            {"instruction_set": isa, "small_road": road, "blas_library": library},
        )


def record_all() -> dict[str, np.ndarray]:
    """run_all under every variant, keys prefixed by the variant."""
    results = {}
    for variant, choices in variants():
        with forced(**choices):
            results.update({f"{variant}/{k}": v for k, v in run_all().items()})
    return results


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("record", "check"):
        print(__doc__)
        return 2
    mode, path = argv
    got = record_all()
    if mode == "record":
        np.savez(path, **got)
        print(f"recorded {len(got)} arrays in {path}")
        return 0
    with np.load(path) as stored:
        want = dict(stored)
    differ = sorted(
        key
        for key in want.keys() | got.keys()
        if key not in want
        or key not in got
        or want[key].dtype != got[key].dtype
        or want[key].shape != got[key].shape
        or want[key].tobytes() != got[key].tobytes()
    )
    print(f"{len(want)} arrays recorded, {len(got)} computed, {len(differ)} differ")
    for key in differ[:20]:
        print("  differs:", key)
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
