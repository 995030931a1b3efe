"""Fits that share the machine (tinynet/_threads.py): while two fits run, the BLAS libraries
they use run on one thread, and get back exactly what they had when one is left.

Every test starts from counts of its own, above one and different for each library (the
``counts`` fixture), so that a count of one shows the limiting, and the count coming back
shows exactly what was restored, whatever the environment set. Two fits are held in flight
with callbacks: both wait at a barrier in ``fit_started`` (a fit is counted from there, so
that neither trains an epoch before both are counted), and the first waits after its first
epoch until the second has looked.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from threadpoolctl import ThreadpoolController, threadpool_limits

import tinynet
from tinynet import _core, _plan, _threads

TIMEOUT = 30  # seconds a thread may wait for the other
BLAS = ThreadpoolController().select(user_api="blas")  # tinynet has loaded numpy's and scipy's
NUMPY_FILE = _core.NUMPY_GEMM.library if _core.NUMPY_GEMM is not None else None
needs_numpy_blas = pytest.mark.skipif(
    NUMPY_FILE is None, reason="numpy bundles no OpenBLAS here: the core uses scipy's only"
)

RNG = np.random.default_rng(7)
# Products of 1797 x 64 x 32 multiply-adds: OpenBLAS splits them across its threads, and on
# one thread it may add their terms in another order.
DIGITS_X = RNG.random((1797, 64))
DIGITS_Y = np.eye(10)[RNG.integers(0, 10, 1797)]
# Products of at most 512 x 8 x 16 multiply-adds: big enough for BLAS (tinynet's crossover
# is 100), too small for OpenBLAS to split across threads.
SMALL_X = RNG.random((512, 8))
SMALL_Y = RNG.random((512, 1))

# A fit given the callbacks to pass to Network.fit.
Fit = Callable[[list[Any]], object]


def blas_threads() -> dict[str, int]:
    """Each BLAS library's thread count, by file name."""
    return {Path(c.filepath).name: c.num_threads for c in BLAS.lib_controllers}


def scipy_file() -> str:
    """The file of scipy's BLAS: the BLAS library that is not numpy's."""
    (name,) = (name for name in blas_threads() if name != NUMPY_FILE)
    return name


@pytest.fixture(autouse=True)
def limiting_on() -> Iterator[None]:
    """The limiting is off by default (it makes a fit's bits depend on the timing of other
    fits); every test here turns it on, but those of the default and the environment."""
    with _threads.limiting(True):
        yield


@pytest.fixture
def counts() -> Iterator[dict[str, int]]:
    """Give each BLAS library a count of its own (2, 3, ...) for the test, in threadpoolctl
    blocks (a user's limits); yield them."""
    with contextlib.ExitStack() as stack:
        for i, controller in enumerate(BLAS.lib_controllers):
            only = BLAS.select(filepath=controller.filepath)
            stack.enter_context(only.limit(limits=2 + i))
        yield blas_threads()
    assert _threads.running() == 0, "a fit is still counted as running"


def fit_on(
    layers: list[int],
    X: np.ndarray,
    y: np.ndarray,
    *,
    seed: int,
    library: str | None = None,
    dtype: type = np.float64,
    **options: Any,
) -> Callable[[list[Any]], tinynet.Network]:
    """A fit of a fresh network, its products sent to ``library`` (None: the default)."""

    def fit(callbacks: list[Any]) -> tinynet.Network:
        net = tinynet.Network(layers, seed=seed, dtype=dtype, init="xavier")
        options.setdefault("learning_rate", 1e-3)
        options.setdefault("epochs", 3)
        if library is None:
            return net.fit(X, y, callbacks=callbacks, progress=False, **options)
        with _plan.forced(blas_library=library):
            return net.fit(X, y, callbacks=callbacks, progress=False, **options)

    return fit


def small_fit(seed: int = 0, **options: Any) -> Callable[[list[Any]], tinynet.Network]:
    return fit_on([8, 16, 1], SMALL_X, SMALL_Y, seed=seed, **options)


