"""tinynet.schedules: PyTorch's closed forms per epoch (checked against PyTorch's schedulers
when it is installed), and their checked arguments."""

from __future__ import annotations

import math
import pickle

import pytest

from tinynet import schedules


def test_step_decays_every_step_size_epochs():
    rate = schedules.step(0.1, step_size=3, gamma=0.5)
    assert [rate(e) for e in range(7)] == [0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025]
    assert schedules.step(1.0, 1)(2) == pytest.approx(0.01, rel=1e-15)
    assert schedules.step(1.0, 1, gamma=2.0)(5000) == math.inf  # refused by fit


def test_cosine_anneals_to_eta_min_and_back():
    rate = schedules.cosine(1.0, t_max=4, eta_min=0.2)
    values = [rate(e) for e in range(9)]
    assert values[0] == 1.0
    assert values[2] == pytest.approx(0.6, rel=1e-15)
    assert values[4] == pytest.approx(0.2, rel=1e-15)
    assert values[8] == pytest.approx(1.0, rel=1e-15)  # the closed form climbs back
    assert values[1] == pytest.approx(0.2 + 0.8 * (1 + math.cos(math.pi / 4)) / 2)


def test_inverse_scaling():
    rate = schedules.inverse_scaling(0.5, power_t=0.5)
    assert [rate(e) for e in (0, 3, 8)] == [0.5, 0.25, 0.5 / 3]
    assert schedules.inverse_scaling(0.5, power_t=0.0)(100) == 0.5


def test_schedules_are_values():
    rate = schedules.cosine(0.1, 10)
    assert rate == schedules.cosine(0.1, 10)
    assert pickle.loads(pickle.dumps(rate)) == rate
    assert repr(schedules.step(0.1, 2)) == "Step(rate=0.1, step_size=2, gamma=0.1)"


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda: schedules.step(0.0, 2), ValueError, "rate"),
        (lambda: schedules.step(-0.1, 2), ValueError, "rate"),
        (lambda: schedules.step(0.1, 0), ValueError, "step_size"),
        (lambda: schedules.step(0.1, 2.0), TypeError, "step_size"),
        (lambda: schedules.step(0.1, 2, gamma=-0.5), ValueError, "gamma"),
        (lambda: schedules.step(0.1, 2, gamma=math.nan), ValueError, "gamma"),
        (lambda: schedules.cosine(math.inf, 2), ValueError, "rate"),
        (lambda: schedules.cosine(0.1, 0), ValueError, "t_max"),
        (lambda: schedules.cosine(0.1, 5, eta_min=-1.0), ValueError, "eta_min"),
        (lambda: schedules.inverse_scaling("0.1"), TypeError, "rate"),
        (lambda: schedules.inverse_scaling(0.1, power_t=-1.0), ValueError, "power_t"),
        (lambda: schedules.step(0.1, 2)(-1), ValueError, "epoch"),
        (lambda: schedules.cosine(0.1, 2)(1.5), TypeError, "epoch"),
    ],
)
def test_arguments_are_checked(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_against_pytorch():
    torch = pytest.importorskip("torch")
    parameter = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    cases = [
        (
            lambda opt: torch.optim.lr_scheduler.StepLR(opt, 3, gamma=0.3),
            schedules.step(0.2, 3, 0.3),
        ),
        (
            lambda opt: torch.optim.lr_scheduler.CosineAnnealingLR(opt, 7, eta_min=0.01),
            schedules.cosine(0.2, 7, eta_min=0.01),
        ),
    ]
    for make, ours in cases:
        optimizer = torch.optim.SGD([parameter], lr=0.2)
        scheduler = make(optimizer)
        for epoch in range(12):
            assert ours(epoch) == pytest.approx(optimizer.param_groups[0]["lr"], rel=1e-12)
            optimizer.step()
            scheduler.step()
