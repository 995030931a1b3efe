"""Where each synapse lives in a network's flat parameter vector.

Both backends keep the parameters in one C-contiguous 1-D array. Synapse ``i`` connects a
layer of ``k = layer_sizes[i]`` units to one of ``j = layer_sizes[i + 1]`` units; its block
holds the ``(k, j)`` weights row-major and then, in a network with bias units, the ``j``
biases as one more row, after the blocks of the synapses before it. One buffer makes copying,
swapping and saving a network a single array operation, and lets the compiled core reach
every synapse through one pointer.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import accumulate, pairwise

import numpy as np
import numpy.typing as npt

# Layer sizes, input first: a list of ints or the intp array a Network keeps.
LayerSizes = Sequence[int] | npt.NDArray[np.intp]


def synapse_shapes(layer_sizes: LayerSizes) -> list[tuple[int, int]]:
    """The shape ``(n_in, n_out)`` of each synapse's weights, input side first."""
    return [(int(k), int(j)) for k, j in pairwise(layer_sizes)]


def offsets(layer_sizes: LayerSizes, bias: bool = False) -> list[int]:
    """Where each synapse's block starts in the parameter vector, and, last, its length:
    the one computation of the layout, which the compiled core is handed (as Python ints,
    exact for any sizes, so that a layout too big to exist can be refused)."""
    return [0, *accumulate((k + bias) * j for k, j in synapse_shapes(layer_sizes))]


def hidden_sizes(layer_sizes: LayerSizes) -> list[int]:
    """The sizes of the hidden layers, input side first."""
    return [int(size) for size in list(layer_sizes)[1:-1]]


def n_params(layer_sizes: LayerSizes, bias: bool = False, batch_norm: bool = False) -> int:
    """The length of the parameter vector of a network with these layer sizes: its synapses,
    then, with batch normalisation, a scale and a shift per hidden unit."""
    return offsets(layer_sizes, bias)[-1] + (
        2 * sum(hidden_sizes(layer_sizes)) if batch_norm else 0
    )


def batch_norm_offset(layer_sizes: LayerSizes, bias: bool = False) -> int:
    """Where the batch normalisation's block starts: after the synapses. It holds, for each
    hidden layer in order, its scales and then its shifts, one per unit."""
    return offsets(layer_sizes, bias)[-1]


def batch_norm_offsets(layer_sizes: LayerSizes, bias: bool = False) -> list[int]:
    """Where each layer's batch-normalisation scales start in the parameter vector, its
    shifts following them: entry ``h`` for hidden layer ``h``; entry 0 (the input layer) is
    where the block starts, and the last entry where it ends."""
    at = batch_norm_offset(layer_sizes, bias)
    starts = [at]
    for size in hidden_sizes(layer_sizes):
        starts.append(at)
        at += 2 * size
    return [*starts, at]


def split_batch_norm(
    params: np.ndarray, layer_sizes: LayerSizes, bias: bool = False
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Views of each hidden layer's batch-normalisation ``(scale, shift)`` in ``params``."""
    starts = batch_norm_offsets(layer_sizes, bias)[1:-1]
    return [
        (params[at : at + size], params[at + size : at + 2 * size])
        for at, size in zip(starts, hidden_sizes(layer_sizes), strict=True)
    ]


def split_statistics(
    statistics: np.ndarray, layer_sizes: LayerSizes
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Views of each hidden layer's running ``(mean, variance)`` in a batch-normalised
    network's statistics vector (the two, one per unit, for each hidden layer in order)."""
    views, at = [], 0
    for size in hidden_sizes(layer_sizes):
        views.append((statistics[at : at + size], statistics[at + size : at + 2 * size]))
        at += 2 * size
    return views


def unpack(params: np.ndarray, layer_sizes: LayerSizes, bias: bool = False) -> list[np.ndarray]:
    """Views of ``params``, one ``(n_in + bias, n_out)`` block per synapse: its weights,
    then its biases as the last row if ``bias``. Writing to them writes ``params``."""
    starts = offsets(layer_sizes, bias)
    return [
        params[start:stop].reshape(k + bias, j)
        for (k, j), start, stop in zip(
            synapse_shapes(layer_sizes), starts[:-1], starts[1:], strict=True
        )
    ]


def split(
    params: np.ndarray, layer_sizes: LayerSizes, bias: bool
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Views of the weights ``(n_in, n_out)`` and of the biases ``(n_out,)`` of every
    synapse (no biases if not ``bias``)."""
    blocks = unpack(params, layer_sizes, bias)
    weights = [block[: block.shape[0] - bias] for block in blocks]
    biases = [block[-1] for block in blocks] if bias else []
    return weights, biases
