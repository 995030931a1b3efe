"""What tinynet guarantees when things go wrong: divergence, Ctrl-C, threads and files.

Each test states one guarantee of the README's list and tries to break it, in both
backends. The guarantees about bad arguments are in test_network.py, test_features.py and
test_junk_input.py.
"""

from __future__ import annotations

import errno
import gc
import json
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from helpers import assert_same_state

import tinynet
from tinynet import _files

RNG = np.random.default_rng(5)
X = RNG.standard_normal((60, 6))
Y = np.eye(3)[RNG.integers(0, 3, 60)]
OPTIONS = dict(activation="tanh", output="softmax", bias=True, init="xavier", seed=3)
FIT = dict(batch_size=8, momentum=0.9, dropout=0.2, learning_rate=0.05)


def network(backend: str = "cython", dtype=np.float64) -> tinynet.Network:
    return tinynet.Network([6, 8, 3], backend=backend, dtype=dtype, **OPTIONS)


def assert_same_network(a: tinynet.Network, b: tinynet.Network) -> None:
    """Bit for bit the same state: options, weights, history and random state."""
    assert_same_state(a.__getstate__(), b.__getstate__())


def fresh_fit(backend: str, epochs: int, dtype=np.float64) -> tinynet.Network:
    """The network after a clean fit of ``epochs`` epochs."""
    return network(backend, dtype).fit(X, Y, epochs=epochs, **FIT)


# --- divergence -----------------------------------------------------------------------------


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_divergence_keeps_the_last_finite_epoch_and_its_history(backend, dtype, activation):
    data = np.random.default_rng(1)
    inputs, targets = data.standard_normal((16, 4)), 50 * data.standard_normal((16, 1))
    options = dict(
        activation=activation, output="linear", bias=True, seed=0, backend=backend, dtype=dtype
    )
    net = tinynet.Network([4, 6, 1], **options)
    with pytest.raises(FloatingPointError, match="diverged in epoch"):
        net.fit(inputs, targets, epochs=500, learning_rate=3.0, momentum=0.9)
    completed = len(net.history["loss"])
    assert 0 < completed < 500
    assert all(np.isfinite(w).all() for w in [*net.weights, *net.biases])
    assert all(np.isfinite(h).all() and len(h) == completed for h in net.history.values())
    again = tinynet.Network([4, 6, 1], **options)
    again.fit(inputs, targets, epochs=completed, learning_rate=3.0, momentum=0.9)
    for mine, theirs in zip(net.weights, again.weights, strict=True):
        np.testing.assert_array_equal(mine, theirs)


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu"])
@pytest.mark.parametrize("output", ["sigmoid", "linear", "softmax"])
def test_no_warning_from_any_activation_at_any_input(backend, dtype, activation, output):
    """Extreme inputs and weights: the activations stay silent (warnings are errors here)."""
    info = np.finfo(dtype)
    extremes = np.array(
        [info.max, -info.max, info.tiny, -info.tiny, info.smallest_subnormal, 0, 1e4, -1e4]
    )
    inputs = np.stack([np.roll(extremes, i)[:4] for i in range(8)])
    net = tinynet.Network(
        [4, 5, 2], activation=activation, output=output, backend=backend, dtype=dtype, seed=2
    )
    start = net.weights  # in [-1, 1)
    for scale in (1.0, float(info.max) / 4):
        net.weights = [w * scale for w in start]
        with np.errstate(all="raise"):  # numpy's own warnings become errors
            net.predict(inputs)
            try:
                net.fit(inputs, np.eye(2)[[0, 1] * 4], epochs=3)
            except FloatingPointError as error:
                assert "diverged" in str(error)


# --- Ctrl-C -------------------------------------------------------------------------------


