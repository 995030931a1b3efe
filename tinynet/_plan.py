"""A fit's plan: everything the compiled core decides before the fit's first epoch.

:func:`make_plan` is the one place that decides, from the network, the fit's options and the
machine choices in force, which road the fit takes (the general loop, or the small networks'
road with its padded layout), which BLAS library the matrix products go to and from what
size, and which instruction set the kernels run in. The compiled ``Trainer`` keeps
the plan and reads no other setting.

The machine choices have process defaults, chosen when tinynet is imported: the small road
where the compiler built it, numpy's bundled BLAS if the core found it (else scipy's), the
widest instruction set the CPU runs, and the crossover of ``csrc/tinynet_blas.hh`` (100
multiply-adds, measured by ``python -m benchmarks.crossover``). :func:`forced` overrides
them for the fits and predictions made inside a block, in the current thread only (a context
variable: other threads keep the defaults, unless Python starts threads with a copy of the
current context, as free-threaded builds do by default), for tests and benchmarks.
"""

from __future__ import annotations

import contextvars
import dataclasses
import functools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from tinynet import _core
from tinynet._layout import batch_norm_offsets, synapse_shapes
from tinynet._layout import offsets as synapse_offsets
from tinynet._settings import Architecture, Training

# The output activations the small road computes (its deltas are squared errors).
SMALL_ROAD_OUTPUTS = ("sigmoid", "linear")


@dataclass(frozen=True)
class Choices:
    """What a fit runs on: whether small networks may take their own road, the BLAS library
    of the matrix products (one of ``_core.blas_libraries()``), the number of multiply-adds
    from which a product goes to it, and the kernels' instruction set (one of
    ``_core.instruction_sets()``); whether big enough batches may be split over two threads,
    and whether the smallest networks on the small road may run all their epochs in one
    compiled call with their weights held in registers."""

    small_road: bool
    blas_library: str
    blas_crossover: int
    instruction_set: str
    split_batches: bool = True
    whole_runs: bool = True


DEFAULTS = Choices(
    small_road=_core.SMALL_ROAD_BUILT,
    blas_library=_core.blas_libraries()[0],
    blas_crossover=_core.DEFAULT_BLAS_CROSSOVER,
    instruction_set=_core.instruction_sets()[-1],
)

# Splitting each batch's rows over the fit's two threads (csrc/tinynet_helper.hh) pays from
# about this many multiply-adds in a batch's forward pass (1797 x 64-100-10 in batches of 200,
# scikit-learn's digits: 1.5 million, 1.35 -> 0.95 ms an epoch; 569 x 30-100-2: 0.6 million,
# slower split), in batches of any size (full-batch fits gain too: 1797 x 64-32-10 0.43 ->
# 0.31 ms an epoch, 4000 x 128-64-10 4.1 -> 2.2, 16000 x 20-100-2 9.0 -> 6.0, against
# OpenBLAS's own two threads), on synapses of at most SPLIT_MAX_WEIGHTS weights (each half
# computes its part of every weight's step, so that wider synapses, 784 x 128, gained
# nothing; with the helper also taking half of each wide synapse's Adam update they gained
# about 10% in a process of their own, but a fit started within about 0.1 s of a product on
# OpenBLAS's two threads, whose idle worker then spins on the other core, kept its batches
# on one BLAS thread and took 1.5-2.0x SGD's epoch instead of 1.3-1.4x unsplit). A split
# fit's numbers do not depend on the threads: two such fits at once each keep to their own
# core, with the numbers of either alone.
SPLIT_MIN_WORK = 1 << 20
SPLIT_MAX_WEIGHTS = 1 << 14

_forced: contextvars.ContextVar[Choices] = contextvars.ContextVar("tinynet_choices")


def choices() -> Choices:
    """The choices a fit or prediction started here would run with."""
    return _forced.get(DEFAULTS)


