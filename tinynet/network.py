"""The public ``Network``: validates and converts, keeps the state, and hands the work to a
backend (the compiled core or the numpy reference) in one call."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from tinynet import _core, reference
from tinynet._layout import LayerSizes, n_params, synapse_shapes, unpack
from tinynet._validation import (
    as_array,
    as_inputs,
    as_targets,
    check_choice,
    check_dtype,
    check_int,
    check_layer_sizes,
    check_positive_real,
    check_seed,
)

BACKENDS = {"cython": _core, "numpy": reference}


def initial_params(layer_sizes: LayerSizes, seed: int | None, dtype: np.dtype) -> np.ndarray:
    """The blog's starting weights, synapse by synapse, in one parameter vector.

    ``np.random.seed(seed); syn_i = 2 * np.random.random((n_in, n_out)) - 1``, drawn from
    numpy's legacy ``RandomState`` in float64 (so ``seed=1`` gives the blog's weights), then
    converted to ``dtype``.
    """
    random_state = np.random.RandomState(seed)
    synapses = [2 * random_state.random_sample(shape) - 1 for shape in synapse_shapes(layer_sizes)]
    return np.concatenate([s.ravel() for s in synapses]).astype(dtype)


class Network:
    """A fully-connected network of sigmoid layers trained by the blog's backpropagation.

    Parameters
    ----------
    layers : sequence of int
        The number of units in each layer, input layer first, output layer last:
        ``[3, 4, 1]`` is the blog's three-layer network, ``[3, 1]`` its two-layer one.
    seed : int, optional
        Seeds the starting weights, drawn as the blog draws them:
        ``np.random.seed(seed); syn_i = 2 * np.random.random((n_in, n_out)) - 1``.
        ``None`` draws fresh weights each time.
    dtype : {np.float64, np.float32}, default np.float64
        The precision of the weights and of all arithmetic in training.
    backend : {"cython", "numpy"}, default "cython"
        ``"cython"`` trains in the compiled core; ``"numpy"`` runs the pure-numpy reference
        of the same algorithm (:mod:`tinynet.reference`), which gives the same numbers.

    Attributes
    ----------
    history : dict of str to numpy.ndarray
        One float64 value per epoch of the last :meth:`fit`, from that epoch's forward
        pass (before its update): ``"mae"``, the mean of ``|y - output|`` (the blog's
        "Error:"), and ``"loss"``, the squared error ``0.5 * sum((y - output)**2)``
        divided by the number of samples.

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
    """

    def __init__(
        self,
        layers: Sequence[int],
        *,
        seed: int | None = None,
        dtype: DTypeLike = np.float64,
        backend: str = "cython",
    ) -> None:
        self._layer_sizes = check_layer_sizes(layers)
        self._dtype = check_dtype(dtype)
        self._backend = check_choice("backend", backend, tuple(BACKENDS))
        self._params = initial_params(self._layer_sizes, check_seed(seed), self._dtype)
        self.history: dict[str, np.ndarray] = {"loss": np.empty(0), "mae": np.empty(0)}

    def __repr__(self) -> str:
        return (
            f"Network({self.layer_sizes!r}, dtype=np.{self._dtype.name}, "
            f"backend={self._backend!r})"
        )

    @property
    def layer_sizes(self) -> list[int]:
        """The number of units in each layer, input first."""
        return self._layer_sizes.tolist()

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
        return [synapse.copy() for synapse in unpack(self._params, self._layer_sizes)]

    @weights.setter
    def weights(self, weights: Sequence[ArrayLike]) -> None:
        shapes = synapse_shapes(self._layer_sizes)
        if isinstance(weights, np.ndarray) or not isinstance(weights, Sequence):
            raise TypeError(f"weights must be a list of {len(shapes)} arrays, got {type(weights)}")
        if len(weights) != len(shapes):
            raise ValueError(f"weights must be a list of {len(shapes)} arrays, got {len(weights)}")
        params = np.empty(n_params(self._layer_sizes), dtype=self._dtype)
        for i, (synapse, target, shape) in enumerate(
            zip(weights, unpack(params, self._layer_sizes), shapes, strict=True)
        ):
            array = as_array(f"weights[{i}]", synapse, self._dtype)
            if array.shape != shape:
                raise ValueError(f"weights[{i}] must have shape {shape}, got {array.shape}")
            target[...] = array
        self._params = params

    def fit(
        self, X: ArrayLike, y: ArrayLike, *, epochs: int, learning_rate: float = 1.0
    ) -> Network:
        """Train on all of ``X`` and ``y`` at once for ``epochs`` epochs (the blog's loop).

        Each epoch runs the forward pass, then updates every synapse by
        ``syn_i += learning_rate * l_i.T . l_{i+1}_delta``: the gradient of the squared
        error summed over the samples (the blog's ``alpha`` convention).

        Parameters
        ----------
        X : array_like, shape (n_samples, n_inputs)
            Training inputs; integer and boolean arrays and nested lists are converted.
        y : array_like, shape (n_samples, n_outputs) or (n_samples,)
            Targets; 1-D for a network with one output.
        epochs : int
            The number of passes over the data (each is one weight update).
        learning_rate : float, default 1.0
            Multiplies each update (the blog's ``alpha``; 1.0 is the blog's network).

        Returns
        -------
        Network
            This network, trained, with :attr:`history` filled in.

        Raises
        ------
        FloatingPointError
            If training diverged to non-finite weights; the network is then left as it was.
        """
        X, _ = as_inputs("X", X, self._dtype, int(self._layer_sizes[0]), allow_one_sample=False)
        y = as_targets("y", y, self._dtype, X.shape[0], int(self._layer_sizes[-1]))
        epochs = check_int("epochs", epochs, minimum=1)
        learning_rate = check_positive_real("learning_rate", learning_rate)
        if learning_rate > float(np.finfo(self._dtype).max):
            raise ValueError(
                f"learning_rate {learning_rate!r} is too large for {self._dtype} arithmetic"
            )

        # Train a copy, so that a failed fit leaves the network as it was.
        params = self._params.copy()
        mae = np.empty(epochs)
        loss = np.empty(epochs)
        BACKENDS[self._backend].train(
            X, y, params, self._layer_sizes, epochs, learning_rate, mae, loss
        )
        if not np.isfinite(params).all():
            raise FloatingPointError(
                "training diverged (non-finite weights); try a smaller learning_rate or "
                "scale the inputs. The network is unchanged."
            )
        self._params = params
        self.history = {"loss": loss, "mae": mae}
        return self

    def predict(self, X: ArrayLike) -> np.ndarray:
        """The network's output for ``X``: one row per sample, one column per output unit.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_inputs) or (n_inputs,)
            The inputs; a 1-D ``X`` is one sample and gives a 1-D output.

        Returns
        -------
        numpy.ndarray
            Shape ``(n_samples, n_outputs)``, or ``(n_outputs,)`` for a 1-D ``X``, in the
            network's dtype; each value is a sigmoid output in ``[0, 1]``.
        """
        X, one_sample = as_inputs(
            "X", X, self._dtype, int(self._layer_sizes[0]), allow_one_sample=True
        )
        out = np.empty((X.shape[0], int(self._layer_sizes[-1])), dtype=self._dtype)
        BACKENDS[self._backend].forward(X, self._params, self._layer_sizes, out)
        return out[0] if one_sample else out
