"""Both backends against PyTorch: the same network, trained the same way, in float64.

The reference (``tinynet.reference``) is the definition the compiled core is held to; this
module holds the reference itself, and the compiled core (``tinynet._core``) directly too
(every comparison runs once per backend, through the ``backend`` fixture, at the same
tolerances), to an independent implementation of the same formulas:
``torch.optim.SGD``, ``Adam``, ``AdamW`` and ``RMSprop`` on the gradient that autograd takes
of tinynet's loss, and ``nn.BatchNorm1d`` in training mode.

The PyTorch network: an ``nn.Linear`` per synapse (its ``weight`` the synapse's weights
transposed, its ``bias`` the bias row), a ``BatchNorm1d(momentum, eps)`` before each hidden
activation with batch normalisation (its ``weight`` and ``bias`` tinynet's scale and shift),
sigmoid, tanh or relu hidden layers; the loss of row ``r`` is ``0.5 * sum((y - out)**2)``
(sigmoid and linear outputs), ``-sum(y * log_softmax(z))`` (softmax),
``BCEWithLogitsLoss(reduction="none")`` summed over the row (logistic) or
``PoissonNLLLoss(log_input=True, full=False, reduction="none")`` plus ``xlogy(y, y) - y``
summed over the row (poisson: torch's ``exp(z) - y * z`` leaves out that constant of the
half Poisson deviance; it changes no gradient, only the loss), times its sample
weight, summed over the batch, plus ``l2 / 2`` times the sum of the squared weights (the
coupled decay, in the loss; only AdamW's decoupled decay is the torch optimizer's
``weight_decay``, on the weights' parameter group alone). With the reduction ``"mean"``,
each batch's loss (its l2 term included) is divided by the batch's weight (its rows, or the
sum of their sample weights). Both train a few epochs of
mini-batches without shuffling; every parameter, the running statistics and the optimizer's
state must agree to ``1e-10`` relative.

tinynet's SGD momentum keeps ``v = learning_rate * buf`` with the sign turned (torch keeps
``buf`` of the gradient and multiplies by the rate when it steps): with a constant rate the
two agree to rounding, so SGD's schedules are not compared here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pytest

from tinynet import _core, reference
from tinynet._layout import (
    n_params,
    split,
    split_batch_norm,
    split_statistics,
    synapse_shapes,
)
from tinynet._optimizers import fresh_state, fresh_statistics
from tinynet._settings import Architecture, Training

torch = pytest.importorskip("torch")
nn = torch.nn
# Networks of a few units: more threads would only cost time.
torch.set_num_threads(1)

RTOL = 1e-10
# The backends' modules, by the names of the ``backend`` fixture (conftest.py): the same
# Trainer, loss_and_gradient and forward in each.
BACKENDS = {"cython": _core, "numpy": reference}
ACTIVATIONS = ("sigmoid", "tanh", "relu", "linear")
OUTPUTS = ("sigmoid", "linear", "softmax", "logistic", "poisson")

# The update rules, with hyperparameters away from the defaults so that a swapped or
# ignored one shows.
OPTIMIZERS = {
    "sgd": dict(optimizer="sgd", learning_rate=0.05),
    "sgd-momentum": dict(optimizer="sgd", learning_rate=0.05, momentum=0.7),
    "sgd-nesterov": dict(optimizer="sgd", learning_rate=0.05, momentum=0.6, nesterov=True),
    "adam": dict(optimizer="adam", learning_rate=0.02, beta_1=0.8, beta_2=0.95, epsilon=1e-7),
    "adamw": dict(
        optimizer="adamw",
        learning_rate=0.02,
        beta_1=0.85,
        beta_2=0.99,
        epsilon=1e-6,
        weight_decay=0.3,
    ),
    "rmsprop": dict(optimizer="rmsprop", learning_rate=0.01, rho=0.9, epsilon=1e-6),
    "rmsprop-momentum": dict(
        optimizer="rmsprop", learning_rate=0.005, rho=0.95, epsilon=1e-7, momentum=0.5
    ),
}


@dataclass
class Problem:
    """A network, its data and its training, in tinynet's terms."""

    architecture: Architecture
    training: Training
    X: np.ndarray
    y: np.ndarray
    params: np.ndarray
    statistics: np.ndarray
    sample_weight: np.ndarray | None


