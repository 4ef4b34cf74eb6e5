"""The course's update rules against PyTorch's optimizers, step for step, on the ball data."""

from __future__ import annotations

import copy

import pytest
import torch
from torch.nn import functional as F

from cnn.labs.ball import make_ball
from cnn.labs.block import BlockModel
from cnn.labs.optimizers import SGD, TORCH_TWINS, Adam, Momentum, Nesterov, RProp

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _race_twins(name: str, dtype: torch.dtype, steps: int = 100) -> tuple[float, float]:
    """(largest parameter difference over all steps, how far the weights moved)."""
    ours, theirs, kwargs = TORCH_TWINS[name]
    data = make_ball(n=300, seed=0)  # 300 of the course's 1,000 points keep the test quick
    x, y = torch.from_numpy(data.X).to(dtype), torch.from_numpy(data.y).to(dtype)
    a = BlockModel("tanh", "glorot-normal", seed=0).to(dtype)
    b, start = copy.deepcopy(a), copy.deepcopy(a)
    opt_a, opt_b = ours(a.parameters(), **kwargs), theirs(b.parameters(), **kwargs)
    worst = 0.0
    for _ in range(steps):
        for model, opt in ((a, opt_a), (b, opt_b)):
            opt.zero_grad()
            F.binary_cross_entropy_with_logits(model(x), y).backward()
            opt.step()
        worst = max(
            worst, max((p - q).abs().max().item() for p, q in zip(a.parameters(), b.parameters()))
        )
    moved = max((p - q).abs().max().item() for p, q in zip(a.parameters(), start.parameters()))
    return worst, moved


@pytest.mark.parametrize("name", list(TORCH_TWINS))
def test_matches_pytorch_for_100_steps(name):
    # float64, so the comparison measures the formulas: in float32 the last-bit rounding of
    # differently ordered arithmetic is amplified by sign-driven rules (Adam, RProp) wherever
    # a gradient is ~0.
    worst, moved = _race_twins(name, torch.float64)
    assert worst <= 1e-6
    assert moved > 0.05  # the weights really trained, so the comparison means something


@pytest.mark.parametrize("name", ["momentum", "adam", "rprop"])
def test_float32_stays_close_too(name):
    worst, _ = _race_twins(name, torch.float32)
    assert worst <= 1e-5  # measured 4.5e-6 (Adam), 1.2e-7 (momentum), exactly 0 (RProp)


def _constant_gradient_steps(opt_cls, steps: int, g: float = 0.3, **kwargs) -> list[float]:
    p = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = opt_cls([p], **kwargs)
    moves = []
    for _ in range(steps):
        before = p.item()
        p.grad = torch.full_like(p, g)
        opt.step()
        moves.append(p.item() - before)
    return moves


def test_course_adam_has_no_bias_correction():
    lr, b1, b2 = 1e-3, 0.9, 0.999
    course = _constant_gradient_steps(Adam, 2000, lr=lr, betas=(b1, b2), eps=1e-12)
    corrected = _constant_gradient_steps(Adam, 2000, lr=lr, betas=(b1, b2), eps=1e-12,
                                         bias_correction=True)  # fmt: skip
    # Kingma & Ba / PyTorch: with a constant gradient every step is exactly -lr
    assert corrected == pytest.approx([-lr] * 2000, rel=1e-9)
    # The course's rule: step t is -lr (1 - b1^t) / sqrt(1 - b2^t)
    for t in (1, 10, 100, 2000):
        ratio = (1 - b1**t) / (1 - b2**t) ** 0.5
        assert course[t - 1] == pytest.approx(-lr * ratio, rel=1e-9)
    assert course[0] / corrected[0] == pytest.approx(3.1623, rel=1e-4)  # first step 3.16x
    assert course[9] / corrected[9] == pytest.approx(6.53, rel=1e-3)  # peak around t = 10
    assert 1.0 < course[-1] / corrected[-1] < 1.2  # and the two meet as b^t -> 0


def test_course_adam_differs_from_torch_adam():
    p = torch.ones(3, dtype=torch.float64, requires_grad=True)
    q = p.detach().clone().requires_grad_(True)
    ours, theirs = Adam([p], lr=0.01), torch.optim.Adam([q], lr=0.01)
    for opt, t in ((ours, p), (theirs, q)):
        t.grad = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
        opt.step()
    assert torch.allclose(1 - p.detach(), 3.1623 * (1 - q.detach()), rtol=1e-4)


def test_momentum_velocity_is_minus_lr_times_torch_buffer():
    p = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    opt = Momentum([p], lr=0.1, momentum=0.9)
    for g in ([1.0, 2.0], [1.0, -1.0], [0.5, 0.5]):
        p.grad = torch.tensor(g, dtype=torch.float64)
        opt.step()
    # u1 = -0.1 g1; u2 = 0.9 u1 - 0.1 g2; u3 = 0.9 u2 - 0.1 g3
    u1 = torch.tensor([-0.1, -0.2], dtype=torch.float64)
    u2 = 0.9 * u1 - 0.1 * torch.tensor([1.0, -1.0], dtype=torch.float64)
    u3 = 0.9 * u2 - 0.1 * torch.tensor([0.5, 0.5], dtype=torch.float64)
    assert torch.allclose(opt.state[p]["u"], u3) and torch.allclose(p.detach(), u1 + u2 + u3)


def test_nesterov_tracks_the_classic_look_ahead_point():
    a = torch.tensor([[3.0, 0.5], [0.5, 1.0]], dtype=torch.float64)

    def grad(theta):  # f = 1/2 theta^T A theta
        return a @ theta

    lr, lam = 0.1, 0.9
    theta = torch.tensor([1.0, -2.0], dtype=torch.float64)
    u = torch.zeros(2, dtype=torch.float64)
    phi = theta.clone().requires_grad_(True)
    opt = Nesterov([phi], lr=lr, momentum=lam)
    for _ in range(30):
        u = lam * u - lr * grad(theta + lam * u)  # the classic rule: gradient at the look-ahead
        theta = theta + u
        phi.grad = grad(phi.detach())
        opt.step()
        assert torch.allclose(phi.detach(), theta + lam * u, atol=1e-12)


def test_rprop_uses_only_signs():
    small = _constant_gradient_steps(RProp, 5, g=1e-9, lr=0.01)
    large = _constant_gradient_steps(RProp, 5, g=1e9, lr=0.01)
    assert small == large
    assert small == pytest.approx([-0.01 * 1.2**k for k in range(5)])


def test_plain_sgd_and_bad_hyper_parameters():
    assert _constant_gradient_steps(SGD, 3, g=2.0, lr=0.25) == [-0.5, -0.5, -0.5]
    with pytest.raises(ValueError, match="lr must be >= 0"):
        SGD([torch.zeros(1, requires_grad=True)], lr=-1.0)