@contextmanager
def interrupted_after(seconds: float) -> Iterator[list[float]]:
    """Send this process SIGINT after ``seconds``; the list yielded receives the time it was
    sent.

    Python raises a signal handler's exception in whatever Python code runs next, and one
    raised in a weak reference's callback is only printed ("Exception ignored"): the garbage
    collector, which runs such callbacks when it frees earlier tests' objects, is emptied
    first and paused for the block, so that the KeyboardInterrupt reaches the fit.
    """
    sent: list[float] = []

    def send() -> None:
        sent.append(time.perf_counter())
        os.kill(os.getpid(), signal.SIGINT)

    gc.collect()
    gc.disable()
    try:
        threading.Timer(seconds, send).start()
        yield sent
    finally:
        gc.enable()


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT is delivered differently")
@pytest.mark.parametrize("batch_size", [8, None], ids=["mini-batches", "full-batch"])
def test_ctrl_c_stops_at_the_last_completed_epoch(backend, batch_size):
    net = network(backend)
    fit = {**FIT, "batch_size": batch_size}
    with interrupted_after(0.3) as sent, pytest.raises(KeyboardInterrupt):
        net.fit(X, Y, epochs=1_000_000, **fit)
    latency = time.perf_counter() - sent[0]
    assert latency < 1.0, f"KeyboardInterrupt came {latency:.3f} s after SIGINT"
    completed = len(net.history["loss"])
    assert 0 < completed < 1_000_000
    # the network is where a fit of exactly that many epochs leaves it
    clean = network(backend).fit(X, Y, epochs=completed, **fit)
    for key in ("params", "history"):
        np.testing.assert_array_equal(net.__getstate__()[key], clean.__getstate__()[key])
    # and it goes on training
    net.fit(X, Y, epochs=2, **fit)
    assert len(net.history["loss"]) == 2


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT is delivered differently")
def test_ctrl_c_within_an_epoch_rolls_it_back(backend):
    """An epoch of 200000 single-row updates takes far longer than the 0.2 s before Ctrl-C:
    the fit stops within it, promptly, and the network is as it was."""
    data = np.random.default_rng(0)
    inputs = data.standard_normal((200_000, 32), dtype=np.float32)
    targets = data.random((200_000, 4), dtype=np.float32)
    net = tinynet.Network([32, 256, 4], dtype=np.float32, backend=backend, seed=0)
    before = net.__getstate__()
    with interrupted_after(0.2) as sent, pytest.raises(KeyboardInterrupt):
        net.fit(inputs, targets, epochs=3, batch_size=1, learning_rate=0.01)
    latency = time.perf_counter() - sent[0]
    assert latency < 1.0, f"KeyboardInterrupt came {latency:.3f} s after SIGINT"
    after = net.__getstate__()
    np.testing.assert_array_equal(after["params"], before["params"])
    assert after["history"].shape == (0, 2)


def test_an_interrupted_callback_keeps_the_epochs_it_saw(backend):
    def interrupt_at_epoch_4(net: tinynet.Network, epoch: int, logs: dict) -> None:
        if epoch == 4:
            raise KeyboardInterrupt

    net = network(backend)
    with pytest.raises(KeyboardInterrupt):
        net.fit(X, Y, epochs=50, callbacks=[interrupt_at_epoch_4], **FIT)
    assert len(net.history["loss"]) == 5
    clean = fresh_fit(backend, 5)
    np.testing.assert_array_equal(net.__getstate__()["params"], clean.__getstate__()["params"])


@pytest.mark.skipif(sys.platform == "win32", reason="no SIGUSR1")
def test_a_signal_handler_that_raises_stops_the_fit_with_its_exception(backend):
    class Alarm(Exception):
        pass

    def handler(signum, frame):
        raise Alarm

    previous = signal.signal(signal.SIGUSR1, handler)
    try:
        threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGUSR1)).start()
        net = network(backend)
        with pytest.raises(Alarm):
            net.fit(X, Y, epochs=1_000_000, **FIT)
    finally:
        signal.signal(signal.SIGUSR1, previous)
    assert 0 < len(net.history["loss"]) < 1_000_000


# --- threads ------------------------------------------------------------------------------