def make_problem(
    seed: int,
    activation: str,
    output: str,
    bias: bool,
    batch_norm: bool,
    hidden: int,
    *,
    n: int = 16,
    batch_size: int = 5,
    weighted: bool = False,
    l2: float = 0.0,
    **training: float | str | bool,
) -> Problem:
    """A random float64 problem: ``hidden`` hidden layers of a few units each."""
    rng = np.random.default_rng(seed)
    sizes = [3, *rng.integers(3, 6, size=hidden), 3]
    arch = Architecture(
        np.array(sizes, dtype=np.intp),
        activation,
        output,
        bias,
        batch_norm=batch_norm,
        batch_norm_momentum=0.2,
        batch_norm_epsilon=1e-4,
    )
    X = rng.normal(size=(n, sizes[0]))
    if output == "softmax":
        y = rng.dirichlet(np.ones(sizes[-1]), size=n)
    elif output == "sigmoid":
        y = rng.uniform(size=(n, sizes[-1]))
    elif output == "logistic":  # labels, and a column of probabilities
        y = rng.integers(0, 2, size=(n, sizes[-1])).astype(np.float64)
        y[:, 0] = rng.uniform(size=n)
    elif output == "poisson":  # counts (zeros among them), and a column of rates
        y = rng.poisson(1.5, size=(n, sizes[-1])).astype(np.float64)
        y[:, 0] = rng.uniform(0, 3, size=n)
    else:
        y = rng.normal(size=(n, sizes[-1]))
    params = rng.uniform(-1, 1, size=n_params(sizes, bias, batch_norm))
    statistics = fresh_statistics(sizes, batch_norm, np.dtype(np.float64))
    if batch_norm:  # away from 1 and 0, so that the scales and shifts matter
        for scale, shift in split_batch_norm(params, sizes, bias):
            scale[...] = rng.uniform(0.5, 1.5, size=scale.shape)
            shift[...] = rng.uniform(-0.5, 0.5, size=shift.shape)
    weights = rng.uniform(0, 2, size=n) if weighted else None
    return Problem(
        arch,
        Training(batch_size=batch_size, l2=l2, **training),  # type: ignore[arg-type]
        X,
        y,
        params,
        statistics,
        weights,
    )


