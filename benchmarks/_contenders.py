"""The contenders of the benchmark suite (:mod:`benchmarks.suite`): the blog's algorithm
in several implementations.

Each factory takes a :class:`Problem` and returns a :data:`Run`: ``run(epochs)`` trains a
3-layer sigmoid network (no bias, squared-error delta, ``syn += learning_rate *
layer.T.dot(delta)``) from the problem's initial weights for ``epochs`` epochs, in batches of
``batch_size`` rows taken in order, and returns the final weights ``[syn0, syn1]``.

- :func:`numpy_loop`: the baseline, the blog's loop over batches in plain numpy.
- :func:`blog_xor`: the blog's eleven lines verbatim, for the XOR case.
- :func:`tinynet_core`: ``tinynet.Network.fit`` with the compiled core.

A problem may instead train with Adam (``problem.optimizer == "adam"``) or with batch
normalisation of the hidden layer (``problem.batch_norm``, trained by the blog's update); then
the weights are followed by the scales, the shifts, the running means and the running
variances of the hidden layer (:func:`initial_batch_norm`):

- :func:`adam_numpy_loop`, :func:`batch_norm_numpy_loop`: the baselines, the blog's loop with
  Adam's update, or with batch normalisation, in plain numpy.
- :func:`tinynet_core` again (:data:`options_core`), with ``batch_norm`` and ``optimizer``.
- :func:`torch_loop`, :func:`numba_loop`: optional peers, in :data:`PEERS` only when their
  library imports.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

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
    optimizer : str
        ``"sgd"``, the blog's update, or ``"adam"`` (PyTorch's, default hyperparameters:
        :data:`ADAM`).
    batch_norm : bool
        Whether the hidden layer's pre-activation is batch-normalised (PyTorch's
        ``BatchNorm1d`` in training mode, default momentum and epsilon: :data:`BATCH_NORM`).
    """

    X: np.ndarray
    y: np.ndarray
    weights: list[np.ndarray]
    learning_rate: np.floating
    batch_size: int
    optimizer: str = "sgd"
    batch_norm: bool = False

    @property
    def plain(self) -> bool:
        """Whether this is the blog's algorithm: plain SGD, no batch normalisation."""
        return self.optimizer == "sgd" and not self.batch_norm

    @property
    def layers(self) -> list[int]:
        """The layer sizes, input first."""
        return [self.X.shape[1], *(w.shape[1] for w in self.weights)]


