"""The initialization lab's "does it train?" run: the course's BLOCK model, compiled as in its
Keras code (``optimizer='sgd'``: plain SGD, learning rate 0.01, mini-batches of 32), trained for
a few epochs from each initializer. What the epoch-0 figures predict should show up here as a
loss that falls, or one that stays at ~0.68 (the BCE of guessing the 59% base rate)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from cnn.labs.ball import make_ball
from cnn.labs.block import BlockModel

KERAS_SGD_LR = 0.01  # tf.keras.optimizers.SGD() default
KERAS_BATCH = 32  # model.fit default batch_size


@torch.no_grad()
def _loss(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    return float(F.binary_cross_entropy_with_logits(model(x), y))


def train_curve(activation: str, init: str, epochs: int, seed: int = 0) -> list[float]:
    """Full-data BCE before training and after each epoch of Keras-default SGD."""
    data = make_ball(seed=seed)
    x, y = torch.from_numpy(data.X), torch.from_numpy(data.y)
    model = BlockModel(activation, init, seed=seed)
    opt = torch.optim.SGD(model.parameters(), lr=KERAS_SGD_LR)
    order = torch.Generator().manual_seed(seed)
    losses = [_loss(model, x, y)]
    for _ in range(epochs):
        perm = torch.randperm(len(y), generator=order)
        for start in range(0, len(y), KERAS_BATCH):
            idx = perm[start : start + KERAS_BATCH]
            opt.zero_grad()
            F.binary_cross_entropy_with_logits(model(x[idx]), y[idx]).backward()
            opt.step()
        losses.append(_loss(model, x, y))
    return losses


def does_it_train(
    pairs: Sequence[tuple[str, str]],
    epochs: int = 5,
    seeds: Iterable[int] = (0,),
    progress: Callable[[int, int], None] | None = None,
) -> list[dict[str, Any]]:
    """Per (activation, init): the median loss curve over ``seeds`` and its last value."""
    seeds = list(seeds)
    total, done, out = len(pairs) * len(seeds) * epochs, 0, []
    for act, init in pairs:
        curves = []
        for seed in seeds:
            curves.append(train_curve(act, init, epochs, seed))
            done += epochs
            if progress:
                progress(done, total)
        median = np.median(np.array(curves), 0)
        diverged = not np.isfinite(median).all()
        # JSON has no NaN: a diverged epoch is None, and the run says it diverged
        losses = [float(v) if np.isfinite(v) else None for v in median]
        out.append({"activation": act, "init": init, "epochs": epochs, "seeds": len(seeds),
                    "loss_per_epoch": losses, "final_loss": losses[-1], "diverged": diverged,
                    "loss_drop": None if diverged else losses[0] - losses[-1]})  # fmt: skip
    return out