class TorchNet(nn.Module):
    """The problem's network in PyTorch, starting from its parameters and statistics."""

    def __init__(self, problem: Problem) -> None:
        super().__init__()
        arch = problem.architecture
        sizes, bias = arch.layer_sizes, arch.bias
        self.activation = {
            "sigmoid": torch.sigmoid,
            "tanh": torch.tanh,
            "relu": torch.relu,
            "linear": lambda z: z,
        }[arch.activation]
        weights, biases = split(problem.params, sizes, bias)
        self.linears = nn.ModuleList()
        for i, (k, j) in enumerate(synapse_shapes(sizes)):
            linear = nn.Linear(k, j, bias=bias, dtype=torch.float64)
            with torch.no_grad():
                linear.weight.copy_(torch.from_numpy(weights[i].T.copy()))
                if bias:
                    linear.bias.copy_(torch.from_numpy(biases[i].copy()))
            self.linears.append(linear)
        self.norms = nn.ModuleList()
        if arch.batch_norm:
            running = split_statistics(problem.statistics, sizes)
            for (scale, shift), (mean, var) in zip(
                split_batch_norm(problem.params, sizes, bias), running, strict=True
            ):
                norm = nn.BatchNorm1d(
                    len(scale),
                    eps=arch.batch_norm_epsilon,
                    momentum=arch.batch_norm_momentum,
                    dtype=torch.float64,
                )
                with torch.no_grad():
                    norm.weight.copy_(torch.from_numpy(scale.copy()))
                    norm.bias.copy_(torch.from_numpy(shift.copy()))
                    norm.running_mean.copy_(torch.from_numpy(mean.copy()))
                    norm.running_var.copy_(torch.from_numpy(var.copy()))
                self.norms.append(norm)

    def forward(self, x):  # the output layer's pre-activation
        for i, linear in enumerate(self.linears[:-1]):
            x = linear(x)
            if self.norms:
                x = self.norms[i](x)
            x = self.activation(x)
        return self.linears[-1](x)

    def weights(self) -> list:
        return [linear.weight for linear in self.linears]

    def others(self) -> list:
        """The biases, scales and shifts: no l2, no decoupled decay."""
        return [p for p in self.parameters() if all(p is not w for w in self.weights())]

    def params(self, problem: Problem) -> np.ndarray:
        """The parameters in tinynet's layout."""
        return self.flat(problem, {id(p): p.detach() for p in self.parameters()})

    def flat(self, problem: Problem, values: dict) -> np.ndarray:
        """``values`` (a tensor per parameter's id, like it) in tinynet's layout."""
        arch = problem.architecture
        out = np.zeros(n_params(arch.layer_sizes, arch.bias, arch.batch_norm))
        weights, biases = split(out, arch.layer_sizes, arch.bias)
        for i, linear in enumerate(self.linears):
            weights[i][...] = values[id(linear.weight)].numpy().T
            if arch.bias:
                biases[i][...] = values[id(linear.bias)].numpy()
        if arch.batch_norm:
            views = split_batch_norm(out, arch.layer_sizes, arch.bias)
            for (scale, shift), norm in zip(views, self.norms, strict=True):
                scale[...] = values[id(norm.weight)].numpy()
                shift[...] = values[id(norm.bias)].numpy()
        return out

    def statistics(self) -> np.ndarray:
        """The running statistics in tinynet's layout."""
        pairs = [(norm.running_mean.numpy(), norm.running_var.numpy()) for norm in self.norms]
        return np.concatenate([np.zeros(0), *(value for pair in pairs for value in pair)])


def torch_loss(net: TorchNet, problem: Problem, rows: slice, l2: float, mean: bool = False):
    """tinynet's loss of the rows in PyTorch: weighted, summed, plus ``l2 / 2 * sum(W**2)``;
    with ``mean``, divided by the rows' weight."""
    X = torch.from_numpy(problem.X[rows])
    y = torch.from_numpy(problem.y[rows])
    z = net(X)
    output = problem.architecture.output
    if output == "softmax":
        per_row = -(y * torch.log_softmax(z, dim=1)).sum(dim=1)
    elif output == "logistic":
        bce = nn.BCEWithLogitsLoss(reduction="none")
        per_row = bce(z, y).sum(dim=1)
    elif output == "poisson":
        nll = nn.PoissonNLLLoss(log_input=True, full=False, reduction="none")
        per_row = (nll(z, y) + torch.xlogy(y, y) - y).sum(dim=1)
    else:
        out = torch.sigmoid(z) if output == "sigmoid" else z
        per_row = 0.5 * ((y - out) ** 2).sum(dim=1)
    if problem.sample_weight is not None:
        per_row = per_row * torch.from_numpy(problem.sample_weight[rows])
    loss = per_row.sum()
    if l2:
        loss = loss + l2 / 2 * sum((w**2).sum() for w in net.weights())
    if mean:
        weights = problem.sample_weight
        loss = loss / (len(X) if weights is None else float(weights[rows].sum()))
    return loss


