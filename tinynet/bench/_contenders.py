"""The contenders of the benchmark suite (:mod:`tinynet.bench.suite`): the blog's algorithm
in several implementations.

Each factory takes a :class:`Problem` and returns a :data:`Run`: ``run(epochs)`` trains a
3-layer sigmoid network (no bias, squared-error delta, ``syn += learning_rate *
layer.T.dot(delta)``) from the problem's initial weights for ``epochs`` epochs, in batches of
``batch_size`` rows taken in order, and returns the final weights ``[syn0, syn1]``.

- :func:`numpy_loop`: the baseline, the blog's loop over batches in plain numpy.
- :func:`blog_xor`: the blog's eleven lines verbatim, for the XOR case.
- :func:`tinynet_core`: ``tinynet.Network.fit`` with the compiled core.
- :func:`torch_loop`, :func:`numba_loop`: optional peers, in :data:`PEERS` only when their
  library imports.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType

import numpy as np

import tinynet
from tinynet._blog import eleven_lines


def optional(name: str) -> ModuleType | None:
    """The module ``name``, or ``None`` if it is not installed or does not load."""
    try:
        return importlib.import_module(name)
    except (ImportError, OSError):  # OSError: an install whose native libraries do not load
        return None


torch = optional("torch")
numba = optional("numba")  # numba raises ImportError too for a numpy it does not support

Run = Callable[[int], list[np.ndarray]]


@dataclass(frozen=True)
class Problem:
    """One training problem: data, initial weights and the update's settings.

    Attributes
    ----------
    X, y : numpy.ndarray
        Inputs ``(n_samples, n_inputs)`` and targets ``(n_samples, n_outputs)``, C-ordered,
        in the problem's dtype.
    weights : list of numpy.ndarray
        The initial ``[syn0, syn1]`` (a tinynet network's ``weights``); never modified.
    learning_rate : numpy.floating
        The blog's ``alpha``, as a scalar of the problem's dtype.
    batch_size : int
        Rows per update; ``len(X)`` for full-batch training.
    """

    X: np.ndarray
    y: np.ndarray
    weights: list[np.ndarray]
    learning_rate: np.floating
    batch_size: int

    @property
    def layers(self) -> list[int]:
        """The layer sizes, input first."""
        return [self.X.shape[1], *(w.shape[1] for w in self.weights)]


def blog_loop(
    X: np.ndarray,
    y: np.ndarray,
    syn0: np.ndarray,
    syn1: np.ndarray,
    epochs: int,
    learning_rate: np.floating,
    batch_size: int,
) -> None:
    """The blog's loop, over batches and with a learning rate; updates ``syn0``, ``syn1``.

    Plain numpy, written as the blog writes it (it is the baseline: nothing is optimised).
    :func:`numba_loop` compiles this very function.
    """
    for _ in range(epochs):
        for start in range(0, len(X), batch_size):
            l0 = X[start : start + batch_size]
            target = y[start : start + batch_size]
            l1 = 1 / (1 + np.exp(-(l0.dot(syn0))))
            l2 = 1 / (1 + np.exp(-(l1.dot(syn1))))
            l2_delta = (target - l2) * (l2 * (1 - l2))
            l1_delta = l2_delta.dot(syn1.T) * (l1 * (1 - l1))
            syn1 += learning_rate * l1.T.dot(l2_delta)
            syn0 += learning_rate * l0.T.dot(l1_delta)


def loop_run(loop: Callable[..., None], problem: Problem) -> Run:
    """``loop`` (:func:`blog_loop` or a compiled twin) from copies of the problem's weights."""

    def run(epochs: int) -> list[np.ndarray]:
        syn0, syn1 = (w.copy() for w in problem.weights)
        with np.errstate(over="ignore"):  # exp(-x) overflows for large -x; 1 / inf is 0
            loop(
                problem.X, problem.y, syn0, syn1, epochs, problem.learning_rate, problem.batch_size
            )
        return [syn0, syn1]

    return run


def numpy_loop(problem: Problem) -> Run:
    """The baseline: :func:`blog_loop` in numpy (``exp``'s overflow warning silenced)."""
    return loop_run(blog_loop, problem)


def blog_xor(problem: Problem) -> Run:
    """The blog's eleven lines as published (:func:`tinynet._blog.eleven_lines`), for the XOR
    case.

    They seed and draw their own weights, ``np.random.seed(1)``, which are those of
    ``tinynet.Network([3, 4, 1], seed=1)``: ``problem.weights`` must be them.
    """
    return lambda epochs: eleven_lines(problem.X, problem.y, epochs)


def tinynet_core(problem: Problem) -> Run:
    """``tinynet.Network.fit`` with the compiled core (``backend="cython"``), no shuffling."""
    net = tinynet.Network(problem.layers, dtype=problem.X.dtype.type, backend="cython")

    def run(epochs: int) -> list[np.ndarray]:
        net.weights = problem.weights
        net.fit(
            problem.X,
            problem.y,
            epochs=epochs,
            learning_rate=float(problem.learning_rate),
            batch_size=problem.batch_size,
            shuffle=False,
            progress=False,
        )
        return net.weights

    return run


def torch_loop(problem: Problem) -> Run:
    """:func:`blog_loop` with torch operations on CPU tensors, torch's default threads.

    The tensors share memory with the problem's arrays; none requires a gradient, so no
    autograd graph is recorded.
    """
    assert torch is not None
    X, y = torch.from_numpy(problem.X), torch.from_numpy(problem.y)
    learning_rate, batch_size = float(problem.learning_rate), problem.batch_size

    def run(epochs: int) -> list[np.ndarray]:
        syn0, syn1 = (torch.from_numpy(w.copy()) for w in problem.weights)
        for _ in range(epochs):
            for start in range(0, len(X), batch_size):
                l0 = X[start : start + batch_size]
                target = y[start : start + batch_size]
                l1 = 1 / (1 + torch.exp(-(l0 @ syn0)))
                l2 = 1 / (1 + torch.exp(-(l1 @ syn1)))
                l2_delta = (target - l2) * (l2 * (1 - l2))
                l1_delta = (l2_delta @ syn1.T) * (l1 * (1 - l1))
                syn1 += learning_rate * (l1.T @ l2_delta)
                syn0 += learning_rate * (l0.T @ l1_delta)
        return [syn0.numpy(), syn1.numpy()]

    return run


# numba compiles blog_loop once per argument types, at its first call (the untimed check).
_compiled_blog_loop = numba.njit(blog_loop) if numba is not None else None


def numba_loop(problem: Problem) -> Run:
    """:func:`blog_loop` compiled by ``numba.njit``."""
    assert _compiled_blog_loop is not None
    return loop_run(_compiled_blog_loop, problem)


# The optional peers whose library imports, by column name.
PEERS: dict[str, Callable[[Problem], Run]] = {
    name: factory
    for name, factory, module in (("torch", torch_loop, torch), ("numba", numba_loop, numba))
    if module is not None
}


def describe_peers() -> str:
    """The peers' versions, or that they are not installed; torch's thread count."""
    torch_text = (
        f"torch {torch.__version__} on {torch.get_num_threads()} threads"
        if torch is not None
        else "torch not installed"
    )
    numba_text = f"numba {numba.__version__}" if numba is not None else "numba not installed"
    return f"{torch_text}, {numba_text}"
