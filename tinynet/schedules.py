"""Learning-rate schedules: callables ``epoch -> rate`` for ``fit(..., learning_rate=...)``.

``fit`` evaluates its ``learning_rate``, when callable, once per epoch before handing the
epochs to the backend, ``epoch`` counting from 0 within the fit (or from where the previous
fit stopped, with ``resume=True``). Any callable will do; these are the common ones, in
PyTorch's closed forms (``StepLR``, ``CosineAnnealingLR``) and scikit-learn's inverse
scaling, per epoch:

>>> from tinynet import schedules
>>> rate = schedules.step(0.1, step_size=10, gamma=0.5)
>>> [rate(0), rate(9), rate(10), rate(25)]
[0.1, 0.1, 0.05, 0.025]
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tinynet._validation import check_int, check_positive_real, check_real

__all__ = ["Cosine", "InverseScaling", "Step", "cosine", "inverse_scaling", "step"]


def _epoch(epoch: object) -> int:
    return check_int("epoch", epoch, minimum=0)


@dataclass(frozen=True)
class Step:
    """``rate * gamma ** (epoch // step_size)``: made by :func:`step`."""

    rate: float
    step_size: int
    gamma: float

    def __call__(self, epoch: int) -> float:
        try:
            return self.rate * self.gamma ** (_epoch(epoch) // self.step_size)
        except OverflowError:  # gamma > 1 for very many epochs: a rate fit refuses
            return math.inf


@dataclass(frozen=True)
class Cosine:
    """``eta_min + (rate - eta_min) * (1 + cos(pi * epoch / t_max)) / 2``: made by
    :func:`cosine`."""

    rate: float
    t_max: int
    eta_min: float

    def __call__(self, epoch: int) -> float:
        cosine = 1 + math.cos(math.pi * _epoch(epoch) / self.t_max)
        return self.eta_min + (self.rate - self.eta_min) * cosine / 2


@dataclass(frozen=True)
class InverseScaling:
    """``rate / (epoch + 1) ** power_t``: made by :func:`inverse_scaling`."""

    rate: float
    power_t: float

    def __call__(self, epoch: int) -> float:
        return self.rate / (_epoch(epoch) + 1) ** self.power_t


def step(rate: float, step_size: int, gamma: float = 0.1) -> Step:
    """Decay the rate by ``gamma`` every ``step_size`` epochs (PyTorch's ``StepLR``).

    Parameters
    ----------
    rate : float
        The first epochs' rate, finite and positive.
    step_size : int
        Epochs between decays, at least 1.
    gamma : float, default 0.1
        The factor of each decay, finite and at least 0.

    Returns
    -------
    Step
        The schedule ``epoch -> rate * gamma ** (epoch // step_size)``.
    """
    return Step(
        check_positive_real("rate", rate),
        check_int("step_size", step_size, minimum=1),
        check_real("gamma", gamma, minimum=0.0),
    )


def cosine(rate: float, t_max: int, eta_min: float = 0.0) -> Cosine:
    """Cosine annealing from ``rate`` down to ``eta_min`` over ``t_max`` epochs (PyTorch's
    ``CosineAnnealingLR`` in its closed form, which climbs back after ``t_max``).

    Parameters
    ----------
    rate : float
        The rate of epoch 0, finite and positive.
    t_max : int
        The epoch at which the rate reaches ``eta_min``, at least 1.
    eta_min : float, default 0.0
        The lowest rate, finite and at least 0.

    Returns
    -------
    Cosine
        The schedule ``epoch -> eta_min + (rate - eta_min) * (1 + cos(pi * epoch / t_max)) / 2``.
    """
    return Cosine(
        check_positive_real("rate", rate),
        check_int("t_max", t_max, minimum=1),
        check_real("eta_min", eta_min, minimum=0.0),
    )


def inverse_scaling(rate: float, power_t: float = 0.5) -> InverseScaling:
    """The rate divided by a power of the epoch (scikit-learn's ``"invscaling"``, per epoch).

    Parameters
    ----------
    rate : float
        The rate of epoch 0, finite and positive.
    power_t : float, default 0.5
        The exponent, finite and at least 0.

    Returns
    -------
    InverseScaling
        The schedule ``epoch -> rate / (epoch + 1) ** power_t``.
    """
    return InverseScaling(
        check_positive_real("rate", rate), check_real("power_t", power_t, minimum=0.0)
    )
