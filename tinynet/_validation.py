"""Checks and conversions at the public boundary, done before any compiled code runs.

Every function raises a ``TypeError`` (wrong kind of value) or a ``ValueError`` (right kind,
wrong value) whose message starts with the argument's name.
"""

from __future__ import annotations

import math
import numbers
import sys
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from tinynet._layout import n_params
from tinynet._settings import HIDDEN_ACTIVATIONS, OUTPUT_ACTIVATIONS, Architecture

SUPPORTED_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def check_layer_sizes(layers: Any) -> np.ndarray:
    """``layers`` as an ``intp`` array of at least two positive layer sizes."""
    if isinstance(layers, (str, bytes)) or not isinstance(layers, (Sequence, np.ndarray)):
        raise TypeError(
            f"layers must be a sequence of layer sizes such as [3, 4, 1], got {layers!r}"
        )
    sizes = [check_int(f"layers[{i}]", size, minimum=1) for i, size in enumerate(layers)]
    if len(sizes) < 2:
        raise ValueError(
            f"layers needs at least two sizes (inputs and outputs), got {list(layers)!r}"
        )
    # Every buffer of a fit is indexed with intp: a network's parameters and a row of its
    # layers must fit, with bias units, in float64.
    largest = n_params(sizes, bias=True, batch_norm=True)
    if max(largest, sum(sizes)) * 8 > sys.maxsize:
        raise ValueError(f"layers {sizes} are too large: {largest} parameters")
    return np.array(sizes, dtype=np.intp)


def check_architecture(
    layers: Any,
    activation: Any,
    output: Any,
    bias: Any,
    batch_norm: Any = False,
    batch_norm_momentum: Any = 0.1,
    batch_norm_epsilon: Any = 1e-5,
) -> Architecture:
    """The layer sizes, activations, bias units and batch normalisation of a network, checked
    together (a softmax output needs two units at least, batch normalisation a hidden
    layer)."""
    layer_sizes = check_layer_sizes(layers)
    output = check_choice("output", output, OUTPUT_ACTIVATIONS)
    if output == "softmax" and layer_sizes[-1] < 2:
        raise ValueError(
            f"output 'softmax' needs at least 2 output units, got {int(layer_sizes[-1])}"
        )
    activation = check_choice("activation", activation, HIDDEN_ACTIVATIONS)
    bias = check_bool("bias", bias)
    batch_norm = check_bool("batch_norm", batch_norm)
    if batch_norm and len(layer_sizes) < 3:
        raise ValueError("batch_norm needs a hidden layer; this network has none")
    return Architecture(
        layer_sizes=layer_sizes,
        activation=activation,
        output=output,
        bias=bias,
        batch_norm=batch_norm,
        batch_norm_momentum=check_real(
            "batch_norm_momentum", batch_norm_momentum, minimum=0.0, maximum=1.0
        ),
        batch_norm_epsilon=check_positive_real("batch_norm_epsilon", batch_norm_epsilon),
    )


def check_dtype(dtype: Any) -> np.dtype:
    """``dtype`` as ``float32`` or ``float64``."""
    if dtype is None:
        raise TypeError("dtype must be np.float32 or np.float64, got None")
    try:
        # Any failure of numpy's parsing (some strings raise SyntaxError, some aliases
        # warn before they fail) is one wrong dtype.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            resolved = np.dtype(dtype)
    except Exception as error:
        raise TypeError(f"dtype must be np.float32 or np.float64, got {dtype!r}") from error
    if resolved not in SUPPORTED_DTYPES:
        raise ValueError(f"dtype must be np.float32 or np.float64, got {resolved}")
    return resolved


def check_choice(name: str, value: Any, choices: Sequence[str]) -> str:
    """``value``, which must be one of the strings in ``choices``."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")
    return value


def check_int(name: str, value: Any, *, minimum: int) -> int:
    """``value`` as an ``int`` of at least ``minimum`` (bools are not integers here)."""
    # numpy registers timedelta64 as an Integral; it is a duration, not a count.
    not_integers = (bool, np.bool_, np.timedelta64)
    if isinstance(value, not_integers) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value!r}")
    return int(value)


def check_seed(seed: Any, name: str = "seed") -> int | None:
    """``seed`` as ``None`` or an ``int`` that numpy's ``RandomState`` accepts."""
    if seed is None:
        return None
    seed = check_int(name, seed, minimum=0)
    if seed >= 2**32:
        raise ValueError(f"{name} must be below 2**32, got {seed}")
    return seed