def torch_optimizer(net: TorchNet, t: Training):
    """The torch optimizer of ``t``: the weights and the other parameters in two groups, so
    that AdamW decays the weights alone."""
    groups = [{"params": net.weights()}, {"params": net.others(), "weight_decay": 0.0}]
    if t.optimizer == "sgd":
        return torch.optim.SGD(
            groups, lr=t.learning_rate, momentum=t.momentum, nesterov=t.nesterov
        )
    if t.optimizer == "adam":
        return torch.optim.Adam(
            groups, lr=t.learning_rate, betas=(t.beta_1, t.beta_2), eps=t.epsilon
        )
    if t.optimizer == "adamw":
        groups[0]["weight_decay"] = t.weight_decay
        return torch.optim.AdamW(
            groups, lr=t.learning_rate, betas=(t.beta_1, t.beta_2), eps=t.epsilon
        )
    assert t.optimizer == "rmsprop"
    return torch.optim.RMSprop(
        groups, lr=t.learning_rate, alpha=t.rho, eps=t.epsilon, momentum=t.momentum
    )


def batches(n: int, batch_size: int, batch_norm: bool) -> list[slice]:
    """The batches of an epoch without shuffling, a one-row last batch merged into the one
    before it with batch normalisation (the contract's rule, written out again here)."""
    stops = [*range(batch_size, n, batch_size), n]
    if batch_norm and n > batch_size and n % batch_size == 1:
        del stops[-2]
    return [slice(start, stop) for start, stop in zip([0, *stops[:-1]], stops, strict=True)]


def train_torch(
    problem: Problem, epochs: int, rates=None, losses: list | None = None
) -> tuple[TorchNet, object]:
    """The problem trained in PyTorch; ``losses`` (if given) receives each epoch's
    ``sum_b rows_b * loss_b / n``, ``loss_b`` each batch's loss before its step, and that
    sum of the loss's l2 term alone (a pair per epoch)."""
    net = TorchNet(problem)
    net.train()
    t = problem.training
    optimizer = torch_optimizer(net, t)
    plan = batches(len(problem.X), t.batch_size, problem.architecture.batch_norm)
    for epoch in range(epochs):
        if rates is not None:
            for group in optimizer.param_groups:
                group["lr"] = float(rates[epoch])
        total = penalty = 0.0
        for rows in plan:
            optimizer.zero_grad()
            loss = torch_loss(net, problem, rows, t.l2, t.reduction == "mean")
            n_rows = rows.stop - rows.start
            total += n_rows * loss.item()
            with torch.no_grad():
                weight = (
                    n_rows if problem.sample_weight is None else problem.sample_weight[rows].sum()
                )
                squares = sum(float((w**2).sum()) for w in net.weights())
                penalty += n_rows * t.l2 / 2 * squares / weight
            loss.backward()
            optimizer.step()
        if losses is not None:
            losses.append((total / len(problem.X), penalty / len(problem.X)))
    return net, optimizer


def train_backend(problem: Problem, epochs: int, rates=None, backend: str = "numpy", history=None):
    """The problem trained by ``backend``'s Trainer (the reference by default); ``history``
    (if given, ``epochs`` rows of 5) receives its history."""
    params = problem.params.copy()
    state = fresh_state(len(params), params.dtype, problem.statistics)
    trainer = BACKENDS[backend].Trainer(
        problem.X,
        problem.y,
        params,
        problem.architecture,
        problem.training,
        sample_weight=problem.sample_weight,
        state=state,
    )
    if history is None:
        history = np.full((epochs, 5 if problem.training.reduction == "mean" else 4), np.nan)
    assert trainer.run(epochs, history, rates) == epochs
    return trainer


def assert_close(actual: np.ndarray, desired: np.ndarray, what: str, floor: float = 1e-12):
    """Every value within ``RTOL`` relative (``floor`` absolute, for values near 0)."""
    np.testing.assert_allclose(actual, desired, rtol=RTOL, atol=floor, err_msg=what)


