"""Fits that share the machine: one BLAS thread each while several run at once.

OpenBLAS's thread count is process-wide. A fit alone gets all of its BLAS's threads; two fits
in two threads each run their products on the same pool, which serialises their calls and
spins threads on cores the other fit needs (two fits of 1797 x 64-32-10 on OpenBLAS's
threads ran at half the speed of one after the other; such fits now split their batches over
threads of their own, with BLAS held on one, see _plan.splits_batches). So :func:`fitting`
counts the fits running in the process, and while more than one runs, every BLAS library
one of them uses runs on one thread; when the count drops back to one, each gets back
exactly the count it had.

A user's limit is respected: a library already on one thread (``OPENBLAS_NUM_THREADS=1``, a
``threadpoolctl.threadpool_limits(1)`` block) is not touched, a count is only ever lowered,
and on the way back a library whose count someone else changed in the meantime is left as
they set it. A single fit costs a lock and a counter; threadpoolctl is imported, and the
libraries found, only when a second fit starts.

It is off unless ``TINYNET_LIMIT_BLAS_THREADS=1`` is in the environment (read at import), or
:func:`limiting` turns it on for a block: from about the digits' size OpenBLAS sums a
product's terms in another order on one thread than on two, so a fit that another one
overlapped for a while would end in other bits than the same fit alone, and a seeded fit's
result would depend on the timing of other threads. tinynet keeps results reproducible by
default; the limit is for whoever prefers the speed.

The libraries are found with threadpoolctl, by file: ``"numpy"`` is the OpenBLAS numpy's
wheel bundles (:mod:`tinynet._blas`), ``"scipy"`` the one scipy's wheel bundles. Where a
wheel bundles none (a conda or system numpy or scipy), every BLAS library threadpoolctl
controls stands for it, except numpy's bundled one for scipy. threadpoolctl reads their
counts; an OpenBLAS's is set through its own ``openblas_set_num_threads`` (see
:func:`pool_of`), other libraries' through threadpoolctl.
"""

from __future__ import annotations

import ctypes
import itertools
import os
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

from tinynet import _blas

# Where the environment turns the limiting on ("1"); any other value, or none, leaves it off.
ENVIRONMENT = "TINYNET_LIMIT_BLAS_THREADS"

_lock = threading.Lock()
_enabled = os.environ.get(ENVIRONMENT, "0").strip() == "1"
_running: Counter[str] = Counter()  # the fits running, by the BLAS library they use
_holds: Counter[str] = Counter()  # the blocks holding a library on one thread (holding)
# The libraries on one thread because of the fits, with each pool's count before.
_limited: dict[str, list[tuple[Pool, int]]] = {}
_pools: dict[str, list[Pool]] | None = None  # each library's thread pools, once found


def running() -> int:
    """The number of fits running in the process."""
    with _lock:
        return sum(_running.values())


def library_of(backend: object) -> str:
    """The BLAS library of a fit on ``backend``, a backend module or its ``Trainer``: the
    compiled core's plan's (the one in force for a module), numpy's for the numpy reference
    (whose products are numpy's)."""
    plan = getattr(backend, "plan", None)
    if plan is not None:
        return str(plan.machine.blas_library)
    chosen = getattr(backend, "blas_library", None)
    return str(chosen()) if callable(chosen) else "numpy"


@contextmanager
def fitting(library: str) -> Iterator[None]:
    """Count a fit whose products go to BLAS library ``library`` (``"numpy"`` or
    ``"scipy"``) as running for the block; while another runs too, the libraries of all
    running fits are on one thread."""
    _enter(library)
    try:
        yield
    finally:
        _leave(library)


@contextmanager
def limiting(enabled: bool) -> Iterator[None]:
    """Whether fits started in this block limit BLAS to one thread while another runs
    (process-wide: for benchmarks and tests that compare with and without)."""
    global _enabled
    with _lock:
        before, _enabled = _enabled, bool(enabled)
    try:
        yield
    finally:
        with _lock:
            _enabled = before