def test_two_fits_of_one_network_run_one_after_the_other(backend):
    """Sequential full-batch fits of k and k epochs end where one fit of 2k ends; had they
    interleaved, both would have trained from the same start and the last would win."""
    epochs = 3000 if backend == "cython" else 300
    net = network(backend)
    start = threading.Barrier(2)

    def train() -> None:
        start.wait()
        net.fit(X, Y, epochs=epochs, learning_rate=0.01)

    threads = [threading.Thread(target=train) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    once = network(backend).fit(X, Y, epochs=2 * epochs, learning_rate=0.01)
    np.testing.assert_array_equal(net.__getstate__()["params"], once.__getstate__()["params"])
    np.testing.assert_array_equal(net.history["loss"], once.history["loss"][epochs:])


def test_predict_runs_during_a_fit_and_sees_whole_epochs_only():
    """The fit releases the GIL (this thread keeps predicting meanwhile) and publishes its
    weights only when it ends: every prediction is the old network's or the new one's."""
    net = network()
    before = net.predict(X)
    fitting = threading.Thread(target=net.fit, args=(X, Y), kwargs=dict(epochs=20_000, **FIT))
    fitting.start()
    seen = []
    while fitting.is_alive():
        seen.append(net.predict(X))
    fitting.join()
    after = net.predict(X)
    assert not np.array_equal(before, after)
    assert len(seen) > 10, "predict could not run while fit trained"
    assert all(np.array_equal(p, before) or np.array_equal(p, after) for p in seen)


def test_concurrent_predicts_agree_with_one_thread(backend, dtype):
    net = fresh_fit(backend, 5, dtype)
    inputs = np.random.default_rng(0).standard_normal((500, 6))
    expected = net.predict(inputs)
    results: list[np.ndarray] = [np.empty(0)] * 8

    def run(i: int) -> None:
        for _ in range(20):
            results[i] = net.predict(inputs)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for result in results:
        np.testing.assert_array_equal(result, expected)


# --- pickling -----------------------------------------------------------------------------


def test_pickle_round_trips_bit_for_bit_and_trains_on_identically(backend, dtype):
    net = fresh_fit(backend, 7, dtype)
    clone = pickle.loads(pickle.dumps(net))
    assert_same_network(clone, net)
    # the random state travels too: shuffling and dropout of the next fits agree
    for each in (net, clone):
        each.fit(X, Y, epochs=3, validation_data=(X, Y), **FIT)
    assert_same_network(clone, net)


def test_unpickling_checks_the_state():
    state = network().__getstate__()
    state["params"] = state["params"][:-1]
    with pytest.raises(ValueError, match="params must have shape"):
        tinynet.Network.__new__(tinynet.Network).__setstate__(state)


# --- files --------------------------------------------------------------------------------


def test_save_and_load_round_trip_bit_for_bit(tmp_path, backend, dtype):
    net = fresh_fit(backend, 4, dtype)
    net.save(tmp_path / "net.tinynet")
    loaded = tinynet.load(tmp_path / "net.tinynet")
    assert_same_network(loaded, net)
    np.testing.assert_array_equal(loaded.predict(X), net.predict(X))
    for each in (net, loaded):
        each.fit(X, Y, epochs=2, **FIT)
    assert_same_network(loaded, net)
    assert os.listdir(tmp_path) == ["net.tinynet"]  # no temporary file left behind


def test_the_file_is_a_versioned_zip_of_json_and_npy_without_pickles(tmp_path):
    network().save(tmp_path / "net.tinynet")
    with zipfile.ZipFile(tmp_path / "net.tinynet") as archive:
        assert sorted(archive.namelist()) == [
            "history.npy",
            "params.npy",
            "slots.npy",
            "statistics.npy",
            "tinynet.json",
        ]
        meta = json.loads(archive.read("tinynet.json"))
        for name in ("params.npy", "history.npy", "slots.npy", "statistics.npy"):
            with archive.open(name) as member:
                np.load(member, allow_pickle=False)
    assert meta["version"] == 2
    assert meta["layers"] == [6, 8, 3]


def test_save_overwrites_the_file_it_was_loaded_from(tmp_path):
    path = tmp_path / "net.tinynet"
    fresh_fit("cython", 1).save(path)
    net = tinynet.load(path).fit(X, Y, epochs=2, **FIT)
    net.save(path)
    assert_same_network(tinynet.load(path), net)


def test_a_save_that_fails_half_way_leaves_the_old_file_whole(tmp_path, monkeypatch):
    path = tmp_path / "net.tinynet"
    fresh_fit("cython", 1).save(path)
    old = path.read_bytes()

    def disk_full(file, state):
        file.write(b"PK\x03\x04 half an archive")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(_files, "write_archive", disk_full)
    with pytest.raises(OSError, match="No space left"):
        fresh_fit("cython", 3).save(path)
    assert path.read_bytes() == old
    assert os.listdir(tmp_path) == ["net.tinynet"]


@pytest.mark.skipif(sys.platform == "win32", reason="needs SIGKILL")
def test_a_save_killed_half_way_leaves_the_old_file_whole(tmp_path):
    """A process killed while saving: the old file is untouched (only a temporary file,
    never the target, was being written)."""
    path = tmp_path / "net.tinynet"
    saved = fresh_fit("cython", 1)
    saved.save(path)
    old = path.read_bytes()
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_SAVE, str(path)],
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert child.stdout is not None
    assert child.stdout.readline() == b"writing\n"
    child.kill()
    child.wait()
    child.stdout.close()
    assert path.read_bytes() == old
    assert_same_network(tinynet.load(path), saved)


