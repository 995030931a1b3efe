"""Type stubs for the compiled core, ``tinynet/_core.pyx``.

Every array argument must be C-contiguous; the float arrays of one call share one dtype,
float32 or float64. The numpy reference, ``tinynet.reference``, has the same interface.
"""

from typing import TypeVar

import numpy as np
import numpy.typing as npt

from tinynet._blas import Gemm
from tinynet._optimizers import TrainingState
from tinynet._plan import Plan
from tinynet._settings import Architecture, Training

_Float = TypeVar("_Float", np.float32, np.float64)

ACTIVATIONS: dict[str, int]
OPTIMIZERS: dict[str, int]
INSTRUCTION_SETS: dict[str, int]
BOUNDS_CHECKED: bool
SMALL_MAX_UNITS: int
SMALL_ROAD_BUILT: bool
TINY_ROWS: int
MEMBER_LANES: int
DEFAULT_BLAS_CROSSOVER: int
NUMPY_GEMM: Gemm | None

class Trainer:
    X: npt.NDArray[np.floating]
    y: npt.NDArray[np.floating]
    params: npt.NDArray[np.floating]
    plan: Plan
    state: TrainingState
    X_val: npt.NDArray[np.floating] | None
    y_val: npt.NDArray[np.floating] | None
    @property
    def epoch(self) -> int: ...
    @property
    def first_epoch(self) -> int: ...
    @property
    def updates(self) -> int: ...
    @property
    def small(self) -> bool: ...
    def __init__(
        self,
        X: npt.NDArray[_Float],
        y: npt.NDArray[_Float],
        params: npt.NDArray[_Float],
        architecture: Architecture,
        training: Training,
        validation: tuple[npt.NDArray[_Float], npt.NDArray[_Float]] | None = None,
        *,
        sample_weight: npt.NDArray[_Float] | None = None,
        state: TrainingState | None = None,
        first_epoch: int = 0,
    ) -> None: ...
    def run(
        self,
        epochs: int,
        history: npt.NDArray[np.float64],
        rates: npt.NDArray[np.float64] | None = None,
    ) -> int: ...

def forward(
    X: npt.NDArray[_Float],
    params: npt.NDArray[_Float],
    architecture: Architecture,
    out: npt.NDArray[_Float],
    statistics: npt.NDArray[_Float] | None = None,
) -> None: ...
def loss_and_gradient(
    X: npt.NDArray[_Float],
    y: npt.NDArray[_Float],
    params: npt.NDArray[_Float],
    architecture: Architecture,
    statistics: npt.NDArray[_Float] | None,
    sample_weight: npt.NDArray[_Float] | None,
    l2: float,
    gradient: npt.NDArray[_Float],
) -> float: ...
def train_members(
    X: npt.NDArray[_Float],
    y: npt.NDArray[_Float],
    params: npt.NDArray[_Float],
    velocity: npt.NDArray[_Float],
    architecture: Architecture,
    learning_rate: npt.NDArray[_Float],
    momentum: npt.NDArray[_Float],
    l2: npt.NDArray[_Float],
    nesterov: bool,
    clip: float,
    epochs: int,
    history: npt.NDArray[np.float64],
    diverged: npt.NDArray[np.intp],
) -> int: ...
def instruction_sets() -> list[str]: ...

HELPER_MODES: tuple[str, ...]

def helper_mode(mode: str) -> str: ...
def shuffled_order(key: int, first: int, n: int) -> npt.NDArray[np.intp]: ...
def instruction_set() -> str: ...
def blas_libraries() -> list[str]: ...
def blas_library() -> str: ...
def blas_crossover() -> int: ...
def sigmoid(x: npt.NDArray[_Float], out: npt.NDArray[_Float]) -> None: ...
def exp(x: npt.NDArray[_Float], out: npt.NDArray[_Float]) -> None: ...
def finite(x: npt.NDArray[_Float]) -> bool: ...
def tanh(x: npt.NDArray[_Float], out: npt.NDArray[_Float]) -> None: ...
