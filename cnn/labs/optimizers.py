"""The course's update rules, written out as ``torch.optim.Optimizer`` subclasses.

Each ``_update`` is the course's formula for one tensor: ``u`` is the update vector and
``theta += u``. The tests run each one next to PyTorch's own optimizer on the same problem and
compare parameters step for step. ``lr`` may also be a tensor that broadcasts against the
parameters (one rate per stacked copy, see ``stacked``): every rule is elementwise. Where PyTorch
computes something else, the class says so:

- ``Adam`` follows the course's "ultimate Adam update rule" ``u = -lr * m / (sqrt(v) + eps)``,
  with no bias correction. Early on m and v are biased towards 0 (m_1 = (1-b1) g,
  v_1 = (1-b2) g^2), so the first step is (1-b1)/sqrt(1-b2) ~ 3.16x PyTorch's (lr * sign g);
  the two agree as b^t -> 0. ``bias_correction=True`` divides m by (1-b1^t) and v by (1-b2^t),
  Kingma & Ba's algorithm, which is what ``torch.optim.Adam`` does.
- ``Momentum`` keeps the course's velocity ``u = lambda u - lr g``; PyTorch keeps
  ``b = mu b + g`` and steps ``-lr b``. With a fixed lr, u = -lr b exactly, so the steps agree.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch.optim import Optimizer


class _CourseOptimizer(Optimizer):
    """Loops over parameters with gradients and hands each to ``_update`` (one formula each)."""

    def __init__(self, params: Iterable, **defaults: Any) -> None:
        for name, value in defaults.items():
            if isinstance(value, float) and value < 0:
                raise ValueError(f"{type(self).__name__}: {name} must be >= 0, got {value}")
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor] | None = None) -> torch.Tensor | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    self._update(p, p.grad, self.state[p], group)
        return loss

    def _update(self, p: torch.Tensor, g: torch.Tensor, state: dict, group: dict) -> None:
        raise NotImplementedError


class SGD(_CourseOptimizer):
    """u = -lr * grad; theta += u."""

    def __init__(self, params: Iterable, lr: float = 0.01) -> None:
        super().__init__(params, lr=lr)

    def _update(self, p, g, state, group):
        p.add_(-group["lr"] * g)


class Momentum(_CourseOptimizer):
    """u = lambda * u - lr * grad; theta += u (the previous update keeps pushing)."""

    def __init__(self, params: Iterable, lr: float = 0.01, momentum: float = 0.9) -> None:
        super().__init__(params, lr=lr, momentum=momentum)

    def _update(self, p, g, state, group):
        u = state.setdefault("u", torch.zeros_like(p))
        u.mul_(group["momentum"]).sub_(group["lr"] * g)
        p.add_(u)


class Nesterov(_CourseOptimizer):
    """Nesterov accelerated gradient: the gradient is taken where momentum is about to carry us.

    Classic form: u = lambda u - lr grad(theta + lambda u); theta += u. Tracking the look-ahead
    point phi = theta + lambda u instead (Bengio et al. 2012) needs only the gradient at the
    stored parameters: u = lambda u - lr g; phi += lambda u - lr g. This is PyTorch's
    ``SGD(nesterov=True)``, and its parameters are the look-ahead points.
    """

    def __init__(self, params: Iterable, lr: float = 0.01, momentum: float = 0.9) -> None:
        super().__init__(params, lr=lr, momentum=momentum)

    def _update(self, p, g, state, group):
        u = state.setdefault("u", torch.zeros_like(p))
        u.mul_(group["momentum"]).sub_(group["lr"] * g)
        p.add_(group["momentum"] * u - group["lr"] * g)


class Adagrad(_CourseOptimizer):
    """Per-weight decaying rate: G += g^2; u = -lr * g / (sqrt(G) + eps).

    Weights with large past gradients slow down; rarely-updated weights keep a large rate.
    """

    def __init__(self, params: Iterable, lr: float = 0.01, eps: float = 1e-10) -> None:
        super().__init__(params, lr=lr, eps=eps)

    def _update(self, p, g, state, group):
        G = state.setdefault("G", torch.zeros_like(p))
        G.add_(g * g)
        p.add_(-group["lr"] * g / (G.sqrt() + group["eps"]))


class Adadelta(_CourseOptimizer):
    """Adagrad with a decaying average instead of a growing sum, and units fixed by the
    average of past updates (Zeiler 2012); ``lr`` scales the update (1.0 = Zeiler's).

    E[g^2] = rho E[g^2] + (1-rho) g^2;  u = -sqrt(E[u^2] + eps) / sqrt(E[g^2] + eps) * g;
    E[u^2] = rho E[u^2] + (1-rho) u^2;  theta += lr * u.
    """

    def __init__(
        self, params: Iterable, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6
    ) -> None:
        super().__init__(params, lr=lr, rho=rho, eps=eps)

    def _update(self, p, g, state, group):
        rho, eps = group["rho"], group["eps"]
        eg2 = state.setdefault("Eg2", torch.zeros_like(p))
        eu2 = state.setdefault("Eu2", torch.zeros_like(p))
        eg2.mul_(rho).add_((1 - rho) * g * g)
        u = -(eu2 + eps).sqrt() / (eg2 + eps).sqrt() * g
        eu2.mul_(rho).add_((1 - rho) * u * u)
        p.add_(group["lr"] * u)


class RProp(_CourseOptimizer):
    """Resilient propagation: only the gradient's sign counts; each weight has its own step.

    Same sign as last time: step *= eta_plus; sign flipped (we jumped over a minimum): step *=
    eta_minus and skip this update (iRprop-); theta -= sign(g) * step. Full batch only: a
    mini-batch's noisy signs would keep shrinking the steps. ``lr`` is the first step size.
    """

    def __init__(
        self,
        params: Iterable,
        lr: float = 0.01,
        etas: tuple[float, float] = (0.5, 1.2),
        step_sizes: tuple[float, float] = (1e-6, 50.0),
    ) -> None:
        super().__init__(params, lr=lr, etas=etas, step_sizes=step_sizes)

    def _update(self, p, g, state, group):
        eta_minus, eta_plus = group["etas"]
        step = state.setdefault("step", torch.zeros_like(p) + group["lr"])
        prev = state.setdefault("prev", torch.zeros_like(p))
        agree = torch.sign(g * prev)
        factor = torch.ones_like(p)  # in p's dtype: a float32 1.2 would drift from float64's
        factor[agree > 0], factor[agree < 0] = eta_plus, eta_minus
        step.mul_(factor).clamp_(*group["step_sizes"])
        g = torch.where(agree < 0, torch.zeros_like(g), g)
        p.add_(-torch.sign(g) * step)
        prev.copy_(g)


class Adam(_CourseOptimizer):
    """m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;  u = -lr * m / (sqrt(v) + eps).

    As the course writes it, without bias correction (see the module docstring);
    ``bias_correction=True`` gives Kingma & Ba's and PyTorch's version.
    """

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        bias_correction: bool = False,
    ) -> None:
        super().__init__(params, lr=lr, betas=betas, eps=eps, bias_correction=bias_correction)

    def _update(self, p, g, state, group):
        b1, b2 = group["betas"]
        m = state.setdefault("m", torch.zeros_like(p))
        v = state.setdefault("v", torch.zeros_like(p))
        t = state["t"] = state.get("t", 0) + 1
        m.mul_(b1).add_((1 - b1) * g)
        v.mul_(b2).add_((1 - b2) * g * g)
        if group["bias_correction"]:
            m_hat, v_hat = m / (1 - b1**t), v / (1 - b2**t)
        else:
            m_hat, v_hat = m, v
        p.add_(-group["lr"] * m_hat / (v_hat.sqrt() + group["eps"]))


# name -> (our class, the PyTorch optimizer that matches it, shared keyword arguments)
TORCH_TWINS: dict[str, tuple[type[Optimizer], Callable[..., Optimizer], dict[str, Any]]] = {
    "sgd": (SGD, torch.optim.SGD, {"lr": 0.1}),
    "momentum": (Momentum, torch.optim.SGD, {"lr": 0.05, "momentum": 0.9}),
    "nesterov": (Nesterov, lambda ps, **kw: torch.optim.SGD(ps, nesterov=True, **kw),
                 {"lr": 0.05, "momentum": 0.9}),
    "adagrad": (Adagrad, torch.optim.Adagrad, {"lr": 0.01, "eps": 1e-10}),
    "adadelta": (Adadelta, torch.optim.Adadelta, {"lr": 1.0, "rho": 0.9, "eps": 1e-6}),
    "rprop": (RProp, torch.optim.Rprop, {"lr": 0.001, "etas": (0.5, 1.2),
                                         "step_sizes": (1e-6, 50.0)}),
    "adam": (lambda ps, **kw: Adam(ps, bias_correction=True, **kw), torch.optim.Adam,
             {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8}),
}  # fmt: skip
