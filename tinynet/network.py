"""The public ``Network``: validates and converts, keeps the state, and hands the work to a
backend (the compiled core or the numpy reference), a fit through :mod:`tinynet._fitting`."""

from __future__ import annotations

import dataclasses
import functools
import math
import numbers
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from tinynet import _core, _fitting, _lbfgs, reference
from tinynet._files import load_state, save_state
from tinynet._fitting import Callback
from tinynet._layout import LayerSizes, n_params, split, split_batch_norm, split_statistics
from tinynet._optimizers import TrainingState, fresh_state, fresh_statistics, keeps_state
from tinynet._settings import (
    BACKEND_NAMES,
    HISTORY_KEYS,
    INITS,
    REDUCTIONS,
    Architecture,
    Training,
    history_keys,
)
from tinynet._state import STATE_VERSION, check_state
from tinynet._validation import (
    as_array,
    as_inputs,
    as_sample_weight,
    as_targets,
    check_architecture,
    check_bool,
    check_choice,
    check_dtype,
    check_int,
    check_positive_real,
    check_rate,
    check_real,
    check_seed,
)
from tinynet.optimizers import LBFGS, Optimizer, resolve

# The backends by name: modules with a Trainer, forward and loss_and_gradient (see
# tinynet.reference, which documents their common interface).
BACKENDS = dict(zip(BACKEND_NAMES, (_core, reference), strict=True))


def initial_params(
    layer_sizes: LayerSizes,
    seed: int | None,
    dtype: np.dtype,
    init: str = "uniform",
    bias: bool = False,
    batch_norm: bool = False,
) -> np.ndarray:
    """The starting parameters, synapse by synapse, in one parameter vector.

    The weights are the blog's draws, ``np.random.seed(seed); syn_i = 2 *
    np.random.random((n_in, n_out)) - 1`` from numpy's legacy ``RandomState`` in float64
    (so ``seed=1`` gives the blog's weights), scaled by ``sqrt(6 / (n_in + n_out))`` for
    ``"xavier"`` and by ``sqrt(6 / n_in)`` for ``"he"``, then converted to ``dtype``.
    Biases start at zero; with ``batch_norm``, the scales at one and the shifts at zero.
    """
    random_state = np.random.RandomState(seed)
    params = np.zeros(n_params(layer_sizes, bias, batch_norm), dtype=dtype)
    if batch_norm:
        for scale, _ in split_batch_norm(params, layer_sizes, bias):
            scale[...] = 1
    for weights in split(params, layer_sizes, bias)[0]:
        k, j = weights.shape
        synapse = 2 * random_state.random_sample((k, j)) - 1
        if init == "xavier":
            synapse *= math.sqrt(6 / (k + j))
        elif init == "he":
            synapse *= math.sqrt(6 / k)
        weights[...] = synapse
    return params


