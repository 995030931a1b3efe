"""The numpy reference: the blog's training loop, generalised, in plain numpy.

Read it beside the blog. ``l`` holds the layers (``l[0]`` is the input ``X``, ``l[-1]`` the
output), ``syn`` the synapses between them; ``l_delta`` is the blog's ``l2_delta`` /
``l1_delta`` for whichever layer the loop has reached. This module is the definition the
compiled core (``tinynet._core``) is tested against; both expose a ``Trainer``, a
``forward`` and a ``loss_and_gradient`` with the same arguments, so :class:`tinynet.Network`
can run either.

Beyond the blog: bias units (a last row of each synapse's block, see ``tinynet._layout``),
tanh and relu hidden layers, linear, softmax, logistic and poisson outputs, mini-batches
with seeded shuffling, L2 regularisation, dropout, delta clipping, sample weights, batch
normalisation (PyTorch's ``BatchNorm1d``) and four update rules (SGD with tinynet's
momentum, and PyTorch's Adam, AdamW and RMSprop). Every update starts from the blog's
``step = l.T.dot(l_delta)``, where ``l_delta`` is the negative gradient of the loss *summed*
over the batch with respect to a layer's inputs; plain SGD then takes
``syn += learning_rate * step`` (with the reduction ``"mean"``, the rate over the batch's
weight).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from tinynet._layout import split_batch_norm, split_statistics, unpack
from tinynet._optimizers import (
    N_SLOTS,
    TrainingState,
    fresh_state,
    fresh_statistics,
    keeps_state,
)
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


def linear(x: np.ndarray) -> np.ndarray:
    """The identity: a linear layer's output is its pre-activation."""
    return x


def linear_d(out: np.ndarray) -> np.ndarray:
    """A linear layer's slope: 1 everywhere."""
    return np.ones_like(out)


def softmax(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's softmax and its log, from ``z - max`` so that nothing overflows."""
    shifted = z - z.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    total = e.sum(axis=1, keepdims=True)
    return e / total, shifted - np.log(total)


# Each hidden activation and its slope (from its output).
HIDDEN: dict[
    str, tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]]
] = {
    "sigmoid": (sigmoid, sigmoid_d),
    "tanh": (np.tanh, tanh_d),
    "relu": (relu, relu_d),
    "linear": (linear, linear_d),
}

# A hidden layer's batch normalisation: its (scale, shift), and its running (mean, variance),
# views of the parameter vector and of the statistics vector.
Pair = tuple[np.ndarray, np.ndarray]


def forward_layers(
    X: np.ndarray,
    blocks: list[np.ndarray],
    architecture: Architecture,
    norm: list[Pair] | None = None,
    running: list[Pair] | None = None,
) -> tuple[list[np.ndarray], np.ndarray | None]:
    """Forward propagation without dropout, as ``predict`` runs it: ``[l0, l1, ...]`` with
    ``l[i + 1] = f(l[i] . syn[i] + bias[i])`` (batch-normalised with the running statistics
    ``running`` and the scales and shifts ``norm``, if the network has batch normalisation),
    and the log of a softmax or poisson output (else None)."""
    layers, _, log_out, _ = _forward(X, blocks, architecture, norm=norm, running=running)
    return layers, log_out


