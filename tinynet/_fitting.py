"""One fit, driven: a backend's trainer run over stretches of epochs, the history they fill,
the printed progress, the callbacks, and what the network keeps however the fit ends.

:meth:`tinynet.Network.fit` checks its arguments and calls :func:`run` under the network's
lock. The invariant, kept here and nowhere else: the network holds the weights of its last
completed epoch and the history of the epochs up to it, never a half-trained epoch. The
trainer trains a copy of the weights in place and rolls back an epoch that diverges or is
interrupted (see ``Trainer.run`` in :mod:`tinynet.reference`); :func:`run` hands the
network copies of it through one callable, a :class:`Commit`:

- after every epoch when there are callbacks that read it, so that they see the network
  holding that epoch's weights, with a history of views into the growing record (no copy
  per epoch). Callbacks that do not read it (scikit-learn's bookkeeping without early
  stopping) and can say how many epochs ahead they could next act are called for each
  epoch of a longer stretch, after the stretch (see :func:`epochs_ahead`);
- once more when the fit ends, however it ends (divergence, Ctrl-C, a failing callback or
  schedule), with a history of its own (views of the record where the record holds exactly
  the fit's history, else copies): the final commit, which ends the fit.

Each commit also hands over the trainer's :class:`~tinynet._optimizers.TrainingState` (the
optimizer's slots and update count, the running statistics) as of the same epoch, so that a
fit with ``resume=True`` continues exactly where this one stopped. The learning rate of each
epoch (a schedule's value, mapped by the callbacks that have ``adjust_learning_rate``) is
computed before the stretch of epochs holding it is handed to the trainer.

A fit that diverged then raises ``FloatingPointError``. These are guarantees 3 to 5 of the
README's "What tinynet guarantees".
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Sequence
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt

from tinynet import _threads
from tinynet._optimizers import TrainingState
from tinynet._progress import Reporter
from tinynet._random import derive_key
from tinynet._settings import HISTORY_KEYS, Architecture, Training, history_keys

# The most epochs one call into a backend trains. The history grows as the epochs are
# trained, so that a fit told to run for ever (until Ctrl-C or a callback stops it) does not
# first allocate a history for all of them.
MAX_CHUNK = 1 << 16

# Called as callback(network, epoch, logs) after every epoch: the network is the fit's
# tinynet.Network (typed loosely here: this module is beneath it).
Callback = Callable[[Any, int, dict[str, float]], Any]


class Trainer(Protocol):
    """What :func:`run` uses of a backend's ``Trainer`` (``tinynet._core`` or
    ``tinynet.reference``)."""

    @property
    def epoch(self) -> int: ...

    @property
    def state(self) -> TrainingState: ...

    def run(
        self,
        epochs: int,
        history: npt.NDArray[np.float64],
        rates: npt.NDArray[np.float64] | None = None,
    ) -> int: ...


class Commit(Protocol):
    """How a fit changes its network, and the only way: ``params`` (a copy of its own;
    None: keep the weights) become the network's weights, ``state`` (a copy; None: keep
    it) its optimizer state and running statistics, and ``history`` its history; the
    ``final`` commit ends the fit, after ``epochs`` completed epochs."""

    def __call__(
        self,
        params: np.ndarray | None,
        state: TrainingState | None,
        history: dict[str, np.ndarray],
        *,
        final: bool,
        epochs: int,
    ) -> None: ...


# The learning rate of an epoch, given its number in the schedule (see Network.fit).
Rates = Callable[[int], float]


def with_fit_keys(training: Training, key: int, fits: int) -> Training:
    """``training`` with the random keys of fit number ``fits`` (from 0) of a network whose
    key is ``key``: each fit draws its row orders and its dropout masks from streams of its
    own, so that a seeded network's fits repeat exactly and no two of them share a stream."""
    return dataclasses.replace(
        training,
        shuffle_key=derive_key(key, 2 * fits),
        dropout_key=derive_key(key, 2 * fits + 1),
    )