# How far apart the noise-driven parameters may end (see noise_driven): the steps they take
# are of the order learning_rate * rounding / epsilon.
NOISE = 1e-6


def noise_driven(problem: Problem) -> np.ndarray:
    """Where, in the parameter vector, the biases that feed a batch-normalised layer are,
    when an adaptive optimizer (Adam, AdamW, RMSprop) trains them.

    Batch normalisation subtracts the batch mean, so these biases have no gradient: what
    back-propagation gives them is rounding noise (``sum_rows`` of the normalised layer's
    delta, zero in exact arithmetic), different in every implementation. SGD's steps are that
    noise times the rate, but an adaptive optimizer divides it by its own size (plus
    epsilon): steps of up to ``learning_rate * noise / epsilon``, unrelated from torch to
    tinynet. They change nothing downstream but the running means, which follow them; both
    are compared to ``NOISE`` absolute there, everything else to ``RTOL``.
    """
    arch = problem.architecture
    mask = np.zeros(len(problem.params), dtype=bool)
    if arch.bias and arch.batch_norm and problem.training.optimizer != "sgd":
        for bias in split(mask, arch.layer_sizes, True)[1][:-1]:
            bias[...] = True
    if arch.batch_norm and arch.activation == "linear":
        # A linear layer passes its batch norm's shift straight on to the next layer's batch
        # norm, which subtracts it again: those shifts have no gradient either, under any
        # optimizer (SGD's velocities of them are noise too).
        for _, shift in split_batch_norm(mask, arch.layer_sizes, arch.bias)[:-1]:
            shift[...] = True
    return mask


def assert_same_training(problem: Problem, epochs: int, rates=None, backend="numpy") -> None:
    trainer = train_backend(problem, epochs, rates, backend)
    net, optimizer = train_torch(problem, epochs, rates)
    # the training moved the parameters well beyond the tolerance (not every one: a bias
    # feeding a batch-normalised layer has no gradient, and a relu unit may be dead)
    moved = np.abs(trainer.params - problem.params) > 1e-6 * np.abs(problem.params)
    assert moved.mean() > 0.7
    noise = noise_driven(problem)
    params = net.params(problem)
    assert_close(trainer.params[~noise], params[~noise], "parameters")
    assert_close(trainer.params[noise], params[noise], "biases before batch norm", NOISE)
    assert trainer.state.statistics.shape == problem.statistics.shape
    if problem.architecture.batch_norm:
        assert not np.array_equal(trainer.state.statistics, problem.statistics)
        statistics = net.statistics()
        for i, (mean, var) in enumerate(
            split_statistics(statistics, problem.architecture.layer_sizes)
        ):
            ours = split_statistics(trainer.state.statistics, problem.architecture.layer_sizes)[i]
            assert_close(ours[0], mean, "running means", NOISE if noise.any() else 1e-12)
            assert_close(ours[1], var, "running variances")
    # the optimizer's state, as a resumed fit continues it
    t = problem.training
    n_batches = epochs * len(
        batches(len(problem.X), t.batch_size, problem.architecture.batch_norm)
    )
    assert trainer.updates == trainer.state.updates == n_batches
    names = {
        "sgd": ("momentum_buffer", None),
        "adam": ("exp_avg", "exp_avg_sq"),
        "adamw": ("exp_avg", "exp_avg_sq"),
        "rmsprop": ("square_avg", "momentum_buffer"),
    }[t.optimizer]
    torch_state = {id(p): s for p, s in optimizer.state.items()}
    for slot, name in enumerate(names):
        if name is None or (name == "momentum_buffer" and not t.momentum):
            continue
        desired = net.flat(problem, {key: s[name] for key, s in torch_state.items()})
        if t.optimizer == "sgd":  # tinynet's velocity: the rate times torch's buffer, turned
            desired *= -t.learning_rate
        ours = trainer.state.slots[slot]
        assert_close(ours[~noise], desired[~noise], f"slot {slot} ({name})", 1e-14)
        assert_close(ours[noise], desired[noise], f"slot {slot} ({name})", NOISE)
    if t.optimizer.startswith("adam"):
        steps = {float(s["step"]) for s in torch_state.values()}
        assert steps == {float(n_batches)}


