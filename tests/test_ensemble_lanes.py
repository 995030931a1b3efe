"""An ensemble's small networks trained across the lanes of a vector, in groups: each member
ends bit for bit where its network ends alone, the group's call really made, and a group
that fails leaves its members as they were."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest
from helpers import assert_same_state, make_inputs
from hypothesis import given, settings
from hypothesis import strategies as st

import tinynet
from tinynet import _core, _lanes, _plan
from tinynet._blog import XOR_X, XOR_Y

pytestmark = pytest.mark.skipif(not _core.SMALL_ROAD_BUILT, reason="no small road in this build")


@st.composite
def lane_cases(draw: st.DrawFn) -> dict[str, Any]:
    """K small networks on a few rows whose fits take the small networks' road (every
    product below the BLAS crossover), with per-member learning rates, momenta and L2."""
    n = draw(st.integers(1, 6))
    hidden = draw(st.lists(st.integers(1, 4), max_size=2))
    layers = [draw(st.integers(1, 3)), *hidden, draw(st.integers(1, 3))]
    while n > 1 and n * max(k * j for k, j in itertools.pairwise(layers)) >= 100:
        n -= 1
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    output = draw(st.sampled_from(["sigmoid", "linear"]))
    X = make_inputs(rng, n, layers[0], scale=draw(st.floats(0.1, 2.0)))
    y = rng.random((n, layers[-1]))
    K = draw(st.integers(1, 20))
    momenta = [draw(st.sampled_from([0.0, 0.5, 0.9])) for _ in range(K)]
    # Now and then a rate big enough to diverge.
    rates = [draw(st.sampled_from([0.01, 0.3, 1.0, 40.0])) for _ in range(K)]
    l2s = [draw(st.sampled_from([0.0, 1e-3, 0.1])) for _ in range(K)]
    return {
        "layers": layers,
        "X": X.astype(dtype),
        "y": y.astype(dtype),
        "network": {
            "activation": draw(st.sampled_from(["sigmoid", "tanh", "relu", "linear"])),
            "output": output,
            "bias": draw(st.booleans()),
            "dtype": dtype,
        },
        "seeds": draw(st.lists(st.integers(0, 2**32 - 1), min_size=K, max_size=K)),
        "members": [
            {"learning_rate": r, "momentum": m, "l2": w}
            for r, m, w in zip(rates, momenta, l2s, strict=True)
        ],
        "fit": {
            "epochs": draw(st.integers(1, 40)),
            "nesterov": draw(st.booleans()),
            "clip": draw(st.none() | st.sampled_from([0.05, 1.0])),
        },
        "n_threads": draw(st.sampled_from([1, 2])),
        # The instruction set of the group and of the networks alone (sets with and without
        # fused multiply-adds round differently).
        "instruction_set": draw(st.sampled_from(_core.instruction_sets())),
    }


def train_alone(case: dict[str, Any]) -> tuple[list[tinynet.Network], list[int]]:
    networks, diverged = [], []
    for k, seed in enumerate(case["seeds"]):
        net = tinynet.Network(case["layers"], seed=seed, **case["network"])
        try:
            with _plan.forced(instruction_set=case["instruction_set"]):
                net.fit(case["X"], case["y"], **case["fit"], **case["members"][k])
        except FloatingPointError:
            diverged.append(k)
        networks.append(net)
    return networks, diverged


@settings(max_examples=40, deadline=None)
@given(lane_cases())
def test_members_across_lanes_end_where_each_network_ends_alone(case: dict[str, Any]) -> None:
    networks, diverged = train_alone(case)
    ensemble = tinynet.Ensemble(
        case["layers"], len(networks), seeds=case["seeds"], **case["network"]
    )
    per_member = {
        name: [member[name] for member in case["members"]]
        for name in ("learning_rate", "momentum", "l2")
    }
    calls: list[int] = []
    real = _core.train_members

    def spy(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    with (
        pytest.MonkeyPatch.context() as patch,
        _plan.forced(instruction_set=case["instruction_set"]),
    ):
        patch.setattr(_core, "train_members", spy)
        if diverged:
            with pytest.raises(FloatingPointError, match=f"member {diverged[0]} in epoch"):
                ensemble.fit(
                    case["X"], case["y"], **case["fit"], **per_member, n_threads=case["n_threads"]
                )
        else:
            ensemble.fit(
                case["X"], case["y"], **case["fit"], **per_member, n_threads=case["n_threads"]
            )
    for member, alone in zip(ensemble.members, networks, strict=True):
        assert_same_state(member.__getstate__(), alone.__getstate__())
    # Groups of LANES, the last one from MIN_GROUP members up: the rest train alone.
    K = len(networks)
    expected = K // _lanes.LANES + (K % _lanes.LANES >= _lanes.MIN_GROUP)
    assert len(calls) == expected


XOR, XOR_Y = XOR_X.astype(float), XOR_Y.astype(float)


def test_only_fits_on_the_small_road_with_a_plain_rate_share_lanes() -> None:
    """Members with a schedule, a callback, a validation set, rows, mini-batches or Adam
    train alone (and still end as alone); those without train in a group."""
    calls: list[int] = []
    real = _core.train_members

    def spy(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    variants: list[dict[str, Any]] = [
        {"learning_rate": lambda epoch: 0.5},
        {"callbacks": [[tinynet.EarlyStopping(monitor="loss", patience=100)] for _ in range(8)]},
        {"validation_data": (XOR, XOR_Y)},
        {"rows": [np.arange(4)] * 8},
        {"batch_size": 2},
        {"optimizer": "adam", "learning_rate": 0.1},
        {"verbose": 5},
    ]
    for options in variants:
        calls.clear()
        ens = tinynet.Ensemble([3, 4, 1], 8, seeds=range(8))
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(_core, "train_members", spy)
            ens.fit(XOR, XOR_Y, epochs=10, progress=False, **options)
        assert calls == [], options
    ens = tinynet.Ensemble([3, 4, 1], 8, seeds=range(8))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_core, "train_members", spy)
        ens.fit(XOR, XOR_Y, epochs=10)
    assert calls == [1]


def test_a_group_that_fails_leaves_its_members_as_they_were() -> None:
    ens = tinynet.Ensemble([3, 4, 1], 10, seeds=range(10))
    ens.fit(XOR, XOR_Y, epochs=5, learning_rate=[0.5] * 8 + [0.5, 0.5])
    before = [member.__getstate__() for member in ens.members]

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_core, "train_members", interrupted)
        with pytest.raises(KeyboardInterrupt) as raised:
            ens.fit(XOR, XOR_Y, epochs=7, n_threads=1)
    notes = " ".join(getattr(raised.value, "__notes__", []))
    assert "raised while members [0, 1, 2, 3, 4, 5, 6, 7] trained together" in notes
    assert f"members {list(range(10))} were not trained" in notes
    after = [member.__getstate__() for member in ens.members]
    for k in range(8):
        assert_same_state(after[k], before[k])
    # The two left over train alone, in turn after the group: never started.
    for k in (8, 9):
        assert_same_state(after[k], before[k])


def test_a_group_failing_in_a_member_trained_again_alone_keeps_those_before_it() -> None:
    """Member 3 diverges in its group and is trained again alone, which raises (Ctrl-C):
    the members before it are trained, those after it are as they were."""
    rates = [0.05] * 8
    rates[3] = 5.0  # diverges
    linear = {"activation": "linear", "output": "linear"}
    ens = tinynet.Ensemble([3, 4, 1], 8, seeds=range(8), **linear)
    before = [member.__getstate__() for member in ens.members]
    alone = [
        tinynet.Network([3, 4, 1], seed=k, **linear).fit(
            XOR, XOR_Y, epochs=30, learning_rate=rates[k]
        )
        for k in range(3)
    ]

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tinynet.Network, "fit", interrupted)
        with pytest.raises(KeyboardInterrupt) as raised:
            ens.fit(XOR, XOR_Y, epochs=30, learning_rate=rates, n_threads=1)
    notes = " ".join(getattr(raised.value, "__notes__", []))
    assert "raised by member 3" in notes
    assert "members [4, 5, 6, 7] were not trained" in notes
    after = [member.__getstate__() for member in ens.members]
    for k in range(3):
        assert_same_state(after[k], alone[k].__getstate__())
    for k in range(3, 8):
        assert_same_state(after[k], before[k])
