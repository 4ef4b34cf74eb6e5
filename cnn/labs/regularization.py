"""L1/L2 weight penalties (weights only, never biases) and Keras-style per-layer regularizers.

The course: E1 = lambda * sum|w| and E2 = lambda * sum w^2 are added to the objective, "both L1
and L2 count their penalties based only on weights; they do not count penalties on bias values".
Keras lets each Dense layer carry three: ``kernel_regularizer`` (the weight matrix),
``bias_regularizer`` (the bias vector) and ``activity_regularizer`` (the layer's outputs).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class Regularizer:
    """lambda1 * sum|t| + lambda2 * sum t^2 (Keras' ``regularizers.l1_l2``)."""

    l1: float = 0.0
    l2: float = 0.0

    def __post_init__(self) -> None:
        if self.l1 < 0 or self.l2 < 0:
            raise ValueError(
                f"regularization strengths must be >= 0, got l1={self.l1}, l2={self.l2}"
            )

    def __call__(self, t: torch.Tensor) -> torch.Tensor:
        return self.l1 * t.abs().sum() + self.l2 * t.pow(2).sum()


def l1(lam: float) -> Regularizer:
    return Regularizer(l1=lam)


def l2(lam: float) -> Regularizer:
    return Regularizer(l2=lam)


def l1_l2(l1: float = 0.01, l2: float = 0.01) -> Regularizer:
    return Regularizer(l1=l1, l2=l2)


def penalized_weights(model: nn.Module) -> list[tuple[str, torch.Tensor]]:
    """The parameters a weight penalty counts: weight matrices/kernels, never biases."""
    return [(n, p) for n, p in model.named_parameters() if not n.endswith("bias")]


def weight_penalty(model: nn.Module, l1: float = 0.0, l2: float = 0.0) -> torch.Tensor:
    """E1 + E2 over the model's weights (biases excluded, as the course says)."""
    reg = Regularizer(l1, l2)
    terms = [reg(p) for _, p in penalized_weights(model)]
    return torch.stack(terms).sum() if terms else torch.zeros(())


class Dense(nn.Module):
    """Keras' Dense with its three regularizers; ``regularization_loss()`` after a forward.

    The activity penalty is taken on the layer's output and divided by the batch size (tf.keras'
    convention), so its strength does not depend on how many examples a batch holds.
    """

    def __init__(
        self,
        in_features: int,
        units: int,
        activation: Callable[[torch.Tensor], torch.Tensor] | None = None,
        kernel_regularizer: Regularizer | None = None,
        bias_regularizer: Regularizer | None = None,
        activity_regularizer: Regularizer | None = None,
    ) -> None:
        super().__init__()
        self.linear = nn.Linear(in_features, units)
        self.activation = activation
        self.kernel_regularizer = kernel_regularizer
        self.bias_regularizer = bias_regularizer
        self.activity_regularizer = activity_regularizer
        self._activity_loss: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.linear(x)
        if self.activation is not None:
            out = self.activation(out)
        if self.activity_regularizer is not None:
            self._activity_loss = self.activity_regularizer(out) / out.shape[0]
        return out

    def regularization_loss(self) -> torch.Tensor:
        loss = torch.zeros((), dtype=self.linear.weight.dtype)
        if self.kernel_regularizer is not None:
            loss = loss + self.kernel_regularizer(self.linear.weight)
        if self.bias_regularizer is not None:
            loss = loss + self.bias_regularizer(self.linear.bias)
        if self.activity_regularizer is not None:
            if self._activity_loss is None:
                raise RuntimeError("activity regularization needs a forward pass first")
            loss = loss + self._activity_loss
        return loss


def regularization_loss(model: nn.Module) -> torch.Tensor:
    """Sum of every Dense layer's penalties (what Keras adds to the loss as ``model.losses``)."""
    terms = [m.regularization_loss() for m in model.modules() if isinstance(m, Dense)]
    return torch.stack(terms).sum() if terms else torch.zeros(())