class Started:
    """A callback that waits at ``barrier`` in ``fit_started``, then does ``each(epoch)``
    after every epoch."""

    def __init__(self, barrier: threading.Barrier, each: Callable[[int], object]) -> None:
        self.barrier, self.each = barrier, each

    def fit_started(self, network: object, resume: bool) -> None:
        self.barrier.wait(TIMEOUT)

    def __call__(self, network: object, epoch: int, logs: dict[str, float]) -> None:
        self.each(epoch)


def during_two_fits(first: Fit, second: Fit, look: Callable[[], Any]) -> tuple[Any, list]:
    """``look()`` after the second fit's first epoch, the first fit then still running (it
    waits after its own first epoch until then); returns what it gave and the networks.
    The first fit runs in another thread; exceptions of either propagate."""
    both, looked, seen = threading.Barrier(2), threading.Event(), []

    def look_once(epoch: int) -> None:
        if epoch == 0:
            seen.append(look())
            looked.set()

    def wait_once(epoch: int) -> None:
        if epoch == 0:
            assert looked.wait(TIMEOUT), "the second fit never looked"

    with ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(first, [Started(both, wait_once)])
        try:
            second_net = second([Started(both, look_once)])
        except BaseException:
            both.abort()  # the first fit does not wait for a second that failed to start
            raise
        finally:
            looked.set()  # nor for ever after its first epoch
        first_net = future.result(TIMEOUT)
    return seen[0], [first_net, second_net]


def together(*fits: Fit, epochs: int) -> list[Any]:
    """The fits of ``epochs`` epochs in threads at once, all counted before any trains an
    epoch, and until all have trained their last (barriers in ``fit_started`` and after
    the last epoch)."""
    start, end = threading.Barrier(len(fits)), threading.Barrier(len(fits))

    def at_the_end(epoch: int) -> None:
        if epoch == epochs - 1:
            end.wait(TIMEOUT)

    with ThreadPoolExecutor(max_workers=len(fits)) as pool:
        futures = [pool.submit(fit, [Started(start, at_the_end)]) for fit in fits]
        return [future.result(TIMEOUT) for future in futures]


def weights_of(net: tinynet.Network) -> list[np.ndarray]:
    return [*net.weights, *net.biases] if net.bias else list(net.weights)


# --- the limit, and what comes back -------------------------------------------------------


@needs_numpy_blas
def test_two_fits_put_their_blas_on_one_thread_and_give_its_threads_back(counts):
    seen, _ = during_two_fits(
        small_fit(0), small_fit(1), lambda: (_threads.running(), blas_threads())
    )
    running, during = seen
    assert running == 2
    # numpy's BLAS, which both fits use, is on one thread; scipy's, which neither uses,
    # keeps its count.
    assert during == counts | {NUMPY_FILE: 1}
    assert blas_threads() == counts


@needs_numpy_blas
def test_fits_on_two_libraries_put_both_on_one_thread(counts):
    seen, _ = during_two_fits(small_fit(0, library="scipy"), small_fit(1), blas_threads)
    assert seen == {name: 1 for name in counts}
    assert blas_threads() == counts


@needs_numpy_blas
def test_an_lbfgs_fit_and_the_numpy_reference_are_counted(counts):
    lbfgs = small_fit(0, optimizer="lbfgs", epochs=5)

    def on_reference(callbacks: list[Any]) -> tinynet.Network:
        net = tinynet.Network([8, 16, 1], seed=1, backend="numpy")
        return net.fit(SMALL_X, SMALL_Y, epochs=3, callbacks=callbacks, progress=False)

    seen, _ = during_two_fits(lbfgs, on_reference, blas_threads)
    assert seen == counts | {NUMPY_FILE: 1}
    assert blas_threads() == counts


def test_a_lone_fit_touches_no_library_and_counts_once(counts, monkeypatch):
    """A fit alone costs one entry and one exit, not one per epoch (a callback makes the
    fit run one epoch per call into the core)."""
    entries: list[str] = []
    enter = _threads._enter
    monkeypatch.setattr(
        _threads, "_enter", lambda library: [entries.append(library), enter(library)]
    )

    def never(pools: list[Any]) -> list[Any]:
        raise AssertionError("a lone fit limited BLAS")

    monkeypatch.setattr(_threads, "_one_thread", never)
    seen: list[dict[str, int]] = []
    small_fit(0, epochs=20)([lambda net, epoch, logs: seen.append(blas_threads())])
    assert entries == [_core.blas_library()]
    assert len(seen) == 20 and all(during == counts for during in seen)


