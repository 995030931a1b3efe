"""The counter-based random numbers of shuffling and dropout, in numpy.

The same arithmetic as ``csrc/tinynet_random.hh``: the value for counter ``c`` under key
``k`` is the ``c``-th output of SplitMix64 seeded with ``k``, so both backends draw the same
numbers without sharing any state.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

_GOLDEN_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_MIX_1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX_2 = np.uint64(0x94D049BB133111EB)


def random_bits(key: int, counters: npt.ArrayLike) -> np.ndarray:
    """SplitMix64's output number ``counters`` (an array of them) for the seed ``key``."""
    # uint64 array arithmetic wraps around silently, as the C++ does.
    z = np.asarray(counters, dtype=np.uint64) + np.uint64(1)
    z = z * _GOLDEN_GAMMA + np.uint64(key)
    z = (z ^ (z >> np.uint64(30))) * _MIX_1
    z = (z ^ (z >> np.uint64(27))) * _MIX_2
    return z ^ (z >> np.uint64(31))


def random_uniform(key: int, counters: npt.ArrayLike) -> np.ndarray:
    """Doubles uniform in ``[0, 1)`` from the top 53 bits of :func:`random_bits`."""
    return (random_bits(key, counters) >> np.uint64(11)).astype(np.float64) * 2.0**-53


def random_order(key: int, first: int, n: int) -> np.ndarray:
    """A permutation of ``range(n)``: the indices sorted by ``random_bits(key, first + i)``,
    ties by index."""
    return np.argsort(
        random_bits(key, np.arange(n, dtype=np.uint64) + np.uint64(first)), kind="stable"
    )


_MASK = (1 << 64) - 1


def derive_key(key: int, counter: int) -> int:
    """A new 64-bit key from ``key``: ``random_bits(key, counter)`` as a Python int, in
    Python's integers (each fit derives two: numpy's arrays of one cost more than the rest
    of the arithmetic)."""
    z = (((counter + 1) & _MASK) * int(_GOLDEN_GAMMA) + key) & _MASK
    z = ((z ^ (z >> 30)) * int(_MIX_1)) & _MASK
    z = ((z ^ (z >> 27)) * int(_MIX_2)) & _MASK
    return z ^ (z >> 31)
