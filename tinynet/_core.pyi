"""Type stubs for the compiled core, ``tinynet/_core.pyx``.

Every array argument must be C-contiguous; the float arrays of one call share one dtype,
float32 or float64. ``layer_sizes`` is an ``intp`` array.
"""

from typing import TypeVar

import numpy as np
import numpy.typing as npt

_Float = TypeVar("_Float", np.float32, np.float64)

def train(
    X: npt.NDArray[_Float],
    y: npt.NDArray[_Float],
    params: npt.NDArray[_Float],
    layer_sizes: npt.NDArray[np.intp],
    epochs: int,
    learning_rate: float,
    mae: npt.NDArray[np.float64],
    loss: npt.NDArray[np.float64],
) -> None: ...
def forward(
    X: npt.NDArray[_Float],
    params: npt.NDArray[_Float],
    layer_sizes: npt.NDArray[np.intp],
    out: npt.NDArray[_Float],
) -> None: ...
def sigmoid(x: npt.NDArray[_Float], out: npt.NDArray[_Float]) -> None: ...