def combinations(outputs: tuple[str, ...]) -> list[tuple[str, str, bool, bool]]:
    return [
        (activation, output, bias, batch_norm)
        for activation in (*[a for a in ACTIVATIONS if a != "linear"], "linear")
        for output in outputs
        for bias in (False, True)
        for batch_norm in (False, True)
    ]


# Linear hidden layers after the others, the poisson output last (the others keep the seeds
# they had before these joined them).
COMBINATIONS = combinations(OUTPUTS[:-1]) + combinations(OUTPUTS[-1:])


@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
@pytest.mark.parametrize(
    ("activation", "output", "bias", "batch_norm"),
    COMBINATIONS,
    ids=[
        "-".join([a, o, "bias" * b or "nobias", "bn" * n or "nobn"]) for a, o, b, n in COMBINATIONS
    ],
)
def test_training_matches_torch(backend, optimizer, activation, output, bias, batch_norm):
    """Three epochs of mini-batches (16 rows in batches of 5: with batch normalisation the
    last, one-row batch joins the one before it); one or two hidden layers, sample weights
    and l2 by turns."""
    seed = len(COMBINATIONS) * list(OPTIMIZERS).index(optimizer) + COMBINATIONS.index(
        (activation, output, bias, batch_norm)
    )
    options = dict(OPTIMIZERS[optimizer])
    if activation == output == "linear":
        # A linear network's loss is an unbounded quadratic: SGD's momentum at the shared
        # rate can overshoot it into divergence.
        options["learning_rate"] /= 4
    if output == "poisson" and options["optimizer"] == "sgd":
        # The deviance's gradient exp(z) - y grows without bound: SGD at the shared rate
        # overflows exp within a few steps.
        options["learning_rate"] /= 10
    problem = make_problem(
        seed,
        activation,
        output,
        bias,
        batch_norm,
        hidden=1 + seed % 2,
        weighted=seed % 3 != 0,
        l2=0.01 if seed % 4 < 2 else 0.0,
        **options,
    )
    assert_same_training(problem, epochs=3, backend=backend)


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "adamw", "rmsprop", "rmsprop-momentum"])
@pytest.mark.parametrize("batch_norm", [False, True])
def test_rates_per_epoch_match_torch(backend, optimizer, batch_norm):
    """``run``'s rates: torch's learning rate set before each epoch. (SGD with momentum is
    left out: its velocity holds the rate, see the module's docstring.)"""
    problem = make_problem(
        7,
        "tanh",
        "linear",
        True,
        batch_norm,
        hidden=2,
        weighted=True,
        l2=0.02,
        **OPTIMIZERS[optimizer],
    )
    rates = np.array([1.0, 0.3, 0.05, 0.6]) * problem.training.learning_rate
    assert_same_training(problem, epochs=4, rates=rates, backend=backend)
    # the rates matter: the constant rate ends elsewhere
    other = train_backend(problem, 4, backend=backend)
    scheduled = train_backend(problem, 4, rates, backend)
    assert not np.allclose(other.params, scheduled.params, rtol=1e-6)


@pytest.mark.parametrize("n", [16, 15])
def test_full_batch_and_batch_norm_edges(backend, n):
    """A full batch (one update per epoch), and batches of 5 that leave a last batch of 1
    (n=16) without batch normalisation: no merge then."""
    for batch_norm, batch_size in [(True, n), (False, 5), (True, 7)]:
        problem = make_problem(
            n + batch_size,
            "sigmoid",
            "softmax",
            True,
            batch_norm,
            hidden=1,
            n=n,
            batch_size=batch_size,
            weighted=True,
            **OPTIMIZERS["adam"],
        )
        assert_same_training(problem, epochs=3, backend=backend)


