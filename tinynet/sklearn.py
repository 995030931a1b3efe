"""scikit-learn estimators over :class:`tinynet.Network`: :class:`TinyNetClassifier` and
:class:`TinyNetRegressor`, drop-in replacements for scikit-learn's ``MLPClassifier`` and
``MLPRegressor``.

They take every parameter of scikit-learn's multi-layer perceptrons, by the same names, with
the same defaults and meanings, and give the same fitted attributes. With the same int
``random_state`` they start from scikit-learn's weights (the same Glorot-uniform draws), so
that with ``shuffle=False`` and the ``"sgd"`` or ``"adam"`` solver a fit follows
scikit-learn's weights to rounding; ``"lbfgs"`` runs the same scipy minimiser on the same
objective. What changes is where the time goes: each fit is one call into tinynet's
compiled core per epoch, not a few numpy calls per layer per batch. tinynet's own options
(``dropout``, ``clip``, ``batch_norm``, more ``optimizer`` choices, ``dtype``, ``backend``)
follow scikit-learn's parameters.

They need scikit-learn (the ``tinynet[sklearn]`` extra), which this module imports; it is
not imported by ``import tinynet``, only by ``import tinynet.sklearn``.

>>> from sklearn.datasets import load_iris
>>> from tinynet.sklearn import TinyNetClassifier
>>> X, y = load_iris(return_X_y=True)
>>> clf = TinyNetClassifier(solver="lbfgs", random_state=0).fit(X, y)
>>> bool(clf.score(X, y) > 0.9)
True
"""

from __future__ import annotations

import warnings
import weakref
from itertools import pairwise
from numbers import Integral, Real
from typing import Any, ClassVar, TypeVar

import numpy as np
import scipy.sparse  # type: ignore[import-untyped]
from numpy.typing import ArrayLike
from sklearn.base import (  # type: ignore[import-untyped,unused-ignore]
    BaseEstimator,
    ClassifierMixin,
    RegressorMixin,
    is_classifier,
)
from sklearn.exceptions import ConvergenceWarning  # type: ignore[import-untyped,unused-ignore]
from sklearn.metrics import accuracy_score, r2_score  # type: ignore[import-untyped,unused-ignore]
from sklearn.model_selection import train_test_split  # type: ignore[import-untyped,unused-ignore]
from sklearn.neural_network import (  # type: ignore[import-untyped,unused-ignore]
    MLPClassifier,
    MLPRegressor,
)
from sklearn.preprocessing import LabelBinarizer  # type: ignore[import-untyped,unused-ignore]
from sklearn.utils import check_random_state  # type: ignore[import-untyped,unused-ignore]
from sklearn.utils._param_validation import (  # type: ignore[import-untyped,unused-ignore]
    Interval,
    StrOptions,
)
from sklearn.utils.metaestimators import available_if  # type: ignore[import-untyped,unused-ignore]
from sklearn.utils.multiclass import (  # type: ignore[import-untyped,unused-ignore]
    type_of_target,
    unique_labels,
)
from sklearn.utils.validation import (  # type: ignore[import-untyped,unused-ignore]
    check_is_fitted,
    column_or_1d,
    validate_data,
)

from tinynet.network import Network
from tinynet.optimizers import LBFGS, SGD, Adam, AdamW, Optimizer, RMSprop

__all__ = ["TinyNetClassifier", "TinyNetRegressor"]

_Estimator = TypeVar("_Estimator", bound="_MultilayerPerceptron")

# scikit-learn's names of the activations, and tinynet's.
_ACTIVATIONS = {"identity": "linear", "logistic": "sigmoid", "tanh": "tanh", "relu": "relu"}
_OUTPUTS = {"identity": "linear", "logistic": "logistic", "softmax": "softmax", "exp": "poisson"}
# tinynet's optimizers beyond scikit-learn's solvers, by name.
_OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop", "lbfgs")
# scikit-learn's adaptive learning rate stops once it would fall below this.
_SMALLEST_ADAPTIVE_RATE = 1e-6

# tinynet's parameters, after scikit-learn's.
_EXTRA_CONSTRAINTS: dict[str, list[Any]] = {
    "dropout": [Interval(Real, 0, 1, closed="left")],
    "clip": [None, Interval(Real, 0, None, closed="neither")],
    "batch_norm": ["boolean"],
    "optimizer": [None, StrOptions(set(_OPTIMIZERS)), Optimizer],
    "dtype": [None, str, type, np.dtype],
    "backend": [StrOptions({"cython", "numpy"})],
}


# What each estimator's network was last given as its weights by _send: the coefs_ and
# intercepts_ lists, their arrays, and copies of their values. A prediction sends them again
# only if they changed (MLPClassifier reads coefs_ at every prediction, so a change in place
# counts); a fit, which changes the network, forgets them (_network_for).
_SENT: weakref.WeakKeyDictionary[Network, tuple[Any, ...]] = weakref.WeakKeyDictionary()