def _forward(X, blocks, architecture, *, norm=None, running=None, batch=False, dropout=None):
    """Forward propagation.

    ``norm``: the ``(scale, shift)`` of each hidden layer (None without batch
    normalisation). ``batch``: normalise with the batch's own statistics (training mode),
    and, if ``running`` is given, move the running statistics once towards them; else
    normalise with ``running``. ``dropout`` is None or ``(key, rate, scale, first_row)``.

    Returns the layers, the slopes of the hidden layers under dropout (else None), the log
    of a softmax or poisson output (else None), and the ``(xhat, sqrt(var + eps))`` of each
    batch-normalised hidden layer (for the backward pass).
    """
    bias = architecture.bias
    activate, slope_of = HIDDEN[architecture.activation]
    l = [X]  # noqa: E741 - the blog's name for the layers
    slopes: list[np.ndarray | None] = [None]
    normalised: list[Pair] = []
    log_out = None
    hidden_units = sum(int(size) for size in architecture.layer_sizes[1:-1])
    unit = 0
    for i, block in enumerate(blocks):
        z = np.dot(l[-1], block[: block.shape[0] - bias])
        if bias:
            z += block[-1]
        if i < len(blocks) - 1:
            if norm is not None:
                z, xhat, std = _normalise(
                    z, norm[i], running[i] if running else None, batch, architecture
                )
                normalised.append((xhat, std))
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
        elif architecture.output in ("sigmoid", "logistic"):
            l.append(sigmoid(z))
        elif architecture.output == "softmax":
            p, log_out = softmax(z)
            l.append(p)
        elif architecture.output == "poisson":
            log_out = z  # the log of the output, finite where exp overflows or underflows
            l.append(np.exp(z))
        else:
            l.append(z)
    return l, slopes, log_out, normalised


def _normalise(z, scale_shift, running, batch, architecture):
    """PyTorch's ``BatchNorm1d`` of the pre-activations ``z``, per unit (column).

    In training mode (``batch``), with the batch's mean and biased variance over its ``n``
    rows::

        mean = sum(z) / n;  var = sum((z - mean)**2) / n
        xhat = (z - mean) / sqrt(var + eps)
        running_mean = (1 - momentum) * running_mean + momentum * mean
        running_var = (1 - momentum) * running_var + momentum * var * n / (n - 1)

    (the running statistics move only if given, and with the *unbiased* variance); else
    ``xhat = (z - running_mean) / sqrt(running_var + eps)``. Returns
    ``scale * xhat + shift``, ``xhat`` and ``sqrt(var + eps)``.
    """
    scale, shift = scale_shift
    eps = architecture.batch_norm_epsilon
    if batch:
        n = len(z)
        mean = z.mean(axis=0)
        centred = z - mean
        var = np.mean(centred * centred, axis=0)
        if running is not None:
            momentum = architecture.batch_norm_momentum
            running_mean, running_var = running
            running_mean[...] = (1 - momentum) * running_mean + momentum * mean
            running_var[...] = (1 - momentum) * running_var + momentum * (var * (n / (n - 1)))
    else:
        mean, var = running
        centred = z - mean
    std = np.sqrt(var + eps)
    xhat = centred / std
    return scale * xhat + shift, xhat, std


def poisson_deviance(y: np.ndarray, out: np.ndarray, log_out: np.ndarray) -> np.ndarray:
    """The half Poisson deviance of each output, ``y * log(y / out) - y + out`` in float64
    (scikit-learn's ``poisson_loss`` before its mean), ``y * log(y)`` being 0 at ``y = 0``
    (scipy's ``xlogy``), and ``log(out)`` given as ``log_out``: finite where ``out``
    underflows to 0, infinite where it overflows to inf."""
    target = y.astype(np.float64)
    positive = target > 0
    logs = np.log(np.where(positive, target, 1.0))
    entropy = np.where(positive, target * (logs - log_out.astype(np.float64)), 0.0)
    return entropy - target + out.astype(np.float64)