def run(
    make_trainer: Callable[..., Trainer],
    network: object,
    commit: Commit,
    X: np.ndarray,
    y: np.ndarray,
    params: np.ndarray,
    architecture: Architecture,
    training: Training,
    validation: tuple[np.ndarray, np.ndarray] | None,
    *,
    epochs: int,
    callbacks: Sequence[Callback],
    verbose: int,
    progress: bool | None,
    sample_weight: np.ndarray | None = None,
    state: TrainingState | None = None,
    first_epoch: int = 0,
    rates: Rates | None = None,
    resume: bool = False,
) -> None:
    """Train a copy of ``params`` for ``epochs`` epochs and commit it to the network.

    ``make_trainer`` is a backend's ``Trainer``; every argument is checked already.
    ``network`` is only passed to the ``callbacks``, called after every epoch (a truthy
    return value stops the fit); ``commit`` is the only way this changes it (see the
    module's docstring). ``state`` (a copy, trained in place; None: a fresh one),
    ``sample_weight`` and ``first_epoch`` (the epochs of the fits this one continues) go to
    the trainer; ``rates(first_epoch + e)`` is the learning rate of the fit's epoch ``e``
    (None: ``training.learning_rate`` for every epoch). Before the first epoch, callbacks
    with a ``fit_started(network, resume)`` method are told the fit starts.

    Raises
    ------
    FloatingPointError
        If an epoch diverged (a non-finite loss or weight); the network keeps the epochs
        before it. Exceptions from the trainer (Ctrl-C) and the callbacks propagate, the
        network likewise kept at its last completed epoch.
    """
    weights = params.copy()  # trained in place, then copied to the network
    trainer = make_trainer(
        X,
        y,
        weights,
        architecture,
        training,
        validation,
        sample_weight=sample_weight,
        state=state,
        first_epoch=first_epoch,
    )
    # Counted as a running fit (tinynet._threads) from fit_started to the final commit. A fit
    # whose batches are split over two threads of its own keeps BLAS on one thread each.
    library = _threads.library_of(trainer)
    split = bool(getattr(getattr(trainer, "plan", None), "split", False))
    with (
        _threads.fitting(library),
        _threads.holding(library) if split else contextlib.nullcontext(),
    ):
        for callback in callbacks:
            started = getattr(callback, "fit_started", None)
            if callable(started):
                started(network, resume)
        measures = history_keys(validation is not None, training.reduction == "mean")
        # Each epoch is committed before the callbacks see the network, unless none of them
        # looks at it (``_reads_network`` false: scikit-learn's bookkeeping without early
        # stopping); the last completed epoch is committed at the end either way.
        watched = any(getattr(callback, "_reads_network", True) for callback in callbacks)
        # One row per epoch, as the trainers fill it: the columns of HISTORY_KEYS up to the
        # last measure (for the blog's XOR 2 of 5, which in a fit of 60000 epochs spares
        # 1.4 MB of fresh pages, about 1 ms of page faults), laid out by measure (Fortran
        # order), so that each measure's history is one block: where the record is all
        # the fit's history, the history is views of it rather than copies.
        width = 1 + max(HISTORY_KEYS.index(name) for name in measures)
        record = np.full((0, width), np.nan, order="F")
        reporter = Reporter(epochs, verbose, progress)
        committed = -1  # the number of epochs behind the network's weights (-1: none yet)
        diverged = False
        try:
            while trainer.epoch < epochs and not diverged:
                start = trainer.epoch
                chunk = min(epochs_ahead(callbacks), reporter.epochs_until_next(start), MAX_CHUNK)
                if start + chunk > len(record):
                    record = grown(
                        record, min(epochs, max(2 * len(record), start + chunk)), order="F"
                    )
                history = record[start : start + chunk]
                try:
                    if rates is None:
                        diverged = trainer.run(chunk, history) < chunk
                    else:
                        epoch_rates = [rates(first_epoch + start + i) for i in range(chunk)]
                        diverged = trainer.run(chunk, history, np.array(epoch_rates)) < chunk
                except BaseException:
                    # Interrupted within a stretch: the callbacks (none reads the network)
                    # still hear of the epochs it completed.
                    if chunk > 1:
                        tell(callbacks, network, record, measures, start, trainer.epoch)
                    raise
                done = trainer.epoch
                if done == start:  # diverged in its first epoch: nothing new to report
                    break
                logs = logs_of(record[done - 1], measures)
                reporter.report(done, logs)
                if callbacks:
                    if watched:  # then the stretch is one epoch (epochs_ahead)
                        trained = columns(record[:done], measures)
                        commit(
                            weights.copy(), state_of(trainer), trained, final=False, epochs=done
                        )
                        committed = done
                    if tell(callbacks, network, record, measures, start, done):
                        break
        finally:
            # Also when interrupted: the weights of the completed epochs (unless committed
            # already), and a history of its own, no longer a view of the record.
            kept = weights.copy() if committed != trainer.epoch else None
            whole = record.shape == (trainer.epoch, len(measures))
            final_history = columns(record[: trainer.epoch], measures, copy=not whole)
            commit(kept, state_of(trainer), final_history, final=True, epochs=trainer.epoch)
            reporter.close()
    if diverged:
        raise FloatingPointError(
            f"training diverged in epoch {trainer.epoch + 1} (a non-finite loss or "
            "weight); the network keeps its weights from before that epoch, and its "
            "history ends there. Try a smaller learning_rate or scale the inputs."
        )