KILLED_SAVE = """
import sys, time, tinynet
from tinynet import _files

def stall(file, state):
    file.write(b"PK\\x03\\x04 a first part")
    file.flush()
    print("writing", flush=True)
    time.sleep(60)

_files.write_archive = stall
tinynet.Network([2, 1]).save(sys.argv[1])
"""


def test_save_to_a_missing_folder_fails_and_creates_nothing(tmp_path):
    with pytest.raises(FileNotFoundError):
        network().save(tmp_path / "missing" / "net.tinynet")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("path", [3, None, b"net.tinynet"])
def test_save_and_load_reject_paths_that_are_not_str(path):
    with pytest.raises(TypeError, match="path"):
        network().save(path)
    with pytest.raises(TypeError, match="path"):
        tinynet.load(path)


def test_load_reports_a_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        tinynet.load(tmp_path / "missing.tinynet")


def rewrite(path: Path, change) -> None:
    """Rewrite the saved file at ``path`` with ``change(members)`` applied to its members
    (name -> bytes)."""
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    change(members)
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def set_meta(**entries):
    def change(members):
        meta = json.loads(members["tinynet.json"])
        meta.update(entries)
        members["tinynet.json"] = json.dumps(meta).encode()

    return change


def set_array(name: str, array: np.ndarray, allow_pickle: bool = False):
    def change(members):
        import io

        buffer = io.BytesIO()
        np.lib.format.write_array(buffer, array, allow_pickle=allow_pickle)
        members[name] = buffer.getvalue()

    return change


def drop(name: str):
    return lambda members: members.pop(name)


def add(name: str):
    return lambda members: members.update({name: b"x"})


