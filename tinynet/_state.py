"""A network's state as plain data — names, numbers and arrays — and its checks.

This record is what a pickle of a :class:`tinynet.Network` holds and what a saved file
stores (see :mod:`tinynet._files`). Whatever it comes from, it is checked entry by entry
before a network is made of it, so a tampered or corrupt record gets an error, not a
network that reads out of bounds.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tinynet._layout import n_params
from tinynet._settings import BACKEND_NAMES, INITS, history_keys
from tinynet._validation import (
    SUPPORTED_DTYPES,
    all_finite,
    check_architecture,
    check_choice,
    check_dtype,
    check_int,
)

# The version of the record's layout; a reader refuses records of any other version.
STATE_VERSION = 1

# The entries of a record, each with its kind: "meta" entries are JSON-compatible.
META_KEYS = (
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
ARRAY_KEYS = ("params", "history")


def check_state(state: Any) -> dict[str, Any]:
    """``state`` checked, with its arrays converted to native byte order.

    Raises
    ------
    TypeError, ValueError
        Naming the entry that is missing, of the wrong type or out of range.
    """
    if not isinstance(state, dict):
        raise TypeError(f"a network's state must be a dict, got {type(state).__name__}")
    expected = set(META_KEYS + ARRAY_KEYS)
    if set(state) != expected:
        missing, extra = sorted(expected - set(state)), sorted(set(state) - expected)
        raise ValueError(f"the state's entries differ: missing {missing}, unexpected {extra}")
    version = check_int("version", state["version"], minimum=0)
    if version != STATE_VERSION:
        raise ValueError(
            f"version {version} is not supported; this tinynet reads version {STATE_VERSION}"
        )
    architecture = check_architecture(
        state["layers"], state["activation"], state["output"], state["bias"]
    )
    layer_sizes, bias = architecture.layer_sizes, architecture.bias
    dtype_names = tuple(dtype.name for dtype in SUPPORTED_DTYPES)
    dtype = check_dtype(check_choice("dtype", state["dtype"], dtype_names))
    key = check_int("key", state["key"], minimum=0)
    if key >= 2**64:
        raise ValueError(f"key must be below 2**64, got {key}")
    measures = state["history_keys"]
    choices = [history_keys(validation) for validation in (False, True)]
    if not isinstance(measures, (list, tuple)) or tuple(measures) not in choices:
        raise ValueError(f"history_keys must be {list(choices[0])} or {list(choices[1])}")
    return {
        "version": version,
        "layers": layer_sizes.tolist(),
        "activation": architecture.activation,
        "output": architecture.output,
        "bias": bias,
        "dtype": dtype.name,
        "backend": check_choice("backend", state["backend"], BACKEND_NAMES),
        "init": check_choice("init", state["init"], INITS),
        "key": key,
        "fits": check_int("fits", state["fits"], minimum=0),
        "history_keys": list(measures),
        "params": check_float_array(
            "params", state["params"], dtype, (n_params(layer_sizes, bias),)
        ),
        "history": check_float_array(
            "history", state["history"], np.dtype(np.float64), (None, len(measures))
        ),
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