def epochs_ahead(callbacks: Sequence[Callback]) -> int:
    """How many epochs may run before the callbacks are called: one, unless every callback
    promises more (a private ``_epochs_ahead()``: the fewest epochs, counting the one it
    would act on, before it could stop the fit or change a learning rate) and none reads the
    network (``_reads_network``), which holds only the stretch's last epoch. Without
    callbacks, as many as the fit has."""
    ahead = MAX_CHUNK
    for callback in callbacks:
        promise = getattr(callback, "_epochs_ahead", None)
        if promise is None or getattr(callback, "_reads_network", True):
            return 1
        ahead = min(ahead, max(1, int(promise())))
    return ahead


def tell(
    callbacks: Sequence[Callback],
    network: object,
    record: np.ndarray,
    measures: Sequence[str],
    start: int,
    done: int,
) -> bool:
    """Call the callbacks for each of epochs ``start`` to ``done - 1`` in turn (the stretch
    of epochs just trained); whether one asked to stop. A list, not a generator: every
    callback sees an epoch, even after one of them has asked to stop there; none sees the
    epochs after it (there are none: see epochs_ahead)."""
    for epoch in range(start, done):
        logs = logs_of(record[epoch], measures)
        if any([bool(callback(network, epoch, logs)) for callback in callbacks]):
            return True
    return False


def state_of(trainer: Trainer) -> TrainingState:
    """A copy of the trainer's state, as of its last completed epoch."""
    return trainer.state.copy()


def columns(
    record: np.ndarray, measures: Sequence[str], copy: bool = False
) -> dict[str, np.ndarray]:
    """The history of ``record``'s rows (columns in the order of ``HISTORY_KEYS``): the
    column of each measure, as a view or a copy."""
    chosen = {name: record[:, HISTORY_KEYS.index(name)] for name in measures}
    return {name: column.copy() if copy else column for name, column in chosen.items()}


def logs_of(row: np.ndarray, measures: Sequence[str]) -> dict[str, float]:
    """An epoch's measures by name, from its row of the record."""
    return {name: float(row[HISTORY_KEYS.index(name)]) for name in measures}


def grown(record: np.ndarray, rows: int, order: Literal["C", "F"] = "C") -> np.ndarray:
    """``record`` with room for ``rows`` epochs, laid out in ``order``."""
    bigger = np.full((rows, record.shape[1]), np.nan, order=order)
    bigger[: len(record)] = record
    return bigger
