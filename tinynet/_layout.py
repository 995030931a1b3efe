"""Where each synapse lives in a network's flat parameter vector.

Both backends keep the weights in one C-contiguous 1-D array: synapse ``i`` connects a layer
of ``layer_sizes[i]`` units to one of ``layer_sizes[i + 1]`` units and is stored row-major,
after the synapses before it. One buffer makes copying, swapping and saving a network a single
array operation, and lets the compiled core reach every synapse through one pointer.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

import numpy as np
import numpy.typing as npt

# Layer sizes, input first: a list of ints or the intp array a Network keeps.
LayerSizes = Sequence[int] | npt.NDArray[np.intp]


def synapse_shapes(layer_sizes: LayerSizes) -> list[tuple[int, int]]:
    """The shape ``(n_in, n_out)`` of each synapse, input side first."""
    return [(int(k), int(j)) for k, j in pairwise(layer_sizes)]


def n_params(layer_sizes: LayerSizes) -> int:
    """The length of the parameter vector of a network with these layer sizes."""
    return sum(k * j for k, j in synapse_shapes(layer_sizes))


def unpack(params: np.ndarray, layer_sizes: LayerSizes) -> list[np.ndarray]:
    """Views of ``params``, one 2-D array per synapse; writing to them writes ``params``."""
    synapses = []
    start = 0
    for k, j in synapse_shapes(layer_sizes):
        synapses.append(params[start : start + k * j].reshape(k, j))
        start += k * j
    return synapses
