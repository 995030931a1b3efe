"""fit(resume=True) and the state that carries it: fit(epochs=a) then fit(epochs=b,
resume=True) ends bit for bit where fit(epochs=a + b) ends, with shuffling and dropout on,
for every optimizer, with batch normalisation, schedules and sample weights, also through
save/load and pickling; and the state's new entries are checked."""

from __future__ import annotations

import json
import pickle
import zipfile

import numpy as np
import pytest
from helpers import assert_same_state

from tinynet import SGD, Adam, AdamW, Network, RMSprop, load, schedules

rng = np.random.default_rng(1515)
X = rng.standard_normal((13, 4))
Y = rng.random((13, 3))

OPTIMIZERS = [
    SGD(momentum=0.9, nesterov=True),
    Adam(),
    AdamW(weight_decay=0.1),
    RMSprop(momentum=0.5),
]
FIT = {
    "batch_size": 4,
    "shuffle": True,
    "dropout": 0.25,
    "l2": 0.01,
    "learning_rate": schedules.cosine(0.05, 6),
}


def network(backend: str, batch_norm: bool = False) -> Network:
    return Network([4, 6, 5, 3], bias=True, seed=11, backend=backend, batch_norm=batch_norm)


def same_network(a: Network, b: Network) -> None:
    """Same weights, optimizer state, running statistics and random streams."""
    sa, sb = a.__getstate__(), b.__getstate__()
    for key in ("params", "slots", "statistics"):
        np.testing.assert_array_equal(sa[key], sb[key], strict=True, err_msg=key)
    for key in ("updates", "resume", "fits", "key"):
        assert sa[key] == sb[key], key


def travel(net: Network, how: str, tmp_path) -> Network:
    if how == "save":
        net.save(tmp_path / "net.tinynet")
        return load(tmp_path / "net.tinynet")
    if how == "pickle":
        return pickle.loads(pickle.dumps(net))
    return net


@pytest.mark.parametrize("how", ["same", "save", "pickle"])
@pytest.mark.parametrize("optimizer", OPTIMIZERS, ids=lambda o: type(o).__name__)
@pytest.mark.parametrize("batch_norm", [False, True], ids=["", "batch_norm"])
def test_resume_is_bit_for_bit(backend, optimizer, batch_norm, how, tmp_path):
    weights = rng.random(13) + 0.1
    once = network(backend, batch_norm)
    once.fit(X, Y, epochs=5, optimizer=optimizer, sample_weight=weights, **FIT)
    twice = network(backend, batch_norm)
    twice.fit(X, Y, epochs=2, optimizer=optimizer, sample_weight=weights, **FIT)
    twice = travel(twice, how, tmp_path)
    twice.fit(X, Y, epochs=3, optimizer=optimizer, sample_weight=weights, resume=True, **FIT)
    same_network(twice, once)
    assert len(twice.history["loss"]) == 3
    np.testing.assert_array_equal(twice.history["loss"], once.history["loss"][2:])
    assert once.__getstate__()["resume"]["epochs"] == 5
    # the next fits, not resumed, draw the same streams too
    for each in (once, twice):
        each.fit(X, Y, epochs=2, optimizer=optimizer, **FIT)
    same_network(twice, once)


