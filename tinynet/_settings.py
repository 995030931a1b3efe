"""The settings a backend needs, checked and converted by :class:`tinynet.Network`.

Both backends (the compiled core and the numpy reference) take these two records; they
trust their contents, so every check happens before either sees them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

HIDDEN_ACTIVATIONS = ("sigmoid", "tanh", "relu", "linear")
OUTPUT_ACTIVATIONS = ("sigmoid", "linear", "softmax", "logistic", "poisson")
# The backends, in the order of network.BACKENDS: the compiled core, the numpy reference.
BACKEND_NAMES = ("cython", "numpy")
INITS = ("uniform", "xavier", "he")
# How a fit reduces each batch's gradient (Network.fit's reduction): summed, or divided by
# the batch's weight.
REDUCTIONS = ("sum", "mean")
# The update rules a Trainer runs ("lbfgs" is run by scipy, through loss_and_gradient).
TRAINER_OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")
# The measures of a fit's history, the training ones, then the validation ones, then the L2
# penalty of a fit with reduction "mean": the one list of their names (the history, the logs
# passed to callbacks, EarlyStopping's monitors, printed lines), and the order of the
# columns of a Trainer's history.
HISTORY_KEYS = ("loss", "mae", "val_loss", "val_mae", "penalty")


def history_keys(validation: bool, penalty: bool = False) -> tuple[str, ...]:
    """The measures a fit records, in the order of :data:`HISTORY_KEYS`: the training ones
    (``"loss"``, ``"mae"``), the validation ones with validation data, and ``"penalty"``
    for a fit with reduction ``"mean"``."""
    keys = HISTORY_KEYS[:4] if validation else HISTORY_KEYS[:2]
    return (*keys, "penalty") if penalty else keys


@dataclass(frozen=True)
class Architecture:
    """What the parameter vector means: the layer sizes (input first, an ``intp`` array),
    the hidden layers' and the output layer's activations, and whether each synapse has a
    bias row (stored after its weights, see :mod:`tinynet._layout`)."""

    layer_sizes: np.ndarray
    activation: str = "sigmoid"
    output: str = "sigmoid"
    bias: bool = False
    # Batch normalisation of every hidden layer's pre-activation (PyTorch's BatchNorm1d): its
    # scales and shifts follow the synapses in the parameter vector (see tinynet._layout).
    batch_norm: bool = False
    batch_norm_momentum: float = 0.1
    batch_norm_epsilon: float = 1e-5

    @property
    def n_inputs(self) -> int:
        """The number of input units: features per sample."""
        return int(self.layer_sizes[0])

    @property
    def n_outputs(self) -> int:
        """The number of output units: targets per sample."""
        return int(self.layer_sizes[-1])


@dataclass(frozen=True)
class Training:
    """How one ``fit`` trains: the arguments of :meth:`tinynet.Network.fit` that shape the
    arithmetic, with ``batch_size`` resolved to a number of rows, ``clip`` 0.0 for none,
    ``dropout_scale`` the dtype-rounded ``1 / (1 - dropout)``, and the 64-bit keys of this
    fit's row orders and dropout masks (see :mod:`tinynet._random`)."""

    learning_rate: float = 1.0
    batch_size: int = 1
    shuffle: bool = False
    momentum: float = 0.0
    nesterov: bool = False
    l2: float = 0.0
    dropout: float = 0.0
    dropout_scale: float = 1.0
    clip: float = 0.0
    shuffle_key: int = 0
    dropout_key: int = 0
    # The update rule (see tinynet._optimizers): "sgd" (with momentum and nesterov above),
    # "adam", "adamw" (with weight_decay) or "rmsprop" (rho, and momentum above).
    optimizer: str = "sgd"
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = 1e-8
    epsilon_hat: bool = False
    weight_decay: float = 0.0
    rho: float = 0.99
    # "sum": each batch's gradient summed over its rows; "mean": divided by its weight.
    reduction: str = "sum"