def test_the_limit_holds_until_one_fit_is_left(counts):
    """Three fits (the counter, without training): one thread from the second fit on, the
    count back when the third and the second have left."""
    library = _core.blas_library()
    pool = _threads.pools_of(library)[0]
    seen = []
    with _threads.fitting(library):
        seen.append(pool.get())
        with _threads.fitting(library):
            seen.append(pool.get())
            with _threads.fitting(library):
                seen.append(pool.get())
            seen.append(pool.get())
        seen.append(pool.get())
    original = counts[Path(pool.filepath).name]
    assert seen == [original, 1, 1, 1, original]
    assert blas_threads() == counts


def test_the_libraries_are_numpys_and_scipys_files():
    """The thread pools found for each name are those of the files the core calls."""
    scipy_files = [Path(pool.filepath).name for pool in _threads.pools_of("scipy")]
    if NUMPY_FILE is not None:
        numpy_files = [Path(pool.filepath).name for pool in _threads.pools_of("numpy")]
        assert numpy_files == [NUMPY_FILE]
        assert NUMPY_FILE not in scipy_files
    assert scipy_files, "scipy's BLAS was not found"
    import scipy

    wheel = Path(scipy.__file__).resolve().parent.parent / "scipy.libs"
    if wheel.is_dir():  # scipy's wheel: its bundled OpenBLAS, nothing else
        assert [(wheel / name).exists() for name in scipy_files] == [True]


# --- a user's limits ----------------------------------------------------------------------


@needs_numpy_blas
def test_a_users_limit_of_one_thread_is_kept(counts):
    with threadpool_limits(limits=1, user_api="blas"):
        seen, _ = during_two_fits(small_fit(0), small_fit(1), blas_threads)
        after = blas_threads()
    assert seen == after == {name: 1 for name in counts}
    assert blas_threads() == counts


@needs_numpy_blas
def test_a_user_limit_inside_the_fits_is_kept_and_its_own_undone(counts):
    """A threadpool_limits block opened and closed while two fits run restores what it
    found (one thread); the fits then restore their counts."""

    def look() -> tuple[dict[str, int], dict[str, int]]:
        with threadpool_limits(limits=1, user_api="blas"):
            inside = blas_threads()
        return inside, blas_threads()

    (inside, after_block), _ = during_two_fits(small_fit(0), small_fit(1), look)
    assert inside == {name: 1 for name in counts}
    assert after_block == counts | {NUMPY_FILE: 1}
    assert blas_threads() == counts


@needs_numpy_blas
def test_a_count_changed_while_fits_run_is_left_as_set(counts):
    """Someone sets numpy's BLAS to 5 threads while both fits run: the fits do not put
    back what they found, which would undo that."""
    (numpy_controller,) = (c for c in BLAS.lib_controllers if Path(c.filepath).name == NUMPY_FILE)
    during_two_fits(small_fit(0), small_fit(1), lambda: numpy_controller.set_num_threads(5))
    assert blas_threads() == counts | {NUMPY_FILE: 5}


@needs_numpy_blas
def test_the_limiting_can_be_turned_off(counts):
    with _threads.limiting(False):
        seen, _ = during_two_fits(small_fit(0), small_fit(1), blas_threads)
    assert seen == counts
    with _threads.limiting(True):
        seen, _ = during_two_fits(small_fit(0), small_fit(1), blas_threads)
    assert seen == counts | {NUMPY_FILE: 1}