def test_resume_state_is_kept_and_a_new_fit_starts_afresh(backend):
    net = network(backend, batch_norm=True)
    net.fit(X, Y, epochs=2, optimizer="adam", **FIT)
    state = net.__getstate__()
    assert state["slots"].shape == (2, len(state["params"]))
    # 13 rows in batches of 4, the last row joining the batch before it: 3 updates an epoch
    assert state["updates"] == 2 * 3
    assert state["resume"] == {
        "optimizer": "adam",
        "hyperparameters": {"beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-8},
        "fit": 0,
        "epochs": 2,
    }
    running = state["statistics"]
    net.fit(X, Y, epochs=1, optimizer="adam", **FIT)  # not resumed: fresh moments, t from 0
    assert net.__getstate__()["updates"] == 3
    assert net.__getstate__()["fits"] == 2
    # the running statistics belong to the network: they continued
    fresh = network(backend, batch_norm=True)
    fresh.batch_norm = [
        {**layer, "running_mean": layer["running_mean"] * 0} for layer in fresh.batch_norm
    ]
    assert not np.array_equal(net.__getstate__()["statistics"], running)


def test_resume_before_any_fit_is_a_fresh_fit(backend):
    a = network(backend).fit(X, Y, epochs=2, **FIT)
    b = network(backend).fit(X, Y, epochs=2, resume=True, **FIT)
    same_network(a, b)


# --- the state's new entries ----------------------------------------------------------------


def fitted_state() -> dict:
    net = Network([4, 6, 3], batch_norm=True, seed=0)
    state = net.__getstate__()
    n = len(state["params"])
    state.update(
        fits=1,
        updates=5,
        slots=np.zeros((2, n)),
        resume={"optimizer": "adamw", "hyperparameters": {"weight_decay": 0.1}, "fit": 0,
                "epochs": 5},
    )  # fmt: skip
    return state


def test_a_state_with_training_state_round_trips(tmp_path):
    net = Network.__new__(Network)
    net.__setstate__(fitted_state())
    state = net.__getstate__()
    assert state["version"] == 2
    assert state["resume"]["hyperparameters"] == {
        "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-8, "weight_decay": 0.1
    }  # fmt: skip
    net.save(tmp_path / "net.tinynet")
    assert_same_state(load(tmp_path / "net.tinynet").__getstate__(), state)
    with zipfile.ZipFile(tmp_path / "net.tinynet") as archive:
        assert sorted(archive.namelist()) == [
            "history.npy", "params.npy", "slots.npy", "statistics.npy", "tinynet.json"
        ]  # fmt: skip
        meta = json.loads(archive.read("tinynet.json"))
    assert meta["version"] == 2 and meta["batch_norm"] is True and meta["updates"] == 5


def test_version_1_records_and_files_still_load(tmp_path):
    net = Network([4, 6, 3], bias=True, seed=0)
    state = net.__getstate__()
    v1 = {key: state[key] for key in (
        "version", "layers", "activation", "output", "bias", "dtype", "backend", "init",
        "key", "fits", "history_keys", "params", "history")}  # fmt: skip
    v1["version"] = 1
    clone = Network.__new__(Network)
    clone.__setstate__(v1)
    assert_same_state(clone.__getstate__(), state)
    with zipfile.ZipFile(tmp_path / "v1.tinynet", "w") as archive:
        meta = {k: v for k, v in v1.items() if k not in ("params", "history")}
        archive.writestr("tinynet.json", json.dumps(meta))
        for name in ("params", "history"):
            with archive.open(f"{name}.npy", "w") as member:
                np.lib.format.write_array(member, v1[name])
    assert_same_state(load(tmp_path / "v1.tinynet").__getstate__(), state)
    np.testing.assert_array_equal(load(tmp_path / "v1.tinynet").predict(X), net.predict(X))


N = (4 * 6 + 6 * 3) + 2 * 6


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        ({"version": 3}, ValueError, "version 3 is not supported"),
        ({"slots": np.zeros((2, N + 1))}, ValueError, "slots must have shape"),
        ({"slots": np.zeros((1, N))}, ValueError, "slots must have 0 or 2 rows"),
        ({"slots": np.full((2, N), np.nan)}, ValueError, "slots holds NaN"),
        ({"slots": np.zeros((2, N), np.float32)}, ValueError, "slots must have dtype"),
        ({"slots": [[0.0] * N] * 2}, TypeError, "slots must be a numpy array"),
        ({"statistics": np.zeros(11)}, ValueError, "statistics must have shape"),
        ({"statistics": -np.ones(12)}, ValueError, "running variance must be non-negative"),
        ({"statistics": np.full(12, np.inf)}, ValueError, "statistics holds NaN"),
        ({"updates": -1}, ValueError, "updates must be at least 0"),
        ({"updates": 1.0}, TypeError, "updates must be an integer"),
        ({"batch_norm": "yes"}, TypeError, "batch_norm must be True or False"),
        ({"batch_norm": False}, ValueError, "params must have shape"),
        ({"batch_norm_momentum": 2.0}, ValueError, "batch_norm_momentum"),
        ({"batch_norm_epsilon": -1.0}, ValueError, "batch_norm_epsilon"),
        ({"resume": "adam"}, ValueError, "resume must be None or a dict"),
        ({"resume": None}, ValueError, "slots and updates need a resume entry"),
        ({"resume": {"optimizer": "adam"}}, ValueError, "resume must be None or a dict"),
        ({"resume": {"optimizer": "nadam", "hyperparameters": {}, "fit": 0, "epochs": 1}},
         ValueError, r"resume\['optimizer'\]"),
        ({"resume": {"optimizer": "adam", "hyperparameters": {"rho": 0.9}, "fit": 0,
                     "epochs": 1}}, ValueError, "hyperparameters"),
        ({"resume": {"optimizer": "adam", "hyperparameters": {"beta_1": 1.0}, "fit": 0,
                     "epochs": 1}}, ValueError, "beta_1"),
        ({"resume": {"optimizer": "adam", "hyperparameters": [], "fit": 0, "epochs": 1}},
         TypeError, "hyperparameters"),
        ({"resume": {"optimizer": "adam", "hyperparameters": {}, "fit": 1, "epochs": 1}},
         ValueError, "below fits"),
        ({"resume": {"optimizer": "adam", "hyperparameters": {}, "fit": 0, "epochs": -1}},
         ValueError, "epochs"),
    ],
)  # fmt: skip
def test_bad_new_entries_are_refused(change, error, match):
    state = {**fitted_state(), **change}
    net = Network([3, 2], seed=0)
    before = net.__getstate__()
    with pytest.raises(error, match=match):
        net.__setstate__(state)
    assert_same_state(net.__getstate__(), before)
