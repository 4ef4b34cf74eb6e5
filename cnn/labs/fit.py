"""The one training loop the labs share: full-batch steps on a small model, losses recorded."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.nn import functional as F


def fit_full_batch(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    steps: int,
    penalty: Callable[[], torch.Tensor] | None = None,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[float]:
    """Minimize BCE (+ ``penalty()``) with one step per pass over all of ``x`` (the ball data is
    small, and RProp needs whole-batch gradients). Returns the BCE before each step."""
    losses = []
    for step in range(steps):
        optimizer.zero_grad()
        bce = F.binary_cross_entropy_with_logits(model(x), y)
        loss = bce if penalty is None else bce + penalty()
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        losses.append(float(bce.detach()))
        if progress is not None:
            progress(step + 1, steps)
    return losses


@torch.no_grad()
def accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    acc = float(((model(x) > 0).float() == y).float().mean())
    model.train()
    return acc