def _send(network: Network, coefs: Any, intercepts: Any) -> None:
    """Give ``network`` the weights ``coefs`` and biases ``intercepts`` (checked as any
    assignment is), unless they are what it was last given, unchanged."""
    arrays = [*coefs, *intercepts]
    sent = _SENT.get(network)
    if (
        sent is not None
        and sent[0] is coefs
        and sent[1] is intercepts
        and len(sent[2]) == len(arrays)
        and all(
            a is b and np.array_equal(a, c)
            for a, b, c in zip(arrays, sent[2], sent[3], strict=True)
        )
    ):
        return
    network.weights = coefs
    network.biases = intercepts
    _SENT[network] = (coefs, intercepts, arrays, [np.array(a, copy=True) for a in arrays])


class _EpochMonitor:
    """scikit-learn's bookkeeping after every epoch of a stochastic fit, as a tinynet
    callback: the loss curve, the iteration and sample counts, the validation score and the
    best weights, the learning rate of the next epoch, and the stopping rules (a truthy
    return stops the fit)."""

    def __init__(
        self,
        estimator: _MultilayerPerceptron,
        n_samples: int,
        validation: tuple[np.ndarray, Any, np.ndarray | None] | None,
        incremental: bool,
        schedule: str,
    ) -> None:
        self.estimator = estimator
        self.n_samples = n_samples
        self.validation = validation
        self.incremental = incremental
        # Only early stopping's scores read the network after an epoch (tinynet._fitting then
        # commits every epoch before calling this).
        self._reads_network = validation is not None
        # The learning-rate schedule (scikit-learn's SGD's; "constant" elsewhere).
        self.adaptive = schedule == "adaptive"
        self.invscaling = schedule == "invscaling"

    def __call__(self, network: Network, epoch: int, logs: dict[str, float]) -> bool:
        est = self.estimator
        loss = est._reported_loss(logs)
        est.n_iter_ += 1
        est.loss_ = loss
        est.t_ += self.n_samples
        est.loss_curve_.append(loss)
        if est.verbose:
            print(f"Iteration {est.n_iter_}, loss = {loss:.8f}")
        self._count_no_improvement(network)
        if self.invscaling:
            est._sgd_rate = float(est.learning_rate_init) / (est.t_ + 1) ** est.power_t
        stop = False
        if est._no_improvement_count > est.n_iter_no_change:
            what = "Validation score" if self.validation is not None else "Training loss"
            message = (
                f"{what} did not improve more than tol={est.tol:f} for "
                f"{est.n_iter_no_change} consecutive epochs."
            )
            stop = self._trigger_stopping(message)
        if not stop and not self.incremental and est.n_iter_ == est.max_iter:
            warnings.warn(
                f"Stochastic Optimizer: Maximum iterations ({est.max_iter}) reached and the "
                "optimization hasn't converged yet.",
                ConvergenceWarning,
                stacklevel=2,
            )
        return stop

    def _epochs_ahead(self) -> int:
        """The fewest epochs, counting the one it acts on, before this could stop the fit or
        change its learning rate (tinynet._fitting then trains them in one call): the stopping
        rule needs ``n_iter_no_change + 1`` epochs in a row without improvement, one more
        with each epoch. invscaling's rate changes after every epoch."""
        if self.invscaling:
            return 1
        est = self.estimator
        # n_iter_no_change may be inf (the rule never fires): as many epochs as a call takes.
        remaining = min(est.n_iter_no_change + 1 - est._no_improvement_count, 2**30)
        return max(1, int(remaining))

    def _count_no_improvement(self, network: Network) -> None:
        est = self.estimator
        if self.validation is not None:
            X_val, y_val, weights_val = self.validation
            score = est._score_network(network, X_val, y_val, weights_val)
            est.validation_scores_.append(score)
            if est.verbose:
                print(f"Validation score: {score:f}")
            if score < est.best_validation_score_ + est.tol:
                est._no_improvement_count += 1
            else:
                est._no_improvement_count = 0
            if score > est.best_validation_score_:
                est.best_validation_score_ = score
                est._best = (network.weights, network.biases, network.batch_norm)
        else:
            loss = est.loss_curve_[-1]
            if loss > est.best_loss_ - est.tol:
                est._no_improvement_count += 1
            else:
                est._no_improvement_count = 0
            if loss < est.best_loss_:
                est.best_loss_ = loss

    def _trigger_stopping(self, message: str) -> bool:
        """scikit-learn's optimizers' ``trigger_stopping``: the adaptive learning rate is
        divided by 5 instead, until it is too small."""
        est = self.estimator
        if not self.adaptive:
            if est.verbose:
                print(message + " Stopping.")
            return True
        if est._sgd_rate <= _SMALLEST_ADAPTIVE_RATE:
            if est.verbose:
                print(message + " Learning rate too small. Stopping.")
            return True
        est._sgd_rate /= 5.0
        est._no_improvement_count = 0
        if est.verbose:
            print(message + f" Setting learning rate to {est._sgd_rate:f}")
        return False


