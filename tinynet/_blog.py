"""The posts' data sets, and the eleven lines of "A Neural Network in 11 lines of Python".

``python -m tinynet`` trains on these data and times the compiled core against
:func:`eleven_lines`; the benchmark suite (:mod:`benchmarks`) uses both for its XOR case.

- :data:`XOR_X`, :data:`XOR_Y`: the first post's inputs and targets (the three-layer
  network's; its two-layer network learns ``[0, 0, 1, 1]`` from the same inputs).
- :data:`NEURON_X`, :data:`NEURON_Y`: the single neuron's, from "How to build a simple neural
  network in 9 lines of Python code".
"""

from __future__ import annotations

import numpy as np

XOR_X = np.array([[0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1]])
XOR_Y = np.array([[0, 1, 1, 0]]).T
NEURON_X = np.array([[0, 0, 1], [1, 1, 1], [1, 0, 1], [0, 1, 1]])
NEURON_Y = np.array([[0, 1, 1, 0]]).T


def eleven_lines(
    X: np.ndarray = XOR_X, y: np.ndarray = XOR_Y, epochs: int = 60000
) -> list[np.ndarray]:
    """The post's eleven lines ("Just Give Me The Code"), as published; their weights.

    It seeds numpy's global generator as the post does, ``np.random.seed(1)``, so its initial
    weights are those of ``tinynet.Network([3, 4, 1], seed=1)``; they are drawn in float64 and
    cast to ``X``'s dtype, so that a float32 ``X`` trains in float32.

    Parameters
    ----------
    X : numpy.ndarray
        Inputs, ``(n_samples, 3)``, of a float dtype (the post's integers are upcast by the
        first product). Default: :data:`XOR_X`.
    y : numpy.ndarray
        Targets, ``(n_samples, 1)``. Default: :data:`XOR_Y`.
    epochs : int
        Iterations of the loop; the post's 60000 by default.

    Returns
    -------
    list of numpy.ndarray
        The final ``[syn0, syn1]``.
    """
    dtype = np.result_type(X.dtype, np.float32)  # integers train in float64, as in the post
    np.random.seed(1)
    syn0 = (2 * np.random.random((3, 4)) - 1).astype(dtype)
    syn1 = (2 * np.random.random((4, 1)) - 1).astype(dtype)
    with np.errstate(over="ignore"):  # exp(-x) overflows for large -x; 1 / inf is 0
        for _ in range(epochs):
            l1 = 1 / (1 + np.exp(-(np.dot(X, syn0))))
            l2 = 1 / (1 + np.exp(-(np.dot(l1, syn1))))
            l2_delta = (y - l2) * (l2 * (1 - l2))
            l1_delta = l2_delta.dot(syn1.T) * (l1 * (1 - l1))
            syn1 += l1.T.dot(l2_delta)
            syn0 += X.T.dot(l1_delta)
    return [syn0, syn1]
