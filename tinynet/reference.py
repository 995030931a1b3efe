"""The numpy reference: the blog's training loop, generalised to any number of layers.

Read it beside the blog. ``l`` holds the layers (``l[0]`` is the input ``X``, ``l[-1]`` the
output), ``syn`` the synapses between them; ``l_delta`` is the blog's ``l2_delta`` /
``l1_delta`` for whichever layer the loop has reached. This module is the definition the
compiled core (``tinynet._core``) is tested against; both expose ``train`` and ``forward``
with the same arguments, so :class:`tinynet.Network` can run either.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tinynet._layout import LayerSizes, unpack


def sigmoid(x: np.ndarray) -> np.ndarray:
    """``1 / (1 + exp(-x))``, evaluated from ``exp(-|x|)`` so that ``exp`` never overflows."""
    z = np.exp(-np.abs(x))
    return np.where(x >= 0, 1, z) / (1 + z)


def sigmoid_d(out: np.ndarray) -> np.ndarray:
    """The sigmoid's slope from its output: the blog's ``nonlin(x, deriv=True)``."""
    return out * (1 - out)


def forward_layers(X: np.ndarray, syn: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Forward propagation: ``[l0, l1, ...]`` with ``l[i + 1] = sigmoid(l[i] . syn[i])``."""
    l = [X]  # noqa: E741 - the blog's name for the layers
    for s in syn:
        l.append(sigmoid(np.dot(l[-1], s)))
    return l


def train(
    X: np.ndarray,
    y: np.ndarray,
    params: np.ndarray,
    layer_sizes: LayerSizes,
    epochs: int,
    learning_rate: float,
    mae: np.ndarray,
    loss: np.ndarray,
) -> None:
    """Train ``params`` in place for ``epochs`` full-batch epochs of the blog's update.

    ``mae[e]`` and ``loss[e]`` receive the mean absolute error and half the summed squared
    error per sample of epoch ``e``'s forward pass, taken before that epoch's update.
    """
    syn = unpack(params, layer_sizes)
    # Silent like the compiled core: a diverging fit is reported by the caller, which checks
    # the weights, and a saturated dot product is a valid input to the sigmoid.
    with np.errstate(over="ignore", invalid="ignore"):
        for epoch in range(epochs):
            l = forward_layers(X, syn)  # noqa: E741

            # how much did we miss?
            l_error = y - l[-1]
            mae[epoch] = np.mean(np.abs(l_error), dtype=np.float64)
            loss[epoch] = 0.5 * np.sum(np.square(l_error, dtype=np.float64)) / len(X)

            # each synapse sends its delta back, then takes its update (the blog's order)
            l_delta = l_error * sigmoid_d(l[-1])
            for i in reversed(range(len(syn))):
                l_prev_delta = l_delta.dot(syn[i].T) * sigmoid_d(l[i]) if i > 0 else None
                syn[i] += learning_rate * l[i].T.dot(l_delta)
                l_delta = l_prev_delta


def forward(X: np.ndarray, params: np.ndarray, layer_sizes: LayerSizes, out: np.ndarray) -> None:
    """Write the network's output for the rows of ``X`` into ``out``."""
    with np.errstate(over="ignore", invalid="ignore"):
        out[...] = forward_layers(X, unpack(params, layer_sizes))[-1]