def test_the_limiting_is_off_by_default_and_the_environment_turns_it_on():
    script = (
        "from threadpoolctl import threadpool_limits\n"
        "from tinynet import _core, _threads\n"
        "library = _core.blas_library()\n"
        "pool = _threads.pools_of(library)[0]\n"
        "with threadpool_limits(limits=2, user_api='blas'):\n"
        "    with _threads.fitting(library), _threads.fitting(library):\n"
        "        print(pool.get())\n"
    )
    package_parent = os.path.dirname(os.path.dirname(tinynet.__file__))
    printed = {}
    for value in (None, "0", "1"):
        env = dict(os.environ, PYTHONPATH=package_parent)
        env.pop("TINYNET_LIMIT_BLAS_THREADS", None)
        if value is not None:
            env["TINYNET_LIMIT_BLAS_THREADS"] = value
        result = subprocess.run(
            [sys.executable, "-W", "error", "-c", script],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        printed[value] = result.stdout.strip()
    assert printed == {None: "2", "0": "2", "1": "1"}


# --- the same bits ------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
def test_fits_limited_together_give_the_bits_of_lone_fits_on_one_thread(counts, dtype):
    """At the digits' size the products' sums can depend on OpenBLAS's thread count, so a
    fit's bits depend on whether its products ran on one thread or more: two fits counted
    before either trains run all their products on one thread, and give the bits of the same
    fits alone inside a one-thread limit."""
    fits = [fit_on([64, 32, 10], DIGITS_X, DIGITS_Y, seed=s, dtype=dtype) for s in (0, 1)]
    limited = [weights_of(net) for net in together(*fits, epochs=3)]
    with threadpool_limits(limits=1, user_api="blas"):
        alone = [weights_of(fit([])) for fit in fits]
    for got, expected in zip(limited, alone, strict=True):
        for g, e in zip(got, expected, strict=True):
            np.testing.assert_array_equal(g, e)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
def test_small_products_give_the_same_bits_limited_or_not(counts, dtype):
    """512 x 8-16-1: products in BLAS, too small for OpenBLAS to split across threads, so
    fits limited together give the bits of lone fits on the library's own threads."""
    fits = [small_fit(s, dtype=dtype, epochs=10) for s in (0, 1)]
    limited = [weights_of(net) for net in together(*fits, epochs=10)]
    alone = [weights_of(fit([])) for fit in fits]
    for got, expected in zip(limited, alone, strict=True):
        for g, e in zip(got, expected, strict=True):
            np.testing.assert_array_equal(g, e)


# --- however a fit ends -------------------------------------------------------------------


def diverging(callbacks: list[Any]) -> object:
    """A fit that diverges in its second epoch or later (a linear output, huge targets)."""
    net = tinynet.Network([8, 16, 1], seed=0, output="linear")
    return net.fit(
        SMALL_X, 1e6 * SMALL_Y, epochs=50, learning_rate=1.0, callbacks=callbacks, progress=False
    )


def raising(error: BaseException) -> Fit:
    """A fit whose callback raises ``error`` after its second epoch."""

    def each(network: object, epoch: int, logs: dict[str, float]) -> None:
        if epoch == 1:
            raise error

    return lambda callbacks: small_fit(1, epochs=5)([*callbacks, each])


@needs_numpy_blas
@pytest.mark.parametrize(
    ("ending", "error"),
    [
        (raising(RuntimeError("callback")), RuntimeError),
        (raising(KeyboardInterrupt()), KeyboardInterrupt),
        (diverging, FloatingPointError),
    ],
    ids=["callback-raises", "ctrl-c", "diverges"],
)
def test_a_fit_that_fails_beside_another_leaves_nothing_behind(counts, ending, error):
    """The second fit fails after its first epoch, the two limited together: its error
    propagates, the first fit (held until then) ends normally, the counts come back."""
    both, failed, seen = threading.Barrier(2), threading.Event(), []

    def held(epoch: int) -> None:
        if epoch == 0:
            assert failed.wait(TIMEOUT)

    def look(epoch: int) -> None:
        if epoch == 0:
            seen.append(blas_threads())

    with ThreadPoolExecutor(max_workers=1) as pool:
        first = pool.submit(small_fit(0, epochs=20), [Started(both, held)])
        try:
            with pytest.raises(error):
                ending([Started(both, look)])
        finally:
            failed.set()
        first.result(TIMEOUT)
    assert seen == [counts | {NUMPY_FILE: 1}]
    assert blas_threads() == counts
    assert _threads.running() == 0


def test_a_fit_whose_start_fails_leaves_nothing_behind(counts):
    class Refuses:
        def fit_started(self, network: object, resume: bool) -> None:
            raise ValueError("not now")

        def __call__(self, network: object, epoch: int, logs: dict[str, float]) -> None:
            pass

    with _threads.fitting(_core.blas_library()), pytest.raises(ValueError, match="not now"):
        small_fit(1)([Refuses()])
    assert blas_threads() == counts
    assert _threads.running() == 0
