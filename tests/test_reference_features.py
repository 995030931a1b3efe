"""The numpy reference's issue-15 features on their own: the properties that hold between
runs of the reference itself, bit for bit where the arithmetic is the same and to rounding
where only the order of the sums changes (tests/test_torch_oracle.py holds the formulas to
PyTorch).

* **Resume**: a trainer given another's state and ``first_epoch`` continues it exactly.
* **Rollback**: a diverged or interrupted epoch leaves parameters, slots, statistics and the
  count of updates as they were at its start.
* **Rates**: ``run``'s per-epoch rates equal runs at constant rates, the state carried.
* **Batches**: a one-row last batch joins the one before it, with batch normalisation only.
* **Sample weights**: all ones as none; integer weights as repeated rows.
* **loss_and_gradient**: one plain SGD step is ``params - learning_rate * gradient``;
  central differences.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from tinynet import reference
from tinynet._layout import n_params, split_batch_norm
from tinynet._optimizers import TrainingState, fresh_state, fresh_statistics, keeps_state
from tinynet._settings import Architecture, Training

OPTIMIZERS = {
    "sgd": dict(optimizer="sgd", learning_rate=0.05),
    "sgd-nesterov": dict(optimizer="sgd", learning_rate=0.05, momentum=0.8, nesterov=True),
    "adam": dict(optimizer="adam", learning_rate=0.01, beta_1=0.8, beta_2=0.9),
    "adamw": dict(optimizer="adamw", learning_rate=0.01, weight_decay=0.2),
    "rmsprop": dict(optimizer="rmsprop", learning_rate=0.005, rho=0.9, momentum=0.4),
}


def make(
    seed: int,
    *,
    n: int = 23,
    batch_norm: bool = False,
    bias: bool = True,
    activation: str = "tanh",
    output: str = "softmax",
    dtype: type = np.float64,
    **training,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, Architecture, Training]:
    """A random problem: X, y, params, and the records (training's keywords as given)."""
    rng = np.random.default_rng(seed)
    sizes = [4, 6, 5, 3]
    arch = Architecture(
        np.array(sizes, dtype=np.intp), activation, output, bias, batch_norm=batch_norm
    )
    X = rng.normal(size=(n, sizes[0])).astype(dtype)
    if output == "softmax":
        y = np.eye(sizes[-1], dtype=dtype)[rng.integers(0, sizes[-1], size=n)]
    else:
        y = rng.uniform(size=(n, sizes[-1])).astype(dtype)
    params = rng.uniform(-1, 1, size=n_params(sizes, bias, batch_norm)).astype(dtype)
    if batch_norm:
        for scale, _ in split_batch_norm(params, sizes, bias):
            scale[...] = 1 + scale / 4
    return X, y, params, arch, Training(**training)


def fresh(params: np.ndarray, arch: Architecture) -> TrainingState:
    statistics = fresh_statistics(arch.layer_sizes, arch.batch_norm, params.dtype)
    return fresh_state(len(params), params.dtype, statistics)


def snapshot(trainer: reference.Trainer) -> tuple:
    """Everything a trainer trains, as bytes."""
    state = trainer.state
    return (
        trainer.params.tobytes(),
        state.slots.tobytes(),
        state.statistics.tobytes(),
        state.updates,
        trainer.updates,
    )


NOISY = dict(shuffle=True, dropout=0.2, dropout_scale=1.25, batch_size=4, l2=0.01)
NOISY_KEYS = dict(shuffle_key=0x1234, dropout_key=0x5678)


@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
@pytest.mark.parametrize("batch_norm", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_resume_continues_bit_for_bit(optimizer, batch_norm, dtype):
    """Epochs 3 + 2 in two trainers (the second given the first's state and first_epoch 3)
    end where one trainer running 5 epochs ends, with shuffling and dropout on: parameters,
    slots, statistics, updates and every history row."""
    X, y, params, arch, t = make(
        1, batch_norm=batch_norm, dtype=dtype, **OPTIMIZERS[optimizer], **NOISY, **NOISY_KEYS
    )
    validation = (X[:5].copy(), y[:5].copy())
    whole = reference.Trainer(X, y, params.copy(), arch, t, validation)
    history = np.full((5, 4), np.nan)
    assert whole.run(5, history) == 5
    assert whole.updates == whole.state.updates == 5 * 6

    first = reference.Trainer(X, y, params.copy(), arch, t, validation)
    parts = np.full((5, 4), np.nan)
    assert first.run(3, parts[:3]) == 3
    second = reference.Trainer(
        X, y, first.params, arch, t, validation, state=first.state, first_epoch=3
    )
    assert second.updates == 3 * 6
    assert second.run(2, parts[3:]) == 2
    assert second.epoch == 2
    assert snapshot(second) == snapshot(whole)
    assert parts.tobytes() == history.tobytes()

    # first_epoch matters: from epoch 0's streams the last two epochs go elsewhere
    again = reference.Trainer(X, y, params.copy(), arch, t, validation)
    again.run(3, np.full((3, 4), np.nan))
    wrong = reference.Trainer(X, y, again.params, arch, t, validation, state=again.state)
    wrong.run(2, np.full((2, 4), np.nan))
    assert wrong.params.tobytes() != whole.params.tobytes()


@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
@pytest.mark.parametrize("batch_norm", [False, True])
def test_divergence_rolls_the_state_back(optimizer, batch_norm):
    """An epoch whose rate blows the parameters up is undone: parameters, slots, running
    statistics and updates as after the epoch before it; a fresh run of that one epoch
    gives the same bytes."""
    X, y, params, arch, t = make(
        2,
        batch_norm=batch_norm,
        output="linear",
        **OPTIMIZERS[optimizer],
        **NOISY,
        **NOISY_KEYS,
    )
    rates = np.array([t.learning_rate, 1e300, t.learning_rate])
    trainer = reference.Trainer(X, y, params.copy(), arch, t)
    history = np.full((3, 4), np.nan)
    assert trainer.run(3, history, rates) == 1
    assert trainer.epoch == 1
    one = reference.Trainer(X, y, params.copy(), arch, t)
    assert one.run(1, np.full((1, 4), np.nan), rates[:1]) == 1
    assert snapshot(trainer) == snapshot(one)
    assert trainer.updates == 6
    # and the trainer can go on from there
    assert trainer.run(1, history[1:2], rates[2:]) == 1
    assert trainer.updates == trainer.state.updates == 12


@pytest.mark.parametrize("optimizer", ["sgd-nesterov", "adam", "rmsprop"])
def test_interrupt_rolls_the_state_back(optimizer, monkeypatch):
    """An exception in the middle of an epoch (Ctrl-C) propagates, the epoch undone."""
    X, y, params, arch, t = make(3, batch_norm=True, **OPTIMIZERS[optimizer], **NOISY)
    trainer = reference.Trainer(X, y, params.copy(), arch, t)
    trainer.run(1, np.full((1, 4), np.nan))
    before = snapshot(trainer)
    calls = []
    train_batch = reference.Trainer._train_batch

    def interrupted(self, *args):
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return train_batch(self, *args)

    monkeypatch.setattr(reference.Trainer, "_train_batch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        trainer.run(2, np.full((2, 4), np.nan))
    assert len(calls) == 4
    assert snapshot(trainer) == before
    assert trainer.epoch == 1


@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_rates_are_per_epoch(optimizer, dtype):
    """``run(2, history, [a, b])`` equals a run at learning_rate a, then one at b given its
    state and first_epoch 1, bit for bit; the constant rate a ends elsewhere."""
    X, y, params, arch, t = make(
        4, batch_norm=True, dtype=dtype, **OPTIMIZERS[optimizer], **NOISY, **NOISY_KEYS
    )
    a, b = t.learning_rate, t.learning_rate / 3
    scheduled = reference.Trainer(X, y, params.copy(), arch, t)
    history = np.full((2, 4), np.nan)
    assert scheduled.run(2, history, np.array([a, b])) == 2

    first = reference.Trainer(X, y, params.copy(), arch, dataclasses.replace(t, learning_rate=a))
    parts = np.full((2, 4), np.nan)
    first.run(1, parts[:1])
    second = reference.Trainer(
        X,
        y,
        first.params,
        arch,
        dataclasses.replace(t, learning_rate=b),
        state=first.state,
        first_epoch=1,
    )
    second.run(1, parts[1:])
    assert snapshot(second) == snapshot(scheduled)
    assert parts.tobytes() == history.tobytes()

    constant = reference.Trainer(X, y, params.copy(), arch, t)
    constant.run(2, np.full((2, 4), np.nan))
    assert constant.params.tobytes() != scheduled.params.tobytes()


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_one_row_last_batch_joins_the_one_before(optimizer):
    """11 rows in batches of 5 with batch normalisation: two updates, of 5 and 6 rows (the
    same bytes as a batch of 5 then a batch of 6 taken by two trainers); without batch
    normalisation three, the last of one row."""
    X, y, params, arch, t = make(5, n=11, batch_norm=True, batch_size=5, **OPTIMIZERS[optimizer])
    trainer = reference.Trainer(X, y, params.copy(), arch, t)
    trainer.run(2, np.full((2, 4), np.nan))
    assert trainer.updates == 4

    state = fresh(params, arch)
    p = params.copy()
    for _ in range(2):
        for rows, size in [(slice(0, 5), 5), (slice(5, 11), 6)]:
            part = reference.Trainer(
                X[rows], y[rows], p, arch, dataclasses.replace(t, batch_size=size), state=state
            )
            part.run(1, np.full((1, 4), np.nan))
    assert p.tobytes() == trainer.params.tobytes()
    assert state.statistics.tobytes() == trainer.state.statistics.tobytes()
    if keeps_state(t):
        assert state.slots.tobytes() == trainer.state.slots.tobytes()
    else:  # plain SGD keeps no slots; the parts' state, given two, left them at zero
        assert trainer.state.slots.shape[0] == 0 and not state.slots.any()

    plain = dataclasses.replace(arch, batch_norm=False)
    params = params[: n_params(arch.layer_sizes, arch.bias)].copy()
    trainer = reference.Trainer(X, y, params, plain, t)
    trainer.run(2, np.full((2, 4), np.nan))
    assert trainer.updates == 6


def test_batch_norm_refuses_batches_of_one_row():
    X, y, params, arch, t = make(6, n=8, batch_norm=True, batch_size=1)
    with pytest.raises(ValueError, match="batch_size"):
        reference.Trainer(X, y, params, arch, t)
    X, y, params, arch, t = make(6, n=1, batch_norm=True, batch_size=4)
    with pytest.raises(ValueError, match="X"):
        reference.Trainer(X, y, params, arch, t)


@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
@pytest.mark.parametrize("output", ["sigmoid", "linear", "softmax"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sample_weights_of_ones_change_nothing(optimizer, output, dtype):
    """Weights of 1 multiply exactly and sum to n: the same bytes as no weights, history
    included, with shuffling, dropout, clipping and batch normalisation."""
    X, y, params, arch, t = make(
        7,
        batch_norm=True,
        output=output,
        dtype=dtype,
        clip=0.5,
        **OPTIMIZERS[optimizer],
        **NOISY,
        **NOISY_KEYS,
    )
    validation = (X[:4].copy(), y[:4].copy())
    results = []
    for weights in [None, np.ones(len(X), dtype=dtype)]:
        trainer = reference.Trainer(
            X, y, params.copy(), arch, t, validation, sample_weight=weights
        )
        history = np.full((3, 4), np.nan)
        assert trainer.run(3, history) == 3
        results.append((snapshot(trainer), history.tobytes()))
    assert results[0] == results[1]


@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
@pytest.mark.parametrize("output", ["sigmoid", "linear", "softmax"])
def test_integer_sample_weights_repeat_rows(optimizer, output):
    """Full-batch training with weights 0-3 equals training on the rows repeated that many
    times (to rounding: the sums run in another order), history included. (Not with batch
    normalisation: repeated rows change the batch's statistics, weights do not.)"""
    X, y, params, arch, t = make(8, n=12, output=output, **OPTIMIZERS[optimizer], l2=0.01)
    t = dataclasses.replace(t, batch_size=100)
    weights = np.random.default_rng(8).integers(0, 4, size=len(X)).astype(np.float64)
    weights[:2] = [0, 3]
    weighted = reference.Trainer(X, y, params.copy(), arch, t, sample_weight=weights)
    history = np.full((4, 4), np.nan)
    weighted.run(4, history)
    repeat = np.repeat(np.arange(len(X)), weights.astype(int))
    repeated = reference.Trainer(X[repeat], y[repeat], params.copy(), arch, t)
    expected = np.full((4, 4), np.nan)
    repeated.run(4, expected)
    assert not np.allclose(weighted.params, params, rtol=1e-4)
    np.testing.assert_allclose(weighted.params, repeated.params, rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(weighted.state.slots, repeated.state.slots, rtol=1e-9, atol=1e-14)
    np.testing.assert_allclose(history[:, :2], expected[:, :2], rtol=1e-12)

    gradients = []
    for rows, w in [(slice(None), weights), (repeat, None)]:
        gradient = np.empty_like(params)
        loss = reference.loss_and_gradient(X[rows], y[rows], params, arch, None, w, 0.1, gradient)
        gradients.append((loss, gradient))
    np.testing.assert_allclose(gradients[0][0], gradients[1][0], rtol=1e-12)
    np.testing.assert_allclose(gradients[0][1], gradients[1][1], rtol=1e-11, atol=1e-13)


@pytest.mark.parametrize("batch_norm", [False, True])
@pytest.mark.parametrize("output", ["sigmoid", "linear", "softmax"])
@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu"])
def test_loss_and_gradient_is_the_sgd_step(batch_norm, output, activation):
    """One full-batch step of plain SGD is ``params - learning_rate * gradient``, bit for
    bit, and the first epoch's loss the returned one less its l2 term (to rounding)."""
    X, y, params, arch, t = make(
        9,
        batch_norm=batch_norm,
        output=output,
        activation=activation,
        batch_size=100,
        learning_rate=0.1,
        l2=0.03,
    )
    w = np.random.default_rng(9).uniform(0, 2, size=len(X))
    statistics = fresh_statistics(arch.layer_sizes, batch_norm, params.dtype)
    gradient = np.full_like(params, np.nan)
    loss = reference.loss_and_gradient(X, y, params, arch, statistics, w, t.l2, gradient)
    assert np.isfinite(gradient).all() and np.any(gradient != 0)
    trainer = reference.Trainer(X, y, params.copy(), arch, t, sample_weight=w)
    history = np.full((1, 4), np.nan)
    trainer.run(1, history)
    assert trainer.params.tobytes() == (params - t.learning_rate * gradient).tobytes()
    weights = [block[:-1] for block in reference.unpack(params, arch.layer_sizes, True)]
    l2_term = t.l2 / 2 * sum(float(np.sum(v**2)) for v in weights)
    np.testing.assert_allclose(history[0, 0] * w.sum(), loss - l2_term, rtol=1e-13)


@pytest.mark.parametrize("batch_norm", [False, True])
@pytest.mark.parametrize("output", ["sigmoid", "linear", "softmax"])
def test_loss_and_gradient_central_differences(batch_norm, output):
    """The gradient against central differences of the returned loss (no PyTorch needed);
    the parameters and statistics are left alone."""
    X, y, params, arch, _ = make(10, n=7, batch_norm=batch_norm, output=output)
    w = np.random.default_rng(10).uniform(0, 2, size=len(X))
    statistics = fresh_statistics(arch.layer_sizes, batch_norm, params.dtype)
    before = params.copy(), statistics.copy()
    gradient = np.empty_like(params)
    reference.loss_and_gradient(X, y, params, arch, statistics, w, 0.2, gradient)
    assert params.tobytes() == before[0].tobytes()
    assert statistics.tobytes() == before[1].tobytes()
    h = 1e-6
    numeric = np.empty_like(params)
    scratch = np.empty_like(params)
    for i in range(len(params)):
        shifted = params.copy()
        shifted[i] += h
        up = reference.loss_and_gradient(X, y, shifted, arch, statistics, w, 0.2, scratch)
        shifted[i] -= 2 * h
        down = reference.loss_and_gradient(X, y, shifted, arch, statistics, w, 0.2, scratch)
        numeric[i] = (up - down) / (2 * h)
    np.testing.assert_allclose(gradient, numeric, rtol=1e-6, atol=1e-7)


def test_forward_needs_and_uses_the_statistics():
    X, y, params, arch, t = make(11, batch_norm=True, **OPTIMIZERS["adam"], batch_size=5)
    trainer = reference.Trainer(X, y, params, arch, t)
    trainer.run(2, np.full((2, 4), np.nan))
    out = np.empty_like(y)
    with pytest.raises(ValueError, match="statistics"):
        reference.forward(X, params, arch, out)
    reference.forward(X, params, arch, out, trainer.state.statistics)
    # the same as the validation measure of the trainer's running statistics
    validated = reference.Trainer(X, y, params.copy(), arch, t, (X, y), state=trainer.state.copy())
    history = np.full((1, 4), np.nan)
    validated.run(1, history)
    fresh_out = np.empty_like(y)
    reference.forward(X, validated.params, arch, fresh_out, validated.state.statistics)
    expected = -np.sum(y * np.log(fresh_out)) / len(X)
    np.testing.assert_allclose(history[0, 2], expected, rtol=1e-12)