@contextmanager
def forced(
    *,
    small_road: bool | None = None,
    blas_library: str | None = None,
    instruction_set: str | None = None,
    blas_crossover: int | None = None,
    split_batches: bool | None = None,
    whole_runs: bool | None = None,
) -> Iterator[Choices]:
    """Run the fits and predictions started in this block, in this thread, with these
    choices instead of the current ones (``None``: keep it).

    Parameters
    ----------
    small_road : bool, optional
        Whether small networks may take their own road (never where it was not built).
    blas_library : str, optional
        One of ``_core.blas_libraries()``.
    instruction_set : str, optional
        One of ``_core.instruction_sets()``: those this CPU runs.
    blas_crossover : int, optional
        The number of multiply-adds from which a product goes to BLAS; 0 sends all.
    split_batches : bool, optional
        Whether big enough batches may be split over two threads (see ``splits_batches``).
    whole_runs : bool, optional
        Whether the smallest networks on the small road may run whole (see ``runs_whole``).

    Yields
    ------
    Choices
        The choices in force inside the block.
    """
    current = choices()
    changes: dict[str, Any] = {}
    if small_road is not None:
        if not isinstance(small_road, (bool, np.bool_)):
            raise TypeError(f"small_road must be a bool or None, got {small_road!r}")
        changes["small_road"] = bool(small_road) and _core.SMALL_ROAD_BUILT
    if blas_library is not None:
        if not isinstance(blas_library, str):
            raise TypeError(f"blas_library must be a str or None, got {blas_library!r}")
        if blas_library not in _core.blas_libraries():
            raise ValueError(
                f"blas_library: BLAS library {blas_library!r} is not available here: "
                f"{_core.blas_libraries()}"
            )
        changes["blas_library"] = blas_library
    if instruction_set is not None:
        if not isinstance(instruction_set, str):
            raise TypeError(f"instruction_set must be a str or None, got {instruction_set!r}")
        if instruction_set not in _core.INSTRUCTION_SETS:
            raise ValueError(f"instruction_set: unknown instruction set {instruction_set!r}")
        if instruction_set not in _core.instruction_sets():
            raise ValueError(f"instruction_set {instruction_set!r}: this CPU does not run it")
        changes["instruction_set"] = instruction_set
    if blas_crossover is not None:
        if isinstance(blas_crossover, bool) or not isinstance(blas_crossover, (int, np.integer)):
            raise TypeError(f"blas_crossover must be an int or None, got {blas_crossover!r}")
        if blas_crossover < 0:
            raise ValueError(f"blas_crossover must be at least 0, got {blas_crossover}")
        changes["blas_crossover"] = int(blas_crossover)
    if split_batches is not None:
        if not isinstance(split_batches, (bool, np.bool_)):
            raise TypeError(f"split_batches must be a bool or None, got {split_batches!r}")
        changes["split_batches"] = bool(split_batches)
    if whole_runs is not None:
        if not isinstance(whole_runs, (bool, np.bool_)):
            raise TypeError(f"whole_runs must be a bool or None, got {whole_runs!r}")
        changes["whole_runs"] = bool(whole_runs)
    chosen = dataclasses.replace(current, **changes)
    token = _forced.set(chosen)
    try:
        yield chosen
    finally:
        _forced.reset(token)


def read_only(values: list[int]) -> np.ndarray:
    """An ``intp`` array of ``values`` that cannot be written to: a plan does not change."""
    array = np.array(values, dtype=np.intp)
    array.setflags(write=False)
    return array


@dataclass(frozen=True)
class Plan:
    """How one fit (or prediction) runs in the compiled core.

    ``offsets[i]`` is where synapse ``i``'s block starts in the parameter vector (the last
    entry its length; see :mod:`tinynet._layout`). ``lanes`` is 0 for the general loop, or
    the padded width (4 or ``SMALL_MAX_UNITS``) of every row on the small networks' road,
    whose padded weights hold synapse ``i``'s rows (weights, then biases) from
    ``padded_offsets[i]`` and, for ``i >= 1``, its columns from ``transposed_offsets[i]``,
    ``padded_size`` elements in all; ``whole_run``: the run's epochs go in one compiled
    call, with the weights in registers (see :func:`runs_whole`). ``norm_offsets[h]`` is
    where hidden layer ``h``'s batch-normalisation scales start (see
    ``_layout.batch_norm_offsets``).
    """

    machine: Choices
    offsets: np.ndarray
    norm_offsets: np.ndarray
    lanes: int = 0
    padded_offsets: np.ndarray = dataclasses.field(default_factory=lambda: read_only([]))
    transposed_offsets: np.ndarray = dataclasses.field(default_factory=lambda: read_only([]))
    padded_size: int = 0
    split: bool = False
    whole_run: bool = False

    @property
    def road(self) -> str:
        """``"small"`` or ``"general"``."""
        return "small" if self.lanes else "general"


def small_road_lanes(
    architecture: Architecture,
    training: Training,
    n_rows: int,
    validation: bool,
    machine: Choices,
    weighted: bool = False,
) -> int:
    """The padded width of the small networks' road for this fit, or 0 if it does not take
    it: full batches of a network no wider than ``SMALL_MAX_UNITS``, without dropout or
    validation data, sample weights or batch normalisation, trained by plain SGD (with or
    without momentum) on the summed gradient (reduction ``"sum"``), with a sigmoid or
    linear output, and every product below the BLAS crossover, where the general loop makes
    them in its own loops and in the same order, so that the two roads (and ``predict``,
    which takes the general one) give identical results. That last condition also bounds
    the rows, to fewer than the crossover."""
    sizes = [int(size) for size in architecture.layer_sizes]
    widest = max(sizes)
    biggest_product = n_rows * max(k * j for k, j in synapse_shapes(sizes))
    if (
        not machine.small_road
        or training.batch_size < n_rows
        or training.dropout > 0
        or validation
        or weighted
        or architecture.batch_norm
        or training.optimizer != "sgd"
        or training.reduction != "sum"
        or architecture.output not in SMALL_ROAD_OUTPUTS
        or widest > _core.SMALL_MAX_UNITS
        or biggest_product >= machine.blas_crossover
    ):
        return 0
    return 4 if widest <= 4 else _core.SMALL_MAX_UNITS


