"""Members across lanes: an ensemble's small networks trained in groups of
:data:`LANES`, one compiled call per group (``tinynet._core.train_members``,
``csrc/tinynet_road_members.hh``).

A member may join a group where its own fit would take the small networks' road
(:func:`tinynet._plan.small_road_lanes`: full batch, plain SGD with or without momentum,
no dropout, validation or sample weights) on all of the ensemble's ``X``, with a number for a
learning rate, no callbacks, and no fit to resume; the members of a group share ``clip``.
Each member then ends bit for bit where its own fit ends (weights, velocity, history), and
is committed to its network as that fit would commit it. A member that diverges in its
group is trained again on its own, so that it stops, as its fit stops, at its last finite
epoch and raises the same error.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from tinynet import _core
from tinynet._optimizers import TrainingState
from tinynet._plan import choices, small_road_lanes
from tinynet._settings import Training, history_keys
from tinynet.network import Network
from tinynet.optimizers import Optimizer

# Members per group.
LANES = int(_core.MEMBER_LANES)

# The fewest members worth a group: a group's epoch costs as much as its full width's (the
# blog's XOR, float64: about 2.8 single fits' epochs), however few lanes are used.
MIN_GROUP = 3


@dataclass(frozen=True)
class LaneFit:
    """One member's fit as a lane of a group: its index in the ensemble, its network, its
    checked options, and its fit alone (``alone()``, which raises the fit's errors)."""

    k: int
    member: Network
    optimizer: Optimizer
    training: Training
    alone: Callable[[], dict[int, FloatingPointError]]


def can_share_lanes(
    member: Network,
    training: Training,
    *,
    n_rows: int,
    whole_data: bool,
    schedule: bool,
    callbacks: bool,
    resumes: bool,
    validation: bool,
    weighted: bool,
) -> bool:
    """Whether a member's fit, with its ``training`` (optimizer and reduction filled in),
    may train in a group: see the module's docstring."""
    return (
        member.backend == "cython"
        and whole_data
        and not (schedule or callbacks or resumes)
        and small_road_lanes(
            member._architecture, training, n_rows, validation, choices(), weighted
        )
        > 0
    )


def groups(fits: Sequence[LaneFit]) -> list[list[LaneFit]]:
    """``fits`` (in index order) in groups of at most :data:`LANES` that share ``clip``."""
    by_clip: dict[float, list[LaneFit]] = {}
    for fit in fits:
        by_clip.setdefault(fit.training.clip, []).append(fit)
    return [
        same[start : start + LANES]
        for same in by_clip.values()
        for start in range(0, len(same), LANES)
    ]


def train_group(
    group: Sequence[LaneFit],
    X: np.ndarray,
    y: np.ndarray,
    *,
    epochs: int,
    nesterov: bool,
    member_done: Callable[[], None],
    begun: list[int],
) -> dict[int, FloatingPointError]:
    """Train ``group`` together and commit each member; returns the errors of the members
    that diverged (by ensemble index), each trained again alone. ``begun`` receives each
    member (by ensemble index) as its commit or its fit alone begins, and ``member_done``
    is called for each member committed. An exception from the call (Ctrl-C) leaves every
    member of the group as it was; one from a fit alone, the members not begun."""
    first = group[0].member
    dtype = first.dtype
    # Lanes beyond the group's members repeat its first one; their results are dropped.
    lanes = [group[min(m, len(group) - 1)] for m in range(LANES)]
    params = np.stack([fit.member._params for fit in lanes], axis=1)
    velocity = np.zeros_like(params)
    rates = np.array([fit.training.learning_rate for fit in lanes], dtype=dtype)
    momenta = np.array([fit.training.momentum for fit in lanes], dtype=dtype)
    l2s = np.array([fit.training.l2 for fit in lanes], dtype=dtype)
    history = np.empty((LANES, 2, epochs))  # every value written, or the group dropped
    diverged = np.zeros(LANES, dtype=np.intp)
    _core.train_members(
        X,
        y,
        params,
        velocity,
        first._architecture,
        rates,
        momenta,
        l2s,
        nesterov,
        group[0].training.clip,
        epochs,
        history,
        diverged,
    )
    errors: dict[int, FloatingPointError] = {}
    for m, fit in enumerate(group):
        begun.append(fit.k)
        if not diverged[m]:
            commit(fit, params[:, m], velocity[:, m], history[m], epochs)
            member_done()
            continue
        try:
            fit.alone()
        except FloatingPointError as error:
            errors[fit.k] = error
    return errors


def commit(
    fit: LaneFit, params: np.ndarray, velocity: np.ndarray, measures: np.ndarray, epochs: int
) -> None:
    """Hand member ``fit`` what its own fit would have: ``params``, its velocity as the
    optimizer's state (with momentum), one update per epoch, and the history of
    ``measures`` (the loss, then the mean absolute error, of every epoch)."""
    member = fit.member
    n_params = len(params)
    slots = (
        np.stack([velocity, np.zeros_like(velocity)])
        if fit.training.momentum != 0
        else np.zeros((0, n_params), dtype=member.dtype)
    )
    # Rows of the group's array, not copies: each member's are its own rows.
    history = dict(zip(history_keys(False), measures, strict=True))
    state = TrainingState(slots, epochs, np.zeros(0, dtype=member.dtype))
    with member._lock:
        finish = functools.partial(member._commit, fit.optimizer, member._fits, 0, False)
        finish(params.copy(), state, history, final=True, epochs=epochs)
