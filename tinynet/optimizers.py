"""The update rules of :meth:`tinynet.Network.fit`, as values: ``fit(..., optimizer=Adam())``.

Each class is a frozen dataclass of checked hyperparameters; ``fit`` also takes their names
(``"sgd"``, ``"adam"``, ``"adamw"``, ``"rmsprop"``, ``"lbfgs"``) for the defaults. In the
formulas, ``g`` is the gradient of the fit's loss (summed over the batch, times the sample
weights) plus ``l2`` times the weight (biases, batch-norm scales and shifts get no ``l2``),
all divided by the batch's weight with ``fit(..., reduction="mean")``,
``lr`` the epoch's learning rate and ``t`` the number of updates so far, counting this one.
The formulas are PyTorch's (``torch.optim``), except SGD's, which is tinynet's own.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

from tinynet._validation import check_bool, check_int, check_real

# The names fit's optimizer argument takes, each with its class below.
OPTIMIZER_NAMES = ("sgd", "adam", "adamw", "rmsprop", "lbfgs")


class Optimizer:
    """The base of the optimizer classes: their ``name`` and checks."""

    name: ClassVar[str]

    def hyperparameters(self) -> dict[str, Any]:
        """The hyperparameters by name, as plain Python values."""
        # Shallow: every hyperparameter is a number or a bool (asdict would deep-copy them).
        return {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}  # type: ignore[arg-type]

    def training_fields(self) -> dict[str, Any]:
        """The fields of :class:`tinynet._settings.Training` this optimizer sets."""
        return {"optimizer": self.name, **self.hyperparameters()}


def _fraction(name: str, value: Any) -> float:
    """``value`` in ``[0, 1)``, as a float."""
    return check_real(name, value, minimum=0.0, below=1.0)


def _set(instance: Any, name: str, value: Any) -> None:
    object.__setattr__(instance, name, value)  # a frozen dataclass's field, after its check


@dataclass(frozen=True)
class SGD(Optimizer):
    """Stochastic gradient descent, tinynet's form of it (the default).

    Each update is ``v = momentum * v + lr * (-g)`` and ``w += v`` (classical momentum), or
    ``w += momentum * v + lr * (-g)`` (Nesterov's); without momentum, ``w -= lr * g``.

    Parameters
    ----------
    momentum : float, default 0.0
        In ``[0, 1)``.
    nesterov : bool, default False
        Nesterov's momentum instead of the classical one.
    """

    name: ClassVar[str] = "sgd"
    momentum: float = 0.0
    nesterov: bool = False

    def __post_init__(self) -> None:
        _set(self, "momentum", _fraction("momentum", self.momentum))
        _set(self, "nesterov", check_bool("nesterov", self.nesterov))


@dataclass(frozen=True, repr=False)
class Adam(Optimizer):
    """Adam (Kingma and Ba), as ``torch.optim.Adam``.

    Each update is ``m = beta_1 * m + (1 - beta_1) * g``, ``v = beta_2 * v + (1 - beta_2) *
    g**2`` and ``w -= lr / (1 - beta_1**t) * m / (sqrt(v) / sqrt(1 - beta_2**t) + epsilon)``,
    ``m`` and ``v`` starting at zero, ``t`` counting the updates of the whole network. With
    ``epsilon_hat=True`` the last step is ``w -= lr * sqrt(1 - beta_2**t) / (1 - beta_1**t)
    * m / (sqrt(v) + epsilon)``: Kingma and Ba's "epsilon hat", added to the root of the
    uncorrected second moment, as scikit-learn's MLP and TensorFlow take it.

    Parameters
    ----------
    beta_1 : float, default 0.9
        The first moment's decay, in ``[0, 1)``.
    beta_2 : float, default 0.999
        The second moment's decay, in ``[0, 1)``.
    epsilon : float, default 1e-8
        Added to the denominator, at least 0.
    epsilon_hat : bool, default False
        Add ``epsilon`` to ``sqrt(v)`` before the bias correction (scikit-learn's and
        TensorFlow's form) instead of after it (PyTorch's). Keyword only.
    """

    name: ClassVar[str] = "adam"
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = 1e-8
    _: dataclasses.KW_ONLY
    epsilon_hat: bool = False

    def __post_init__(self) -> None:
        _set(self, "beta_1", _fraction("beta_1", self.beta_1))
        _set(self, "beta_2", _fraction("beta_2", self.beta_2))
        _set(self, "epsilon", check_real("epsilon", self.epsilon, minimum=0.0))
        _set(self, "epsilon_hat", check_bool("epsilon_hat", self.epsilon_hat))

    def hyperparameters(self) -> dict[str, Any]:
        # epsilon_hat only when set: a network saved after a fit with the default form reads
        # in the tinynet versions before it.
        values = super().hyperparameters()
        if not self.epsilon_hat:
            del values["epsilon_hat"]
        return values

    def __repr__(self) -> str:
        # epsilon_hat only when set, likewise.
        fields = sorted(dataclasses.fields(self), key=lambda field: field.kw_only is True)
        shown = [f for f in fields if f.name != "epsilon_hat" or self.epsilon_hat]
        arguments = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in shown)
        return f"{type(self).__name__}({arguments})"

    def training_fields(self) -> dict[str, Any]:
        return {**super().training_fields(), "weight_decay": 0.0}


@dataclass(frozen=True, repr=False)
class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov and Hutter), as ``torch.optim.AdamW``.

    Each update first decays the weights, ``w -= lr * weight_decay * w`` (not the biases, nor
    the batch-norm scales and shifts), then takes :class:`Adam`'s step with the gradient
    at the weights before the decay.

    Parameters
    ----------
    beta_1, beta_2, epsilon : float
        As :class:`Adam`'s.
    weight_decay : float, default 0.01
        At least 0.
    epsilon_hat : bool, default False
        As :class:`Adam`'s. Keyword only.
    """

    name: ClassVar[str] = "adamw"
    weight_decay: float = 0.01

    def __post_init__(self) -> None:
        super().__post_init__()
        _set(self, "weight_decay", check_real("weight_decay", self.weight_decay, minimum=0.0))

    def training_fields(self) -> dict[str, Any]:
        return Optimizer.training_fields(self)


@dataclass(frozen=True)
class RMSprop(Optimizer):
    """RMSprop (Hinton), as ``torch.optim.RMSprop`` (not centered).

    Each update is ``s = rho * s + (1 - rho) * g**2`` and, without momentum, ``w -= lr * g /
    (sqrt(s) + epsilon)``; with it, ``b = momentum * b + g / (sqrt(s) + epsilon)`` and
    ``w -= lr * b``.

    Parameters
    ----------
    rho : float, default 0.99
        The mean square's decay (PyTorch's ``alpha``), in ``[0, 1)``.
    epsilon : float, default 1e-8
        Added to the square root, at least 0.
    momentum : float, default 0.0
        In ``[0, 1)``.
    """

    name: ClassVar[str] = "rmsprop"
    rho: float = 0.99
    epsilon: float = 1e-8
    momentum: float = 0.0

    def __post_init__(self) -> None:
        _set(self, "rho", _fraction("rho", self.rho))
        _set(self, "epsilon", check_real("epsilon", self.epsilon, minimum=0.0))
        _set(self, "momentum", _fraction("momentum", self.momentum))


@dataclass(frozen=True)
class LBFGS(Optimizer):
    """L-BFGS on the full batch, by ``scipy.optimize.minimize(method="L-BFGS-B")``.

    It minimises the fit's loss (summed over the rows, times the sample weights, plus
    ``l2 / 2`` times the sum of the squared weights) over all the parameters at once, one
    epoch being one of its iterations, as scikit-learn's ``MLPClassifier(solver="lbfgs")``:
    ``epochs`` is its ``maxiter``. It needs no learning rate, batches or momentum.

    Parameters
    ----------
    max_fun : int, default 15000
        The most evaluations of the loss and its gradient (scipy's ``maxfun``).
    tol : float, default 1e-7
        Stop when no gradient component exceeds it (scipy's ``gtol``), at least 0.
    """

    name: ClassVar[str] = "lbfgs"
    max_fun: int = 15000
    tol: float = 1e-7

    def __post_init__(self) -> None:
        _set(self, "max_fun", check_int("max_fun", self.max_fun, minimum=1))
        _set(self, "tol", check_real("tol", self.tol, minimum=0.0))

    def training_fields(self) -> dict[str, Any]:
        raise TypeError("L-BFGS is run by scipy, not by a backend's Trainer")


CLASSES: dict[str, type[Optimizer]] = {cls.name: cls for cls in (SGD, Adam, AdamW, RMSprop, LBFGS)}


def resolve(optimizer: Any, momentum: float, nesterov: bool) -> Optimizer:
    """``fit``'s ``optimizer`` as an instance, given its checked ``momentum`` and ``nesterov``
    (which belong to ``"sgd"``: other optimizers refuse them, and an :class:`SGD` instance
    must agree with them or leave them at their defaults)."""
    if isinstance(optimizer, str):
        if optimizer not in CLASSES:
            raise ValueError(
                f"optimizer must be one of {', '.join(map(repr, OPTIMIZER_NAMES))} or an "
                f"instance of tinynet.SGD, Adam, AdamW, RMSprop or LBFGS; got {optimizer!r}"
            )
        optimizer = SGD(momentum, nesterov) if optimizer == "sgd" else CLASSES[optimizer]()
    elif not isinstance(optimizer, Optimizer) or type(optimizer) not in CLASSES.values():
        raise TypeError(
            "optimizer must be a name or an instance of tinynet.SGD, Adam, AdamW, RMSprop or "
            f"LBFGS; got {optimizer!r}"
        )
    if isinstance(optimizer, SGD):
        for name, given, own in (
            ("momentum", momentum, optimizer.momentum),
            ("nesterov", nesterov, optimizer.nesterov),
        ):
            if given != own and given != SGD.__dataclass_fields__[name].default:
                raise ValueError(
                    f"{name}={given!r} conflicts with the optimizer's {name}={own!r}: give it "
                    "once, to fit or to tinynet.SGD"
                )
    elif momentum != 0.0 or nesterov:
        raise ValueError(
            f"momentum and nesterov are SGD's; optimizer {optimizer.name!r} takes none "
            "(RMSprop's momentum: tinynet.RMSprop(momentum=...))"
        )
    return optimizer
