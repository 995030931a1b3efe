"""scikit-learn estimators over :class:`tinynet.Network`: :class:`TinyNetClassifier` and
:class:`TinyNetRegressor`.

They need scikit-learn (the ``tinynet[sklearn]`` extra), which this module imports; it is
not imported by ``import tinynet``, only by ``import tinynet.sklearn``.

Both follow scikit-learn's conventions (they pass its ``check_estimator``): the constructor
stores its arguments as they are, ``fit`` checks them and the data, trains a new
:class:`~tinynet.Network` and keeps it as ``network_``; ``partial_fit`` trains the existing
one for one more epoch; they clone, pickle and work in pipelines and grid searches.

>>> from sklearn.datasets import load_iris
>>> from tinynet.sklearn import TinyNetClassifier
>>> X, y = load_iris(return_X_y=True)
>>> clf = TinyNetClassifier(random_state=0).fit(X, y)
>>> bool(clf.score(X, y) > 0.9)
True
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any, ClassVar, TypeVar

import numpy as np
from numpy.typing import ArrayLike
from sklearn.base import (  # type: ignore[import-untyped,unused-ignore]
    BaseEstimator,
    ClassifierMixin,
    RegressorMixin,
)
from sklearn.utils.multiclass import (  # type: ignore[import-untyped,unused-ignore]
    check_classification_targets,
    unique_labels,
)
from sklearn.utils.validation import (  # type: ignore[import-untyped,unused-ignore]
    check_is_fitted,
    validate_data,
)

from tinynet._validation import check_int, check_seed
from tinynet.network import Network

__all__ = ["TinyNetClassifier", "TinyNetRegressor"]

# X is converted to float64 (float32 is kept): the network converts it to its own dtype.
_X_DTYPES = (np.float64, np.float32)


_Estimator = TypeVar("_Estimator", bound="_TinyNetBase")


class _TinyNetBase(BaseEstimator):  # type: ignore[misc]
    """What the classifier and the regressor share: checking the options, building the
    network, training it (``fit``: anew; ``partial_fit``: one more epoch) and predicting.

    The parameters (one ``__init__``, which scikit-learn reads them from) are documented in
    the subclasses, which define ``_output`` (the output activation), ``_check_data`` and
    ``_targets`` (the training targets from the checked ``y``).
    """

    _output: str
    # What validate_data must check of y beyond the defaults (the regressor's: numbers,
    # and maybe 2-D).
    _y_checks: ClassVar[dict[str, bool]] = {}

    def __init__(
        self,
        hidden_layer_sizes: int | tuple[int, ...] = (32,),
        *,
        activation: str = "tanh",
        epochs: int = 200,
        learning_rate: float = 0.001,
        batch_size: int | None = 32,
        shuffle: bool = True,
        momentum: float = 0.9,
        nesterov: bool = False,
        l2: float = 0.0,
        dropout: float = 0.0,
        clip: float | None = None,
        init: str = "xavier",
        bias: bool = True,
        dtype: Any = "float64",
        backend: str = "cython",
        random_state: int | np.random.RandomState | None = None,
        verbose: int = 0,
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.epochs = epochs
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.momentum = momentum
        self.nesterov = nesterov
        self.l2 = l2
        self.dropout = dropout
        self.clip = clip
        self.init = init
        self.bias = bias
        self.dtype = dtype
        self.backend = backend
        self.random_state = random_state
        self.verbose = verbose

    # --- checks of the options not passed verbatim to Network ----------------------------

    def _hidden_sizes(self) -> list[int]:
        """``hidden_layer_sizes`` as a list of positive ints (an int is one layer)."""
        sizes = self.hidden_layer_sizes
        if isinstance(sizes, numbers.Integral) and not isinstance(sizes, (bool, np.bool_)):
            sizes = (sizes,)
        # As Network's layers: a sequence with an order (not a set, a dict or a generator).
        if isinstance(sizes, (str, bytes)) or not isinstance(sizes, (Sequence, np.ndarray)):
            raise TypeError(
                "hidden_layer_sizes must be a sequence of layer sizes such as (32,) or "
                f"(64, 32), or an int; got {self.hidden_layer_sizes!r}"
            )
        return [
            check_int(f"hidden_layer_sizes[{i}]", size, minimum=1) for i, size in enumerate(sizes)
        ]

    def _seed(self) -> int | None:
        """The network's seed from ``random_state``: ``None`` (fresh weights each fit), an
        int in ``[0, 2**32)`` used as it is, or a ``RandomState`` that draws one."""
        if isinstance(self.random_state, np.random.RandomState):
            return int(self.random_state.randint(0, 2**32, dtype=np.int64))
        return check_seed(self.random_state, "random_state")

    # --- training ----------------------------------------------------------------------

    def _targets(self, y: np.ndarray, first: bool, classes: Any) -> np.ndarray:
        raise NotImplementedError

    def _new_network(self, n_features: int, n_outputs: int) -> Network:
        return Network(
            [n_features, *self._hidden_sizes(), n_outputs],
            activation=self.activation,
            output=self._output,
            bias=self.bias,
            seed=self._seed(),
            dtype=self.dtype,
            backend=self.backend,
            init=self.init,
        )

    def _train(self, network: Network, X: np.ndarray, targets: np.ndarray, epochs: int) -> None:
        network.fit(
            X,
            targets,
            epochs=epochs,
            learning_rate=self.learning_rate,
            batch_size=self.batch_size,
            shuffle=self.shuffle,
            momentum=self.momentum,
            nesterov=self.nesterov,
            l2=self.l2,
            dropout=self.dropout,
            clip=self.clip,
            verbose=self.verbose,
            progress=False,
        )

    def _check_data(self, X: Any, y: Any, reset: bool) -> tuple[np.ndarray, np.ndarray]:
        X, y = validate_data(self, X, y, reset=reset, dtype=_X_DTYPES, **self._y_checks)
        return X, y

    def _fit(self, X: Any, y: Any, *, incremental: bool, classes: Any = None) -> Any:
        """Train a new network on ``X, y`` for ``epochs`` epochs (``incremental=False``), or
        the fitted one, if any, for one epoch.

        Whatever goes wrong (bad options or data, divergence, Ctrl-C), the estimator keeps
        the attributes it had; ``partial_fit``'s network keeps its weights (the network
        rolls a failed epoch back).
        """
        first = not incremental or not hasattr(self, "network_")
        saved = dict(self.__dict__)
        try:
            X, y = self._check_data(X, y, reset=first)
            targets = self._targets(y, first, classes)
            if first:
                epochs = self.epochs if not incremental else 1
                network = self._new_network(X.shape[1], targets.shape[1])
                self._train(network, X, targets, epochs)
                self.network_ = network
                self.loss_curve_ = network.history["loss"].copy()
            else:
                network = self.network_
                self._train(network, X, targets, 1)
                self.loss_curve_ = np.concatenate([self.loss_curve_, network.history["loss"]])
            self.n_iter_ = len(self.loss_curve_)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(saved)
            raise
        return self

    def fit(self: _Estimator, X: ArrayLike, y: ArrayLike) -> _Estimator:
        """Train a new network on ``X, y`` for ``epochs`` epochs.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)
            The training inputs.
        y : array_like, shape (n_samples,) or (n_samples, n_outputs)
            The classifier's labels (1-D, at least two classes), or the regressor's targets
            (used as they are, not scaled).

        Returns
        -------
        TinyNetClassifier or TinyNetRegressor
            This estimator, fitted.

        Raises
        ------
        FloatingPointError
            If training diverged (try a smaller ``learning_rate``, or scale the inputs and
            the regressor's targets). The estimator then keeps the attributes it had.
        """
        result: _Estimator = self._fit(X, y, incremental=False)
        return result

    def _forward(self, X: Any) -> np.ndarray:
        """The network's output for the checked ``X``, one row per sample."""
        check_is_fitted(self, "network_")
        X = validate_data(self, X, reset=False, dtype=_X_DTYPES)
        output: np.ndarray = self.network_.predict(X)
        return output


_PARAMETERS_DOC = """
    hidden_layer_sizes : int or sequence of int, default (32,)
        The number of units in each hidden layer, first to last; ``()`` for none. The input
        layer has ``n_features_in_`` units, the output layer {outputs}.
    activation : {{"tanh", "relu", "sigmoid"}}, default "tanh"
        The hidden layers' activation.
    epochs : int, default 200
        The number of passes over the training data in :meth:`fit` (there is no early
        stopping: every epoch is trained). :meth:`partial_fit` trains one.
    learning_rate : float, default 0.001
        The step size. As everywhere in tinynet (and the blog), it multiplies the gradient
        of the loss *summed* over the batch, not averaged: ``learning_rate * batch_size``
        is the step of a library that averages (scikit-learn's ``learning_rate_init``).
        The default suits standardised inputs (and targets) and the default batch size.
    batch_size : int or None, default 32
        Samples per update; ``None`` is the full batch (one update per epoch).
    shuffle : bool, default True
        Visit the samples in a new order every epoch (drawn from ``random_state``).
    momentum : float, default 0.9
        Classical momentum in ``[0, 1)``. Its velocity starts at zero in every call of
        :meth:`fit` and :meth:`partial_fit`.
    nesterov : bool, default False
        Nesterov's momentum instead of the classical one.
    l2 : float, default 0.0
        The weight of the L2 penalty ``l2 / 2 * sum(w**2)`` on the weights (not the biases).
    dropout : float, default 0.0
        The fraction of hidden units dropped in training, in ``[0, 1)``; needs a hidden
        layer.
    clip : float or None, default None
        Bound every delta to ``[-clip, clip]`` (the blog's "delta trimming").
    init : {{"xavier", "he", "uniform"}}, default "xavier"
        The starting weights: uniform draws scaled to Glorot's or He's bound, or the blog's
        draws in ``[-1, 1)``. Biases start at zero.
    bias : bool, default True
        Give every layer after the input bias units.
    dtype : {{"float64", "float32"}}, default "float64"
        The precision of the weights, of training and of the outputs.
    backend : {{"cython", "numpy"}}, default "cython"
        The compiled core, or the numpy reference (same numbers, slower).
    random_state : int, numpy.random.RandomState or None, default None
        The seed of the starting weights, the shuffling and the dropout: an int in
        ``[0, 2**32)`` is the :class:`~tinynet.Network`'s ``seed`` (so fits with the same
        int give the same network, bit for bit); a ``RandomState`` draws that seed; ``None``
        gives fresh ones every fit.
    verbose : int, default 0
        Print the loss every ``verbose`` epochs (0: never).
"""

_ATTRIBUTES_DOC = """
    network_ : tinynet.Network
        The trained network.
    loss_curve_ : numpy.ndarray
        The loss per sample of every epoch trained since the last :meth:`fit` (the
        network's ``history["loss"]``, extended by every :meth:`partial_fit`), without the
        L2 term.
    n_iter_ : int
        The number of epochs trained since the last :meth:`fit`: ``len(loss_curve_)``.
    n_features_in_ : int
        The number of features seen in :meth:`fit`.
    feature_names_in_ : numpy.ndarray of str
        The feature names seen in :meth:`fit`, when ``X`` had string column names (e.g. a
        pandas DataFrame).
"""


class TinyNetClassifier(ClassifierMixin, _TinyNetBase):  # type: ignore[misc]
    __doc__ = (
        """A classifier: a fully-connected :class:`tinynet.Network` with a softmax output,
    one unit per class, trained on one-hot targets by the cross-entropy loss.

    Labels may be of any type that sorts (ints, strings, ...); two classes also get two
    softmax outputs. The inputs are used as they are: scale them (e.g. with
    :class:`~sklearn.preprocessing.StandardScaler` in a pipeline) for faster, steadier
    training.

    Parameters
    ----------"""
        + _PARAMETERS_DOC.format(outputs="one unit per class")
        + """
    Attributes
    ----------
    classes_ : numpy.ndarray
        The class labels, sorted; output ``i`` of the network is ``classes_[i]``."""
        + _ATTRIBUTES_DOC
        + """
    See Also
    --------
    TinyNetRegressor : The regressor.
    sklearn.neural_network.MLPClassifier : The multi-layer perceptron of scikit-learn.

    Examples
    --------
    >>> import numpy as np
    >>> from tinynet.sklearn import TinyNetClassifier
    >>> X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]] * 8)
    >>> y = np.array(["no", "yes", "yes", "no"] * 8)
    >>> clf = TinyNetClassifier((8,), random_state=0).fit(X, y)
    >>> clf.predict([[0, 1], [1, 1]]).tolist()
    ['yes', 'no']
    >>> clf.predict_proba([[0, 1]]).shape
    (1, 2)
    """
    )

    _output = "softmax"

    def _targets(self, y: np.ndarray, first: bool, classes: Any) -> np.ndarray:
        """One-hot targets for ``y``; on the first call also sets ``classes_`` (from
        ``classes`` if given, else from ``y``)."""
        check_classification_targets(y)
        if first:
            labels = unique_labels(y if classes is None else classes)
            if len(labels) < 2:
                raise ValueError(
                    f"{type(self).__name__} needs samples of at least 2 classes to train; "
                    f"got 1 class: {labels.tolist()!r}"
                )
            self.classes_ = labels
        elif classes is not None and not np.array_equal(self.classes_, unique_labels(classes)):
            raise ValueError(
                f"classes={classes!r} is not the same as on the first call to partial_fit: "
                f"{self.classes_!r}"
            )
        index = np.searchsorted(self.classes_, y)
        unknown = self.classes_[np.minimum(index, len(self.classes_) - 1)] != y
        if np.any(unknown):
            raise ValueError(
                f"y holds labels not in classes_ {self.classes_.tolist()!r}: "
                f"{unique_labels(y[unknown]).tolist()!r}"
            )
        targets = np.zeros((len(y), len(self.classes_)))
        targets[np.arange(len(y)), index] = 1.0
        return targets

    def partial_fit(
        self, X: ArrayLike, y: ArrayLike, classes: ArrayLike | None = None
    ) -> TinyNetClassifier:
        """Train the network for one epoch over ``X, y``; on the first call (or before any
        :meth:`fit`), a new network.

        Each call is one epoch (``epochs`` is ignored), as in scikit-learn's
        ``MLPClassifier.partial_fit``; its momentum starts from zero.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)
            The inputs of this epoch.
        y : array_like, shape (n_samples,)
            Their labels, all in ``classes``.
        classes : array_like, optional
            All the labels there will be: required on the first call, optional (and must be
            the same) after it.

        Returns
        -------
        TinyNetClassifier
            This estimator.
        """
        if not hasattr(self, "network_") and classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit")
        result: TinyNetClassifier = self._fit(X, y, incremental=True, classes=classes)
        return result

    def predict_proba(self, X: ArrayLike) -> np.ndarray:
        """The probability of each class, one row per sample.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)
            The inputs.

        Returns
        -------
        numpy.ndarray, shape (n_samples, n_classes)
            Each row sums to 1; column ``i`` is the class ``classes_[i]``. In ``dtype``.
        """
        return self._forward(X)

    def predict_log_proba(self, X: ArrayLike) -> np.ndarray:
        """The logarithm of :meth:`predict_proba` (``-inf`` where it is 0).

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)
            The inputs.

        Returns
        -------
        numpy.ndarray, shape (n_samples, n_classes)
        """
        proba = self.predict_proba(X)
        with np.errstate(divide="ignore"):
            log_proba: np.ndarray = np.log(proba)
        return log_proba

    def predict(self, X: ArrayLike) -> np.ndarray:
        """The most probable class of each sample.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)
            The inputs.

        Returns
        -------
        numpy.ndarray, shape (n_samples,)
            Labels from ``classes_``.
        """
        proba = self.predict_proba(X)  # first: it checks that the estimator is fitted
        result: np.ndarray = self.classes_[np.argmax(proba, axis=1)]
        return result


class TinyNetRegressor(RegressorMixin, _TinyNetBase):  # type: ignore[misc]
    __doc__ = (
        """A regressor: a fully-connected :class:`tinynet.Network` with a linear output,
    one unit per target, trained by the squared error ``0.5 * sum((y - output)**2)``.

    ``y`` may be 1-D (one target; :meth:`predict` returns 1-D) or 2-D (one column per
    target; :meth:`predict` returns 2-D, also for one column). Nothing is scaled, silently
    or otherwise: neither the inputs nor the targets. Training works best with both
    standardised (e.g. a :class:`~sklearn.preprocessing.StandardScaler` in a pipeline for
    ``X``, and :class:`~sklearn.compose.TransformedTargetRegressor` for ``y``); large
    inputs or targets need a smaller ``learning_rate``, or training may diverge (the loss
    grows, and ends in a ``FloatingPointError`` if it overflows).

    Parameters
    ----------"""
        + _PARAMETERS_DOC.format(outputs="one unit per target")
        + """
    Attributes
    ----------
    n_outputs_ : int
        The number of targets."""
        + _ATTRIBUTES_DOC
        + """
    See Also
    --------
    TinyNetClassifier : The classifier.
    sklearn.neural_network.MLPRegressor : The multi-layer perceptron of scikit-learn.

    Examples
    --------
    >>> import numpy as np
    >>> from tinynet.sklearn import TinyNetRegressor
    >>> X = np.linspace(-1, 1, 50).reshape(-1, 1)
    >>> reg = TinyNetRegressor(random_state=0).fit(X, 2 * X.ravel() - 1)
    >>> bool(reg.score(X, 2 * X.ravel() - 1) > 0.99)
    True
    """
    )

    _output = "linear"
    _y_checks: ClassVar[dict[str, bool]] = {"multi_output": True, "y_numeric": True}

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def _targets(self, y: np.ndarray, first: bool, classes: Any) -> np.ndarray:
        """``y`` as 2-D targets; on the first call also sets ``n_outputs_``."""
        targets = y.reshape(len(y), -1)
        if first:
            self.n_outputs_ = targets.shape[1]
            self._one_d = y.ndim == 1
        elif targets.shape[1] != self.n_outputs_:
            raise ValueError(
                f"y has {targets.shape[1]} targets, but {type(self).__name__} was fitted "
                f"with {self.n_outputs_}"
            )
        return targets

    def partial_fit(self, X: ArrayLike, y: ArrayLike) -> TinyNetRegressor:
        """Train the network for one epoch over ``X, y``; on the first call (or before any
        :meth:`fit`), a new network.

        Each call is one epoch (``epochs`` is ignored), as in scikit-learn's
        ``MLPRegressor.partial_fit``; its momentum starts from zero.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)
            The inputs of this epoch.
        y : array_like, shape (n_samples,) or (n_samples, n_outputs_)
            Their targets.

        Returns
        -------
        TinyNetRegressor
            This estimator.
        """
        result: TinyNetRegressor = self._fit(X, y, incremental=True)
        return result

    def predict(self, X: ArrayLike) -> np.ndarray:
        """The network's prediction of the targets.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)
            The inputs.

        Returns
        -------
        numpy.ndarray, shape (n_samples,) or (n_samples, n_outputs_)
            1-D if the ``y`` of the first fit was 1-D, else 2-D. In ``dtype``.
        """
        output = self._forward(X)
        return output.ravel() if self._one_d else output
