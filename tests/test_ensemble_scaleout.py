"""tinynet.Ensemble scaled out over Dask: README.md's example ("Many networks at once"), run as
written on a local cluster of two single-threaded worker processes, with small data.

A sweep split into chunks, one ensemble per task on the workers, gathered and combined with
``Ensemble.from_networks``, must hold bit for bit what one ``Ensemble`` of all the seeds
trains in this process, and each member what a lone ``Network`` of its seed trains; the
tasks must have run on the cluster's workers, and the scattered data must have gone to each
worker once, every task reading that copy. The cluster (a few seconds to start) is shared by
the module and closed with its client at the end.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers import assert_same_state

pytest.importorskip("distributed")

import dask.distributed
import distributed

import tinynet

README = Path(__file__).resolve().parent.parent / "README.md"

# README's train(): its network and fit options, which a lone Network must share.
LAYERS = [64, 32, 10]
NETWORK_OPTIONS = {"output": "softmax", "bias": True}
FIT_OPTIONS = {"epochs": 50, "batch_size": 32, "learning_rate": 0.01}


def readme_example() -> str:
    """The Python block of README.md's section "Many networks at once" that uses Dask."""
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## Many networks at once\n", 1)[1].split("\n## ", 1)[0]
    blocks = [b for b in re.findall(r"```python\n(.*?)```", section, re.S) if "dask" in b]
    assert len(blocks) == 1, "one Dask example in the section"
    return blocks[0]


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    """12 rows of 64 features in [0, 1) and their labels among 10: one batch an epoch."""
    rng = np.random.default_rng(0)
    return rng.random((12, 64)), rng.integers(0, 10, size=12)


@pytest.fixture(scope="module")
def example(dask_client, data) -> dict[str, Any]:
    """README's example run on the cluster as written (its Client is this module's), with
    its names afterwards and the stream of the tasks it ran."""
    X, labels = data
    names: dict[str, Any] = {
        # Not an importable module: the workers get train() by value, as from a script.
        "__name__": "readme_example",
        "np": np,
        "tinynet": tinynet,
        "X": X,
        "labels": labels,
    }
    code = compile(readme_example(), "README.md", "exec")
    with (
        pytest.MonkeyPatch.context() as patch,
        distributed.get_task_stream(dask_client) as stream,
    ):
        patch.setattr(dask.distributed, "Client", lambda *args, **kwargs: dask_client)
        exec(code, names)  # the README's own code
    names["task stream"] = stream.data
    return names


def assert_same_network(got: tinynet.Network, expected: tinynet.Network) -> None:
    """Everything a network holds, bit for bit (weights, history, optimizer state, random
    streams)."""
    assert_same_state(got.__getstate__(), expected.__getstate__())


def test_the_chunks_combined_are_the_ensemble_of_all_seeds_trained_here(example, data) -> None:
    X, labels = data
    chunks, sweep = example["chunks"], example["sweep"]
    seeds = [int(seed) for chunk in chunks for seed in chunk]
    assert seeds == list(range(256))
    # Each task's ensemble came back whole: its chunk's seeds, trained.
    results = example["client"].gather(example["futures"])
    assert [ens.seeds for ens in results] == [tuple(chunk.tolist()) for chunk in chunks]
    assert sweep.seeds == tuple(seeds) and len(sweep) == len(seeds)

    here = example["train"](X, np.eye(10)[labels], seeds)  # one ensemble, in this process
    assert here.seeds == tuple(seeds)
    assert sweep.history.keys() == here.history.keys()
    for name, values in here.history.items():
        assert values.shape == (len(seeds), FIT_OPTIONS["epochs"])
        assert np.array_equal(sweep.history[name], values), f"history[{name!r}]"
    for member, one in zip(sweep.members, here.members, strict=True):
        assert_same_network(member, one)
    # The members differ from one another: the seeds were not all the same.
    assert not np.array_equal(sweep.members[0].weights[0], sweep.members[1].weights[0])


def test_each_member_is_the_lone_network_of_its_seed(example, data) -> None:
    X, labels = data
    Y = np.eye(10)[labels]
    for k, member in enumerate(example["sweep"].members):
        alone = tinynet.Network(LAYERS, seed=k, **NETWORK_OPTIONS).fit(X, Y, **FIT_OPTIONS)
        assert_same_network(member, alone)


def test_the_tasks_ran_on_both_workers(example, dask_client) -> None:
    workers = set(dask_client.scheduler_info()["workers"])
    assert len(workers) == 2
    tasks = [task for task in example["task stream"] if task["key"].startswith("train-")]
    assert len(tasks) == len(example["chunks"])
    assert all(task["status"] == "OK" for task in tasks)
    # 32 tasks on two idle workers: the scheduler gives both some.
    assert {task["worker"] for task in tasks} == workers
    # Worker processes, not this one.
    assert os.getpid() not in set(dask_client.run(os.getpid).values())


def test_the_data_went_to_each_worker_once_and_every_task_read_it_there(
    example, dask_client
) -> None:
    X_, Y_ = example["X_"], example["Y_"]

    # Every task took X and Y by reference to the scattered keys, not as arrays of its own.
    def dependencies(dask_scheduler, keys):
        return {key: {d.key for d in dask_scheduler.tasks[key].dependencies} for key in keys}

    keys = [future.key for future in example["futures"]]
    found = dask_client.run_on_scheduler(dependencies, keys=keys)
    assert all(found[key] == {X_.key, Y_.key} for key in keys)
    # Broadcast, they were on both workers before any task ran (which both did): no task
    # fetched them from another worker, as each worker's first task would without broadcast.
    # (Their copies are not looked for afterwards: the scheduler's active memory manager
    # drops replicas no task waits for.)
    steps = [
        step
        for task in example["task stream"]
        if task["key"].startswith("train-")
        for step in task["startstops"]
    ]
    assert steps and {step["action"] for step in steps} == {"compute"}