class Network:
    """A fully-connected network trained by the blog's backpropagation.

    Parameters
    ----------
    layers : sequence of int
        The number of units in each layer, input layer first, output layer last:
        ``[3, 4, 1]`` is the blog's three-layer network, ``[3, 1]`` its two-layer one.
    activation : {"sigmoid", "tanh", "relu", "linear"}, default "sigmoid"
        The hidden layers' activation.
    output : {"sigmoid", "linear", "softmax", "logistic", "poisson"}, default "sigmoid"
        The output layer's activation and loss: ``"sigmoid"`` and ``"linear"`` with the
        squared error ``0.5 * sum((y - output)**2)`` (sigmoid is the blog's), ``"softmax"``
        with the cross-entropy ``-sum(y * log(output))`` (needs two or more outputs and
        targets that are probabilities, e.g. one-hot rows), ``"logistic"``: sigmoid units
        with the binary cross-entropy ``-sum(y * log(output) + (1 - y) * log(1 - output))``
        (targets in ``[0, 1]``, e.g. 0/1 labels, one column per label; the output clipped to
        ``[eps, 1 - eps]`` in the loss, ``eps`` the dtype's machine epsilon, as
        scikit-learn's log loss does), ``"poisson"``: exponential units ``output = exp(z)``
        with the half Poisson deviance ``sum(y * log(y / output) - y + output)`` (``y *
        log(y)`` taken as 0 at ``y = 0``; non-negative targets, e.g. counts or rates:
        scikit-learn's ``MLPRegressor(loss="poisson")``). Both of the last two have the
        gradient ``output - y`` at the output's input. A poisson output's ``exp`` is not
        clipped: an input above ``log`` of the dtype's largest number (about 709.8 in
        float64, 88.7 in float32) gives ``inf``, without a warning, in :meth:`predict`, and
        an infinite loss in :meth:`fit`, which stops there as on any divergence.
    bias : bool, default False
        Give every layer after the input bias units (the blog's network has none).
    seed : int, optional
        Seeds the starting weights, drawn as the blog draws them:
        ``np.random.seed(seed); syn_i = 2 * np.random.random((n_in, n_out)) - 1``, and the
        shuffling and dropout of every :meth:`fit`. ``None`` draws fresh ones each time.
    dtype : {np.float64, np.float32}, default np.float64
        The precision of the weights and of all arithmetic in training.
    backend : {"cython", "numpy"}, default "cython"
        ``"cython"`` trains in the compiled core; ``"numpy"`` runs the pure-numpy reference
        of the same algorithm (:mod:`tinynet.reference`), which gives the same numbers.
    init : {"uniform", "xavier", "he"}, default "uniform"
        The starting weights: the blog's uniform draws in ``[-1, 1)``, or the same draws
        scaled to Glorot's ``sqrt(6 / (n_in + n_out))`` or He's ``sqrt(6 / n_in)`` bound.
        Biases start at zero.
    batch_norm : bool, default False
        Normalise every hidden layer's pre-activation ``z`` (inputs times weights, plus
        bias) per unit over the batch, as PyTorch's ``BatchNorm1d``: ``y = scale * (z -
        mean) / sqrt(var + batch_norm_epsilon) + shift`` before the activation, ``mean`` and
        ``var`` (biased) the batch's in training, the running statistics in :meth:`predict`.
        ``scale`` (starting at 1) and ``shift`` (at 0) are learned; see :attr:`batch_norm`.
        Needs a hidden layer.
    batch_norm_momentum : float, default 0.1
        In ``[0, 1]``: after every update, ``running = (1 - momentum) * running + momentum
        * batch``, with the batch's unbiased variance; the running mean starts at 0, the
        running variance at 1.
    batch_norm_epsilon : float, default 1e-5
        Added to the variance under the square root, finite and positive.

    Attributes
    ----------
    history : dict of str to numpy.ndarray
        One float64 value per epoch of the last :meth:`fit`: ``"loss"``, the loss per
        sample, and ``"mae"``, the mean of ``|y - output|`` (the blog's "Error:"), both
        from the forward passes of the epoch's updates, each taken before its update;
        with validation data also ``"val_loss"`` and ``"val_mae"``, the same on the
        validation data with the weights at the end of the epoch; with
        ``reduction="mean"``, ``"loss"`` includes the L2 penalty, and ``"penalty"`` holds
        that part of it (see :meth:`fit`).

    Examples
    --------
    The blog's three-layer network:

    >>> import numpy as np, tinynet
    >>> X = np.array([[0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1]])
    >>> y = np.array([[0], [1], [1], [0]])
    >>> net = tinynet.Network([3, 4, 1], seed=1).fit(X, y, epochs=59999)
    >>> print(f"{net.history['mae'][10000]:.12g}")
    0.00858452565325
    >>> net.predict(X).round(8).ravel().tolist()
    [0.00260572, 0.99672209, 0.99701711, 0.00386759]

    A classifier: softmax outputs are class probabilities, their ``argmax`` the labels.

    >>> labels = np.array([0, 1, 1, 0])
    >>> clf = tinynet.Network([3, 8, 2], activation="tanh", output="softmax", bias=True,
    ...                       init="xavier", seed=0)
    >>> clf = clf.fit(X, np.eye(2)[labels], epochs=500, learning_rate=0.1)
    >>> clf.predict(X).argmax(axis=1).tolist()
    [0, 1, 1, 0]
    """

    def __init__(
        self,
        layers: Sequence[int],
        *,
        activation: str = "sigmoid",
        output: str = "sigmoid",
        bias: bool = False,
        seed: int | None = None,
        dtype: DTypeLike = np.float64,
        backend: str = "cython",
        init: str = "uniform",
        batch_norm: bool = False,
        batch_norm_momentum: float = 0.1,
        batch_norm_epsilon: float = 1e-5,
    ) -> None:
        self._architecture = check_architecture(
            layers, activation, output, bias, batch_norm, batch_norm_momentum, batch_norm_epsilon
        )
        arch = self._architecture
        layer_sizes, bias = arch.layer_sizes, arch.bias
        self._dtype = check_dtype(dtype)
        self._backend = check_choice("backend", backend, BACKEND_NAMES)
        self._init = check_choice("init", init, INITS)
        seed = check_seed(seed)
        try:
            self._params = initial_params(
                layer_sizes, seed, self._dtype, self._init, bias, arch.batch_norm
            )
        except MemoryError as error:
            raise ValueError(
                f"layers {self.layer_sizes}: the network's "
                f"{n_params(layer_sizes, bias, arch.batch_norm)} parameters do not fit in memory"
            ) from error
        # The running statistics of batch normalisation (empty without it).
        self._statistics = fresh_statistics(layer_sizes, arch.batch_norm, self._dtype)
        # The key of the fits' shuffling and dropout: from the seed, else from the OS.
        self._key = int(np.random.SeedSequence(seed).generate_state(1, np.uint64)[0])
        self._fits = 0  # the fits run so far: each fit's random keys derive from it
        # What a fit with resume=True continues: the optimizer's slots and update count
        # (None: none kept, as after L-BFGS) and the last fit's optimizer, random streams
        # and epochs (None before any fit; see tinynet._state.RESUME_KEYS).
        self._training_state: TrainingState | None = None
        self._resume: dict[str, Any] | None = None
        self.history: dict[str, np.ndarray] = {name: np.empty(0) for name in history_keys(False)}
        self._lock = threading.RLock()

    # --- state: pickling, saving and loading --------------------------------------------

    def __getstate__(self) -> dict[str, Any]:
        """The network as plain data (see ``tinynet._state``), checked on the way back in."""
        arch = self._architecture
        with self._lock:  # waits for a fit in another thread to end
            measures = [name for name in HISTORY_KEYS if name in self.history]
            return {
                "version": STATE_VERSION,
                "layers": self.layer_sizes,
                "activation": arch.activation,
                "output": arch.output,
                "bias": arch.bias,
                "dtype": self._dtype.name,
                "backend": self._backend,
                "init": self._init,
                "key": self._key,
                "fits": self._fits,
                "history_keys": measures,
                "batch_norm": arch.batch_norm,
                "batch_norm_momentum": arch.batch_norm_momentum,
                "batch_norm_epsilon": arch.batch_norm_epsilon,
                "updates": 0 if self._training_state is None else self._training_state.updates,
                "resume": None if self._resume is None else dict(self._resume),
                "params": self._params.copy(),
                "history": np.column_stack(
                    [np.asarray(self.history[name], dtype=np.float64) for name in measures]
                ),
                "slots": (
                    np.zeros((0, len(self._params)), dtype=self._dtype)
                    if self._training_state is None
                    else self._training_state.slots.copy()
                ),
                "statistics": self._statistics.copy(),
            }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._restore(check_state(state))

    def _restore(self, state: dict[str, Any]) -> None:
        """Become the network of the checked ``state``."""
        self._architecture = Architecture(
            layer_sizes=np.array(state["layers"], dtype=np.intp),
            activation=state["activation"],
            output=state["output"],
            bias=state["bias"],
            batch_norm=state["batch_norm"],
            batch_norm_momentum=state["batch_norm_momentum"],
            batch_norm_epsilon=state["batch_norm_epsilon"],
        )
        self._dtype = np.dtype(state["dtype"])
        self._backend = state["backend"]
        self._init = state["init"]
        self._params = state["params"]
        self._statistics = state["statistics"]
        self._key = state["key"]
        self._fits = state["fits"]
        slots = state["slots"]
        self._training_state = (
            TrainingState(slots, state["updates"], np.zeros(0, self._dtype))
            if len(slots)
            else None
        )
        self._resume = state["resume"]
        self.history = {
            name: state["history"][:, i].copy() for i, name in enumerate(state["history_keys"])
        }
        self._lock = threading.RLock()

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the network to the file ``path``, to be read back by :func:`tinynet.load`.

        The file (a zip archive of JSON and ``.npy`` members, no pickle) holds the
        architecture, the options of :class:`Network`, the weights and biases, batch
        normalisation's running statistics, the last fit's history, the optimizer's state
        (for a fit with ``resume=True``) and the random state of later fits: the loaded
        network predicts and goes on training bit for bit as this one would. The file is
        written beside ``path`` under a temporary name, flushed to disk and renamed over
        ``path``, so a failed or interrupted save leaves any old file there whole.

        Parameters
        ----------
        path : str or os.PathLike
            The file to write (conventionally ending in ``.tinynet``); replaced if it exists.
        """
        save_state(check_state(self.__getstate__()), path)

    def __repr__(self) -> str:
        arch = self._architecture
        batch_norm = (
            f", batch_norm=True, batch_norm_momentum={arch.batch_norm_momentum}, "
            f"batch_norm_epsilon={arch.batch_norm_epsilon}"
            if arch.batch_norm
            else ""
        )
        return (
            f"Network({self.layer_sizes!r}, activation={arch.activation!r}, "
            f"output={arch.output!r}, bias={arch.bias}, dtype=np.{self._dtype.name}, "
            f"backend={self._backend!r}, init={self._init!r}{batch_norm})"
        )

    @property
    def layer_sizes(self) -> list[int]:
        """The number of units in each layer, input first."""
        return self._architecture.layer_sizes.tolist()

    @property
    def activation(self) -> str:
        """The hidden layers' activation."""
        return self._architecture.activation

    @property
    def output(self) -> str:
        """The output layer's activation (and so its loss)."""
        return self._architecture.output

    @property
    def bias(self) -> bool:
        """Whether the layers have bias units."""
        return self._architecture.bias

    @property
    def init(self) -> str:
        """How the starting weights were drawn."""
        return self._init

    @property
    def dtype(self) -> np.dtype:
        """The dtype of the weights and of training arithmetic."""
        return self._dtype

    @property
    def backend(self) -> str:
        """``"cython"`` (the compiled core) or ``"numpy"`` (the reference)."""
        return self._backend

    @property
    def weights(self) -> list[np.ndarray]:
        """The synapses ``[syn0, syn1, ...]``, ``syn_i`` of shape ``(layers[i], layers[i+1])``.

        The arrays are copies: change the network by assigning a new list, e.g.
        ``net.weights = [np.full((4, 1), 0.5)]``. Assigned arrays must have exactly these
        shapes and finite values; they are converted to the network's dtype.
        """
        return [w.copy() for w in self._split(self._params)[0]]

    @weights.setter
    def weights(self, weights: Sequence[ArrayLike]) -> None:
        self._assign("weights", weights, 0)

    @property
    def biases(self) -> list[np.ndarray]:
        """The biases ``[b0, b1, ...]``, ``b_i`` of shape ``(layers[i+1],)``; ``[]`` without
        bias units.

        Copies, assigned like :attr:`weights`: ``net.biases = [np.zeros(4), np.zeros(1)]``.
        """
        return [b.copy() for b in self._split(self._params)[1]]

    @biases.setter
    def biases(self, biases: Sequence[ArrayLike]) -> None:
        self._assign("biases", biases, 1)

    @property
    def batch_norm(self) -> list[dict[str, np.ndarray]]:
        """Batch normalisation, one dict per hidden layer (input side first) with its
        ``"scale"`` and ``"shift"`` (learned) and its ``"running_mean"`` and
        ``"running_var"`` (what :meth:`predict` normalises with), each of shape
        ``(units,)``; ``[]`` without batch normalisation.

        Copies, assigned like :attr:`weights`: a list of such dicts, every array finite and
        of this shape, every running variance positive. Assigning does not change the
        optimizer's state.
        """
        arch = self._architecture
        if not arch.batch_norm:
            return []
        return [
            {
                "scale": scale.copy(),
                "shift": shift.copy(),
                "running_mean": mean.copy(),
                "running_var": variance.copy(),
            }
            for (scale, shift), (mean, variance) in zip(
                split_batch_norm(self._params, arch.layer_sizes, arch.bias),
                split_statistics(self._statistics, arch.layer_sizes),
                strict=True,
            )
        ]

    @batch_norm.setter
    def batch_norm(self, layers: Sequence[dict[str, ArrayLike]]) -> None:
        arch = self._architecture
        current = self.batch_norm
        if isinstance(layers, (np.ndarray, dict, str)) or not isinstance(layers, Sequence):
            raise TypeError(
                f"batch_norm must be a list of {len(current)} dicts, got {type(layers)}"
            )
        if len(layers) != len(current):
            raise ValueError(
                f"batch_norm must be a list of {len(current)} dicts (one per hidden layer "
                f"with batch normalisation), got {len(layers)}"
            )
        converted = []
        for i, (layer, old) in enumerate(zip(layers, current, strict=True)):
            if not isinstance(layer, dict):
                raise TypeError(f"batch_norm[{i}] must be a dict, got {type(layer)}")
            if set(layer) != set(old):
                raise ValueError(
                    f"batch_norm[{i}] must have the entries {sorted(old)}, got {sorted(layer)}"
                )
            arrays = {}
            for name, target in old.items():
                array = as_array(f"batch_norm[{i}][{name!r}]", layer[name], self._dtype)
                if array.shape != target.shape:
                    raise ValueError(
                        f"batch_norm[{i}][{name!r}] must have shape {target.shape}, "
                        f"got {array.shape}"
                    )
                arrays[name] = array
            # Zero is a variance (a unit constant over the batch: L-BFGS's full-batch
            # statistics can hold it); epsilon keeps the division finite.
            if (arrays["running_var"] < 0).any():
                raise ValueError(f"batch_norm[{i}]['running_var'] must be non-negative")
            converted.append(arrays)
        if not converted:
            return  # no batch normalisation: nothing to set
        with self._lock:  # waits for a fit to finish, rather than be overwritten by it
            params, statistics = self._params.copy(), self._statistics.copy()
            for arrays, (scale, shift), (mean, variance) in zip(
                converted,
                split_batch_norm(params, arch.layer_sizes, arch.bias),
                split_statistics(statistics, arch.layer_sizes),
                strict=True,
            ):
                scale[...], shift[...] = arrays["scale"], arrays["shift"]
                mean[...], variance[...] = arrays["running_mean"], arrays["running_var"]
            self._params, self._statistics = params, statistics

    # --- weights -------------------------------------------------------------------------

    def _split(self, params: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
        arch = self._architecture
        return split(params, arch.layer_sizes, arch.bias)

    def _assign(self, name: str, arrays: Sequence[ArrayLike], part: int) -> None:
        """Set the weights (``part`` 0) or the biases (1) from ``arrays``, all or nothing."""
        # The shapes of the parameter vector's views (tinynet._layout), fixed for the network.
        shapes = [view.shape for view in self._split(self._params)[part]]
        if isinstance(arrays, np.ndarray) or not isinstance(arrays, Sequence):
            raise TypeError(f"{name} must be a list of {len(shapes)} arrays, got {type(arrays)}")
        if len(arrays) != len(shapes):
            raise ValueError(f"{name} must be a list of {len(shapes)} arrays, got {len(arrays)}")
        converted = [as_array(f"{name}[{i}]", a, self._dtype) for i, a in enumerate(arrays)]
        for i, (array, shape) in enumerate(zip(converted, shapes, strict=True)):
            if array.shape != shape:
                raise ValueError(f"{name}[{i}] must have shape {shape}, got {array.shape}")
        with self._lock:  # waits for a fit to finish, rather than be overwritten by it
            params = self._params.copy()
            for array, target in zip(converted, self._split(params)[part], strict=True):
                target[...] = array
            self._params = params

    def fit(
        self,
        X: ArrayLike,
        y: ArrayLike,
        *,
        epochs: int,
        learning_rate: float | Callable[[int], float] = 1.0,
        batch_size: int | None = None,
        shuffle: bool = True,
        momentum: float = 0.0,
        nesterov: bool = False,
        l2: float = 0.0,
        dropout: float = 0.0,
        clip: float | None = None,
        validation_data: tuple[ArrayLike, ArrayLike] | None = None,
        callbacks: Iterable[Callback] | None = None,
        verbose: int = 0,
        progress: bool | None = None,
        optimizer: str | Optimizer = "sgd",
        resume: bool = False,
        sample_weight: ArrayLike | None = None,
        reduction: str = "sum",
    ) -> Network:
        """Train on ``X`` and ``y`` for ``epochs`` epochs of the blog's backpropagation.

        Each update, on a batch of rows, moves every synapse by
        ``syn_i += learning_rate * (l_i.T . l_{i+1}_delta - l2 * syn_i)``: down the gradient
        of the loss *summed* over the batch (the blog's ``alpha`` convention, whatever the
        batch size), plus the L2 penalty ``l2 / 2 * sum(syn_i**2)`` (biases are not
        penalised). That is SGD, the default ``optimizer``; the others (Adam, AdamW, RMSprop,
        see :mod:`tinynet.optimizers`) take the same gradient ``g`` their own ways, and
        L-BFGS minimises the same loss over the full batch.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_inputs)
            Training inputs; integer and boolean arrays and nested lists are converted.
        y : array_like, shape (n_samples, n_outputs) or (n_samples,)
            Targets; 1-D for a network with one output. For a softmax output, rows of class
            probabilities: one-hot rows ``np.eye(n_classes)[labels]`` for labels; for a
            logistic output, values in ``[0, 1]``; for a poisson output, values of at least
            0.
        epochs : int
            The number of passes over the data (for L-BFGS, the most iterations).
        learning_rate : float or callable, default 1.0
            Multiplies each update (the blog's ``alpha``; 1.0 is the blog's network), finite
            and positive; or a schedule, ``learning_rate(epoch) -> rate`` (finite, at least
            0), evaluated once per epoch before training it, ``epoch`` counting from 0 in
            this fit (from where the previous one stopped, with ``resume``): see
            :mod:`tinynet.schedules`. Not used by L-BFGS.
        batch_size : int, optional
            Rows per update; ``None`` (or at least ``n_samples``) is the full batch, one
            update per epoch. The last batch of an epoch may be smaller; with batch
            normalisation, a last batch of one row joins the batch before it, and batches
            of one row are refused. L-BFGS uses the full batch.
        shuffle : bool, default True
            Visit the rows in a new order each epoch (with mini-batches only), drawn from
            the network's ``seed``.
        momentum : float, default 0.0
            In ``[0, 1)``. SGD's classical momentum: ``v = momentum * v + learning_rate *
            step``, ``syn += v``, with ``v`` starting at zero in every fit (unless resumed).
        nesterov : bool, default False
            SGD with Nesterov's momentum instead: ``syn += momentum * v + learning_rate *
            step``. No effect without ``momentum``.
        l2 : float, default 0.0
            The L2 penalty's weight (weight decay), at least 0.
        dropout : float, default 0.0
            In ``[0, 1)``: the fraction of hidden units dropped at random in each forward
            pass of training (inverted dropout: the kept ones are scaled by
            ``1 / (1 - dropout)``; :meth:`predict` drops none). Needs a hidden layer; not
            with L-BFGS.
        clip : float, optional
            Bound every delta (each unit's error signal, output and hidden) to
            ``[-clip, clip]``: the blog's "delta trimming". ``None`` does not clip; L-BFGS
            does not.
        validation_data : tuple (X_val, y_val), optional
            Data to measure after every epoch, into ``history["val_loss"]`` and
            ``history["val_mae"]``.
        callbacks : list of callables, optional
            Each is called as ``callback(network, epoch, logs)`` after every epoch; a truthy
            return value stops training (see :mod:`tinynet.callbacks`, e.g.
            :class:`~tinynet.EarlyStopping`). Those with an ``adjust_learning_rate(rate)``
            method map every epoch's rate (:class:`~tinynet.ReduceLROnPlateau`).
        verbose : int, default 0
            Print the epoch's measures every ``verbose`` epochs (0: never).
        progress : bool, optional
            Show a progress line on stderr for fits longer than a second; ``None`` shows it
            when stderr is a terminal.
        optimizer : str or optimizer, default "sgd"
            ``"sgd"`` (with ``momentum`` and ``nesterov``), ``"adam"``, ``"adamw"``,
            ``"rmsprop"``, ``"lbfgs"`` for the defaults, or an instance of
            :class:`~tinynet.SGD`, :class:`~tinynet.Adam`, :class:`~tinynet.AdamW`,
            :class:`~tinynet.RMSprop` or :class:`~tinynet.LBFGS`, which give the formulas.
            ``momentum`` and ``nesterov`` are SGD's: with another optimizer they must be left
            at their defaults, with an ``SGD`` instance at its values or their defaults.
        resume : bool, default False
            Continue the previous fit, which must have used the same kind of optimizer: its
            optimizer state (velocities, moments, update count), its schedule's epoch and
            its random streams, so that ``fit(epochs=a)`` then ``fit(epochs=b,
            resume=True)`` ends bit for bit where ``fit(epochs=a + b)`` ends (with the same
            other arguments). ``False`` starts the optimizer afresh (batch normalisation's
            running statistics always continue: they belong to the network).
        sample_weight : array_like, shape (n_samples,), optional
            A non-negative weight per row (not all zero), multiplying its loss and so its
            gradient; ``history["loss"]`` and ``["mae"]`` become means weighted by it (the
            validation measures are not weighted).
        reduction : {"sum", "mean"}, default "sum"
            ``"sum"``: each update follows the gradient of the loss summed over its batch
            (the blog's convention). ``"mean"``: that gradient, l2's part included, divided
            by the batch's weight ``W_b`` (its rows, or the sum of their sample weights), as
            scikit-learn's MLP takes it: SGD's rate is then ``learning_rate / W_b`` for that
            batch, Adam, AdamW and RMSprop see the divided gradient (AdamW's decoupled decay
            is not divided), batch normalisation's scales and shifts likewise; ``clip``
            bounds the deltas before the division. A batch of weight 0 takes no gradient.
            L-BFGS minimises the loss and penalty divided by the total weight. The history
            then reports scikit-learn's ``loss_``: ``"loss"`` is ``sum_b rows_b / W_b *
            (sum_{r in b} w_r * loss_r + l2 / 2 * sum(syn**2)) / n_samples``, the weights
            squared as they were before batch ``b``'s update, and ``"penalty"`` is the l2
            part of it (L-BFGS: the objective of each iteration, and its l2 part); ``"mae"``
            and the validation measures are as with ``"sum"``.

        Returns
        -------
        Network
            This network, trained, with :attr:`history` filled in.

        Raises
        ------
        FloatingPointError
            If training diverged: an epoch ended with a non-finite loss or weight. The
            network keeps the weights of the epoch before it, and :attr:`history` ends there.
            (L-BFGS keeps its last finite iterate instead, and does not raise.)
        KeyboardInterrupt
            On Ctrl-C (the compiled core looks for it every 20 ms). The network keeps the
            weights of the last completed epoch, and :attr:`history` ends there; so it does
            when a callback raises, or a schedule raises or gives a refused rate (a
            ``ValueError`` naming ``learning_rate``).

        Notes
        -----
        The GIL is released while the compiled core trains, so networks can be trained in
        threads side by side. Two fits of the same network are run one after the other (each
        network has a lock), and :meth:`predict` may run at any time: it sees the weights
        before or after a fit (or, with callbacks, an epoch), never a half-trained epoch.
        Assigning weights, saving and pickling wait for a fit in another thread to end.
        """
        arch = self._architecture
        n_in, n_out = arch.n_inputs, arch.n_outputs
        X, _ = as_inputs("X", X, self._dtype, n_in, allow_one_sample=False)
        y = as_targets("y", y, self._dtype, X.shape[0], n_out)
        epochs = check_int("epochs", epochs, minimum=1)
        if sample_weight is not None:
            sample_weight = as_sample_weight("sample_weight", sample_weight, self._dtype, len(X))
        momentum = check_real("momentum", momentum, minimum=0.0, below=1.0)
        nesterov = check_bool("nesterov", nesterov)
        chosen = resolve(optimizer, momentum, nesterov)
        schedule = self._schedule(learning_rate)
        training = self._training(
            len(X), 1.0 if schedule else learning_rate, batch_size, shuffle, l2, dropout, clip
        )
        if isinstance(chosen, LBFGS):
            if schedule is not None:
                raise ValueError("learning_rate: L-BFGS takes no learning rate or schedule")
            if training.dropout or training.clip:
                raise ValueError("dropout and clip do not apply to optimizer 'lbfgs'")
        if arch.batch_norm:
            self._check_batches(len(X), training.batch_size, isinstance(chosen, LBFGS))
        validation = self._validation_data(validation_data, n_in, n_out)
        callbacks = self._callbacks(callbacks)
        verbose = check_int(
            "verbose", int(verbose) if isinstance(verbose, bool) else verbose, minimum=0
        )
        if progress is not None:
            progress = check_bool("progress", progress)
        resume = check_bool("resume", resume)
        reduction = check_choice("reduction", reduction, REDUCTIONS)
        if not isinstance(chosen, LBFGS):  # one replace: each costs microseconds
            training = dataclasses.replace(
                training, **chosen.training_fields(), reduction=reduction
            )
        self._check_targets("y", y)
        if validation is not None:
            self._check_targets("validation_data[1]", validation[1])

        with self._lock:  # one fit at a time; predict needs no lock
            previous = self._resume if resume else None
            if previous is not None and previous["optimizer"] != chosen.name:
                raise ValueError(
                    f"resume=True continues a fit with optimizer {previous['optimizer']!r}, "
                    f"not {chosen.name!r}: give that optimizer, or resume=False"
                )
            fit = self._fits if previous is None else previous["fit"]
            first_epoch = 0 if previous is None else previous["epochs"]
            rates = self._rates(schedule, training.learning_rate, callbacks, first_epoch)
            if rates is not None and schedule is not None:
                training = dataclasses.replace(training, learning_rate=rates(first_epoch))
            commit = functools.partial(
                self._commit, chosen, fit, first_epoch, previous is not None
            )
            backend = BACKENDS[self._backend]
            if isinstance(chosen, LBFGS):
                _lbfgs.run(
                    backend,
                    self,
                    commit,
                    X,
                    y,
                    self._params,
                    arch,
                    chosen,
                    validation,
                    l2=training.l2,
                    reduction=reduction,
                    sample_weight=sample_weight,
                    statistics=self._statistics,
                    epochs=epochs,
                    callbacks=callbacks,
                    verbose=verbose,
                    progress=progress,
                )
                return self
            state = None
            if previous is not None:
                kept = self._training_state
                if kept is None or (keeps_state(training) and len(kept.slots) == 0):
                    # Nothing to continue, or a fit without momentum before one with it:
                    # the velocity starts from zero.
                    state = fresh_state(len(self._params), self._dtype, self._statistics)
                    state.updates = 0 if kept is None else kept.updates
                else:
                    state = TrainingState(kept.slots.copy(), kept.updates, self._statistics.copy())
            elif arch.batch_norm:
                state = fresh_state(len(self._params), self._dtype, self._statistics)
            _fitting.run(
                backend.Trainer,
                self,
                commit,
                X,
                y,
                self._params,
                arch,
                _fitting.with_fit_keys(training, self._key, fit),
                validation,
                epochs=epochs,
                callbacks=callbacks,
                verbose=verbose,
                progress=progress,
                sample_weight=sample_weight,
                state=state,
                first_epoch=first_epoch,
                rates=rates,
                resume=previous is not None,
            )
        return self

    def _commit(
        self,
        optimizer: Optimizer,
        fit: int,
        first_epoch: int,
        resumed: bool,
        params: np.ndarray | None,
        state: TrainingState | None,
        history: dict[str, np.ndarray],
        *,
        final: bool,
        epochs: int,
    ) -> None:
        """The only way a fit changes the network: the :class:`tinynet._fitting.Commit`
        that :func:`tinynet._fitting.run` calls, always with a completed epoch (the fit's
        ``optimizer``, the number of the ``fit`` whose random streams it draws, its
        ``first_epoch`` and whether it ``resumed`` bound first).

        ``params`` (a copy of the network's own; None: keep the weights), ``state`` (the
        optimizer's and the running statistics; None: a trainer without) and ``history``
        replace the network's; the ``final`` commit ends the fit, after ``epochs`` epochs,
        and records what a resumed fit continues. A fit that is not resumed advances the
        random streams of the next one."""
        if params is not None:
            self._params = params
        if state is not None:
            self._statistics = state.statistics
            self._training_state = (
                TrainingState(state.slots, state.updates, np.zeros(0, self._dtype))
                if len(state.slots)
                else None
            )
        elif final:
            self._training_state = None
        self.history = history
        if final:
            self._resume = {
                "optimizer": optimizer.name,
                "hyperparameters": optimizer.hyperparameters(),
                "fit": fit,
                "epochs": first_epoch + epochs,
            }
            if not resumed:
                self._fits += 1

    def _schedule(self, learning_rate: Any) -> Callable[[int], Any] | None:
        """A callable ``learning_rate`` (a schedule), or None for a number (checked later)."""
        if callable(learning_rate) and not isinstance(learning_rate, numbers.Number):
            return learning_rate  # type: ignore[no-any-return]
        return None

    def _rates(
        self,
        schedule: Callable[[int], Any] | None,
        learning_rate: float,
        callbacks: Sequence[Callback],
        first_epoch: int,
    ) -> Callable[[int], float] | None:
        """The rate of each epoch, by its number in the schedule: the schedule's value
        (checked) or ``learning_rate``, mapped by the callbacks that adjust it. None when
        every epoch's rate is ``learning_rate``. The schedule's first value is checked here,
        before the fit changes anything."""
        adjusters = [
            callback.adjust_learning_rate  # type: ignore[attr-defined]
            for callback in callbacks
            if callable(getattr(callback, "adjust_learning_rate", None))
        ]
        if schedule is None and not adjusters:
            return None
        dtype = self._dtype

        def rate(epoch: int) -> float:
            value = learning_rate if schedule is None else schedule(epoch)
            value = check_rate("learning_rate", value, dtype, epoch)
            for adjust in adjusters:
                value = check_rate("learning_rate", adjust(value), dtype, epoch)
            return value

        if schedule is not None:
            check_rate("learning_rate", schedule(first_epoch), dtype, first_epoch)
        return rate

    @staticmethod
    def _check_batches(n_samples: int, batch_size: int, full_batch: bool) -> None:
        """Refuse batches of one row, whose variance batch normalisation cannot use (a last
        batch of one row joins the batch before it)."""
        if n_samples == 1:
            raise ValueError("X has one row: batch normalisation needs two rows per batch")
        if batch_size == 1 and not full_batch:
            raise ValueError(
                "batch_size 1: batch normalisation needs two rows per batch (a batch's "
                "variance of one row is zero)"
            )

    def _training(
        self,
        n_samples: int,
        learning_rate: Any,
        batch_size: Any,
        shuffle: Any,
        l2: Any,
        dropout: Any,
        clip: Any,
    ) -> Training:
        """The checked options of one fit (its random keys are set when it starts, its
        optimizer's fields by fit)."""
        learning_rate = check_positive_real("learning_rate", learning_rate)
        if learning_rate > float(np.finfo(self._dtype).max):
            raise ValueError(
                f"learning_rate {learning_rate!r} is too large for {self._dtype} arithmetic"
            )
        if batch_size is not None:
            batch_size = check_int("batch_size", batch_size, minimum=1)
        dropout = check_real("dropout", dropout, minimum=0.0, below=1.0)
        if dropout > 0 and len(self._architecture.layer_sizes) < 3:
            raise ValueError("dropout needs a hidden layer; this network has none")
        if clip is not None:
            clip = check_positive_real("clip", clip)
        return Training(
            learning_rate=learning_rate,
            batch_size=n_samples if batch_size is None else min(batch_size, n_samples),
            shuffle=check_bool("shuffle", shuffle),
            l2=check_real("l2", l2, minimum=0.0),
            dropout=dropout,
            dropout_scale=float(self._dtype.type(1 / (1 - dropout))),
            clip=0.0 if clip is None else clip,
        )

    def _check_targets(self, name: str, y: np.ndarray) -> None:
        """Refuse targets the output cannot mean: outside ``[0, 1]`` for a logistic output,
        negative for a poisson one."""
        output = self._architecture.output
        if output == "logistic" and (y.min() < 0 or y.max() > 1):
            raise ValueError(
                f"{name} must hold values in [0, 1] for output 'logistic' (e.g. 0/1 labels), "
                f"got values in [{float(y.min())!r}, {float(y.max())!r}]"
            )
        if output == "poisson" and y.min() < 0:
            raise ValueError(
                f"{name} must be non-negative for output 'poisson' (e.g. counts), "
                f"got a minimum of {float(y.min())!r}"
            )

    def _validation_data(
        self, validation_data: Any, n_in: int, n_out: int
    ) -> tuple[np.ndarray, np.ndarray] | None:
        if validation_data is None:
            return None
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise TypeError(
                f"validation_data must be a tuple (X_val, y_val), got {type(validation_data)}"
            )
        X_val, _ = as_inputs(
            "validation_data[0]", validation_data[0], self._dtype, n_in, allow_one_sample=False
        )
        y_val = as_targets(
            "validation_data[1]", validation_data[1], self._dtype, len(X_val), n_out
        )
        return X_val, y_val

    @staticmethod
    def _callbacks(callbacks: Any) -> list[Callback]:
        if callbacks is None:
            return []
        if callable(callbacks) or not isinstance(callbacks, Iterable):
            raise TypeError(f"callbacks must be a list of callables, got {callbacks!r}")
        callbacks = list(callbacks)
        for i, callback in enumerate(callbacks):
            if not callable(callback):
                raise TypeError(f"callbacks[{i}] is not callable: {callback!r}")
        return callbacks

    def predict(self, X: ArrayLike) -> np.ndarray:
        """The network's output for ``X``: one row per sample, one column per output unit.

        For a sigmoid or logistic output the values are probabilities of each output being 1
        (labels: ``net.predict(X) > 0.5``); for a softmax output each row holds the
        probabilities of the classes (labels: ``net.predict(X).argmax(axis=1)``); for a
        poisson output the values are the predicted means, ``exp(z)`` (``inf`` where that
        overflows).

        Parameters
        ----------
        X : array_like, shape (n_samples, n_inputs) or (n_inputs,)
            The inputs; a 1-D ``X`` is one sample and gives a 1-D output.

        Returns
        -------
        numpy.ndarray
            Shape ``(n_samples, n_outputs)``, or ``(n_outputs,)`` for a 1-D ``X``, in the
            network's dtype.
        """
        arch = self._architecture
        X, one_sample = as_inputs("X", X, self._dtype, arch.n_inputs, allow_one_sample=True)
        out = np.empty((X.shape[0], arch.n_outputs), dtype=self._dtype)
        params, statistics = self._params, self._statistics  # one fit's, never two
        if arch.batch_norm:
            BACKENDS[self._backend].forward(X, params, arch, out, statistics)
        else:
            BACKENDS[self._backend].forward(X, params, arch, out)
        return out[0] if one_sample else out

    def loss_and_gradient(
        self,
        X: ArrayLike,
        y: ArrayLike,
        *,
        sample_weight: ArrayLike | None = None,
        l2: float = 0.0,
        reduction: str = "sum",
    ) -> (
        tuple[float, list[np.ndarray], list[np.ndarray]]
        | tuple[float, list[np.ndarray], list[np.ndarray], list[dict[str, np.ndarray]]]
    ):
        """The loss :meth:`fit` minimises on the full batch ``X``, ``y``, and its gradient.

        The loss is ``sum_r w_r * loss_r + l2 / 2 * sum(syn_i**2)``: each row's loss (as
        :meth:`fit` sums it: ``0.5 * sum((y - output)**2)`` for sigmoid and linear outputs,
        ``-sum(y * log(output))`` for softmax, the binary cross-entropy for logistic, the
        half Poisson deviance ``sum(y * log(y / output) - y + output)`` for poisson) times
        its weight ``w_r`` (1 without ``sample_weight``), plus the L2 penalty on the weights
        (not the biases); with ``reduction="mean"``, all of it divided by ``sum_r w_r``. The
        gradient is that of exactly this function (not its negative), from one call into the
        backend, without dropout; with batch normalisation in training mode on this batch
        (its running statistics are not moved). The network is not changed: this is for
        optimisers of your own, or for checking gradients.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_inputs)
            Inputs (two rows at least with batch normalisation).
        y : array_like, shape (n_samples, n_outputs) or (n_samples,)
            Targets, as for :meth:`fit`.
        sample_weight : array_like, shape (n_samples,), optional
            Non-negative weights of the rows, not all zero.
        l2 : float, default 0.0
            The L2 penalty's weight, at least 0.
        reduction : {"sum", "mean"}, default "sum"
            The loss and gradient as they are, or divided by the total weight (the number of
            rows, or the sum of ``sample_weight``).

        Returns
        -------
        loss : float
        weight_grads : list of numpy.ndarray
            Shaped like :attr:`weights`.
        bias_grads : list of numpy.ndarray
            Shaped like :attr:`biases` (``[]`` without bias units).
        batch_norm_grads : list of dict, only with batch normalisation
            Per hidden layer, ``{"scale": ..., "shift": ...}`` shaped like
            :attr:`batch_norm`'s.
        """
        arch = self._architecture
        X, _ = as_inputs("X", X, self._dtype, arch.n_inputs, allow_one_sample=False)
        y = as_targets("y", y, self._dtype, X.shape[0], arch.n_outputs)
        if sample_weight is not None:
            sample_weight = as_sample_weight("sample_weight", sample_weight, self._dtype, len(X))
        l2 = check_real("l2", l2, minimum=0.0)
        reduction = check_choice("reduction", reduction, REDUCTIONS)
        self._check_targets("y", y)
        if arch.batch_norm and len(X) == 1:
            raise ValueError("X has one row: batch normalisation needs two rows")
        params, statistics = self._params.copy(), self._statistics.copy()
        gradient = np.empty_like(params)
        with np.errstate(over="ignore", invalid="ignore", under="ignore", divide="ignore"):
            loss = BACKENDS[self._backend].loss_and_gradient(
                X, y, params, arch, statistics, sample_weight, l2, gradient
            )
        if reduction == "mean":
            total = len(X) if sample_weight is None else float(sample_weight.sum(dtype=np.float64))
            loss /= total
            gradient /= gradient.dtype.type(total)
        weight_grads, bias_grads = (
            [part.copy() for part in parts] for parts in self._split(gradient)
        )
        if not arch.batch_norm:
            return float(loss), weight_grads, bias_grads
        batch_norm_grads = [
            {"scale": scale.copy(), "shift": shift.copy()}
            for scale, shift in split_batch_norm(gradient, arch.layer_sizes, arch.bias)
        ]
        return float(loss), weight_grads, bias_grads, batch_norm_grads


def load(path: str | os.PathLike[str]) -> Network:
    """The network saved in the file ``path`` by :meth:`Network.save`.

    Everything in the file is checked before a network is made of it: the format and its
    version, the layer sizes and option names, and the weights' dtype, shape and values.
    Nothing in it is unpickled.

    Parameters
    ----------
    path : str or os.PathLike
        The file to read.

    Returns
    -------
    Network
        The saved network: same options, weights, history and random state for later fits.

    Raises
    ------
    ValueError
        If the file is not a tinynet file, or is corrupt, truncated, tampered with or of a
        newer format version.
    OSError
        If it cannot be read, e.g. ``FileNotFoundError``.
    """
    network = Network.__new__(Network)
    network._restore(load_state(path))
    return network