def as_float(name: str, value: Any) -> float:
    """``value``, a real number (not a bool), as a Python ``float``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    try:
        return float(value)
    except OverflowError as error:  # a Python int or Fraction beyond the float range
        raise ValueError(f"{name} is too large, got {value!r}") from error


def check_positive_real(name: str, value: Any) -> float:
    """``value`` as a finite, strictly positive Python ``float``."""
    value = as_float(name, value)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be finite and positive, got {value!r}")
    return value


def check_real(
    name: str,
    value: Any,
    *,
    minimum: float = -math.inf,
    maximum: float = math.inf,
    below: float | None = None,
) -> float:
    """``value`` as a finite Python ``float`` in ``[minimum, maximum]`` (and ``< below``)."""
    value = as_float(name, value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if value < minimum or value > maximum or (below is not None and value >= below):
        upper = f"below {below}" if below is not None else f"at most {maximum}"
        raise ValueError(f"{name} must be at least {minimum} and {upper}, got {value!r}")
    return value


def check_bool(name: str, value: Any) -> bool:
    """``value`` as a ``bool``; only ``True``, ``False`` (and numpy's) are accepted."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def all_finite(array: np.ndarray) -> bool:
    """Whether every value is finite, without an array of flags as big as ``array``: a
    finite sum has finite terms (NaN and infinities propagate, or meet as NaN); a sum that
    overflows is settled by min and max, through which NaN propagates too."""
    if array.dtype.kind != "f" or array.size == 0:
        return True
    with np.errstate(over="ignore", invalid="ignore"):
        if math.isfinite(array.sum()):
            return True
    return bool(np.isfinite(array.min()) and np.isfinite(array.max()))


def as_array(name: str, data: Any, dtype: np.dtype) -> np.ndarray:
    """``data`` as a C-contiguous array of ``dtype``, of numbers that are all finite.

    Booleans, integers and floats of any width are converted; strings, objects and complex
    numbers are refused rather than silently cast.
    """
    try:
        array = np.asarray(data)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{name} must be an array of numbers: {error}") from error
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got an array of dtype {array.dtype}")
    if array.size == 0:
        raise ValueError(f"{name} is empty (shape {array.shape})")
    with np.errstate(over="ignore"):
        # A float64 too large for float32 becomes inf here and is reported just below.
        converted = np.asarray(array, dtype=dtype, order="C")
    if not all_finite(converted):
        if all_finite(array):
            raise ValueError(f"{name} holds values too large for {dtype}")
        raise ValueError(f"{name} holds NaN or infinite values; every value must be finite")
    return converted


def as_inputs(
    name: str, data: Any, dtype: np.dtype, n_features: int, *, allow_one_sample: bool
) -> tuple[np.ndarray, bool]:
    """Input rows as a 2-D ``(n_samples, n_features)`` array, and whether a single 1-D
    sample was given (allowed only if ``allow_one_sample``)."""
    array = as_array(name, data, dtype)
    one_sample = array.ndim == 1 and allow_one_sample
    if one_sample:
        array = array.reshape(1, -1)
    if array.ndim != 2:
        expected = "1-D (one sample) or 2-D" if allow_one_sample else "2-D (samples x features)"
        raise ValueError(f"{name} must be {expected}, got {array.ndim}-D shape {array.shape}")
    if array.shape[1] != n_features:
        raise ValueError(
            f"{name} has {array.shape[1]} features per sample but the network's input layer "
            f"has {n_features} units"
        )
    return array, one_sample


def as_targets(
    name: str, data: Any, dtype: np.dtype, n_samples: int, n_outputs: int
) -> np.ndarray:
    """Targets as a 2-D ``(n_samples, n_outputs)`` array; 1-D is one output per sample."""
    array = as_array(name, data, dtype)
    if array.ndim == 1 and n_outputs == 1:
        array = array.reshape(-1, 1)
    if array.ndim != 2:
        raise ValueError(
            f"{name} must be 2-D (samples x outputs), or 1-D for a network with one output; "
            f"got {array.ndim}-D shape {array.shape}"
        )
    if array.shape != (n_samples, n_outputs):
        raise ValueError(
            f"{name} has shape {array.shape} but X has {n_samples} samples and the network "
            f"{n_outputs} outputs, so it must be ({n_samples}, {n_outputs})"
        )
    return array


def as_sample_weight(name: str, data: Any, dtype: np.dtype, n_samples: int) -> np.ndarray:
    """Sample weights as a 1-D array of ``n_samples`` non-negative values of ``dtype``, not
    all zero."""
    array = as_array(name, data, dtype)
    if array.shape != (n_samples,):
        raise ValueError(
            f"{name} must be 1-D with one weight per sample, shape ({n_samples},); "
            f"got shape {array.shape}"
        )
    if array.min() < 0:
        raise ValueError(f"{name} must not be negative, got {float(array.min())!r}")
    if not array.any():
        raise ValueError(f"{name} is all zero: no sample would count")
    if not np.isfinite(array.sum(dtype=np.float64)) or not np.isfinite(array.sum()):
        raise ValueError(f"{name} sums beyond the range of {dtype}")
    return array


def check_rate(name: str, value: Any, dtype: np.dtype, epoch: int | None = None) -> float:
    """A learning rate (for ``epoch`` of a schedule, if given) as a finite float, at least 0,
    within ``dtype``'s range."""
    where = "" if epoch is None else f" (the schedule's value for epoch {epoch})"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number{where}, got {value!r}")
    try:
        rate = float(value)
    except OverflowError as error:
        raise ValueError(f"{name} is too large{where}, got {value!r}") from error
    if not (math.isfinite(rate) and rate >= 0):
        raise ValueError(f"{name} must be finite and at least 0{where}, got {value!r}")
    if rate > float(np.finfo(dtype).max):
        raise ValueError(f"{name} {rate!r}{where} is too large for {dtype} arithmetic")
    return rate
