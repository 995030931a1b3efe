"""Many networks of one architecture, trained together: :class:`Ensemble`.

An ensemble holds ``K`` :class:`~tinynet.Network` members and trains them with one
:meth:`Ensemble.fit`: a sweep over seeds or hyperparameters, a bagged ensemble, the models of
a cross-validation. Each member trains exactly as the same network would alone, so an
ensemble is a faster way to write a loop of fits, never a different algorithm: member ``k``
of ``Ensemble(layers, K, seeds=seeds, **options)`` after ``fit(X, y, rows=rows, **fit_options)``
holds, bit for bit, what ``Network(layers, seed=seeds[k], **options).fit(X[rows[k]],
y[rows[k]], **member_k_options)`` holds (to rounding where BLAS makes a member's products
and several threads train: see :meth:`Ensemble.fit`'s ``n_threads``).

Members whose fits are small enough for the small networks' road train in groups, one
compiled call per group, each member in a lane of the vectors (:mod:`tinynet._lanes`); every
other member's fit is one call into the backend (the compiled core releases the GIL for all
of it). The groups and fits spread over threads.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import functools
import io
import itertools
import json
import os
import secrets
import sys
import threading
import time
import zipfile
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TextIO

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from tinynet import _threads
from tinynet._files import (
    CORRUPT_FILE_ERRORS,
    as_path,
    check_plain_members,
    read_archive,
    sync_directory,
)
from tinynet._files import write_archive as write_network_archive
from tinynet._lanes import MIN_GROUP, LaneFit, can_share_lanes, groups, train_group
from tinynet._progress import (
    PROGRESS_AFTER_SECONDS,
    end_line,
    format_metrics,
    progress_bar,
    shows_progress,
)
from tinynet._settings import HISTORY_KEYS, REDUCTIONS
from tinynet._state import check_state
from tinynet._validation import (
    as_array,
    as_inputs,
    as_sample_weight,
    as_targets,
    check_bool,
    check_choice,
    check_int,
    check_real,
    check_seed,
)
from tinynet.callbacks import EarlyStopping, ReduceLROnPlateau
from tinynet.network import BACKENDS, Network
from tinynet.optimizers import LBFGS, Optimizer, resolve

# The saved file: a zip archive of uncompressed members, ENSEMBLE_META (this module's JSON)
# and one complete network file (Network.save's bytes) per member, named by MEMBER_NAME.
ENSEMBLE_FORMAT = "tinynet-ensemble"
ENSEMBLE_VERSION = 1
ENSEMBLE_META = "ensemble.json"
ENSEMBLE_META_KEYS = ("format", "version", "n_members", "seeds")
MEMBER_NAME = "member_{}.tinynet"

# Callbacks that keep the state of one fit: one instance cannot serve two members.
STATEFUL_CALLBACKS = (EarlyStopping, ReduceLROnPlateau)


# From about this many multiply-adds (m * n * k) OpenBLAS spreads one product over two of its
# own threads (its rule: 65536 * GEMM_MULTITHREAD_THRESHOLD, 4, per thread).
THREADED_PRODUCT = 2 * 65536 * 4


def available_cores() -> int:
    """The cores this process may run on (its affinity where the system tells it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def default_threads(library: str) -> int:
    """``Ensemble.fit``'s threads by default: every core this process may use, but no more
    than BLAS library ``library`` (see tinynet._threads) may use now, as threadpoolctl reads
    its count. A Dask worker's processes keep their BLAS to one thread
    (``OPENBLAS_NUM_THREADS=1``), and so their ensembles; so does a
    ``threadpool_limits(1)`` block, or another ensemble holding BLAS to one thread."""
    counts = [count for pool in _threads.pools_of(library) if (count := pool.get()) is not None]
    return max(1, min([available_cores(), *counts]))


@contextlib.contextmanager
def member_errors(k: int) -> Iterator[None]:
    """Name member ``k`` in the ValueError or TypeError its checks raise."""
    try:
        yield
    except (ValueError, TypeError) as error:
        raise type(error)(f"member {k}: {error}") from error


def is_sequence(value: Any) -> bool:
    """Whether ``value`` is a sequence of per-member values (not a string or a 0-d array)."""
    if isinstance(value, np.ndarray):
        return value.ndim > 0
    return isinstance(value, Sequence) and not isinstance(value, (str, bytes))


def per_member(name: str, value: Any, n_members: int) -> list[Any]:
    """``value`` once per member: the value itself ``n_members`` times, or the members' own
    values from a sequence of ``n_members`` of them (each checked later, as the member's)."""
    if not is_sequence(value):
        return [value] * n_members
    if isinstance(value, np.ndarray) and value.ndim != 1:
        raise ValueError(
            f"{name} must be one value or a 1-D sequence of {n_members} (one per member), "
            f"got an array of shape {value.shape}"
        )
    values = list(value)
    if len(values) != n_members:
        raise ValueError(
            f"{name} must be one value or a sequence of {n_members} (one per member), "
            f"got {len(values)} values"
        )
    return values


def check_seeds(seeds: Any, n_members: int) -> list[int]:
    """``seeds`` as ``n_members`` ints that numpy's ``RandomState`` accepts; ``None`` draws
    them from the operating system's entropy (numpy's ``SeedSequence``)."""
    if seeds is None:
        drawn = np.random.SeedSequence().generate_state(n_members, np.uint32)
        return [int(seed) for seed in drawn]
    if not is_sequence(seeds):
        raise TypeError(f"seeds must be None or a sequence of {n_members} seeds, got {seeds!r}")
    seeds = list(seeds)
    if len(seeds) != n_members:
        raise ValueError(
            f"seeds must hold n_members ({n_members}) seeds, one per member, got {len(seeds)}"
        )
    return [check_seed(seed, f"seeds[{k}]") for k, seed in enumerate(seeds)]  # type: ignore[misc]


def as_rows(name: str, rows: Any, n_members: int, n_samples: int) -> list[np.ndarray] | None:
    """``rows`` (None, or one integer index array per member, each a non-empty 1-D array of
    indices in ``[0, n_samples)``, repeats allowed) as intp arrays."""
    if rows is None:
        return None
    if not is_sequence(rows):
        raise TypeError(
            f"{name} must be None or a sequence of {n_members} integer index arrays (one per "
            f"member), got {type(rows).__name__}"
        )
    rows = list(rows)
    if len(rows) != n_members:
        raise ValueError(
            f"{name} must hold one index array per member ({n_members}), got {len(rows)}"
        )
    checked = []
    for k, member_rows in enumerate(rows):
        where = f"{name}[{k}] (member {k}'s rows)"
        try:
            array = np.asarray(member_rows)
        except (TypeError, ValueError) as error:
            raise TypeError(f"{where} must be an array of integers: {error}") from error
        if array.ndim != 1:
            raise ValueError(f"{where} must be 1-D, got shape {array.shape}")
        if array.size == 0:
            raise ValueError(f"{where} is empty: the member would have no data")
        if array.dtype.kind not in "iu":
            raise TypeError(
                f"{where} must hold integer indices (a boolean mask: np.flatnonzero(mask)), "
                f"got dtype {array.dtype}"
            )
        low, high = int(array.min()), int(array.max())
        if low < 0 or high >= n_samples:
            raise ValueError(
                f"{where} must hold indices in [0, {n_samples}) (X has {n_samples} rows), "
                f"got values in [{low}, {high}]"
            )
        checked.append(array.astype(np.intp, copy=False))
    return checked


def take(array: np.ndarray, rows: np.ndarray | None) -> np.ndarray:
    """``array[rows]`` (a copy of those rows), or ``array`` itself for all of them."""
    return array if rows is None else np.take(array, rows, axis=0)


def check_alike(networks: Sequence[Network], label: str = "networks[{}]") -> None:
    """Refuse networks that differ in architecture, dtype, backend or init (TypeError for
    what is not a Network), naming network ``k`` as ``label.format(k)``."""
    for k, network in enumerate(networks):
        if not isinstance(network, Network):
            raise TypeError(f"{label.format(k)} must be a tinynet.Network, got {type(network)}")
    first = networks[0]
    one = "an ensemble's networks share one architecture"
    for k, network in enumerate(networks[1:], start=1):
        for what in ("layer_sizes", "activation", "output", "bias", "dtype", "backend", "init"):
            if getattr(network, what) != getattr(first, what):
                raise ValueError(
                    f"{label.format(k)} has {what} {getattr(network, what)!r}, "
                    f"{label.format(0)} {getattr(first, what)!r}: {one}"
                )
        for what in ("batch_norm", "batch_norm_momentum", "batch_norm_epsilon"):
            mine, theirs = getattr(network._architecture, what), getattr(first._architecture, what)
            if mine != theirs:
                raise ValueError(
                    f"{label.format(k)} has {what} {mine!r}, {label.format(0)} {theirs!r}: {one}"
                )


def copy_network(network: Network) -> Network:
    """An independent copy of ``network``, through its state (whose arrays are copies)."""
    copy = Network.__new__(Network)
    copy._restore(network.__getstate__())
    return copy


class MemberPrinter:
    """The ``verbose`` lines of one member: a callback printing its measures every
    ``verbose`` epochs and after the last, labelled with the member's index."""

    def __init__(self, k: int, epochs: int, verbose: int, out: TextIO | None = None) -> None:
        self.k, self.epochs, self.verbose = k, epochs, verbose
        self.out = out if out is not None else sys.stdout

    def __call__(self, network: Network, epoch: int, logs: dict[str, float]) -> None:
        done = epoch + 1
        if done % self.verbose == 0 or done == self.epochs:
            print(f"member {self.k}: epoch {done}/{self.epochs}  {format_metrics(logs)}",
                  file=self.out)  # fmt: skip


class MembersProgress:
    """A one-line display on stderr of the members trained so far, shown once the fit has
    run for :data:`~tinynet._progress.PROGRESS_AFTER_SECONDS` (``progress`` None: when
    stderr is a terminal)."""

    def __init__(self, n_members: int, progress: bool | None, err: TextIO | None = None) -> None:
        self.n_members = n_members
        self.err = err if err is not None else sys.stderr
        self.progress = shows_progress(progress, self.err)
        self.started = time.perf_counter()
        self.done = 0
        self.shown = False
        self.lock = threading.Lock()

    def member_done(self) -> None:
        with self.lock:
            self.done += 1
            elapsed = time.perf_counter() - self.started
            if self.progress and (self.shown or elapsed >= PROGRESS_AFTER_SECONDS):
                bar = progress_bar(self.done, self.n_members)
                self.err.write(f"\r{bar} {self.done}/{self.n_members} members trained ")
                self.err.flush()
                self.shown = True

    def close(self) -> None:
        if self.shown:
            end_line(self.err)


@dataclasses.dataclass(frozen=True)
class Task:
    """A fit of some members (one, or a group across lanes): ``run`` trains and commits
    them, and returns the errors of those that diverged, by member. A group's ``run``
    records in ``begun`` each member it begins to commit or to train alone, in order (what
    it changed, should it fail)."""

    members: tuple[int, ...]
    run: Callable[[], dict[int, FloatingPointError]]
    begun: list[int] | None = None


def train_members(
    tasks: Sequence[Task], n_members: int, n_threads: int
) -> tuple[dict[int, FloatingPointError], list[tuple[tuple[int, ...], BaseException]], list[int]]:
    """Run every task (one member's fit, or a group's), ``n_threads`` at a time: the calling
    thread and ``n_threads - 1`` others, each taking the next task in order.

    A task that diverges (FloatingPointError) does not stop the others; any other exception
    (a callback's, Ctrl-C) stops new ones from starting, and the running ones finish. Fits
    in other threads cannot be interrupted (the compiled core looks for Ctrl-C in the main
    thread only): after Ctrl-C this waits for them, whatever further Ctrl-C arrives. A
    group's task that fails leaves the members it had not begun as they were.

    Returns the members that diverged with their errors, the failures in the order they
    happened (with the members of the task that raised, none for one outside any task), and
    the members not trained (not started, or not begun by a group that failed).
    """
    order = iter(range(len(tasks)))
    lock = threading.Lock()
    stop = threading.Event()
    diverged: dict[int, FloatingPointError] = {}
    failures: list[tuple[tuple[int, ...], BaseException]] = []
    started: list[int] = []

    def work() -> None:
        while not stop.is_set():
            with lock:
                t = next(order, None)
                if t is None:
                    return
                task = tasks[t]
                if task.begun is None:
                    started.extend(task.members)
            try:
                diverged.update(task.run())
            except FloatingPointError as error:
                diverged[task.members[0]] = error
            except BaseException as error:
                # A group that failed changed only the members it had begun, the last of
                # them being the one whose fit raised.
                raised_by = task.members if not task.begun else (task.begun[-1],)
                failures.append((raised_by, error))
                stop.set()
            finally:
                if task.begun is not None:
                    with lock:
                        started.extend(task.begun)

    # Each thread runs in a copy of the caller's context, so that the machine choices forced
    # there (tinynet._plan.forced) hold for every member.
    threads = [
        threading.Thread(
            target=contextvars.copy_context().run,
            args=(work,),
            name=f"tinynet-ensemble-{i}",
            daemon=True,
        )
        for i in range(1, n_threads)
    ]
    for thread in threads:
        thread.start()
    try:
        work()
    except BaseException as error:
        stop.set()
        failures.append(((), error))
    for thread in threads:
        while thread.is_alive():
            try:
                thread.join()
            except KeyboardInterrupt as error:
                stop.set()
                failures.append(((), error))
    not_started = sorted(set(range(n_members)) - set(started))
    return diverged, failures, not_started


class Ensemble:
    """``n_members`` networks of one architecture, trained together.

    Member ``k`` starts exactly as ``Network(layers, seed=seeds[k], **options)`` and each
    :meth:`fit` trains it exactly as that network's ``fit`` would (see :meth:`fit`), so a
    sweep over seeds or hyperparameters, a bagged ensemble or the models of a
    cross-validation is one call, with the members spread over the cores.

    Parameters
    ----------
    layers : sequence of int
        The number of units in each layer, input first, as for :class:`~tinynet.Network`.
    n_members : int
        ``K``, the number of networks, at least 1.
    seeds : sequence of int, optional
        ``K`` seeds, one per member, each as :class:`~tinynet.Network`'s ``seed`` (its
        starting weights, and the shuffling and dropout of its fits); repeats are allowed.
        ``None`` draws ``K`` fresh ones from the operating system's entropy (numpy's
        ``SeedSequence``), kept in :attr:`seeds` so that the ensemble can be made again.
    activation, output, bias, dtype, backend, init, batch_norm, batch_norm_momentum, \
batch_norm_epsilon
        As for :class:`~tinynet.Network`, the same for every member.

    Attributes
    ----------
    seeds : tuple of int or None
        The members' seeds; None for an ensemble made by :meth:`from_networks`.

    See Also
    --------
    Network : one network; every member is one.

    Notes
    -----
    Thread safety: one :meth:`fit` at a time (the ensemble has a lock; :meth:`save` and
    pickling wait for a fit to end); :meth:`predict` may run at any time, and sees each
    member before or after its fit (or, with callbacks, an epoch).

    Examples
    --------
    Sixty-four seeds of the blog's network, in one call:

    >>> import numpy as np, tinynet
    >>> from tinynet._blog import XOR_X, XOR_Y
    >>> sweep = tinynet.Ensemble([3, 4, 1], 64, seeds=range(64))
    >>> sweep = sweep.fit(XOR_X, XOR_Y, epochs=2000)
    >>> sweep.predict(XOR_X).shape
    (64, 4, 1)
    >>> final_mae = sweep.history["mae"][:, -1]
    >>> int(final_mae.argmin()) in range(64)
    True

    Member ``k`` is the network that seed would have trained alone:

    >>> alone = tinynet.Network([3, 4, 1], seed=5).fit(XOR_X, XOR_Y, epochs=2000)
    >>> bool((sweep.members[5].weights[0] == alone.weights[0]).all())
    True
    """

    def __init__(
        self,
        layers: Sequence[int],
        n_members: int,
        *,
        seeds: Sequence[int] | None = None,
        activation: str = "sigmoid",
        output: str = "sigmoid",
        bias: bool = False,
        dtype: DTypeLike = np.float64,
        backend: str = "cython",
        init: str = "uniform",
        batch_norm: bool = False,
        batch_norm_momentum: float = 0.1,
        batch_norm_epsilon: float = 1e-5,
    ) -> None:
        n_members = check_int("n_members", n_members, minimum=1)
        checked_seeds = check_seeds(seeds, n_members)
        self._members = [
            Network(
                layers,
                activation=activation,
                output=output,
                bias=bias,
                seed=seed,
                dtype=dtype,
                backend=backend,
                init=init,
                batch_norm=batch_norm,
                batch_norm_momentum=batch_norm_momentum,
                batch_norm_epsilon=batch_norm_epsilon,
            )
            for seed in checked_seeds
        ]
        self.seeds: tuple[int, ...] | None = tuple(checked_seeds)
        self._lock = threading.RLock()

    @classmethod
    def from_networks(cls, networks: Sequence[Network], *, seeds: Any = None) -> Ensemble:
        """An ensemble of copies of ``networks``, which share one architecture.

        Parameters
        ----------
        networks : sequence of Network
            At least one; all with the same layers, activation, output, bias, dtype,
            backend, init and batch normalisation options. Each is copied with everything
            it holds (weights, history, optimizer state for ``resume``, random state of later
            fits): the member trains on as the network would.
        seeds : sequence of int, optional
            The seeds the networks were made with, one each, kept as :attr:`seeds` (a
            network does not keep its seed, so they are not checked against it).

        Returns
        -------
        Ensemble
            Its :attr:`seeds` are ``seeds``, as a tuple, or None.

        Raises
        ------
        TypeError
            If ``networks`` is not a sequence of networks.
        ValueError
            If it is empty, or two of them differ in architecture or options.
        """
        if isinstance(networks, Network) or not is_sequence(networks):
            raise TypeError(f"networks must be a sequence of tinynet.Network, got {networks!r}")
        networks = list(networks)
        if not networks:
            raise ValueError("networks is empty: an ensemble needs at least one network")
        check_alike(networks)
        kept = None if seeds is None else tuple(check_seeds(seeds, len(networks)))
        ensemble = cls.__new__(cls)
        ensemble._members = [copy_network(network) for network in networks]
        ensemble.seeds = kept
        ensemble._lock = threading.RLock()
        return ensemble

    # --- what it is -----------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._members)

    def __repr__(self) -> str:
        first = self._members[0]
        arch = first._architecture
        batch_norm = (
            f", batch_norm=True, batch_norm_momentum={arch.batch_norm_momentum}, "
            f"batch_norm_epsilon={arch.batch_norm_epsilon}"
            if arch.batch_norm
            else ""
        )
        if self.seeds is None:
            seeds = ""
        elif self.seeds == tuple(range(self.seeds[0], self.seeds[0] + len(self))):
            seeds = f", seeds=range({self.seeds[0]}, {self.seeds[0] + len(self)})"
        elif len(self) <= 8:
            seeds = f", seeds={list(self.seeds)!r}"
        else:
            seeds = f", seeds=[{', '.join(map(str, self.seeds[:4]))}, ...]"
        return (
            f"Ensemble({first.layer_sizes!r}, {len(self)}{seeds}, "
            f"activation={arch.activation!r}, output={arch.output!r}, bias={arch.bias}, "
            f"dtype=np.{first.dtype.name}, backend={first.backend!r}, "
            f"init={first.init!r}{batch_norm})"
        )

    @property
    def n_members(self) -> int:
        """``K``, the number of members."""
        return len(self._members)

    @property
    def members(self) -> list[Network]:
        """The members, as independent copies: ``K`` :class:`~tinynet.Network` objects
        holding everything each member holds (weights, history, optimizer state, random
        state of later fits). Changing a copy does not change the ensemble; to change
        members, build a new ensemble with :meth:`from_networks`."""
        with self._lock:
            return [copy_network(member) for member in self._members]

    @property
    def layer_sizes(self) -> list[int]:
        """The number of units in each layer, input first."""
        return self._members[0].layer_sizes

    @property
    def activation(self) -> str:
        """The hidden layers' activation."""
        return self._members[0].activation

    @property
    def output(self) -> str:
        """The output layer's activation (and so its loss)."""
        return self._members[0].output

    @property
    def bias(self) -> bool:
        """Whether the layers have bias units."""
        return self._members[0].bias

    @property
    def dtype(self) -> np.dtype:
        """The dtype of the weights and of training arithmetic."""
        return self._members[0].dtype

    @property
    def backend(self) -> str:
        """``"cython"`` (the compiled core) or ``"numpy"`` (the reference)."""
        return self._members[0].backend

    @property
    def init(self) -> str:
        """How the members' starting weights were drawn."""
        return self._members[0].init

    @property
    def history(self) -> dict[str, np.ndarray]:
        """The members' last fits, one ``(K, epochs)`` float64 array per measure.

        Row ``k`` is member ``k``'s :attr:`Network.history <tinynet.Network>`; the measures
        are those of :attr:`tinynet.Network.history`. A member whose fit ended early (a
        callback stopped it, e.g. :class:`~tinynet.EarlyStopping`, or it diverged, or the
        fit was interrupted) has a shorter history: its row is padded with NaN after its
        last epoch. The arrays are new: changing them changes nothing.
        """
        histories = [member.history for member in self._members]
        keys = [name for name in HISTORY_KEYS if any(name in h for h in histories)]
        length = max((len(h[name]) for h in histories for name in keys if name in h), default=0)
        record = {name: np.full((len(histories), length), np.nan) for name in keys}
        for k, history in enumerate(histories):
            for name, values in history.items():
                record[name][k, : len(values)] = values
        return record

    # --- training ---------------------------------------------------------------------------

    def fit(
        self,
        X: ArrayLike,
        y: ArrayLike,
        *,
        epochs: int,
        learning_rate: float | Callable[[int], float] | Sequence[Any] = 1.0,
        batch_size: int | None = None,
        shuffle: bool = True,
        momentum: float | Sequence[float] = 0.0,
        nesterov: bool = False,
        l2: float | Sequence[float] = 0.0,
        dropout: float | Sequence[float] = 0.0,
        clip: float | Sequence[float | None] | None = None,
        validation_data: tuple[ArrayLike, ArrayLike] | None = None,
        validation_rows: Sequence[ArrayLike] | None = None,
        callbacks: Sequence[Sequence[Callable[..., Any]] | None] | None = None,
        verbose: int = 0,
        progress: bool | None = None,
        optimizer: str | Optimizer | Sequence[str | Optimizer] = "sgd",
        resume: bool = False,
        sample_weight: ArrayLike | None = None,
        reduction: str = "sum",
        rows: Sequence[ArrayLike] | None = None,
        n_threads: int | None = None,
    ) -> Ensemble:
        """Train every member on ``X`` and ``y`` (or its ``rows`` of them) for ``epochs``.

        Member ``k`` ends exactly, bit for bit, where ``Network(layers, seed=seeds[k],
        ...).fit(X[rows[k]], y[rows[k]], epochs=epochs, <member k's options>)`` ends: its
        weights, biases, batch normalisation, optimizer state and history; so does the
        second fit of an ensemble, as a network's second fit. (Members big enough for
        BLAS's own threads, trained in several threads, end there to rounding: their
        products are made on one BLAS thread, see ``n_threads``.) The options are those of
        :meth:`tinynet.Network.fit`; those marked *per member* take one value for every
        member or a sequence of ``K`` values, value ``k`` for member ``k``.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_inputs)
            The inputs, converted once to the ensemble's dtype and shared: no member copies
            it (but see ``rows``).
        y : array_like, shape (n_samples, n_outputs) or (n_samples,)
            The targets, as for :meth:`tinynet.Network.fit`, shared likewise.
        epochs : int
            The number of epochs of every member (for L-BFGS, the most iterations).
        learning_rate : float or callable, or a sequence of them, default 1.0
            Per member: a rate or a schedule, as for :meth:`tinynet.Network.fit`.
        batch_size : int, optional
            As for :meth:`tinynet.Network.fit`, the same for every member (``None``: each
            member's full batch).
        shuffle : bool, default True
        momentum : float or sequence of float, default 0.0
            Per member.
        nesterov : bool, default False
        l2 : float or sequence of float, default 0.0
            Per member.
        dropout : float or sequence of float, default 0.0
            Per member.
        clip : float or None, or a sequence of them, optional
            Per member.
        validation_data : tuple (X_val, y_val), optional
            Data every member is measured on after every epoch.
        validation_rows : sequence of K integer index arrays, optional
            Instead of ``validation_data``: member ``k`` is measured on ``X[validation_rows
            [k]], y[validation_rows[k]]`` (the held-out fold of a cross-validation).
        callbacks : sequence of K lists of callables, optional
            One list per member (``None`` for none): member ``k``'s fit gets
            ``callbacks[k]``, each called as ``callback(network, epoch, logs)`` with the
            member's network, as :meth:`tinynet.Network.fit` calls them; a truthy value
            stops that member alone (early stopping per member:
            ``callbacks=[[tinynet.EarlyStopping(...)] for _ in range(K)]``). Members train
            in several threads: a callback in two members' lists is called from both, and
            must be thread-safe; an :class:`~tinynet.EarlyStopping` or
            :class:`~tinynet.ReduceLROnPlateau` instance, which keeps one fit's state, is
            refused in two lists.
        verbose : int, default 0
            Print each member's measures every ``verbose`` epochs (and after its last),
            each line starting ``member k:`` (with several threads, the members' lines
            interleave). 0: never.
        progress : bool, optional
            Show on stderr how many members are trained, for fits longer than a second;
            ``None`` shows it when stderr is a terminal. The members show none of their own.
        optimizer : str or optimizer, or a sequence of them, default "sgd"
            Per member: a name or an instance, as for :meth:`tinynet.Network.fit` (members
            may differ in optimizer and its hyperparameters).
        resume : bool, default False
            Every member continues its previous fit, as :meth:`tinynet.Network.fit` does.
        sample_weight : array_like, shape (n_samples,) or (K, n_samples), optional
            A weight per row of ``X``, shared, or one row of weights per member (e.g.
            bootstrap counts, without copying ``X``). With ``rows``, member ``k`` takes the
            weights of its rows, ``sample_weight[..., rows[k]]``, which must not be all zero.
        reduction : {"sum", "mean"}, default "sum"
        rows : sequence of K integer index arrays, optional
            Member ``k`` trains on ``X[rows[k]], y[rows[k]]``, in that order, repeats
            allowed (a bootstrap sample, or the training folds of a cross-validation): each
            a non-empty 1-D array of indices in ``[0, n_samples)`` (negative indices are
            refused). ``None``: every member trains on all of ``X``.
        n_threads : int, optional
            How many threads train members at once, each member's fit (or group of small
            members, see Notes) being one call into the backend that releases the GIL:
            ``None`` for every core this process may use (``os.sched_getaffinity``, else
            ``os.cpu_count()``), but no more than BLAS may use now (threadpoolctl's count:
            one in a Dask worker, which sets ``OPENBLAS_NUM_THREADS=1``, or in a
            ``threadpool_limits(1)`` block); 1 to train them one after the other in the
            calling thread.
            Never more than there are fits and groups. With several threads and members
            whose matrix products are big enough for BLAS to spread each over its own
            threads (about 2**19 multiply-adds), BLAS keeps to one thread while the members
            train (process-wide, given back after), so that they do not compete for the
            cores: each member's products are then those of BLAS on one thread, equal to its
            fit alone to rounding.

        Returns
        -------
        Ensemble
            This ensemble, trained, with :attr:`history` filled in.

        Raises
        ------
        TypeError, ValueError
            Before any member trains, naming the argument (and the member, for per-member
            values): every member's options are checked first, as each member's fit would
            check them, and nothing changes. ``X`` and ``y`` are checked whole (a value out
            of range in a row no member trains on is refused too).
        FloatingPointError
            If members diverged (as :meth:`tinynet.Network.fit` raises it): the other
            members train on to the end, then this is raised, naming the members that
            diverged. Each of those keeps the weights of its last finite epoch, and its
            history ends there (NaN in :attr:`history` after it).
        KeyboardInterrupt
            On Ctrl-C. The member training in the calling thread stops at its last
            completed epoch, members training in other threads finish their fits (a fit
            outside the main thread cannot be interrupted), and members not yet started are
            not started: they keep their state from before the fit, history included. The
            same holds when a callback or a schedule raises: its exception is raised, with
            a note naming the member.

        Notes
        -----
        Speed: members whose own fits would take the small networks' road (full batches of
        a network whose products are all below the BLAS crossover, plain SGD with or
        without momentum, no dropout, validation or sample weights) and that train on all
        of ``X`` with a number for a learning rate, without callbacks or a fit to resume,
        train in groups of eight, one compiled call per group, each member in a lane of the
        vectors: one epoch's latency is paid once for the group. The results are the same.

        Memory: ``X`` and ``y`` are converted once (no copy if they are C-contiguous arrays
        of the ensemble's dtype already) and shared by the members. With ``rows``, each
        member's rows are copied out of them (``np.take``) when that member starts and
        freed when it ends, so at most ``n_threads`` such copies exist at a time; likewise
        with ``validation_rows``. Each member keeps its own buffers, as a network does.

        When a member's network uses BLAS (bigger networks) and the members train one
        after the other, BLAS may run threads of its own inside each member's fit.
        """
        with self._lock:
            tasks, n_threads, held, progress_display = self._prepare(
                X,
                y,
                epochs=epochs,
                learning_rate=learning_rate,
                batch_size=batch_size,
                shuffle=shuffle,
                momentum=momentum,
                nesterov=nesterov,
                l2=l2,
                dropout=dropout,
                clip=clip,
                validation_data=validation_data,
                validation_rows=validation_rows,
                callbacks=callbacks,
                verbose=verbose,
                progress=progress,
                optimizer=optimizer,
                resume=resume,
                sample_weight=sample_weight,
                reduction=reduction,
                rows=rows,
                n_threads=n_threads,
            )
            try:
                with contextlib.ExitStack() as one_thread:
                    for library in held:
                        one_thread.enter_context(_threads.holding(library))
                    diverged, failures, not_started = train_members(tasks, len(self), n_threads)
            finally:
                progress_display.close()
        if failures:
            raised_by, error = failures[0]
            note = "raised outside any member's fit"
            if len(raised_by) == 1:
                note = f"raised by member {raised_by[0]}"
            elif raised_by:
                note = f"raised while members {list(raised_by)} trained together"
            if not_started:
                note += f"; members {not_started} were not trained by this fit"
            if diverged:
                note += f"; members {sorted(diverged)} diverged"
            if hasattr(error, "add_note"):  # Python 3.11+
                error.add_note(f"tinynet.Ensemble.fit: {note}")
            raise error
        if diverged:
            members = sorted(diverged)
            epochs_done = ", ".join(
                f"member {k} in epoch {len(self._members[k].history['loss']) + 1}" for k in members
            )
            raise FloatingPointError(
                f"training diverged for {len(members)} of {len(self)} members ({epochs_done}): "
                "each keeps its weights from before that epoch, and its history ends there; "
                "the other members trained to the end. Try a smaller learning_rate for them."
            ) from diverged[members[0]]
        return self

    def _prepare(
        self, X: Any, y: Any, **options: Any
    ) -> tuple[list[Task], int, list[str], MembersProgress]:
        """Check every argument of :meth:`fit` for every member, as each member's fit would,
        and return the members' fits as tasks, the number of threads, the BLAS libraries to
        hold on one thread while they train, and the progress display. Nothing is
        changed."""
        members = self._members
        n_members = len(members)
        first = members[0]
        arch, dtype = first._architecture, first.dtype
        n_in, n_out = arch.n_inputs, arch.n_outputs

        # The shared arguments, checked once.
        X, _ = as_inputs("X", X, dtype, n_in, allow_one_sample=False)
        y = as_targets("y", y, dtype, X.shape[0], n_out)
        n_samples = len(X)
        epochs = check_int("epochs", options["epochs"], minimum=1)
        batch_size = options["batch_size"]
        if batch_size is not None:
            batch_size = check_int("batch_size", batch_size, minimum=1)
        shuffle = check_bool("shuffle", options["shuffle"])
        nesterov = check_bool("nesterov", options["nesterov"])
        verbose = options["verbose"]
        verbose = check_int(
            "verbose", int(verbose) if isinstance(verbose, bool) else verbose, minimum=0
        )
        progress = options["progress"]
        if progress is not None:
            progress = check_bool("progress", progress)
        resume = check_bool("resume", options["resume"])
        reduction = check_choice("reduction", options["reduction"], REDUCTIONS)
        n_threads = options["n_threads"]
        if n_threads is None:
            n_threads = default_threads(_threads.library_of(BACKENDS[first.backend]))
        n_threads = check_int("n_threads", n_threads, minimum=1)
        first._check_targets("y", y)
        rows = as_rows("rows", options["rows"], n_members, n_samples)
        validation_rows = as_rows(
            "validation_rows", options["validation_rows"], n_members, n_samples
        )
        validation = None
        if options["validation_data"] is not None:
            if validation_rows is not None:
                raise ValueError("give validation_data or validation_rows, not both")
            validation = first._validation_data(options["validation_data"], n_in, n_out)
            if validation is not None:
                first._check_targets("validation_data[1]", validation[1])
        weights = self._sample_weights(options["sample_weight"], dtype, n_samples)
        callbacks = self._callbacks(options["callbacks"])

        # The per-member arguments.
        learning_rates = per_member("learning_rate", options["learning_rate"], n_members)
        momenta = per_member("momentum", options["momentum"], n_members)
        l2s = per_member("l2", options["l2"], n_members)
        dropouts = per_member("dropout", options["dropout"], n_members)
        clips = per_member("clip", options["clip"], n_members)
        optimizers = per_member("optimizer", options["optimizer"], n_members)

        tasks: list[Task] = []
        lane_fits: list[LaneFit] = []  # fits that may train across lanes, in groups
        display = MembersProgress(n_members, progress)
        widest = max(int(k) * int(j) for k, j in itertools.pairwise(arch.layer_sizes))
        largest_product = 0  # multiply-adds, of any member's biggest matrix product
        for k, member in enumerate(members):
            member_rows = None if rows is None else rows[k]
            n_k = n_samples if member_rows is None else len(member_rows)
            with member_errors(k):
                momentum = check_real("momentum", momenta[k], minimum=0.0, below=1.0)
                chosen = resolve(optimizers[k], momentum, nesterov)
                schedule = member._schedule(learning_rates[k])
                training = member._training(
                    n_k,
                    1.0 if schedule else learning_rates[k],
                    batch_size,
                    shuffle,
                    l2s[k],
                    dropouts[k],
                    clips[k],
                )
                if isinstance(chosen, LBFGS):
                    if schedule is not None:
                        raise ValueError(
                            "learning_rate: L-BFGS takes no learning rate or schedule"
                        )
                    if training.dropout or training.clip:
                        raise ValueError("dropout and clip do not apply to optimizer 'lbfgs'")
                if arch.batch_norm:
                    member._check_batches(n_k, training.batch_size, isinstance(chosen, LBFGS))
                batch_rows = n_k if isinstance(chosen, LBFGS) else min(training.batch_size, n_k)
                largest_product = max(largest_product, batch_rows * widest)
                member_callbacks = member._callbacks(callbacks[k])
                member_weights = weights[k]
                if member_weights is not None and member_rows is not None:
                    subset = take(member_weights, member_rows)
                    as_sample_weight("sample_weight", subset, dtype, n_k)
                previous = member._resume if resume else None
                if previous is not None and previous["optimizer"] != chosen.name:
                    raise ValueError(
                        f"resume=True continues a fit with optimizer {previous['optimizer']!r}, "
                        f"not {chosen.name!r}: give that optimizer, or resume=False"
                    )
                if schedule is not None:  # its first value, as the member's fit checks it
                    first_epoch = 0 if previous is None else previous["epochs"]
                    member._rates(schedule, training.learning_rate, member_callbacks, first_epoch)
            if verbose:
                member_callbacks.append(MemberPrinter(k, epochs, verbose))
            alone = self._task(
                member,
                display,
                X,
                y,
                member_rows,
                None if validation_rows is None else validation_rows[k],
                validation,
                member_weights,
                epochs=epochs,
                learning_rate=learning_rates[k],
                batch_size=batch_size,
                shuffle=shuffle,
                momentum=momentum,
                nesterov=nesterov,
                l2=l2s[k],
                dropout=dropouts[k],
                clip=clips[k],
                callbacks=member_callbacks,
                optimizer=chosen,
                resume=resume,
                reduction=reduction,
            )
            if not isinstance(chosen, LBFGS):
                full = dataclasses.replace(
                    training, **chosen.training_fields(), reduction=reduction
                )
                if can_share_lanes(
                    member,
                    full,
                    n_rows=n_k,
                    whole_data=member_rows is None,
                    schedule=schedule is not None,
                    callbacks=bool(member_callbacks),
                    resumes=previous is not None,
                    validation=validation is not None or validation_rows is not None,
                    weighted=member_weights is not None,
                ):
                    lane_fits.append(LaneFit(k, member, chosen, full, alone))
                    continue
            tasks.append(Task((k,), alone))
        for group in groups(lane_fits):
            if len(group) < MIN_GROUP:
                tasks.extend(Task((fit.k,), fit.alone) for fit in group)
                continue
            begun: list[int] = []
            run = functools.partial(
                train_group,
                group,
                X,
                y,
                epochs=epochs,
                nesterov=nesterov,
                member_done=display.member_done,
                begun=begun,
            )
            tasks.append(Task(tuple(fit.k for fit in group), run, begun))
        tasks.sort(key=lambda task: task.members[0])
        n_threads = min(n_threads, len(tasks))
        held = []
        if n_threads > 1 and largest_product >= THREADED_PRODUCT:
            # Products big enough for BLAS's own threads, which members in threads of their
            # own would compete with for the cores (two digits-size members in two threads
            # ran at 0.75x one after the other): BLAS keeps to one thread while they train.
            held = sorted({_threads.library_of(BACKENDS[m.backend]) for m in members})
        return tasks, n_threads, held, display

    @staticmethod
    def _task(
        member: Network,
        display: MembersProgress,
        X: np.ndarray,
        y: np.ndarray,
        rows: np.ndarray | None,
        validation_rows: np.ndarray | None,
        validation: tuple[np.ndarray, np.ndarray] | None,
        sample_weight: np.ndarray | None,
        **options: Any,
    ) -> Callable[[], dict[int, FloatingPointError]]:
        """Member ``k``'s fit, its rows taken from ``X`` and ``y`` when it starts (as a
        task's ``run``: its FloatingPointError is raised, not returned)."""

        def fit() -> dict[int, FloatingPointError]:
            member_validation = validation
            if validation_rows is not None:
                member_validation = (take(X, validation_rows), take(y, validation_rows))
            weights = None if sample_weight is None else take(sample_weight, rows)
            member.fit(
                take(X, rows),
                take(y, rows),
                validation_data=member_validation,
                sample_weight=weights,
                verbose=0,
                progress=False,
                **options,
            )
            display.member_done()
            return {}

        return fit

    def _sample_weights(
        self, sample_weight: Any, dtype: np.dtype, n_samples: int
    ) -> list[np.ndarray | None]:
        """``sample_weight`` (None, shared weights or one row per member) as one array (or
        None) per member, each of ``n_samples`` weights."""
        n_members = len(self._members)
        if sample_weight is None:
            return [None] * n_members
        array = as_array("sample_weight", sample_weight, dtype)
        if array.ndim == 1:
            return [as_sample_weight("sample_weight", array, dtype, n_samples)] * n_members
        if array.ndim != 2 or len(array) != n_members:
            raise ValueError(
                f"sample_weight must have shape ({n_samples},) (shared) or ({n_members}, "
                f"{n_samples}) (one row per member), got shape {array.shape}"
            )
        return [
            as_sample_weight(f"sample_weight[{k}]", row, dtype, n_samples)
            for k, row in enumerate(array)
        ]

    def _callbacks(self, callbacks: Any) -> list[Any]:
        """``callbacks`` as one list (or None) per member, checked for shared stateful
        instances (each list's callables are checked with the member's options)."""
        n_members = len(self._members)
        if callbacks is None:
            return [None] * n_members
        if callable(callbacks) or not is_sequence(callbacks):
            raise TypeError(
                f"callbacks must be a sequence of {n_members} lists of callables, one per "
                f"member (e.g. [[tinynet.EarlyStopping()] for _ in range({n_members})]), "
                f"got {callbacks!r}"
            )
        callbacks = list(callbacks)
        if len(callbacks) != n_members:
            raise ValueError(
                f"callbacks must hold one list of callbacks per member ({n_members}), "
                f"got {len(callbacks)}"
            )
        owners: dict[int, int] = {}
        for k, member_callbacks in enumerate(callbacks):
            if member_callbacks is None:
                continue
            if callable(member_callbacks) or not is_sequence(member_callbacks):
                raise TypeError(
                    f"callbacks[{k}] must be member {k}'s list of callbacks (callbacks holds "
                    f"one list per member), got {member_callbacks!r}"
                )
            for callback in member_callbacks:
                if not isinstance(callback, STATEFUL_CALLBACKS):
                    continue
                owner = owners.setdefault(id(callback), k)
                if owner != k:
                    raise ValueError(
                        f"callbacks[{owner}] and callbacks[{k}] share one "
                        f"{type(callback).__name__}, which keeps one fit's state: give each "
                        "member its own"
                    )
        return callbacks

    # --- predicting ---------------------------------------------------------------------------

    def predict(self, X: ArrayLike) -> np.ndarray:
        """Every member's output for ``X``.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_inputs) or (n_inputs,)
            The inputs, converted once; a 1-D ``X`` is one sample.

        Returns
        -------
        numpy.ndarray
            Shape ``(K, n_samples, n_outputs)`` (``(K, n_outputs)`` for a 1-D ``X``) in the
            ensemble's dtype: ``[k]`` is member ``k``'s :meth:`tinynet.Network.predict`. The
            ensemble's mean prediction is ``predict(X).mean(axis=0)``.
        """
        first = self._members[0]
        arch = first._architecture
        X, one_sample = as_inputs("X", X, first.dtype, arch.n_inputs, allow_one_sample=True)
        out = np.empty((len(self), len(X), arch.n_outputs), dtype=first.dtype)
        for k, member in enumerate(self._members):
            out[k] = member.predict(X)
        return out[:, 0] if one_sample else out

    # --- state: pickling, saving and loading ------------------------------------------------

    def __getstate__(self) -> dict[str, Any]:
        """The ensemble as plain data: its seeds and each member's state (see
        ``tinynet._state``), checked on the way back in."""
        with self._lock:  # waits for a fit to end
            return {
                "version": ENSEMBLE_VERSION,
                "seeds": None if self.seeds is None else list(self.seeds),
                "members": [member.__getstate__() for member in self._members],
            }

    def __setstate__(self, state: dict[str, Any]) -> None:
        if not isinstance(state, dict) or set(state) != {"version", "seeds", "members"}:
            raise ValueError("an ensemble's state must be a dict of version, seeds and members")
        if state["version"] != ENSEMBLE_VERSION:
            raise ValueError(f"ensemble state version {state['version']!r} is not supported")
        states = state["members"]
        if not isinstance(states, list) or not states:
            raise ValueError("an ensemble's state must hold a non-empty list of members")
        self._become([check_state(member) for member in states], state["seeds"])

    def _become(self, states: list[dict[str, Any]], seeds: Any) -> None:
        """Become the ensemble of the members' checked ``states`` and ``seeds`` (checked
        here: None or one per member)."""
        members = []
        for member_state in states:
            member = Network.__new__(Network)
            member._restore(member_state)
            members.append(member)
        check_alike(members, "member {}")
        self._members = members
        self.seeds = None if seeds is None else tuple(check_seeds(seeds, len(members)))
        self._lock = threading.RLock()

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the ensemble to the file ``path``, to be read back by :meth:`load`.

        The file is a zip archive (no pickle) of ``ensemble.json`` (the format, its version,
        the number of members and their seeds) and one member ``member_<k>.tinynet`` per
        member, holding exactly the bytes :meth:`tinynet.Network.save` writes for it (so
        each can be extracted and read by :func:`tinynet.load`): a loaded ensemble predicts
        and trains on bit for bit as this one would. As for a network, the file is written
        beside ``path`` under a temporary name, flushed and renamed over ``path``: a failed
        or interrupted save leaves any old file there whole.

        Parameters
        ----------
        path : str or os.PathLike
            The file to write; replaced if it exists.
        """
        path = as_path(path)
        with self._lock:  # waits for a fit to end
            state = self.__getstate__()
        meta = {
            "format": ENSEMBLE_FORMAT,
            "version": ENSEMBLE_VERSION,
            "n_members": len(state["members"]),
            "seeds": state["seeds"],
        }
        member_files = []
        for member_state in state["members"]:
            buffer = io.BytesIO()
            write_network_archive(buffer, check_state(member_state))
            member_files.append(buffer.getvalue())
        directory = os.path.dirname(os.path.abspath(path))
        temporary = os.path.join(
            directory, f".{os.path.basename(path)}.{secrets.token_hex(6)}.tmp"
        )
        fd = os.open(
            temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666
        )
        try:
            with os.fdopen(fd, "wb") as file:
                with zipfile.ZipFile(file, "w", compression=zipfile.ZIP_STORED) as archive:
                    archive.writestr(ENSEMBLE_META, json.dumps(meta, indent=1))
                    for k, data in enumerate(member_files):
                        archive.writestr(MEMBER_NAME.format(k), data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        sync_directory(directory)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Ensemble:
        """The ensemble saved in the file ``path`` by :meth:`save`.

        Everything is checked before an ensemble is made of it: the archive's members, the
        format and its version, every member's network file as :func:`tinynet.load` checks
        it, and that the members share one architecture. Nothing is unpickled.

        Parameters
        ----------
        path : str or os.PathLike
            The file to read.

        Returns
        -------
        Ensemble
            The saved ensemble: same members, seeds, histories and random state.

        Raises
        ------
        ValueError
            If the file is not a tinynet ensemble file, or is corrupt, truncated or
            tampered with (naming the member at fault).
        OSError
            If it cannot be read, e.g. ``FileNotFoundError``.
        """
        path = as_path(path)
        with open(path, "rb") as file:
            data = file.read()
        ensemble = cls.__new__(cls)
        try:
            states, seeds = read_ensemble_archive(data)
            ensemble._become(states, seeds)
        except CORRUPT_FILE_ERRORS as error:
            raise ValueError(f"cannot load {path!r}: {error}") from error
        return ensemble


def read_ensemble_archive(data: bytes) -> tuple[list[dict[str, Any]], Any]:
    """The members' checked states and the (unchecked) seeds in the archive ``data``."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        infos = archive.infolist()
        members = {info.filename: info for info in infos}
        if len(members) != len(infos):
            raise ValueError("the archive holds a member twice")
        if ENSEMBLE_META not in members:
            raise ValueError(f"not a tinynet ensemble file: it has no {ENSEMBLE_META}")
        check_plain_members(infos, ENSEMBLE_META, len(data))
        meta = json.loads(archive.read(ENSEMBLE_META).decode("utf-8"))
        if not isinstance(meta, dict) or set(meta) != set(ENSEMBLE_META_KEYS):
            raise ValueError(f"{ENSEMBLE_META} must hold the entries {list(ENSEMBLE_META_KEYS)}")
        if meta["format"] != ENSEMBLE_FORMAT:
            raise ValueError(f"not a tinynet ensemble file: format {meta['format']!r}")
        if meta["version"] != ENSEMBLE_VERSION:
            raise ValueError(
                f"ensemble file version {meta['version']!r} is not supported; this tinynet "
                f"reads version {ENSEMBLE_VERSION}"
            )
        n_members = check_int("n_members", meta["n_members"], minimum=1)
        expected = {ENSEMBLE_META, *(MEMBER_NAME.format(k) for k in range(n_members))}
        if set(members) != expected:
            missing, extra = sorted(expected - set(members)), sorted(set(members) - expected)
            raise ValueError(
                f"the archive's members differ: missing {missing}, unexpected {extra}"
            )
        states = []
        for k in range(n_members):
            with member_errors(k):
                states.append(check_state(read_archive(archive.read(MEMBER_NAME.format(k)))))
    return states, meta["seeds"]