class _MultilayerPerceptron(BaseEstimator):  # type: ignore[misc]
    """What the classifier and the regressor share: scikit-learn's ``_fit`` over a
    :class:`~tinynet.Network`.

    The subclasses define ``_validate_input`` (the checked ``X`` and the 2-D targets),
    ``_output_activation``, ``_score_network`` and ``_reported_loss``.
    """

    _parameter_constraints: ClassVar[dict[str, list[Any]]]
    # Fitted by the stochastic solvers; None where scikit-learn's are (the measure that
    # early_stopping does not use).
    loss_curve_: list[float]
    validation_scores_: Any
    best_validation_score_: Any
    best_loss_: Any
    _best: Any

    def __init__(
        self,
        hidden_layer_sizes: Any = (100,),
        activation: str = "relu",
        *,
        solver: str = "adam",
        alpha: float = 0.0001,
        batch_size: int | str = "auto",
        learning_rate: str = "constant",
        learning_rate_init: float = 0.001,
        power_t: float = 0.5,
        max_iter: int = 200,
        shuffle: bool = True,
        random_state: int | np.random.RandomState | None = None,
        tol: float = 1e-4,
        verbose: bool | int = False,
        warm_start: bool = False,
        momentum: float = 0.9,
        nesterovs_momentum: bool = True,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-8,
        n_iter_no_change: int | float = 10,
        max_fun: int = 15000,
        dropout: float = 0.0,
        clip: float | None = None,
        batch_norm: bool = False,
        optimizer: str | Optimizer | None = None,
        dtype: Any = None,
        backend: str = "cython",
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.dropout = dropout
        self.clip = clip
        self.batch_norm = batch_norm
        self.optimizer = optimizer
        self.dtype = dtype
        self.backend = backend

    # --- what the subclasses define ------------------------------------------------------

    def _validate_input(
        self, X: Any, y: Any, incremental: bool, reset: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def _output_activation(self) -> str:
        raise NotImplementedError

    def _score_network(
        self, network: Network, X: np.ndarray, y: Any, sample_weight: np.ndarray | None
    ) -> float:
        raise NotImplementedError

    def _reported_loss(self, logs: dict[str, float]) -> float:
        """scikit-learn's loss of an epoch from tinynet's (the same but for the regressor's
        squared error, which scikit-learn averages over the outputs too)."""
        return float(logs["loss"])

    # --- options ---------------------------------------------------------------------------

    def _hidden_sizes(self) -> list[int]:
        sizes = self.hidden_layer_sizes
        if not hasattr(sizes, "__iter__"):
            sizes = [sizes]
        sizes = list(sizes)
        if any(not isinstance(size, Integral) or size <= 0 for size in sizes):
            raise ValueError(f"hidden_layer_sizes must be > 0, got {sizes}.")
        return [int(size) for size in sizes]

    def _update_rule(self) -> str | Optimizer:
        """The optimizer's name, or the instance given as ``optimizer``."""
        if self.optimizer is not None:
            return self.optimizer
        return str(self.solver)

    def _is_lbfgs(self) -> bool:
        rule = self._update_rule()
        return rule == "lbfgs" or isinstance(rule, LBFGS)

    def _learning_rate_schedule(self) -> str:
        """``learning_rate`` where it applies (scikit-learn's SGD), else ``"constant"``."""
        return str(self.learning_rate) if self._update_rule() == "sgd" else "constant"

    def _tinynet_optimizer(self) -> Optimizer:
        rule = self._update_rule()
        if not isinstance(rule, str):
            return rule
        if rule == "sgd":
            return SGD(momentum=self.momentum, nesterov=self.nesterovs_momentum)
        if rule == "adam":
            # scikit-learn's Adam adds epsilon to the root of the raw second moment.
            return Adam(self.beta_1, self.beta_2, self.epsilon, epsilon_hat=True)
        if rule == "adamw":
            return AdamW(self.beta_1, self.beta_2, self.epsilon)
        if rule == "rmsprop":
            return RMSprop(epsilon=self.epsilon)
        return LBFGS(max_fun=self.max_fun, tol=self.tol)

    def _float_dtype(self, X: np.ndarray) -> np.dtype:
        if self.dtype is None:
            return X.dtype
        try:
            dtype = np.dtype(self.dtype)
        except TypeError as error:
            raise ValueError(
                f"dtype must be None, 'float32' or 'float64'; got {self.dtype!r}"
            ) from error
        if dtype not in (np.float32, np.float64):
            raise ValueError(f"dtype must be None, 'float32' or 'float64'; got {self.dtype!r}")
        return dtype

    # --- training --------------------------------------------------------------------------

    def _initialize(
        self, Y: np.ndarray, layer_units: list[int], dtype: np.dtype, rng: Any
    ) -> None:
        """scikit-learn's ``_initialize``: the counters, and the starting weights drawn as
        scikit-learn draws them (Glorot's uniform bound, coefficients then intercepts,
        layer by layer, from ``rng``)."""
        self.n_iter_ = 0
        self.t_ = 0
        self.n_layers_ = len(layer_units)
        self.out_activation_ = self._output_activation()
        factor = 2.0 if self.activation == "logistic" else 6.0
        self.coefs_ = []
        self.intercepts_ = []
        for fan_in, fan_out in pairwise(layer_units):
            bound = np.sqrt(factor / (fan_in + fan_out))
            self.coefs_.append(rng.uniform(-bound, bound, (fan_in, fan_out)).astype(dtype))
            self.intercepts_.append(rng.uniform(-bound, bound, fan_out).astype(dtype))
        self._network: Network | None = None
        self._has_optimizer = False
        if not self._is_lbfgs():
            self.loss_curve_ = []
            self._no_improvement_count = 0
            if self.early_stopping:
                self.validation_scores_ = []
                self.best_validation_score_ = -np.inf
                self.best_loss_ = None
            else:
                self.best_loss_ = np.inf
                self.validation_scores_ = None
                self.best_validation_score_ = None

    def _network_for(self, layer_units: list[int], dtype: np.dtype, rng: Any) -> Network:
        """The estimator's network, holding ``coefs_`` and ``intercepts_`` (built on the
        first fit, its seed, for the row orders and the dropout, drawn from ``rng``)."""
        network = getattr(self, "_network", None)
        if network is None:
            network = Network(
                layer_units,
                activation=_ACTIVATIONS[self.activation],
                output=_OUTPUTS[self.out_activation_],
                bias=True,
                seed=int(rng.randint(np.iinfo(np.int32).max)),
                dtype=dtype,
                backend=self.backend,
                batch_norm=self.batch_norm,
            )
            self._network = network
        elif network.layer_sizes != layer_units:
            raise ValueError(
                f"the layer sizes {layer_units} differ from the fitted ones "
                f"{network.layer_sizes}: with warm_start or partial_fit, keep "
                "hidden_layer_sizes, the features and the outputs of the first fit"
            )
        _SENT.pop(network, None)  # the fit changes the network
        network.weights = self.coefs_
        network.biases = self.intercepts_
        return network

    def _fit(
        self: _Estimator,
        X: Any,
        y: Any,
        sample_weight: ArrayLike | None = None,
        incremental: bool = False,
    ) -> _Estimator:
        """scikit-learn's ``_fit``. Whatever goes wrong (bad options or data, divergence),
        the estimator keeps the attributes it had; an interrupted fit (Ctrl-C) keeps its
        completed epochs, with a warning, as scikit-learn's."""
        saved = dict(self.__dict__)
        # A fit appends to the loss curve and the validation scores in place: a failed fit
        # must not leave the epochs it added in them.
        contents = {name: list(value) for name, value in saved.items() if isinstance(value, list)}
        network = saved.get("_network")
        history = None if network is None else network.history
        try:
            return self._fit_checked(X, y, sample_weight, incremental)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(saved)
            for name, values in contents.items():
                saved[name][:] = values
            if network is not None and network.history is not history:
                # The network trained some epochs before the failure: its weights follow
                # coefs_ again at the next use, but its optimizer state is not the one of
                # coefs_, so the next partial_fit starts a fresh one.
                self._has_optimizer = False
            raise

    def _fit_checked(
        self: _Estimator,
        X: Any,
        y: Any,
        sample_weight: ArrayLike | None,
        incremental: bool,
    ) -> _Estimator:
        self._validate_params()
        hidden = self._hidden_sizes()
        first_pass = not hasattr(self, "coefs_") or (not self.warm_start and not incremental)
        X, Y = self._validate_input(X, y, incremental, reset=first_pass)
        dtype = self._float_dtype(X) if first_pass else self.coefs_[0].dtype
        X = np.ascontiguousarray(X.toarray() if scipy.sparse.issparse(X) else X, dtype=dtype)
        if Y.ndim == 1:
            Y = Y.reshape(-1, 1)
        weights = None
        if sample_weight is not None:
            weights = np.asarray(sample_weight, dtype=np.float64)
            if weights.ndim == 0:
                weights = np.full(len(X), float(weights))
        self.n_outputs_ = Y.shape[1]
        layer_units = [X.shape[1], *hidden, self.n_outputs_]
        rng = check_random_state(self.random_state)
        if first_pass:
            self._initialize(Y, layer_units, dtype, rng)
        try:
            if self._is_lbfgs():
                self._fit_lbfgs(X, Y, weights, layer_units, rng)
            else:
                self._fit_stochastic(X, Y, weights, layer_units, rng, incremental)
        except FloatingPointError as error:
            raise ValueError(
                "Solver produced non-finite parameter weights. The input data may contain "
                "large values and need to be preprocessed."
            ) from error
        return self

    def _fit_lbfgs(
        self,
        X: np.ndarray,
        Y: np.ndarray,
        weights: np.ndarray | None,
        layer_units: list[int],
        rng: Any,
    ) -> None:
        network = self._network_for(layer_units, X.dtype, rng)
        network.fit(
            X,
            Y.astype(X.dtype),
            epochs=self.max_iter,
            optimizer=self._tinynet_optimizer(),
            l2=self.alpha,
            dropout=self.dropout,
            clip=self.clip,
            sample_weight=weights,
            reduction="mean",
            progress=False,
        )
        self.coefs_ = network.weights
        self.intercepts_ = network.biases
        history = network.history
        self.n_iter_ = len(history["loss"])
        if self.n_iter_:
            self.loss_ = self._reported_loss({key: float(v[-1]) for key, v in history.items()})
        if self.n_iter_ >= self.max_iter:
            warnings.warn(
                f"lbfgs failed to converge after {self.n_iter_} iteration(s): "
                "STOP: TOTAL NO. OF ITERATIONS REACHED LIMIT. Increase the number of "
                "iterations (max_iter) or scale the data.",
                ConvergenceWarning,
                stacklevel=3,
            )

    def _fit_stochastic(
        self,
        X: np.ndarray,
        Y: np.ndarray,
        weights: np.ndarray | None,
        layer_units: list[int],
        rng: Any,
        incremental: bool,
    ) -> None:
        resume = incremental and getattr(self, "_has_optimizer", False)
        self.n_iter_ = 0  # as scikit-learn: the epochs of this call (t_ counts them all)
        if not resume:
            self._sgd_rate = float(self.learning_rate_init)
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        validation = None
        X_train, Y_train, weights_train = X, Y, weights
        if self.early_stopping:
            # As scikit-learn splits: the same draws from the same random state.
            stratify = Y if is_classifier(self) and self.n_outputs_ == 1 else None
            arrays = (X, Y) if weights is None else (X, Y, weights)
            parts = train_test_split(
                *arrays,
                random_state=rng,
                test_size=self.validation_fraction,
                stratify=stratify,
            )
            X_train, X_val, Y_train, Y_val = parts[:4]
            weights_train, weights_val = (
                (parts[4], parts[5]) if weights is not None else (None, None)
            )
            if X_val.shape[0] < 2:
                raise ValueError(
                    "The validation set is too small. Increase 'validation_fraction' or the "
                    "size of your dataset."
                )
            validation = (X_val, self._labels(Y_val), weights_val)
        network = self._network_for(layer_units, X.dtype, rng)
        n_samples = X_train.shape[0]
        if self.batch_size == "auto":
            batch_size = min(200, n_samples)
        else:
            if self.batch_size > n_samples:
                warnings.warn(
                    "Got `batch_size` less than 1 or larger than sample size. It is going "
                    "to be clipped",
                    stacklevel=3,
                )
            batch_size = int(np.clip(self.batch_size, 1, n_samples))
        schedule = self._learning_rate_schedule()
        monitor = _EpochMonitor(self, n_samples, validation, incremental, schedule)
        try:
            network.fit(
                X_train,
                Y_train.astype(X.dtype),
                epochs=1 if incremental else self.max_iter,
                learning_rate=self._sgd_rate if schedule == "constant" else self._rate,
                batch_size=batch_size,
                shuffle=bool(self.shuffle),
                l2=self.alpha,
                dropout=self.dropout,
                clip=self.clip,
                callbacks=[monitor],
                progress=False,
                optimizer=self._tinynet_optimizer(),
                resume=resume,
                sample_weight=weights_train,
                reduction="mean",
            )
        except KeyboardInterrupt:
            warnings.warn("Training interrupted by user.", stacklevel=3)
        finally:
            self._has_optimizer = True
            best = getattr(self, "_best", None)
            if self.early_stopping and best is not None:
                network.weights, network.biases = best[0], best[1]
                if self.batch_norm:
                    network.batch_norm = best[2]
            self.coefs_ = network.weights
            self.intercepts_ = network.biases
            self._best = None

    def _rate(self, epoch: int) -> float:
        """The learning rate of the next epoch (scikit-learn's SGD changes it between
        epochs: see _EpochMonitor)."""
        return self._sgd_rate

    def _labels(self, Y: np.ndarray) -> Any:
        """What the validation score compares predictions with: ``Y`` itself (the
        classifier maps it back to labels)."""
        return Y

    # --- prediction ------------------------------------------------------------------------

    def _forward(self, X: Any) -> np.ndarray:
        """The network's output for ``X``, checked, one row per sample."""
        check_is_fitted(self, "coefs_")
        X = validate_data(
            self, X, reset=False, accept_sparse=["csr", "csc"], dtype=(np.float64, np.float32)
        )
        return self._output(X)

    def _output(self, X: Any) -> np.ndarray:
        """The network's output for checked ``X``, with the weights of ``coefs_`` and
        ``intercepts_`` (which may have been set since the fit)."""
        network = self._network
        if network is None:  # coefs_ set by hand on an unfitted estimator
            raise ValueError("this estimator has coefs_ but was never fitted")
        _send(network, self.coefs_, self.intercepts_)
        dense = X.toarray() if scipy.sparse.issparse(X) else X
        output: np.ndarray = network.predict(dense)
        return output

    def fit(
        self: _Estimator, X: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None
    ) -> _Estimator:
        """Fit the model to data matrix X and target(s) y.

        Parameters
        ----------
        X : array_like or sparse matrix, shape (n_samples, n_features)
            The input data (a sparse matrix is made dense).
        y : array_like, shape (n_samples,) or (n_samples, n_outputs)
            The target values (class labels in classification, real numbers in regression).
        sample_weight : array_like, shape (n_samples,), optional
            Sample weights: each batch's gradient is their weighted mean.

        Returns
        -------
        TinyNetClassifier or TinyNetRegressor
            This estimator, fitted.
        """
        result: _Estimator = self._fit(X, y, sample_weight=sample_weight, incremental=False)
        return result

    def _check_solver(self) -> bool:
        if self._is_lbfgs():
            raise AttributeError(
                "partial_fit is only available for stochastic optimizers. "
                f"{self.solver} is not stochastic."
            )
        return True

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


_DOC_PARAMETERS = """
    Parameters
    ----------
    The parameters of scikit-learn's ``{mlp}``, by the same names, with the same defaults
    and meanings (see its documentation){loss}: ``hidden_layer_sizes=(100,)``,
    ``activation="relu"`` (``"identity"``, ``"logistic"``, ``"tanh"``, ``"relu"``),
    ``solver="adam"`` (``"lbfgs"``, ``"sgd"``, ``"adam"``), ``alpha=0.0001`` (the L2
    penalty, divided by each batch's weight as scikit-learn divides it),
    ``batch_size="auto"`` (``min(200, n_samples)``), ``learning_rate="constant"``
    (``"invscaling"``, ``"adaptive"``; SGD only), ``learning_rate_init=0.001``,
    ``power_t=0.5``, ``max_iter=200``, ``shuffle=True``, ``random_state=None``,
    ``tol=1e-4``, ``verbose=False``, ``warm_start=False``, ``momentum=0.9``,
    ``nesterovs_momentum=True``, ``early_stopping=False``, ``validation_fraction=0.1``,
    ``beta_1=0.9``, ``beta_2=0.999``, ``epsilon=1e-8``, ``n_iter_no_change=10``,
    ``max_fun=15000``.

    The row orders of ``shuffle=True`` are tinynet's own (drawn from ``random_state``), not
    scikit-learn's; everything else, with the same int ``random_state``, is scikit-learn's:
    the starting weights, the validation split of ``early_stopping``, and the updates.

    Then tinynet's own:

    dropout : float, default 0.0
        The fraction of hidden units dropped in training, in ``[0, 1)``.
    clip : float or None, default None
        Bound every delta to ``[-clip, clip]`` (the blog's "delta trimming").
    batch_norm : bool, default False
        Batch-normalise every hidden layer (see :class:`tinynet.Network`).
    optimizer : {{"sgd", "adam", "adamw", "rmsprop", "lbfgs"}}, tinynet optimizer or None, \
default None
        The update rule instead of the solver's: ``"adamw"`` and ``"rmsprop"`` (PyTorch's,
        with ``beta_1``, ``beta_2`` and ``epsilon``), or an instance such as
        ``tinynet.AdamW(weight_decay=0.1)``. None: the ``solver``.
    dtype : {{"float32", "float64"}} or None, default None
        The precision of the weights and of training; None: ``X``'s (float32 is kept,
        anything else becomes float64), as scikit-learn.
    backend : {{"cython", "numpy"}}, default "cython"
        The compiled core, or the numpy reference (same numbers, slower).
"""

_DOC_ATTRIBUTES = """
    Attributes
    ----------
    The fitted attributes of scikit-learn's ``{mlp}``: ``loss_``, ``best_loss_``,
    ``loss_curve_``, ``validation_scores_``, ``best_validation_score_``, ``t_``,
    ``coefs_``, ``intercepts_``, ``n_features_in_``, ``feature_names_in_``, ``n_iter_``,
    ``n_layers_``, ``n_outputs_``, ``out_activation_``{classes}.
"""


class TinyNetClassifier(ClassifierMixin, _MultilayerPerceptron):  # type: ignore[misc]
    __doc__ = (
        """A multi-layer perceptron classifier: scikit-learn's ``MLPClassifier``, trained
    by tinynet.

    Binary targets get one logistic output, more classes a softmax output, multi-label
    targets (a 2-D 0/1 array) one logistic output per label; all are trained by the
    cross-entropy, as in scikit-learn.
"""
        + _DOC_PARAMETERS.format(mlp="MLPClassifier", loss="")
        + _DOC_ATTRIBUTES.format(mlp="MLPClassifier", classes=", ``classes_``")
        + """
    See Also
    --------
    TinyNetRegressor : The regressor.
    sklearn.neural_network.MLPClassifier : The estimator this one replaces.

    Examples
    --------
    >>> import numpy as np
    >>> from tinynet.sklearn import TinyNetClassifier
    >>> X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]] * 8)
    >>> y = np.array(["no", "yes", "yes", "no"] * 8)
    >>> clf = TinyNetClassifier((8,), solver="lbfgs", random_state=1).fit(X, y)
    >>> clf.predict([[0, 1], [1, 1]]).tolist()
    ['yes', 'no']
    >>> clf.predict_proba([[0, 1]]).shape
    (1, 2)
    """
    )

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        **MLPClassifier._parameter_constraints,
        **_EXTRA_CONSTRAINTS,
    }

    def _validate_input(
        self, X: Any, y: Any, incremental: bool, reset: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        X, y = validate_data(
            self,
            X,
            y,
            accept_sparse=["csr", "csc"],
            multi_output=True,
            dtype=(np.float64, np.float32),
            reset=reset,
        )
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if not hasattr(self, "classes_") or (not self.warm_start and not incremental):
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = unique_labels(y)
            if self.warm_start:
                if set(classes) != set(self.classes_):
                    raise ValueError(
                        "warm_start can only be used where `y` has the same classes as in "
                        f"the previous call to fit. Previously got {self.classes_}, `y` has "
                        f"{classes}"
                    )
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ValueError(
                    f"`y` has classes not in `self.classes_`. `self.classes_` has "
                    f"{self.classes_}. 'y' has {classes}."
                )
        # bool, as scikit-learn's: the validation split stratifies on it.
        return X, self._label_binarizer.transform(y).astype(bool)

    def _output_activation(self) -> str:
        return "softmax" if self._label_binarizer.y_type_ == "multiclass" else "logistic"

    def _labels(self, Y: np.ndarray) -> Any:
        return self._label_binarizer.inverse_transform(Y)

    def _score_network(
        self, network: Network, X: np.ndarray, y: Any, sample_weight: np.ndarray | None
    ) -> float:
        output = network.predict(X)
        if not np.isfinite(output).all():
            return np.nan
        return float(accuracy_score(y, self._decide(output), sample_weight=sample_weight))

    def _decide(self, output: np.ndarray) -> Any:
        if self.n_outputs_ == 1:
            output = output.ravel()
        return self._label_binarizer.inverse_transform(output)

    def predict(self, X: ArrayLike) -> np.ndarray:
        """Predict using the multi-layer perceptron classifier.

        Parameters
        ----------
        X : array_like or sparse matrix, shape (n_samples, n_features)
            The input data.

        Returns
        -------
        numpy.ndarray, shape (n_samples,) or (n_samples, n_classes)
            The predicted classes.
        """
        result: np.ndarray = self._decide(self._forward(X))
        return result

    @available_if(lambda estimator: estimator._check_solver())
    def partial_fit(
        self,
        X: ArrayLike,
        y: ArrayLike,
        sample_weight: ArrayLike | None = None,
        classes: ArrayLike | None = None,
    ) -> TinyNetClassifier:
        """Update the model with a single iteration over the given data, continuing the
        optimizer's state: k calls are one fit of ``max_iter=k`` (``shuffle=False``).

        Parameters
        ----------
        X : array_like or sparse matrix, shape (n_samples, n_features)
            The input data.
        y : array_like, shape (n_samples,)
            The target values.
        sample_weight : array_like, shape (n_samples,), optional
            Sample weights.
        classes : array_like, shape (n_classes,), optional
            Classes across all calls to partial_fit: required on the first call.

        Returns
        -------
        TinyNetClassifier
            This estimator.
        """
        if _first_partial_fit(self, classes):
            self._label_binarizer = LabelBinarizer()
            if type_of_target(y).startswith("multilabel"):
                self._label_binarizer.fit(y)
            else:
                self._label_binarizer.fit(classes)
        result: TinyNetClassifier = self._fit(X, y, sample_weight=sample_weight, incremental=True)
        return result

    def predict_proba(self, X: ArrayLike) -> np.ndarray:
        """Probability estimates.

        Parameters
        ----------
        X : array_like or sparse matrix, shape (n_samples, n_features)
            The input data.

        Returns
        -------
        numpy.ndarray, shape (n_samples, n_classes)
            The probability of each class, in the order of ``classes_``.
        """
        output = self._forward(X)
        if self.n_outputs_ == 1:
            p = output.ravel()
            return np.vstack([1 - p, p]).T
        return output

    def predict_log_proba(self, X: ArrayLike) -> np.ndarray:
        """The logarithm of :meth:`predict_proba`.

        Parameters
        ----------
        X : array_like or sparse matrix, shape (n_samples, n_features)
            The input data.

        Returns
        -------
        numpy.ndarray, shape (n_samples, n_classes)
        """
        proba = self.predict_proba(X)
        with np.errstate(divide="ignore"):
            result: np.ndarray = np.log(proba, out=proba)
        return result

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


def _first_partial_fit(estimator: TinyNetClassifier, classes: Any) -> bool:
    """Whether this is the first ``partial_fit`` (it then sets ``classes_`` from
    ``classes``), checking ``classes`` as scikit-learn does."""
    fitted = getattr(estimator, "classes_", None)
    if fitted is None and classes is None:
        raise ValueError("classes must be passed on the first call to partial_fit.")
    if classes is not None:
        if fitted is not None:
            if not np.array_equal(fitted, unique_labels(classes)):
                raise ValueError(
                    f"`classes={classes!r}` is not the same as on last call to partial_fit, "
                    f"was: {fitted!r}"
                )
        else:
            estimator.classes_ = unique_labels(classes)
            return True
    return False


class TinyNetRegressor(RegressorMixin, _MultilayerPerceptron):  # type: ignore[misc]
    __doc__ = (
        """A multi-layer perceptron regressor: scikit-learn's ``MLPRegressor``, trained by
    tinynet: an identity output trained by the squared error, or with ``loss="poisson"`` an
    exponential output (``out_activation_`` ``"exp"``, tinynet's ``output="poisson"``)
    trained by the half Poisson deviance, for non-negative targets.
"""
        + _DOC_PARAMETERS.format(
            mlp="MLPRegressor",
            loss=', ``loss`` first (``"squared_error"`` or ``"poisson"``)',
        )
        + _DOC_ATTRIBUTES.format(mlp="MLPRegressor", classes="")
        + """
    See Also
    --------
    TinyNetClassifier : The classifier.
    sklearn.neural_network.MLPRegressor : The estimator this one replaces.

    Examples
    --------
    >>> import numpy as np
    >>> from tinynet.sklearn import TinyNetRegressor
    >>> X = np.linspace(-1, 1, 50).reshape(-1, 1)
    >>> reg = TinyNetRegressor(solver="lbfgs", random_state=0).fit(X, 2 * X.ravel() - 1)
    >>> bool(reg.score(X, 2 * X.ravel() - 1) > 0.99)
    True
    """
    )

    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {
        "loss": [StrOptions({"squared_error", "poisson"})],
        **MLPRegressor._parameter_constraints,
        **_EXTRA_CONSTRAINTS,
    }

    def __init__(
        self,
        loss: str = "squared_error",
        hidden_layer_sizes: Any = (100,),
        activation: str = "relu",
        *,
        solver: str = "adam",
        alpha: float = 0.0001,
        batch_size: int | str = "auto",
        learning_rate: str = "constant",
        learning_rate_init: float = 0.001,
        power_t: float = 0.5,
        max_iter: int = 200,
        shuffle: bool = True,
        random_state: int | np.random.RandomState | None = None,
        tol: float = 1e-4,
        verbose: bool | int = False,
        warm_start: bool = False,
        momentum: float = 0.9,
        nesterovs_momentum: bool = True,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-8,
        n_iter_no_change: int | float = 10,
        max_fun: int = 15000,
        dropout: float = 0.0,
        clip: float | None = None,
        batch_norm: bool = False,
        optimizer: str | Optimizer | None = None,
        dtype: Any = None,
        backend: str = "cython",
    ) -> None:
        self.loss = loss
        super().__init__(
            hidden_layer_sizes,
            activation,
            solver=solver,
            alpha=alpha,
            batch_size=batch_size,
            learning_rate=learning_rate,
            learning_rate_init=learning_rate_init,
            power_t=power_t,
            max_iter=max_iter,
            shuffle=shuffle,
            random_state=random_state,
            tol=tol,
            verbose=verbose,
            warm_start=warm_start,
            momentum=momentum,
            nesterovs_momentum=nesterovs_momentum,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=epsilon,
            n_iter_no_change=n_iter_no_change,
            max_fun=max_fun,
            dropout=dropout,
            clip=clip,
            batch_norm=batch_norm,
            optimizer=optimizer,
            dtype=dtype,
            backend=backend,
        )

    def _validate_input(
        self, X: Any, y: Any, incremental: bool, reset: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        X, y = validate_data(
            self,
            X,
            y,
            accept_sparse=["csr", "csc"],
            multi_output=True,
            y_numeric=True,
            dtype=(np.float64, np.float32),
            reset=reset,
        )
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if self.loss == "poisson" and np.min(y) < 0:
            raise ValueError(
                "Some value(s) of y are negative which is not allowed for Poisson regression."
            )
        return X, y

    def _output_activation(self) -> str:
        return "exp" if self.loss == "poisson" else "identity"

    def _reported_loss(self, logs: dict[str, float]) -> float:
        # scikit-learn's Poisson deviance is tinynet's: averaged over the rows, summed over
        # the outputs. Its squared error is averaged over the outputs as well as the rows
        # (its gradient is not): the data part of tinynet's loss divided by the outputs.
        if self.out_activation_ == "exp":
            return float(logs["loss"])
        penalty = float(logs.get("penalty", 0.0))
        return (float(logs["loss"]) - penalty) / self.n_outputs_ + penalty

    def _score_network(
        self, network: Network, X: np.ndarray, y: Any, sample_weight: np.ndarray | None
    ) -> float:
        output = network.predict(X)
        if not np.isfinite(output).all():
            return np.nan
        if output.shape[1] == 1:
            output = output.ravel()
        return float(r2_score(y, output, sample_weight=sample_weight))

    def predict(self, X: ArrayLike) -> np.ndarray:
        """Predict using the multi-layer perceptron model.

        Parameters
        ----------
        X : array_like or sparse matrix, shape (n_samples, n_features)
            The input data.

        Returns
        -------
        numpy.ndarray, shape (n_samples,) or (n_samples, n_outputs)
            The predicted values (1-D for one output).
        """
        output = self._forward(X)
        return output.ravel() if output.shape[1] == 1 else output

    @available_if(lambda estimator: estimator._check_solver())
    def partial_fit(
        self, X: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None
    ) -> TinyNetRegressor:
        """Update the model with a single iteration over the given data, continuing the
        optimizer's state: k calls are one fit of ``max_iter=k`` (``shuffle=False``).

        Parameters
        ----------
        X : array_like or sparse matrix, shape (n_samples, n_features)
            The input data.
        y : array_like, shape (n_samples,) or (n_samples, n_outputs)
            The target values.
        sample_weight : array_like, shape (n_samples,), optional
            Sample weights.

        Returns
        -------
        TinyNetRegressor
            This estimator.
        """
        result: TinyNetRegressor = self._fit(X, y, sample_weight=sample_weight, incremental=True)
        return result