@pytest.mark.parametrize(
    ("activation", "output", "bias", "batch_norm"),
    COMBINATIONS,
    ids=[
        "-".join([a, o, "bias" * b or "nobias", "bn" * n or "nobn"]) for a, o, b, n in COMBINATIONS
    ],
)
def test_loss_and_gradient_match_autograd(backend, activation, output, bias, batch_norm):
    """The full batch's loss and gradient against autograd's, with sample weights and l2
    by turns; the running statistics untouched."""
    seed = 1000 + COMBINATIONS.index((activation, output, bias, batch_norm))
    l2 = 0.05 if seed % 2 else 0.0
    problem = make_problem(
        seed,
        activation,
        output,
        bias,
        batch_norm,
        hidden=1 + seed % 3 // 2,
        n=9,
        weighted=seed % 3 != 0,
    )
    statistics = problem.statistics.copy()
    params = problem.params.copy()
    gradient = np.full_like(params, np.nan)
    loss = BACKENDS[backend].loss_and_gradient(
        problem.X,
        problem.y,
        params,
        problem.architecture,
        statistics,
        problem.sample_weight,
        l2,
        gradient,
    )
    assert np.array_equal(params, problem.params)
    assert np.array_equal(statistics, problem.statistics)

    net = TorchNet(problem)
    net.train()
    torch_value = torch_loss(net, problem, slice(None), l2)
    torch_value.backward()
    assert isinstance(loss, float)
    np.testing.assert_allclose(loss, torch_value.item(), rtol=RTOL)
    desired = net.flat(problem, {id(p): p.grad for p in net.parameters()})
    # A bias feeding a batch-normalised layer has a gradient of 0 up to rounding.
    floor = 1e-12 * max(1.0, float(np.max(np.abs(desired))))
    assert_close(gradient, desired, "gradient", floor)


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("output", OUTPUTS)
def test_forward_with_running_statistics_matches_eval(backend, activation, output):
    """``forward`` with the statistics after training: torch's ``eval()`` mode."""
    options = dict(OPTIMIZERS["sgd-momentum"])
    if output == "poisson":  # exp overflows at the shared rate (test_training_matches_torch)
        options["learning_rate"] /= 10
    problem = make_problem(3, activation, output, True, True, hidden=2, weighted=True, **options)
    trainer = train_backend(problem, 2, backend=backend)
    net, _ = train_torch(problem, 2)
    net.eval()
    with torch.no_grad():
        z = net(torch.from_numpy(problem.X))
        desired = {
            "sigmoid": torch.sigmoid,
            "logistic": torch.sigmoid,
            "poisson": torch.exp,
            "linear": lambda v: v,
        }.get(output, lambda v: torch.softmax(v, dim=1))(z).numpy()
    out = np.empty_like(problem.y)
    BACKENDS[backend].forward(
        problem.X, trainer.params, problem.architecture, out, trainer.state.statistics
    )
    assert_close(out, desired, "forward")
    # not the batch's statistics: the fresh ones give another output
    fresh = np.empty_like(out)
    BACKENDS[backend].forward(
        problem.X, trainer.params, problem.architecture, fresh, problem.statistics
    )
    assert not np.allclose(fresh, out, rtol=1e-6)


def test_problem_copies_are_independent(backend):
    """The helpers themselves: a problem's arrays are not trained in place."""
    problem = make_problem(0, "relu", "sigmoid", True, True, hidden=1, **OPTIMIZERS["adam"])
    before = replace(problem, params=problem.params.copy(), statistics=problem.statistics.copy())
    train_backend(problem, 1, backend=backend)
    train_torch(problem, 1)
    assert np.array_equal(before.params, problem.params)
    assert np.array_equal(before.statistics, problem.statistics)


MEAN_OUTPUTS = ("logistic", "softmax", "linear", "sigmoid")


