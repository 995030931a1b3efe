"""The numpy reference: the blog's training loop, generalised, in plain numpy.

Read it beside the blog. ``l`` holds the layers (``l[0]`` is the input ``X``, ``l[-1]`` the
output), ``syn`` the synapses between them; ``l_delta`` is the blog's ``l2_delta`` /
``l1_delta`` for whichever layer the loop has reached. This module is the definition the
compiled core (``tinynet._core``) is tested against; both expose a ``Trainer`` and a
``forward`` with the same arguments, so :class:`tinynet.Network` can run either.

Beyond the blog: bias units (a last row of each synapse's block, see ``tinynet._layout``),
tanh and relu hidden layers, linear and softmax outputs, mini-batches with seeded
shuffling, momentum, L2 regularisation, dropout and delta clipping. Every update is the
blog's ``syn += learning_rate * l.T.dot(l_delta)``, where ``l_delta`` is the negative
gradient of the loss *summed* over the batch with respect to a layer's inputs.
"""

from __future__ import annotations

import numpy as np

from tinynet._layout import unpack
from tinynet._random import random_order, random_uniform
from tinynet._settings import Architecture, Training


def sigmoid(x: np.ndarray) -> np.ndarray:
    """``1 / (1 + exp(-x))``, evaluated from ``exp(-|x|)`` so that ``exp`` never overflows."""
    z = np.exp(-np.abs(x))
    return np.where(x >= 0, 1, z) / (1 + z)


def sigmoid_d(out: np.ndarray) -> np.ndarray:
    """The sigmoid's slope from its output: the blog's ``nonlin(x, deriv=True)``."""
    return out * (1 - out)


def tanh_d(out: np.ndarray) -> np.ndarray:
    """tanh's slope from its output."""
    return 1 - out * out


def relu(x: np.ndarray) -> np.ndarray:
    """``max(x, 0)``."""
    return np.maximum(x, 0)


def relu_d(out: np.ndarray) -> np.ndarray:
    """relu's slope from its output: 1 where it is positive, else 0."""
    return (out > 0).astype(out.dtype)