def output_delta(
    y: np.ndarray,
    out: np.ndarray,
    log_out: np.ndarray | None,
    output: str,
    sample_weight: np.ndarray | None = None,
) -> tuple[np.ndarray, float, float]:
    """The output layer's delta, the summed loss and the summed ``|y - out|``.

    Squared error ``0.5 * (y - out)**2`` for sigmoid and linear outputs (the delta of the
    sigmoid output is the blog's ``(y - out) * sigmoid_d(out)``), cross-entropy
    ``-y * log(out)`` for softmax, whose delta is ``y - out * sum(y)`` (``y - out`` for
    targets that sum to 1), binary cross-entropy ``-(y * log(p) + (1 - y) * log(1 - p))``
    for logistic, ``p`` the output clipped to ``[eps, 1 - eps]`` (the dtype's machine
    epsilon: scikit-learn's ``binary_log_loss``), whose delta is ``y - out``, and the half
    Poisson deviance ``y * log(y / out) - y + out`` for poisson (scikit-learn's
    ``poisson_loss``, ``y * log(y)`` being 0 at ``y = 0``), taken as ``y * (log(y) - z)``
    from ``log_out = z``, whose delta is ``y - out``. With ``sample_weight`` ``w``, row
    ``r``'s delta, loss and ``|y - out|`` are multiplied by ``w[r]``.
    """
    w = None if sample_weight is None else sample_weight[:, None]
    l_error = y - out
    abs_error = np.abs(l_error)
    abs_sum = float(np.sum(abs_error if w is None else abs_error * w, dtype=np.float64))
    if output == "softmax":
        assert log_out is not None
        losses = y.astype(np.float64) * log_out
        loss_sum = float(-np.sum(losses if w is None else losses * w))
        # the gradient of -sum(y * log(softmax(z))): y - out for targets that sum to 1
        l_delta = y - out * y.sum(axis=1, keepdims=True)
    elif output == "logistic":
        eps = np.finfo(out.dtype).eps
        p = np.clip(out, eps, 1 - eps).astype(np.float64)
        target = y.astype(np.float64)
        losses = target * np.log(p) + (1 - target) * np.log(1 - p)
        loss_sum = float(-np.sum(losses if w is None else losses * w))
        l_delta = l_error
    elif output == "poisson":
        assert log_out is not None
        losses = poisson_deviance(y, out, log_out)
        loss_sum = float(np.sum(losses if w is None else losses * w))
        l_delta = l_error
    else:
        losses = np.square(l_error, dtype=np.float64)
        loss_sum = float(0.5 * np.sum(losses if w is None else losses * w))
        l_delta = l_error * sigmoid_d(out) if output == "sigmoid" else l_error
    return (l_delta if w is None else l_delta * w), loss_sum, abs_sum