N_PARAMS = (6 + 1) * 8 + (8 + 1) * 3


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (set_meta(version=3), "version 3 is not supported"),
        (set_meta(version="1"), "version must be an integer"),
        (set_meta(layers=[6, 9, 3]), "params must have shape"),
        (set_meta(layers=[6, -8, 3]), r"layers\[1\] must be at least 1"),
        (set_meta(layers="683"), "layers must be a sequence"),
        (set_meta(activation="swish"), "activation must be one of"),
        (set_meta(output=None), "output must be one of"),
        (set_meta(dtype="float16"), "dtype must be one of"),
        (set_meta(dtype="float32"), "params must have dtype float32"),
        (set_meta(bias=1), "bias must be True or False"),
        (set_meta(key=-1), "key must be at least 0"),
        (set_meta(key=2**64), "key must be below 2\\*\\*64"),
        (set_meta(fits=1.5), "fits must be an integer"),
        (set_meta(history_keys=["loss"]), "history_keys must be"),
        (set_meta(extra=1), "unexpected \\['extra'\\]"),
        (set_array("params.npy", np.full(N_PARAMS, np.nan)), "params holds NaN"),
        (set_array("params.npy", np.zeros(N_PARAMS + 1)), "params must have shape"),
        (set_array("params.npy", np.zeros(N_PARAMS, np.int64)), "params must have dtype"),
        (set_array("params.npy", np.zeros((N_PARAMS, 1))), "params must have shape"),
        (set_array("params.npy", np.array([{}] * N_PARAMS), True), "pickle"),
        (set_array("history.npy", np.zeros((3, 4))), "history must have shape"),
        (set_array("history.npy", np.array([[np.inf, 0.0]])), "history holds NaN"),
        (drop("params.npy"), "not a tinynet file"),
        (add("evil.py"), "not a tinynet file"),
        (lambda m: m.update({"tinynet.json": b"[1, 2]"}), "must hold a JSON object"),
        (lambda m: m.update({"tinynet.json": b"{"}), "cannot load"),
        (lambda m: m.update({"tinynet.json": b"\xff"}), "cannot load"),
        (lambda m: m.update({"params.npy": m["params.npy"] + b"!"}), "bytes after its array"),
    ],
)
def test_load_refuses_a_tampered_file(tmp_path, change, match):
    path = tmp_path / "net.tinynet"
    network().save(path)
    rewrite(path, change)
    with pytest.raises(ValueError, match=match):
        tinynet.load(path)


def test_load_refuses_truncated_and_foreign_files(tmp_path):
    path = tmp_path / "net.tinynet"
    network().save(path)
    data = path.read_bytes()
    for size in [0, 1, 4, 30, len(data) // 2, len(data) - 1]:
        path.write_bytes(data[:size])
        with pytest.raises(ValueError, match="cannot load"):
            tinynet.load(path)
    path.write_bytes(b"\x80\x04K\x01.")  # a pickle
    with pytest.raises(ValueError, match="cannot load"):
        tinynet.load(path)


def test_callbacks_see_each_epoch_once_when_training_diverges(backend):
    seen = []
    net = tinynet.Network([1, 1], output="linear", seed=0, backend=backend)
    with pytest.raises(FloatingPointError):
        net.fit([[1e100]], [1], epochs=50, callbacks=[lambda n, e, logs: seen.append(e)])
    assert seen == list(range(len(net.history["loss"])))


def test_a_fit_told_to_run_for_ever_keeps_a_history_of_what_it_ran(backend):
    """epochs=2**40 allocates no history for 2**40 epochs: EarlyStopping ends it, and the
    history holds no more memory than its 4 epochs (its own arrays, or views of a record of
    exactly those epochs)."""
    net = network(backend)
    stop = tinynet.EarlyStopping(monitor="loss", patience=3, min_delta=1.0)
    net.fit(X, Y, epochs=2**40, callbacks=[stop], **FIT)
    assert len(net.history["loss"]) == 4
    held = {
        id(h if h.base is None else h.base): (h if h.base is None else h.base).nbytes
        for h in net.history.values()
    }
    assert all(h.flags.c_contiguous for h in net.history.values())
    assert sum(held.values()) == sum(h.nbytes for h in net.history.values())


def test_a_long_fit_s_history_is_every_epoch_s(backend):
    """More epochs than one call into the backend trains, in pieces, as one fit does."""
    from tinynet import _fitting

    net = network(backend)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_fitting, "MAX_CHUNK", 7)
        net.fit(X, Y, epochs=30, **FIT)
    whole = fresh_fit(backend, 30)
    assert_same_network(net, whole)