@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
@pytest.mark.parametrize("batch_norm", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("outputs", ["by-turns", "poisson"])
def test_mean_reduction_matches_torch(backend, optimizer, batch_norm, weighted, outputs):
    """The reduction ``"mean"``: each batch's loss, its l2 term included, divided by the
    batch's weight, on 17 rows in batches of 5 (a last batch of 2, of a weight of its own),
    the outputs by turns, or a poisson output (scikit-learn's
    ``MLPRegressor(loss="poisson")``, torch's loss with the deviance's constant added); and
    the history's loss (scikit-learn's ``loss_``) and penalty against the same sums of
    torch's batch losses."""
    turn = list(OPTIMIZERS).index(optimizer)
    seed = 4 * turn + 2 * batch_norm + weighted
    # The outputs by turns over the optimizers as well, so that each meets batch
    # normalisation and sample weights (seed % 4 alone is the same for an option's cases).
    if outputs == "poisson":
        seed, activation, output = 200 + seed, ACTIVATIONS[seed % 4], "poisson"
    else:
        output = MEAN_OUTPUTS[(seed + turn) % 4]
        seed, activation = 100 + seed, ACTIVATIONS[seed % 3]
    problem = make_problem(
        seed,
        activation,
        output,
        True,
        batch_norm,
        hidden=1 + seed % 2,
        n=17,
        weighted=weighted,
        l2=0.02,
        reduction="mean",
        **OPTIMIZERS[optimizer],
    )
    assert_same_training(problem, epochs=3, backend=backend)
    history = np.full((3, 5), np.nan)
    train_backend(problem, 3, backend=backend, history=history)
    losses: list = []
    train_torch(problem, 3, losses=losses)
    assert_close(history[:, 0], [loss for loss, _ in losses], "loss")
    assert_close(history[:, 4], [penalty for _, penalty in losses], "penalty")
    assert (history[:, 4] > 0).all()
    if outputs == "poisson":
        return  # summed, its rate is 5 times the mean's: too much for exp's unbounded slope
    # the mean is not the sum: the same problem summed ends elsewhere
    summed = train_backend(
        replace(problem, training=replace(problem.training, reduction="sum")), 3, backend=backend
    )
    meant = train_backend(problem, 3, backend=backend)
    assert not np.allclose(summed.params, meant.params, rtol=1e-6)


def test_torchs_poisson_loss_leaves_out_a_constant(backend):
    """tinynet's loss of a poisson output is torch's ``PoissonNLLLoss(log_input=True)``
    plus ``sum(xlogy(y, y) - y)``, a constant of the targets: the same gradient, a loss
    apart by exactly that (weighted by the rows' weights)."""
    problem = make_problem(5, "tanh", "poisson", True, False, hidden=1, n=9, weighted=True)
    y, w = problem.y, problem.sample_weight
    assert (y == 0).any() and (y > 0).any()
    gradient = np.empty_like(problem.params)
    loss = BACKENDS[backend].loss_and_gradient(
        problem.X, y, problem.params.copy(), problem.architecture, problem.statistics.copy(),
        w, 0.0, gradient,
    )  # fmt: skip
    net = TorchNet(problem)
    nll = nn.PoissonNLLLoss(log_input=True, full=False, reduction="none")
    torch_value = (nll(net(torch.from_numpy(problem.X)), torch.from_numpy(y)).sum(dim=1)
                   * torch.from_numpy(w)).sum()  # fmt: skip
    torch_value.backward()
    with np.errstate(divide="ignore", invalid="ignore"):
        constant = float(w @ np.where(y > 0, y * np.log(y), 0.0).sum(axis=1) - w @ y.sum(axis=1))
    assert abs(constant) > 1.0  # it matters
    np.testing.assert_allclose(loss, torch_value.item() + constant, rtol=RTOL)
    desired = net.flat(problem, {id(p): p.grad for p in net.parameters()})
    assert_close(gradient, desired, "gradient")
