"""The state an update rule keeps between updates, and between fits that resume.

Every optimizer keeps at most two numbers per parameter, in ``slots`` (one row each, laid out
like the parameter vector): SGD its velocity (momentum); Adam and AdamW the first and second
moments; RMSprop the mean square and the momentum buffer. ``updates`` counts the updates
taken (Adam's bias correction needs it). A batch-normalised network's running statistics
live here too: like the optimizer's state they change with every update and are rolled back
with a failed epoch, but they belong to the network and continue from fit to fit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinynet._layout import LayerSizes, hidden_sizes
from tinynet._settings import Training

# Rows of TrainingState.slots: every optimizer's state fits in two.
N_SLOTS = 2


@dataclass
class TrainingState:
    """What a Trainer trains in place beside the parameters (see the module's docstring)."""

    slots: np.ndarray
    updates: int
    statistics: np.ndarray

    def copy(self) -> TrainingState:
        """A copy sharing no array with this one."""
        return TrainingState(self.slots.copy(), self.updates, self.statistics.copy())


def fresh_statistics(layer_sizes: LayerSizes, batch_norm: bool, dtype: np.dtype) -> np.ndarray:
    """Running statistics as PyTorch starts them, mean 0 and variance 1 per hidden unit
    (empty without batch normalisation)."""
    statistics = [
        value
        for size in (hidden_sizes(layer_sizes) if batch_norm else [])
        for value in [0.0] * size + [1.0] * size
    ]
    return np.array(statistics, dtype=dtype)


def keeps_state(training: Training) -> bool:
    """Whether the fit's update rule keeps numbers per parameter between updates: every
    optimizer but plain SGD without momentum (whose state then has no slots at all)."""
    return training.optimizer != "sgd" or training.momentum != 0


def fresh_state(
    n_params: int, dtype: np.dtype, statistics: np.ndarray | None = None, slots: int = N_SLOTS
) -> TrainingState:
    """A state of zeros and no updates with ``slots`` rows (``N_SLOTS``, or 0 for an update
    rule that keeps none), keeping ``statistics`` (a copy) if given."""
    kept = np.zeros(0, dtype=dtype) if statistics is None else statistics.copy()
    return TrainingState(np.zeros((slots, n_params), dtype=dtype), 0, kept)