def runs_whole(
    architecture: Architecture, training: Training, n_rows: int, lanes: int, machine: Choices
) -> bool:
    """Whether a fit on the small road (rows of ``lanes``) runs whole, all its epochs in one
    compiled call with the weights in registers (``csrc/tinynet_road_tiny.hh``), where the
    machine choices allow: one hidden layer of at most 4 units over at most 4 inputs, one
    output unit, at most ``_core.TINY_ROWS`` rows, no momentum, no clipping. The blog's
    3-4-1 on its XOR table is such a fit; its epoch is the chain of its arithmetic, which
    the small road's epoch lengthens by passing the layers and weights through memory."""
    sizes = [int(size) for size in architecture.layer_sizes]
    return (
        machine.whole_runs
        and lanes == 4
        and len(sizes) == 3
        and sizes[2] == 1
        and n_rows <= _core.TINY_ROWS
        and training.momentum == 0
        and training.clip == 0
    )


def splits_batches(architecture: Architecture, training: Training) -> bool:
    """Whether the general loop splits each batch's rows over two threads: the fit's own
    and its batch helper, each making its half's products on one BLAS thread (the helper's
    part of every step added to the fit's, in that order, so that the numbers do not depend
    on which thread trains the half, or on the number of cores). For batches of two rows or
    more whose forward pass takes SPLIT_MIN_WORK multiply-adds or more, on synapses of at
    most SPLIT_MAX_WEIGHTS weights, without batch normalisation or dropout, and where the
    choices in force allow."""
    shapes = synapse_shapes([int(size) for size in architecture.layer_sizes])
    return (
        choices().split_batches
        and not architecture.batch_norm
        and training.dropout == 0
        and training.batch_size >= 2
        and training.batch_size * sum(k * j for k, j in shapes) >= SPLIT_MIN_WORK
        and max(k * j for k, j in shapes) <= SPLIT_MAX_WEIGHTS
    )


def make_plan(
    architecture: Architecture,
    training: Training,
    n_rows: int,
    validation: bool,
    weighted: bool = False,
) -> Plan:
    """The plan of a fit on ``n_rows`` rows (``validation``: with validation data;
    ``weighted``: with sample weights), under the choices in force."""
    machine = choices()
    sizes = [int(size) for size in architecture.layer_sizes]
    offsets, norm_offsets = layout_of(tuple(sizes), bool(architecture.bias))
    lanes = small_road_lanes(architecture, training, n_rows, validation, machine, weighted)
    if not lanes:
        return Plan(machine, offsets, norm_offsets, split=splits_batches(architecture, training))
    # Every synapse's rows (k weights and a bias), then the columns (j) of synapses 1..,
    # one padded row each, laid end to end.
    padded_offsets, at = [], 0
    for k in sizes[:-1]:
        padded_offsets.append(at)
        at += (k + architecture.bias) * lanes
    padded_offsets.append(at)
    transposed_offsets = [at]  # entry 0 is not used: the first synapse has no columns
    for j in sizes[2:]:
        transposed_offsets.append(at)
        at += j * lanes
    return Plan(
        machine,
        offsets,
        norm_offsets,
        lanes,
        read_only(padded_offsets),
        read_only(transposed_offsets),
        at,
        whole_run=runs_whole(architecture, training, n_rows, lanes, machine),
    )


def forward_plan(architecture: Architecture) -> Plan:
    """The plan of a prediction: the general loop's forward pass."""
    sizes = tuple(int(size) for size in architecture.layer_sizes)
    return Plan(choices(), *layout_of(sizes, bool(architecture.bias)))


@functools.lru_cache(maxsize=256)
def layout_of(sizes: tuple[int, ...], bias: bool) -> tuple[np.ndarray, np.ndarray]:
    """The synapses' and the batch-normalisation parameters' offsets of a network of
    ``sizes``, read-only (so that plans may share them: every fit and prediction of a
    network would otherwise compute the same two arrays)."""
    return (
        read_only(synapse_offsets(list(sizes), bias)),
        read_only(batch_norm_offsets(list(sizes), bias)),
    )
