"""A network's state as plain data — names, numbers and arrays — and its checks.

This record is what a pickle of a :class:`tinynet.Network` holds and what a saved file
stores (see :mod:`tinynet._files`). Whatever it comes from, it is checked entry by entry
before a network is made of it, so a tampered or corrupt record gets an error, not a
network that reads out of bounds.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tinynet._layout import hidden_sizes, n_params, split_statistics
from tinynet._optimizers import N_SLOTS
from tinynet._settings import BACKEND_NAMES, INITS, history_keys
from tinynet._validation import (
    SUPPORTED_DTYPES,
    all_finite,
    check_architecture,
    check_choice,
    check_dtype,
    check_int,
)
from tinynet.optimizers import CLASSES, OPTIMIZER_NAMES

# The version of the record's layout written now; a reader reads it and the versions in
# META_KEYS_OF, and refuses any other. Version 2 added batch normalisation, the optimizer's
# state and what a resumed fit continues (see RESUME_KEYS).
STATE_VERSION = 2

# The entries of a version 1 record, each with its kind: "meta" entries are JSON-compatible.
META_KEYS_V1 = (
    "version",
    "layers",
    "activation",
    "output",
    "bias",
    "dtype",
    "backend",
    "init",
    "key",
    "fits",
    "history_keys",
)
ARRAY_KEYS_V1 = ("params", "history")
# Version 2's entries: batch normalisation's options, the optimizer's update count and what
# a fit with resume=True continues (None before any fit), the optimizer's slots (shape
# (2, n_params), or (0, n_params) for none) and the running statistics.
META_KEYS = (
    *META_KEYS_V1,
    "batch_norm",
    "batch_norm_momentum",
    "batch_norm_epsilon",
    "updates",
    "resume",
)
ARRAY_KEYS = (*ARRAY_KEYS_V1, "slots", "statistics")
META_KEYS_OF = {1: META_KEYS_V1, 2: META_KEYS}
ARRAY_KEYS_OF = {1: ARRAY_KEYS_V1, 2: ARRAY_KEYS}
# The resume entry: the last fit's optimizer (its name and hyperparameters), the number of
# the fit whose random streams a resumed fit continues, and the epochs trained since it began.
RESUME_KEYS = ("optimizer", "hyperparameters", "fit", "epochs")


def check_state(state: Any) -> dict[str, Any]:
    """``state`` checked, with its arrays converted to native byte order; a version 1 record
    becomes a version 2 one (no batch normalisation, no optimizer state, nothing to resume).

    Raises
    ------
    TypeError, ValueError
        Naming the entry that is missing, of the wrong type or out of range.
    """
    if not isinstance(state, dict):
        raise TypeError(f"a network's state must be a dict, got {type(state).__name__}")
    if "version" not in state:
        raise ValueError("the state's entries differ: missing ['version']")
    version = check_int("version", state["version"], minimum=0)
    if version not in META_KEYS_OF:
        raise ValueError(
            f"version {version} is not supported; this tinynet reads versions "
            f"{', '.join(map(str, META_KEYS_OF))}"
        )
    expected = set(META_KEYS_OF[version] + ARRAY_KEYS_OF[version])
    if set(state) != expected:
        missing, extra = sorted(expected - set(state)), sorted(set(state) - expected)
        raise ValueError(f"the state's entries differ: missing {missing}, unexpected {extra}")
    if version == 1:
        state = {**state, "batch_norm": False, "batch_norm_momentum": 0.1}
        state["batch_norm_epsilon"] = 1e-5
    architecture = check_architecture(
        state["layers"],
        state["activation"],
        state["output"],
        state["bias"],
        state["batch_norm"],
        state["batch_norm_momentum"],
        state["batch_norm_epsilon"],
    )
    layer_sizes, bias = architecture.layer_sizes, architecture.bias
    batch_norm = architecture.batch_norm
    dtype_names = tuple(dtype.name for dtype in SUPPORTED_DTYPES)
    dtype = check_dtype(check_choice("dtype", state["dtype"], dtype_names))
    key = check_int("key", state["key"], minimum=0)
    if key >= 2**64:
        raise ValueError(f"key must be below 2**64, got {key}")
    fits = check_int("fits", state["fits"], minimum=0)
    measures = state["history_keys"]
    choices = [
        history_keys(validation, penalty)
        for penalty in (False, True)
        for validation in (False, True)
    ]
    if not isinstance(measures, (list, tuple)) or tuple(measures) not in choices:
        raise ValueError(f"history_keys must be one of {', '.join(str(list(c)) for c in choices)}")
    size = n_params(layer_sizes, bias, batch_norm)
    params = check_float_array("params", state["params"], dtype, (size,))
    if version == 1:
        slots = np.zeros((0, size), dtype=dtype)
        statistics = np.zeros(0, dtype=dtype)
        updates, resume = 0, None
    else:
        slots = check_float_array("slots", state["slots"], dtype, (None, size))
        if len(slots) not in (0, N_SLOTS):
            raise ValueError(f"slots must have 0 or {N_SLOTS} rows, got {len(slots)}")
        n_statistics = 2 * sum(hidden_sizes(layer_sizes)) if batch_norm else 0
        statistics = check_float_array("statistics", state["statistics"], dtype, (n_statistics,))
        # Zero is a variance (a unit constant over the batch; epsilon keeps the division finite).
        if any((variance < 0).any() for _, variance in split_statistics(statistics, layer_sizes)):
            raise ValueError("statistics: every running variance must be non-negative")
        updates = check_int("updates", state["updates"], minimum=0)
        resume = check_resume(state["resume"], fits)
        if resume is None and (len(slots) or updates):
            raise ValueError("slots and updates need a resume entry (the fit they come from)")
    return {
        "version": STATE_VERSION,
        "layers": layer_sizes.tolist(),
        "activation": architecture.activation,
        "output": architecture.output,
        "bias": bias,
        "dtype": dtype.name,
        "backend": check_choice("backend", state["backend"], BACKEND_NAMES),
        "init": check_choice("init", state["init"], INITS),
        "key": key,
        "fits": fits,
        "history_keys": list(measures),
        "batch_norm": batch_norm,
        "batch_norm_momentum": architecture.batch_norm_momentum,
        "batch_norm_epsilon": architecture.batch_norm_epsilon,
        "updates": updates,
        "resume": resume,
        "params": params,
        "history": check_float_array(
            "history", state["history"], np.dtype(np.float64), (None, len(measures))
        ),
        "slots": slots,
        "statistics": statistics,
    }


def check_resume(resume: Any, fits: int) -> dict[str, Any] | None:
    """The ``resume`` entry: None, or what the last of ``fits`` fits leaves to a resumed
    one (see :data:`RESUME_KEYS`), its hyperparameters checked by the optimizer's class."""
    if resume is None:
        return None
    if not isinstance(resume, dict) or set(resume) != set(RESUME_KEYS):
        raise ValueError(f"resume must be None or a dict with the entries {list(RESUME_KEYS)}")
    name = check_choice("resume['optimizer']", resume["optimizer"], OPTIMIZER_NAMES)
    hyperparameters = resume["hyperparameters"]
    if not isinstance(hyperparameters, dict):
        raise TypeError("resume['hyperparameters'] must be a dict")
    try:
        optimizer = CLASSES[name](**hyperparameters)
    except TypeError as error:  # a missing or unexpected name
        raise ValueError(f"resume['hyperparameters']: {error}") from error
    fit = check_int("resume['fit']", resume["fit"], minimum=0)
    if fit >= fits:
        raise ValueError(f"resume['fit'] must be below fits ({fits}), got {fit}")
    return {
        "optimizer": name,
        "hyperparameters": optimizer.hyperparameters(),
        "fit": fit,
        "epochs": check_int("resume['epochs']", resume["epochs"], minimum=0),
    }


def check_float_array(
    name: str, array: Any, dtype: np.dtype, shape: tuple[int | None, ...]
) -> np.ndarray:
    """``array``, a finite ndarray of ``dtype`` (in either byte order) and ``shape`` (None:
    any length), as a new C-contiguous array in native byte order."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(array).__name__}")
    if array.dtype.kind != "f" or array.dtype.itemsize != dtype.itemsize:
        raise ValueError(f"{name} must have dtype {dtype}, got {array.dtype}")
    if array.ndim != len(shape) or any(
        want is not None and got != want for got, want in zip(array.shape, shape, strict=True)
    ):
        expected = tuple("any" if want is None else want for want in shape)
        raise ValueError(f"{name} must have shape {expected}, got {array.shape}")
    converted = np.array(array, dtype=dtype, order="C")
    if not all_finite(converted):
        raise ValueError(f"{name} holds NaN or infinite values")
    return converted
