"""Callbacks for :meth:`tinynet.Network.fit`.

A callback is any callable ``callback(network, epoch, logs)``, called after every epoch:
``epoch`` counts from 0 within the fit, ``logs`` maps ``"loss"``, ``"mae"`` (and, with
validation data, ``"val_loss"``, ``"val_mae"``) to that epoch's values, and ``network``
holds the weights at the end of that epoch. A truthy return value stops training.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from tinynet._settings import HISTORY_KEYS
from tinynet._validation import check_bool, check_choice, check_int, check_real

if TYPE_CHECKING:
    from tinynet.network import Network

# Any measure of a fit's history can be watched.
MONITORS = HISTORY_KEYS


class EarlyStopping:
    """Stop training when a measure has stopped improving.

    Parameters
    ----------
    monitor : {"val_loss", "val_mae", "loss", "mae"}, default "val_loss"
        The history entry to watch; lower is better. The ``val_`` ones need
        ``validation_data`` in :meth:`~tinynet.Network.fit`.
    patience : int, default 10
        How many epochs without improvement to allow before stopping.
    min_delta : float, default 0.0
        The least decrease that counts as an improvement.
    restore_best : bool, default True
        When stopping, give the network back the weights (and biases) of its best epoch.

    Attributes
    ----------
    best : float
        The best value seen (``inf`` before the first epoch).
    best_epoch : int or None
        The epoch of ``best``, counted from 0 within the last fit.
    stopped_epoch : int or None
        The epoch after which it stopped training, or None if it did not.

    Examples
    --------
    >>> import numpy as np, tinynet
    >>> X, y = np.eye(4), np.eye(4)
    >>> stop = tinynet.EarlyStopping(monitor="loss", patience=2, min_delta=0.1)
    >>> net = tinynet.Network([4, 4], seed=0).fit(X, y, epochs=1000, callbacks=[stop])
    >>> stop.stopped_epoch is not None and len(net.history["loss"]) < 1000
    True
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        patience: int = 10,
        min_delta: float = 0.0,
        restore_best: bool = True,
    ) -> None:
        self.monitor = check_choice("monitor", monitor, MONITORS)
        self.patience = check_int("patience", patience, minimum=0)
        self.min_delta = check_real("min_delta", min_delta, minimum=0.0)
        self.restore_best = check_bool("restore_best", restore_best)
        self._reset()

    def _reset(self) -> None:
        self.best = math.inf
        self.best_epoch: int | None = None
        self.stopped_epoch: int | None = None
        self._best_state: tuple[list[np.ndarray], list[np.ndarray]] | None = None

    def __repr__(self) -> str:
        return (
            f"EarlyStopping(monitor={self.monitor!r}, patience={self.patience}, "
            f"min_delta={self.min_delta}, restore_best={self.restore_best})"
        )

    def __call__(self, network: Network, epoch: int, logs: dict[str, float]) -> bool:
        if epoch == 0:
            self._reset()  # a new fit
        if self.monitor not in logs:
            raise ValueError(
                f"EarlyStopping monitors {self.monitor!r}, which this fit does not measure "
                "(the val_ measures need validation_data)"
            )
        value = logs[self.monitor]
        if self.best_epoch is None or value < self.best - self.min_delta:
            self.best = value
            self.best_epoch = epoch
            if self.restore_best:
                self._best_state = (network.weights, network.biases)
            return False
        if epoch - self.best_epoch < self.patience:
            return False
        self.stopped_epoch = epoch
        if self._best_state is not None:
            network.weights, network.biases = self._best_state
        return True


class ReduceLROnPlateau:
    """Cut the learning rate when a measure has stopped improving (PyTorch's rule, in
    mode ``"min"`` with a relative threshold of ``1e-4`` and no cooldown).

    After each epoch, the value counts as an improvement if it is below ``best * (1 -
    1e-4)``; after more than ``patience`` epochs in a row without one, the rate is cut by
    ``factor`` and the count starts again. The rate of each later epoch is then
    ``max(rate * factor**reductions, min_lr)``, ``rate`` being the epoch's ``learning_rate``
    (a float or a schedule's value): :meth:`tinynet.Network.fit` asks every callback that
    has an ``adjust_learning_rate`` method for it.

    Parameters
    ----------
    monitor : {"loss", "mae", "val_loss", "val_mae"}, default "loss"
        The history entry to watch; lower is better. The ``val_`` ones need
        ``validation_data``.
    factor : float, default 0.1
        Multiplies the rate at each reduction, in ``[0, 1)``.
    patience : int, default 10
        Epochs without improvement allowed before a reduction, at least 0.
    min_lr : float, default 0.0
        The lowest rate it reduces to, finite and at least 0.

    Attributes
    ----------
    best : float
        The best value seen (``inf`` before the first epoch).
    reductions : int
        How many times the rate has been cut.

    Notes
    -----
    A new fit starts it afresh; a fit with ``resume=True`` continues its count, best value
    and reductions (pass the same instance).

    Examples
    --------
    >>> import numpy as np, tinynet
    >>> X, y = np.eye(4), np.eye(4)
    >>> plateau = tinynet.ReduceLROnPlateau(factor=0.5, patience=0)
    >>> net = tinynet.Network([4, 4], seed=0).fit(X, y, epochs=50, callbacks=[plateau])
    >>> plateau.adjust_learning_rate(1.0) == 0.5**plateau.reductions
    True
    """

    def __init__(
        self,
        monitor: str = "loss",
        factor: float = 0.1,
        patience: int = 10,
        min_lr: float = 0.0,
    ) -> None:
        self.monitor = check_choice("monitor", monitor, MONITORS)
        self.factor = check_real("factor", factor, minimum=0.0, below=1.0)
        self.patience = check_int("patience", patience, minimum=0)
        self.min_lr = check_real("min_lr", min_lr, minimum=0.0)
        self._reset()

    # PyTorch's default threshold, relative, in mode "min".
    THRESHOLD = 1e-4

    def _reset(self) -> None:
        self.best = math.inf
        self.reductions = 0
        self._bad_epochs = 0

    def __repr__(self) -> str:
        return (
            f"ReduceLROnPlateau(monitor={self.monitor!r}, factor={self.factor}, "
            f"patience={self.patience}, min_lr={self.min_lr})"
        )

    def fit_started(self, network: Network, resume: bool) -> None:
        """Called by ``fit`` before its first epoch: a new fit (not a resumed one) starts
        afresh."""
        if not resume:
            self._reset()

    def adjust_learning_rate(self, rate: float) -> float:
        """The rate of the next epoch: ``max(rate * factor**reductions, min_lr)``."""
        if not self.reductions:
            return rate
        return max(rate * self.factor**self.reductions, self.min_lr)

    def __call__(self, network: Network, epoch: int, logs: dict[str, float]) -> bool:
        if self.monitor not in logs:
            raise ValueError(
                f"ReduceLROnPlateau monitors {self.monitor!r}, which this fit does not "
                "measure (the val_ measures need validation_data)"
            )
        value = logs[self.monitor]
        if value < self.best * (1 - self.THRESHOLD):
            self.best = value
            self._bad_epochs = 0
        else:
            self._bad_epochs += 1
        if self._bad_epochs > self.patience:
            self.reductions += 1
            self._bad_epochs = 0
        return False