# Adam's hyperparameters (PyTorch's and tinynet's defaults) and batch normalisation's.
ADAM = {"beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-8}
BATCH_NORM = {"momentum": 0.1, "epsilon": 1e-5}


def initial_batch_norm(problem: Problem) -> list[np.ndarray]:
    """The batch normalisation's starting state, each hidden layer in turn: its scales (1),
    shifts (0), running means (0) and running variances (1); empty without it."""
    if not problem.batch_norm:
        return []
    dtype = problem.X.dtype
    return [
        np.full(size, value, dtype=dtype)
        for size in problem.layers[1:-1]
        for value in (1.0, 0.0, 0.0, 1.0)
    ]


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


def adam_loop(
    X: np.ndarray,
    y: np.ndarray,
    syn0: np.ndarray,
    syn1: np.ndarray,
    epochs: int,
    learning_rate: np.floating,
    batch_size: int,
    beta_1: float = ADAM["beta_1"],
    beta_2: float = ADAM["beta_2"],
    epsilon: float = ADAM["epsilon"],
) -> None:
    """The blog's loop with Adam's update (PyTorch's ``torch.optim.Adam``); updates ``syn0``
    and ``syn1``.

    The gradient is ``g = -layer.T.dot(delta)`` (the blog's ``delta`` is the negative
    gradient), the moments start at zero and ``t`` counts the updates, one per batch::

        m += (1 - beta_1) * (g - m);  v = beta_2 * v + (1 - beta_2) * g * g
        syn -= lr / (1 - beta_1**t) * m / (sqrt(v) / sqrt(1 - beta_2**t) + epsilon)

    Plain numpy, as :func:`blog_loop`.
    """
    m0, v0, m1, v1 = (np.zeros_like(syn) for syn in (syn0, syn0, syn1, syn1))
    t = 0
    for _ in range(epochs):
        for start in range(0, len(X), batch_size):
            l0 = X[start : start + batch_size]
            target = y[start : start + batch_size]
            l1 = 1 / (1 + np.exp(-(l0.dot(syn0))))
            l2 = 1 / (1 + np.exp(-(l1.dot(syn1))))
            l2_delta = (target - l2) * (l2 * (1 - l2))
            l1_delta = l2_delta.dot(syn1.T) * (l1 * (1 - l1))
            t += 1
            step_size = float(learning_rate) / (1 - beta_1**t)
            correction_2 = math.sqrt(1 - beta_2**t)
            for syn, m, v, g in (
                (syn1, m1, v1, -l1.T.dot(l2_delta)),
                (syn0, m0, v0, -l0.T.dot(l1_delta)),
            ):
                m += (1 - beta_1) * (g - m)
                v[...] = beta_2 * v + (1 - beta_2) * g * g
                syn -= step_size * (m / (np.sqrt(v) / correction_2 + epsilon))


def batch_norm_loop(
    X: np.ndarray,
    y: np.ndarray,
    syn0: np.ndarray,
    syn1: np.ndarray,
    epochs: int,
    learning_rate: np.floating,
    batch_size: int,
    scale: np.ndarray,
    shift: np.ndarray,
    running_mean: np.ndarray,
    running_var: np.ndarray,
    momentum: float = BATCH_NORM["momentum"],
    epsilon: float = BATCH_NORM["epsilon"],
) -> None:
    """The blog's loop with the hidden layer batch-normalised (PyTorch's ``BatchNorm1d`` in
    training mode); updates the weights, ``scale``, ``shift`` and the running statistics.

    Per batch of ``n`` rows, with ``z = l0.dot(syn0)``: ``xhat = (z - mean) / sqrt(var +
    epsilon)`` over the rows (biased variance), ``l1 = sigmoid(scale * xhat + shift)``; the
    running statistics move by ``momentum`` towards the batch's mean and unbiased variance.
    Backward, with the blog's deltas (negative gradients)::

        shift_step = sum(l1_delta);  scale_step = sum(l1_delta * xhat)
        z_delta = scale / (n * sqrt(var + epsilon))
                  * (n * l1_delta - shift_step - xhat * scale_step)

    and every parameter takes the blog's update, ``param += learning_rate * step``. A last
    batch of one row (its variance is zero) joins the batch before it, as in tinynet.
    """
    starts = list(range(0, len(X), batch_size))
    if len(starts) > 1 and len(X) - starts[-1] == 1:
        starts.pop()
    batches = list(zip(starts, [*starts[1:], len(X)], strict=True))
    for _ in range(epochs):
        for start, stop in batches:
            l0 = X[start:stop]
            target = y[start:stop]
            n = len(l0)
            z1 = l0.dot(syn0)
            mean = z1.mean(axis=0)
            var = z1.var(axis=0)
            xhat = (z1 - mean) / np.sqrt(var + epsilon)
            l1 = 1 / (1 + np.exp(-(scale * xhat + shift)))
            l2 = 1 / (1 + np.exp(-(l1.dot(syn1))))
            running_mean[...] = (1 - momentum) * running_mean + momentum * mean
            running_var[...] = (1 - momentum) * running_var + momentum * (var * (n / (n - 1)))
            l2_delta = (target - l2) * (l2 * (1 - l2))
            l1_delta = l2_delta.dot(syn1.T) * (l1 * (1 - l1))
            shift_step = l1_delta.sum(axis=0)
            scale_step = (l1_delta * xhat).sum(axis=0)
            z1_delta = (scale / (n * np.sqrt(var + epsilon))) * (
                n * l1_delta - shift_step - xhat * scale_step
            )
            syn1 += learning_rate * l1.T.dot(l2_delta)
            syn0 += learning_rate * l0.T.dot(z1_delta)
            scale += learning_rate * scale_step
            shift += learning_rate * shift_step


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


def adam_numpy_loop(problem: Problem) -> Run:
    """The baseline for Adam: :func:`adam_loop` in numpy."""
    return loop_run(adam_loop, problem)


def batch_norm_numpy_loop(problem: Problem) -> Run:
    """The baseline for batch normalisation: :func:`batch_norm_loop` in numpy, from copies
    of the problem's weights and :func:`initial_batch_norm`."""

    def run(epochs: int) -> list[np.ndarray]:
        syn0, syn1 = (w.copy() for w in problem.weights)
        state: list[Any] = initial_batch_norm(problem)
        with np.errstate(over="ignore"):
            batch_norm_loop(
                problem.X,
                problem.y,
                syn0,
                syn1,
                epochs,
                problem.learning_rate,
                problem.batch_size,
                *state,
            )
        return [syn0, syn1, *state]

    return run


def numpy_contender(problem: Problem) -> Run:
    """The numpy baseline of ``problem``'s algorithm (not the XOR's eleven lines)."""
    if problem.batch_norm and problem.optimizer != "sgd":
        raise ValueError("no numpy contender trains with batch normalisation and Adam at once")
    if problem.batch_norm:
        return batch_norm_numpy_loop(problem)
    if problem.optimizer == "adam":
        return adam_numpy_loop(problem)
    return numpy_loop(problem)


def blog_xor(problem: Problem) -> Run:
    """The blog's eleven lines as published (:func:`tinynet._blog.eleven_lines`), for the XOR
    case.

    They seed and draw their own weights, ``np.random.seed(1)``, which are those of
    ``tinynet.Network([3, 4, 1], seed=1)``: ``problem.weights`` must be them.
    """
    return lambda epochs: eleven_lines(problem.X, problem.y, epochs)


def tinynet_core(problem: Problem) -> Run:
    """``tinynet.Network.fit`` with the compiled core (``backend="cython"``), no shuffling.

    Ready for problems with Adam or batch normalisation too, through the options the
    network and ``fit`` take for them; it passes none for the blog's.
    """
    network_options: dict[str, Any] = {"batch_norm": True} if problem.batch_norm else {}
    fit_options: dict[str, Any] = (
        {"optimizer": problem.optimizer} if problem.optimizer != "sgd" else {}
    )
    net = tinynet.Network(
        problem.layers, dtype=problem.X.dtype.type, backend="cython", **network_options
    )
    keys = ("scale", "shift", "running_mean", "running_var")
    start = initial_batch_norm(problem)
    start_layers: list[dict[str, Any]] = [
        dict(zip(keys, start[i : i + 4], strict=True)) for i in range(0, len(start), 4)
    ]

    def run(epochs: int) -> list[np.ndarray]:
        net.weights = problem.weights
        if problem.batch_norm:  # the running statistics continue from fit to fit
            net.batch_norm = start_layers
        net.fit(
            problem.X,
            problem.y,
            epochs=epochs,
            learning_rate=float(problem.learning_rate),
            batch_size=problem.batch_size,
            shuffle=False,
            progress=False,
            **fit_options,
        )
        state = [layer[key] for layer in net.batch_norm for key in keys] if start else []
        return [*net.weights, *state]

    return run


# The core's contender for problems with Adam or batch normalisation.
options_core: Callable[[Problem], Run] = tinynet_core


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