def softmax(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's softmax and its log, from ``z - max`` so that nothing overflows."""
    shifted = z - z.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    total = e.sum(axis=1, keepdims=True)
    return e / total, shifted - np.log(total)


HIDDEN = {"sigmoid": (sigmoid, sigmoid_d), "tanh": (np.tanh, tanh_d), "relu": (relu, relu_d)}


def forward_layers(
    X: np.ndarray, blocks: list[np.ndarray], architecture: Architecture
) -> tuple[list[np.ndarray], np.ndarray | None]:
    """Forward propagation without dropout: ``[l0, l1, ...]`` with
    ``l[i + 1] = f(l[i] . syn[i] + bias[i])``, and the log of a softmax output (else None)."""
    layers, _, log_out = _forward(X, blocks, architecture, dropout=None)
    return layers, log_out


def _forward(X, blocks, architecture, dropout):
    """Forward propagation; ``dropout`` is None or ``(key, rate, scale, first_row)``.

    Returns the layers, the slopes of the hidden layers under dropout (else None) and the
    log of a softmax output (else None).
    """
    bias = architecture.bias
    activate, slope_of = HIDDEN[architecture.activation]
    l = [X]  # noqa: E741 - the blog's name for the layers
    slopes: list[np.ndarray | None] = [None]
    log_out = None
    hidden_units = sum(int(size) for size in architecture.layer_sizes[1:-1])
    unit = 0
    for i, block in enumerate(blocks):
        z = np.dot(l[-1], block[: block.shape[0] - bias])
        if bias:
            z += block[-1]
        if i < len(blocks) - 1:
            a = activate(z)
            if dropout is None:
                l.append(a)
                slopes.append(None)
            else:
                key, rate, scale, first_row = dropout
                rows, width = a.shape
                counters = (
                    (np.arange(rows, dtype=np.uint64)[:, None] + np.uint64(first_row))
                    * np.uint64(hidden_units)
                    + np.uint64(unit)
                    + np.arange(width, dtype=np.uint64)
                )
                mask = np.where(random_uniform(key, counters) >= rate, scale, 0).astype(a.dtype)
                slopes.append(slope_of(a) * mask)
                l.append(a * mask)
                unit += width
        elif architecture.output == "sigmoid":
            l.append(sigmoid(z))
        elif architecture.output == "softmax":
            p, log_out = softmax(z)
            l.append(p)
        else:
            l.append(z)
    return l, slopes, log_out


def output_delta(
    y: np.ndarray, out: np.ndarray, log_out: np.ndarray | None, output: str
) -> tuple[np.ndarray, float, float]:
    """The output layer's delta, the summed loss and the summed ``|y - out|``.

    Squared error ``0.5 * (y - out)**2`` for sigmoid and linear outputs (the delta of the
    sigmoid output is the blog's ``(y - out) * sigmoid_d(out)``), cross-entropy
    ``-y * log(out)`` for softmax, whose delta is ``y - out * sum(y)`` (``y - out`` for
    targets that sum to 1).
    """
    l_error = y - out
    abs_sum = float(np.sum(np.abs(l_error), dtype=np.float64))
    if output == "softmax":
        assert log_out is not None
        loss_sum = float(-np.sum(y.astype(np.float64) * log_out))
        # the gradient of -sum(y * log(softmax(z))): y - out for targets that sum to 1
        return y - out * y.sum(axis=1, keepdims=True), loss_sum, abs_sum
    loss_sum = float(0.5 * np.sum(np.square(l_error, dtype=np.float64)))
    if output == "sigmoid":
        return l_error * sigmoid_d(out), loss_sum, abs_sum
    return l_error, loss_sum, abs_sum


class Trainer:
    """Trains a parameter vector in place, epoch after epoch, for one ``fit``.

    Parameters
    ----------
    X, y : ndarray
        The training inputs and targets, C-contiguous 2-D arrays of the parameters' dtype.
    params : ndarray
        The parameter vector, trained in place.
    architecture : tinynet._settings.Architecture
    training : tinynet._settings.Training
    validation : tuple of ndarray, optional
        ``(X_val, y_val)`` to measure after every epoch.
    """

    def __init__(
        self,
        X: np.ndarray,
        y: np.ndarray,
        params: np.ndarray,
        architecture: Architecture,
        training: Training,
        validation: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> None:
        self.X, self.y, self.params = X, y, params
        self.architecture = architecture
        self.training = training
        self.validation = validation
        self.syn = unpack(params, architecture.layer_sizes, architecture.bias)
        # Shuffling a full batch would only reorder the sums of its gradient.
        self.shuffle = training.shuffle and training.batch_size < len(X)
        self.velocity = [np.zeros_like(s) for s in self.syn] if training.momentum else None
        self.epoch = 0

    def run(self, epochs: int, history: np.ndarray) -> int:
        """Train for up to ``epochs`` more epochs and return how many were completed.

        Row ``e`` of ``history`` receives epoch ``e``'s loss and mean absolute error, then
        (with validation data) the validation's. Training stops early, after rolling the
        weights back to where the epoch started, at the first epoch with a non-finite
        measure or weight (it diverged: fewer epochs are returned) or during which an
        exception (such as ``KeyboardInterrupt``) was raised, which propagates.
        :attr:`epoch` counts the epochs completed by every run.
        """
        saved = np.empty_like(self.params)
        # Silent like the compiled core: divergence is what the return value reports, and a
        # saturated dot product is a valid input to the sigmoid.
        with np.errstate(over="ignore", invalid="ignore", under="ignore"):
            for done, row in enumerate(history[:epochs]):
                saved[...] = self.params
                try:
                    self._run_epoch(row)
                except BaseException:
                    self.params[...] = saved
                    raise
                measures = row if self.validation is not None else row[:2]
                if not (np.isfinite(measures).all() and np.isfinite(self.params).all()):
                    self.params[...] = saved
                    return done
                self.epoch += 1
        return epochs

    def _run_epoch(self, row: np.ndarray) -> None:
        n = len(self.X)
        batch_size = self.training.batch_size
        first_row = self.epoch * n
        order = random_order(self.training.shuffle_key, first_row, n) if self.shuffle else None
        loss_total = abs_total = 0.0
        for start in range(0, n, batch_size):
            stop = start + batch_size
            rows = slice(start, stop) if order is None else order[start:stop]
            loss_sum, abs_sum = self._train_batch(self.X[rows], self.y[rows], first_row + start)
            loss_total += loss_sum
            abs_total += abs_sum
        row[0] = loss_total / n
        row[1] = abs_total / self.y.size
        if self.validation is not None:
            X_val, y_val = self.validation
            l, log_out = forward_layers(X_val, self.syn, self.architecture)  # noqa: E741
            _, loss_sum, abs_sum = output_delta(y_val, l[-1], log_out, self.architecture.output)
            row[2] = loss_sum / len(X_val)
            row[3] = abs_sum / y_val.size

    def _train_batch(self, X: np.ndarray, y: np.ndarray, first_row: int) -> tuple[float, float]:
        """One update from the rows ``X``, ``y``; returns their summed loss and ``|error|``."""
        t = self.training
        arch = self.architecture
        bias = arch.bias
        dropout = (t.dropout_key, t.dropout, t.dropout_scale, first_row) if t.dropout else None
        l, slopes, log_out = _forward(X, self.syn, arch, dropout)  # noqa: E741
        slope_of = HIDDEN[arch.activation][1]

        # how much did we miss?
        l_delta, loss_sum, abs_sum = output_delta(y, l[-1], log_out, arch.output)
        if t.clip:
            l_delta = np.clip(l_delta, -t.clip, t.clip)

        # each synapse sends its delta back, then takes its update (the blog's order)
        for i in reversed(range(len(self.syn))):
            block = self.syn[i]
            weights = block[: block.shape[0] - bias]
            l_prev_delta = None
            if i > 0:
                slope = slope_of(l[i]) if slopes[i] is None else slopes[i]
                l_prev_delta = l_delta.dot(weights.T) * slope
                if t.clip:
                    l_prev_delta = np.clip(l_prev_delta, -t.clip, t.clip)
            step = l[i].T.dot(l_delta)
            if t.l2:
                step -= t.l2 * weights
            if bias:
                step = np.vstack([step, l_delta.sum(axis=0)])
            if self.velocity is None:
                block += t.learning_rate * step
            else:
                v = self.velocity[i]
                v *= t.momentum
                v += t.learning_rate * step
                block += t.momentum * v + t.learning_rate * step if t.nesterov else v
            if l_prev_delta is not None:
                l_delta = l_prev_delta
        return loss_sum, abs_sum


def forward(
    X: np.ndarray, params: np.ndarray, architecture: Architecture, out: np.ndarray
) -> None:
    """Write the network's output for the rows of ``X`` into ``out``."""
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        blocks = unpack(params, architecture.layer_sizes, architecture.bias)
        out[...] = forward_layers(X, blocks, architecture)[0][-1]