@contextmanager
def holding(library: str) -> Iterator[None]:
    """Hold BLAS library ``library`` on one thread for the block, whatever fits start or
    end in it (an ensemble training members in several threads: each member's products on
    one thread from its first to its last, so that its numbers do not depend on when the
    others ran). Its count comes back as :func:`fitting`'s does, once no block holds it
    and no two fits need it limited."""
    with _lock:
        _holds[library] += 1
        if library not in _limited:
            _limited[library] = _one_thread(pools_of(library))
    try:
        yield
    finally:
        with _lock:
            _holds[library] -= 1
            if not _holds[library]:
                del _holds[library]
                if not (_enabled and sum(_running.values()) > 1):
                    _restore(_limited.pop(library))


def _enter(library: str) -> None:
    with _lock:
        _running[library] += 1
        if _enabled and sum(_running.values()) > 1:
            for name in _running:
                if name not in _limited:
                    _limited[name] = _one_thread(pools_of(name))


def _leave(library: str) -> None:
    with _lock:
        _running[library] -= 1
        if not _running[library]:
            del _running[library]
        if sum(_running.values()) <= 1:
            # Latest first: where two names share a library, the first holds its count.
            for name in reversed(list(_limited)):
                if name not in _holds:
                    _restore(_limited.pop(name))


def _one_thread(pools: list[Pool]) -> list[tuple[Pool, int]]:
    """Put each pool on one thread unless it is there already; what they had."""
    before = []
    for pool in pools:
        threads = pool.get()
        if threads is not None and threads > 1:
            pool.set(1)
            before.append((pool, threads))
    return before


def _restore(before: list[tuple[Pool, int]]) -> None:
    """Give each pool back its count, unless someone changed it from one since."""
    for pool, threads in before:
        if pool.get() == 1:
            pool.set(threads)


def pools_of(library: str) -> list[Pool]:
    """The thread pools of the BLAS library a fit names, found once."""
    global _pools
    if _pools is None:
        _pools = _find_pools()
    return _pools.get(library, [])


def _find_pools() -> dict[str, list[Pool]]:
    """The thread pools of numpy's and scipy's BLAS (see the module's docstring)."""
    try:
        from threadpoolctl import ThreadpoolController  # type: ignore[import-untyped]

        blas = ThreadpoolController().select(user_api="blas").lib_controllers
    except Exception:  # without its controllers a library keeps its threads
        return {}
    import scipy  # type: ignore[import-untyped]

    numpy_files = {path.resolve() for path in _blas.bundled_libraries()}
    scipy_folder = Path(scipy.__file__).resolve().parent
    scipy_files = {
        path.resolve()
        for folder in (scipy_folder.parent / "scipy.libs", scipy_folder / ".dylibs")
        if folder.is_dir()
        for path in folder.glob("*openblas*")
    }

    def of(files: set[Path]) -> list[Any]:
        return [c for c in blas if Path(c.filepath).resolve() in files]

    numpy_controllers = of(numpy_files)
    found = {
        "numpy": numpy_controllers or blas,
        "scipy": of(scipy_files) or [c for c in blas if c not in numpy_controllers],
    }
    pools = {id(c): pool_of(c) for c in blas}
    return {
        name: [pool for c in controllers if (pool := pools[id(c)]) is not None]
        for name, controllers in found.items()
    }


class Pool(NamedTuple):
    """How to read and set the thread count of one BLAS library, in file ``filepath``."""

    filepath: str
    get: Callable[[], int | None]
    set: Callable[[int], object]


def pool_of(controller: Any) -> Pool | None:
    """The thread pool of one of threadpoolctl's BLAS controllers, or None if its count is
    not process-wide (OpenBLAS built with OpenMP: each calling thread has its own).

    threadpoolctl reads the count. OpenBLAS's is set through the library's own
    ``openblas_set_num_threads``: threadpoolctl 3.8 and later let only one Python thread at
    a time set it (the first to try, until it lets go) and silently ignore the others, and a
    fit's limit is set and given back from whichever fit thread starts or ends.
    """
    get = controller.get_num_threads
    if controller.internal_api != "openblas":
        return Pool(controller.filepath, get, controller.set_num_threads)
    if getattr(controller, "threading_layer", None) == "openmp":
        return None
    for prefix, suffix in itertools.product(("", "scipy_"), ("", "64_", "_64")):
        setter = getattr(controller.dynlib, f"{prefix}openblas_set_num_threads{suffix}", None)
        if setter is not None:
            setter.argtypes, setter.restype = [ctypes.c_int], None
            return Pool(controller.filepath, get, setter)
    return None
