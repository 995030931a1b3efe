"""A fit with ``optimizer="lbfgs"``: scipy's L-BFGS-B over the whole parameter vector.

``scipy.optimize.minimize(method="L-BFGS-B", jac=True)`` minimises, in float64, the loss of
the full batch (summed over the rows, times the sample weights, plus ``l2 / 2`` times the
sum of the squared weights; with reduction ``"mean"`` all of it divided by the total weight,
as scikit-learn's MLP minimises it) with the options scikit-learn's MLP passes it:
``maxiter`` the fit's ``epochs``, ``maxfun`` and ``gtol`` the :class:`tinynet.LBFGS`'s
``max_fun`` and ``tol``. Each evaluation is one call to the backend's
``loss_and_gradient``; each iteration is one epoch of the history (its loss per unit of
weight without the L2 term, or with reduction ``"mean"`` the objective and, as
``"penalty"``, its L2 part; and its mean absolute error from a forward pass), after which
the callbacks run as after any epoch.

The network keeps the weights of the last iteration whose loss and weights are finite (the
iterations of L-BFGS-B lower the loss, so they are the best seen), however the fit ends:
this module keeps the invariant of :mod:`tinynet._fitting`, through the same ``Commit``.
With batch normalisation, whose running statistics L-BFGS does not move, they become the
full batch's statistics at the kept weights (its mean, and its unbiased variance).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

import numpy as np

from tinynet import _threads
from tinynet._fitting import Callback, Commit, columns, grown, logs_of
from tinynet._layout import split, split_batch_norm, split_statistics
from tinynet._optimizers import TrainingState
from tinynet._progress import Reporter
from tinynet._settings import HISTORY_KEYS, Architecture, history_keys
from tinynet._validation import all_finite
from tinynet.optimizers import LBFGS
from tinynet.reference import poisson_deviance


def batch_statistics(X: np.ndarray, params: np.ndarray, architecture: Architecture) -> np.ndarray:
    """The statistics of batch normalisation in training mode on ``X`` (each hidden layer's
    batch mean and biased variance, laid out as running statistics), so that a forward pass
    given them computes what training computes."""
    from tinynet.reference import HIDDEN  # the reference's activations, for the layers

    layer_sizes, bias = architecture.layer_sizes, architecture.bias
    activate: Callable[[np.ndarray], np.ndarray] = HIDDEN[architecture.activation][0]
    weights, biases = split(params, layer_sizes, bias)
    statistics = np.zeros(2 * sum(int(size) for size in layer_sizes[1:-1]), dtype=params.dtype)
    layer = X
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        for i, ((scale, shift), (mean, variance)) in enumerate(
            zip(
                split_batch_norm(params, layer_sizes, bias),
                split_statistics(statistics, layer_sizes),
                strict=True,
            )
        ):
            z = layer.dot(weights[i]) + (biases[i] if bias else 0)
            mean[...] = z.mean(axis=0)
            variance[...] = ((z - mean) ** 2).mean(axis=0)
            eps = architecture.batch_norm_epsilon
            layer = activate(scale * ((z - mean) / np.sqrt(variance + eps)) + shift)
    return statistics


def measures(
    backend: ModuleType,
    X: np.ndarray,
    y: np.ndarray,
    params: np.ndarray,
    architecture: Architecture,
    statistics: np.ndarray | None,
    weights: np.ndarray | None,
    loss: bool = True,
) -> tuple[float, float]:
    """The loss per sample and the mean ``|y - output|`` of ``params`` on ``X``, ``y``, each
    a mean weighted by ``weights`` (None: unweighted), from one forward pass; without
    ``loss``, NaN for the loss (the training's, which the objective gives already)."""
    out = np.empty(y.shape, dtype=params.dtype)
    if architecture.batch_norm:
        backend.forward(X, params, architecture, out, statistics)
    else:
        backend.forward(X, params, architecture, out)
    with np.errstate(over="ignore", invalid="ignore", under="ignore", divide="ignore"):
        error = (y - out).astype(np.float64)
        if not loss:
            losses = np.full(len(X), np.nan)
        elif architecture.output == "softmax":
            tiny = np.finfo(params.dtype).tiny
            losses = -(y * np.log(np.maximum(out, tiny))).astype(np.float64).sum(axis=1)
        elif architecture.output == "logistic":
            eps = np.finfo(params.dtype).eps
            p = np.clip(out, eps, 1 - eps).astype(np.float64)
            target = y.astype(np.float64)
            losses = -(target * np.log(p) + (1 - target) * np.log(1 - p)).sum(axis=1)
        elif architecture.output == "poisson":
            # the log of an output that underflowed to 0 taken at the smallest normal, as
            # for softmax: the training pass has the exact log, this pass only the outputs
            log_out = np.log(np.maximum(out, np.finfo(params.dtype).tiny))
            losses = poisson_deviance(y, out, log_out).sum(axis=1)
        else:
            losses = 0.5 * np.square(error).sum(axis=1)
        errors = np.abs(error).sum(axis=1)
        w = np.ones(len(X)) if weights is None else weights.astype(np.float64)
        total = w.sum()
        return float(w @ losses / total), float(w @ errors / (total * y.shape[1]))


def run(
    backend: ModuleType,
    network: object,
    commit: Commit,
    X: np.ndarray,
    y: np.ndarray,
    params: np.ndarray,
    architecture: Architecture,
    optimizer: LBFGS,
    validation: tuple[np.ndarray, np.ndarray] | None,
    *,
    l2: float,
    sample_weight: np.ndarray | None,
    statistics: np.ndarray,
    reduction: str = "sum",
    epochs: int,
    callbacks: Sequence[Callback],
    verbose: int,
    progress: bool | None,
) -> None:
    """Fit ``params`` (not changed: a copy is trained) by L-BFGS-B for at most ``epochs``
    iterations and commit the result to the network (see the module's docstring).

    Raises
    ------
    Exceptions from the callbacks and ``KeyboardInterrupt``; the network keeps the weights
    of the last completed iteration.
    """
    # Imported here: scipy.optimize takes longer to import than the rest of tinynet.
    import scipy.optimize  # type: ignore[import-untyped]

    dtype = params.dtype
    point = params.copy()  # where the backend evaluates
    gradient = np.empty_like(params)
    kept = params.copy()  # the last finite iterate
    layer_sizes, bias = architecture.layer_sizes, architecture.bias
    synapse_weights = split(point, layer_sizes, bias)[0]
    mean = reduction == "mean"
    measured = history_keys(validation is not None, mean)
    total = float(len(X) if sample_weight is None else sample_weight.sum(dtype=np.float64))
    record = np.full((0, len(HISTORY_KEYS)), np.nan)
    reporter = Reporter(epochs, verbose, progress)
    done = 0
    committed = -1  # the iterations behind the network's weights (-1: none yet)

    def loss_and_gradient(x: np.ndarray) -> tuple[float, np.ndarray]:
        point[...] = x
        loss = backend.loss_and_gradient(
            X, y, point, architecture, statistics, sample_weight, l2, gradient
        )
        if not (np.isfinite(loss) and all_finite(gradient)):
            return np.inf, np.zeros(len(x))  # refused by the line search
        if mean:
            return float(loss) / total, np.divide(gradient, total, dtype=np.float64)
        return float(loss), gradient.astype(np.float64)

    def running(at: np.ndarray) -> np.ndarray:
        """The running statistics the kept weights get: the full batch's."""
        if not architecture.batch_norm:
            return statistics
        found = batch_statistics(X, at, architecture)
        if len(X) > 1:
            for _, variance in split_statistics(found, layer_sizes):
                variance *= len(X) / (len(X) - 1)
        return found

    def iteration(intermediate_result: Any) -> None:
        nonlocal record, done, committed
        x, fun = intermediate_result.x, float(intermediate_result.fun)
        point[...] = x
        if not (np.isfinite(fun) and all_finite(point)):
            raise StopIteration
        kept[...] = point
        if done + 1 > len(record):
            record = grown(record, min(epochs, max(2 * len(record), 16)))
        row = record[done]
        penalty = (
            0.5 * l2 * sum(float(np.sum(np.square(w, dtype=np.float64))) for w in synapse_weights)
        )
        if mean:
            row[0] = fun
            row[HISTORY_KEYS.index("penalty")] = penalty / total
        else:
            row[0] = (fun - penalty) / total
        train_statistics = (
            batch_statistics(X, kept, architecture) if architecture.batch_norm else None
        )
        row[1] = measures(
            backend, X, y, kept, architecture, train_statistics, sample_weight, loss=False
        )[1]
        if validation is not None:
            row[2:4] = measures(backend, *validation, kept, architecture, running(kept), None)
        done += 1
        logs = logs_of(record[done - 1], measured)
        reporter.report(done, logs)
        if callbacks:
            state = TrainingState(np.zeros((0, len(kept)), dtype), 0, running(kept))
            commit(kept.copy(), state, columns(record[:done], measured), final=False, epochs=done)
            committed = done
            if any([bool(callback(network, done - 1, logs)) for callback in callbacks]):
                raise StopIteration

    # Counted as a running fit (tinynet._threads) from fit_started to the final commit.
    with _threads.fitting(_threads.library_of(backend)):
        for callback in callbacks:
            started = getattr(callback, "fit_started", None)
            if callable(started):
                started(network, False)
        try:
            with np.errstate(over="ignore", invalid="ignore", under="ignore", divide="ignore"):
                scipy.optimize.minimize(
                    loss_and_gradient,
                    params.astype(np.float64),
                    method="L-BFGS-B",
                    jac=True,
                    callback=iteration,
                    options={
                        "maxiter": epochs,
                        "maxfun": optimizer.max_fun,
                        "gtol": optimizer.tol,
                    },
                )
        finally:
            state = TrainingState(np.zeros((0, len(kept)), dtype), 0, running(kept))
            history: dict[str, Any] = columns(record[:done], measured, copy=True)
            # Unless a callback has seen them already (and may have changed them, as
            # EarlyStopping's restore_best does), the weights of the last iteration.
            final = kept.copy() if committed != done else None
            commit(final, state, history, final=True, epochs=done)
            reporter.close()