def _backward(
    l,  # noqa: E741 - the blog's name for the layers
    slopes,
    normalised,
    l_delta,
    syn,
    norm,
    step_syn,
    step_norm,
    architecture,
    l2,
    clip,
):
    """Back-propagation: writes into ``step_syn`` (and ``step_norm``) the negative gradient
    of the batch's summed loss (plus ``l2 / 2`` times the sum of the squared weights), laid
    out like the parameters.

    Each synapse ``i`` takes ``step = l[i].T . l_delta - l2 * weights`` (and the sum of
    ``l_delta``'s rows for its biases), and sends back, for the layer below it,
    ``l_delta . weights.T * slope`` (clipped to ``[-clip, clip]`` if ``clip``). Through a
    batch-normalised layer with ``n`` rows, that delta ``d`` gives ``sum_rows(d)`` to the
    shift, ``sum_rows(d * xhat)`` to the scale, and becomes::

        scale / (n * sqrt(var + eps)) * (n * d - sum_rows(d) - xhat * sum_rows(d * xhat))

    for the synapse below to learn from and send further back.
    """
    bias = architecture.bias
    slope_of = HIDDEN[architecture.activation][1]
    for i in reversed(range(len(syn))):
        block = syn[i]
        weights = block[: block.shape[0] - bias]
        l_prev_delta = None
        if i > 0:
            slope = slope_of(l[i]) if slopes[i] is None else slopes[i]
            l_prev_delta = l_delta.dot(weights.T) * slope
            if clip:
                l_prev_delta = np.clip(l_prev_delta, -clip, clip)
            if norm is not None:
                scale = norm[i - 1][0]
                xhat, std = normalised[i - 1]
                step_scale, step_shift = step_norm[i - 1]
                step_shift[...] = l_prev_delta.sum(axis=0)
                step_scale[...] = (l_prev_delta * xhat).sum(axis=0)
                n = len(l_prev_delta)
                l_prev_delta = (
                    scale / (n * std) * (n * l_prev_delta - step_shift - xhat * step_scale)
                )
        step = step_syn[i]
        step[: len(weights)] = l[i].T.dot(l_delta)
        if l2:
            step[: len(weights)] -= l2 * weights
        if bias:
            step[-1] = l_delta.sum(axis=0)
        if l_prev_delta is not None:
            l_delta = l_prev_delta


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
        ``(X_val, y_val)`` to measure after every epoch (unweighted, with the running
        statistics of batch normalisation).
    sample_weight : ndarray, optional
        A non-negative weight per row of ``X`` (not all zero), of the parameters' dtype:
        row ``r``'s loss, and so its delta, is multiplied by ``sample_weight[r]``.
    state : tinynet._optimizers.TrainingState, optional
        The optimizer's slots, its count of updates and the running statistics, trained in
        place (None: a fresh state, kept as :attr:`state`).
    first_epoch : int, default 0
        The number of the first epoch this trainer trains, for the random streams: epoch
        ``e`` of this trainer shuffles and drops out as epoch ``first_epoch + e`` of one
        trainer running from the start.

    Notes
    -----
    Each update takes the negative gradient ``step`` of the batch's summed loss (see
    :func:`_backward`; ``l2`` included for the weights), and, with ``g = -step``, the
    learning rate ``lr`` of the epoch and ``t`` the number of updates so far, including this
    one (``training.optimizer``; every operation per parameter):

    - ``"sgd"``: ``w += lr * step`` or, with momentum, ``v = momentum * v + lr * step`` and
      ``w += v`` (Nesterov: ``w += momentum * v + lr * step``);
    - ``"adam"``: ``m += (1 - beta_1) * (g - m)``; ``v = beta_2 * v + (1 - beta_2) * g**2``;
      ``w -= lr / (1 - beta_1**t) * m / (sqrt(v) / sqrt(1 - beta_2**t) + epsilon)``, or
      with ``epsilon_hat`` ``w -= lr * sqrt(1 - beta_2**t) / (1 - beta_1**t) * m / (sqrt(v)
      + epsilon)``;
    - ``"adamw"``: first ``w *= 1 - lr * weight_decay`` for the synapses' weights (not the
      biases, scales or shifts), then Adam's update;
    - ``"rmsprop"``: ``s = rho * s + (1 - rho) * g**2``; ``a = sqrt(s) + epsilon``; with
      momentum ``b = momentum * b + g / a`` and ``w -= lr * b``, else ``w -= lr * g / a``.

    With ``training.reduction == "mean"`` each batch's gradient is divided by the batch's
    weight ``W`` (its rows, or the sum of their sample weights): SGD takes the rate
    ``lr / W``, the others see ``g / W`` (AdamW's decay is not divided); a batch of weight 0
    takes no gradient. Row ``e`` of the history then receives scikit-learn's ``loss_`` as
    the loss, ``sum_b rows_b / W_b * (loss_sum_b + penalty_b) / n`` (``penalty_b`` being
    ``l2 / 2`` times the sum of the squared synapse weights before batch ``b``'s update),
    and in its fifth column the penalty's part of it, ``sum_b rows_b / W_b * penalty_b /
    n``.
    """

    def __init__(
        self,
        X: np.ndarray,
        y: np.ndarray,
        params: np.ndarray,
        architecture: Architecture,
        training: Training,
        validation: tuple[np.ndarray, np.ndarray] | None = None,
        *,
        sample_weight: np.ndarray | None = None,
        state: TrainingState | None = None,
        first_epoch: int = 0,
    ) -> None:
        self.X, self.y, self.params = X, y, params
        self.architecture = architecture
        self.training = training
        self.validation = validation
        self.sample_weight = sample_weight
        sizes, bias = architecture.layer_sizes, architecture.bias
        if state is None:
            statistics = fresh_statistics(sizes, architecture.batch_norm, params.dtype)
            slots = N_SLOTS if keeps_state(training) else 0
            state = fresh_state(len(params), params.dtype, statistics, slots)
        self.state = state
        self.first_epoch = first_epoch
        self.updates = state.updates
        self.syn = unpack(params, sizes, bias)
        self.step = np.zeros_like(params)  # the negative gradient, laid out like params
        self.step_syn = unpack(self.step, sizes, bias)
        self.norm = self.step_norm = self.running = None
        if architecture.batch_norm:
            if min(training.batch_size, len(X)) < 2:
                raise ValueError(
                    "batch normalisation needs batches of at least two rows: "
                    f"batch_size {training.batch_size} with {len(X)} rows of X"
                )
            self.norm = split_batch_norm(params, sizes, bias)
            self.step_norm = split_batch_norm(self.step, sizes, bias)
            self.running = split_statistics(state.statistics, sizes)
        # Shuffling a full batch would only reorder the sums of its gradient.
        self.shuffle = training.shuffle and training.batch_size < len(X)
        self.epoch = 0

    def run(self, epochs: int, history: np.ndarray, rates: np.ndarray | None = None) -> int:
        """Train for up to ``epochs`` more epochs and return how many were completed.

        Epoch ``e`` of this run takes the learning rate ``rates[e]`` (None:
        ``training.learning_rate``). Row ``e`` of ``history`` receives epoch ``e``'s loss
        and mean absolute error (weighted means, with sample weights), then (with validation
        data) the validation's. Training stops early, after rolling the parameters, the
        optimizer's slots and count of updates, and the running statistics back to where
        the epoch started, at the first epoch with a non-finite measure or parameter (it
        diverged: fewer epochs are returned) or during which an exception (such as
        ``KeyboardInterrupt``) was raised, which propagates. :attr:`epoch` counts the epochs
        completed by every run; :attr:`updates` the updates of the state, these included.
        """
        state = self.state
        saved_params, saved_slots = np.empty_like(self.params), np.empty_like(state.slots)
        saved_statistics = np.empty_like(state.statistics)
        saved_updates = self.updates

        def roll_back() -> None:
            self.params[...] = saved_params
            state.slots[...] = saved_slots
            state.statistics[...] = saved_statistics
            self.updates = saved_updates

        # Silent like the compiled core: divergence is what the return value reports, and a
        # saturated dot product is a valid input to the sigmoid.
        with np.errstate(over="ignore", invalid="ignore", under="ignore", divide="ignore"):
            for done, row in enumerate(history[:epochs]):
                rate = self.training.learning_rate if rates is None else float(rates[done])
                saved_params[...] = self.params
                saved_slots[...] = state.slots
                saved_statistics[...] = state.statistics
                saved_updates = self.updates
                try:
                    self._run_epoch(row, rate)
                except BaseException:
                    roll_back()
                    raise
                measures = list(row[:4] if self.validation is not None else row[:2])
                if self.training.reduction == "mean":
                    measures.append(row[4])
                if not (np.isfinite(measures).all() and np.isfinite(self.params).all()):
                    roll_back()
                    return done
                self.epoch += 1
                state.updates = self.updates
        return epochs

    def _batches(self, n: int) -> list[tuple[int, int]]:
        """The ``(start, stop)`` of each batch of an epoch: ``batch_size`` rows each, the
        last one fewer; with batch normalisation a last batch of one row (whose variance
        would be zero) joins the batch before it."""
        batch_size = self.training.batch_size
        starts = list(range(0, n, batch_size))
        if self.norm is not None and n > batch_size and n % batch_size == 1:
            starts.pop()
        return list(zip(starts, [*starts[1:], n], strict=True))

    def _run_epoch(self, row: np.ndarray, rate: float) -> None:
        n = len(self.X)
        first_row = (self.first_epoch + self.epoch) * n
        order = random_order(self.training.shuffle_key, first_row, n) if self.shuffle else None
        w = self.sample_weight
        loss_total = abs_total = penalty_total = 0.0
        for start, stop in self._batches(n):
            rows = slice(start, stop) if order is None else order[start:stop]
            loss_sum, abs_sum, penalty = self._train_batch(
                self.X[rows],
                self.y[rows],
                None if w is None else w[rows],
                first_row + start,
                rate,
            )
            loss_total += loss_sum
            abs_total += abs_sum
            penalty_total += penalty
        if self.training.reduction == "mean":
            row[0] = loss_total / n
            row[4] = penalty_total / n
            weight_total = n if w is None else float(np.sum(w, dtype=np.float64))
            row[1] = abs_total / (weight_total * self.y.shape[1])
        elif w is None:
            row[0] = loss_total / n
            row[1] = abs_total / self.y.size
        else:
            weight_total = float(np.sum(w, dtype=np.float64))
            row[0] = loss_total / weight_total
            row[1] = abs_total / (weight_total * self.y.shape[1])
        if self.validation is not None:
            X_val, y_val = self.validation
            l, log_out = forward_layers(  # noqa: E741
                X_val,
                self.syn,
                self.architecture,
                self.norm,
                self.running,
            )
            _, loss_sum, abs_sum = output_delta(y_val, l[-1], log_out, self.architecture.output)
            row[2] = loss_sum / len(X_val)
            row[3] = abs_sum / y_val.size

    def _train_batch(
        self,
        X: np.ndarray,
        y: np.ndarray,
        sample_weight: np.ndarray | None,
        first_row: int,
        rate: float,
    ) -> tuple[float, float, float]:
        """One update from the rows ``X``, ``y``; returns their summed loss and ``|error|``
        (weighted), and their penalty (0 but with the reduction ``"mean"`` and an l2; then
        the loss is the batch's contribution to scikit-learn's, see the class's Notes)."""
        t = self.training
        arch = self.architecture
        weight = None  # the batch's, with the reduction "mean"
        factor, penalty = 1.0, 0.0
        if t.reduction == "mean":
            weight = float(
                len(X) if sample_weight is None else np.sum(sample_weight, dtype=np.float64)
            )
            factor = len(X) / weight if weight > 0 else 0.0
            if t.l2:
                bias = arch.bias
                squares = sum(
                    float(np.sum(np.square(block[: block.shape[0] - bias], dtype=np.float64)))
                    for block in self.syn
                )
                penalty = 0.5 * t.l2 * squares
        dropout = (t.dropout_key, t.dropout, t.dropout_scale, first_row) if t.dropout else None
        l, slopes, log_out, normalised = _forward(  # noqa: E741
            X,
            self.syn,
            arch,
            norm=self.norm,
            running=self.running,
            batch=True,
            dropout=dropout,
        )

        # how much did we miss?
        l_delta, loss_sum, abs_sum = output_delta(y, l[-1], log_out, arch.output, sample_weight)
        if t.clip:
            l_delta = np.clip(l_delta, -t.clip, t.clip)

        # every synapse's step from the deltas sent back (the gradient at the old weights),
        # then the update
        _backward(
            l,
            slopes,
            normalised,
            l_delta,
            self.syn,
            self.norm,
            self.step_syn,
            self.step_norm,
            arch,
            t.l2,
            t.clip,
        )
        self.updates += 1
        self._update(rate, weight)
        if t.reduction == "mean":
            return factor * (loss_sum + penalty), abs_sum, factor * penalty
        return loss_sum, abs_sum, 0.0

    def _update(self, lr: float, weight: float | None = None) -> None:
        """The optimizer's update of every parameter from :attr:`step` (see the class's
        Notes); with the reduction ``"mean"``, the batch's ``weight`` divides the gradient."""
        t = self.training
        w, step = self.params, self.step
        g_scale = None  # what the gradient Adam and RMSprop see is multiplied by
        if weight is not None:
            sgd_lr = lr / weight if weight > 0 else 0.0
            g_scale = 1 / weight if weight > 0 else 0.0
        else:
            sgd_lr = lr
        if not keeps_state(t):
            w += sgd_lr * step
            return
        slot_0, slot_1 = self.state.slots
        if t.optimizer == "sgd":
            v = slot_0
            v *= t.momentum
            v += sgd_lr * step
            w += t.momentum * v + sgd_lr * step if t.nesterov else v
            return
        g = -step
        if g_scale is not None:
            g *= g_scale
        if t.optimizer == "rmsprop":
            s, b = slot_0, slot_1
            s[...] = t.rho * s + (1 - t.rho) * g * g
            avg = np.sqrt(s) + t.epsilon
            if t.momentum:
                b[...] = t.momentum * b + g / avg
                w -= lr * b
            else:
                w -= lr * (g / avg)
            return
        if t.optimizer == "adamw":
            bias = self.architecture.bias
            for block in self.syn:
                block[: block.shape[0] - bias] *= 1 - lr * t.weight_decay
        elif t.optimizer != "adam":
            raise ValueError(f"unknown optimizer {t.optimizer!r}")
        m, v = slot_0, slot_1
        m += (1 - t.beta_1) * (g - m)
        v[...] = t.beta_2 * v + (1 - t.beta_2) * g * g
        if t.epsilon_hat:  # Kingma and Ba's epsilon hat
            step_size = lr * math.sqrt(1 - t.beta_2**self.updates) / (1 - t.beta_1**self.updates)
            denom = np.sqrt(v) + t.epsilon
        else:
            step_size = lr / (1 - t.beta_1**self.updates)
            denom = np.sqrt(v) / math.sqrt(1 - t.beta_2**self.updates) + t.epsilon
        w -= step_size * (m / denom)


def forward(
    X: np.ndarray,
    params: np.ndarray,
    architecture: Architecture,
    out: np.ndarray,
    statistics: np.ndarray | None = None,
) -> None:
    """Write the network's output for the rows of ``X`` into ``out``.

    With batch normalisation, every hidden layer's pre-activation ``z`` becomes
    ``scale * (z - running_mean) / sqrt(running_var + eps) + shift``, from ``statistics``
    (required then).
    """
    sizes, bias = architecture.layer_sizes, architecture.bias
    norm = running = None
    if architecture.batch_norm:
        if statistics is None:
            raise ValueError("a batch-normalised network's forward needs its statistics")
        norm = split_batch_norm(params, sizes, bias)
        running = split_statistics(statistics, sizes)
    with np.errstate(over="ignore", invalid="ignore", under="ignore", divide="ignore"):
        blocks = unpack(params, sizes, bias)
        out[...] = forward_layers(X, blocks, architecture, norm, running)[0][-1]


def loss_and_gradient(
    X: np.ndarray,
    y: np.ndarray,
    params: np.ndarray,
    architecture: Architecture,
    statistics: np.ndarray | None,
    sample_weight: np.ndarray | None,
    l2: float,
    gradient: np.ndarray,
) -> float:
    """The loss of the full batch and its gradient, for optimizers outside the trainer.

    Returns ``sum_r w_r * loss_r + l2 / 2 * sum(weights**2)`` (``loss_r`` row ``r``'s
    loss as :func:`output_delta` sums it, ``w_r`` its sample weight, 1 without
    ``sample_weight``; the sum over the synapses' weights, not biases, scales or shifts),
    and writes its gradient (not its negative) into ``gradient``, laid out like
    ``params``. Batch normalisation runs in training mode on the whole of ``X``; the
    running ``statistics`` are neither used nor moved (the argument is there for the
    symmetry with :func:`forward`). No dropout, no clipping.
    """
    sizes, bias = architecture.layer_sizes, architecture.bias
    syn = unpack(params, sizes, bias)
    grad_syn = unpack(gradient, sizes, bias)
    norm = grad_norm = None
    if architecture.batch_norm:
        norm = split_batch_norm(params, sizes, bias)
        grad_norm = split_batch_norm(gradient, sizes, bias)
    with np.errstate(over="ignore", invalid="ignore", under="ignore", divide="ignore"):
        l, slopes, log_out, normalised = _forward(X, syn, architecture, norm=norm, batch=True)  # noqa: E741
        l_delta, loss_sum, _ = output_delta(y, l[-1], log_out, architecture.output, sample_weight)
        # the negative gradient first, as training takes it, then turned around
        _backward(
            l, slopes, normalised, l_delta, syn, norm, grad_syn, grad_norm, architecture, l2, 0.0
        )
        np.negative(gradient, out=gradient)
        squares = sum(
            float(np.sum(np.square(block[: block.shape[0] - bias], dtype=np.float64)))
            for block in syn
        )
    return loss_sum + l2 / 2 * squares
