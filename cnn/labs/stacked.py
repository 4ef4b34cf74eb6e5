"""Several copies of one small MLP trained side by side as one module (one per seed).

Every weight is a stacked tensor [n_models, ...], and the loss is the *sum* of each copy's mean
BCE, so copy s gets exactly the gradient it would get alone. Every optimizer in the labs acts on
each element independently, so a stacked run equals ``n_models`` separate runs (a test checks
this against separate ``BlockModel`` runs) at little more than the cost of one: what makes
sweeps over learning rates x seeds affordable on a CPU.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from cnn.labs.block import ACTIVATIONS, BlockModel


class StackedMLP(nn.Module):
    """``len(seeds)`` BlockModel-shaped nets; copy s starts from ``BlockModel(..., seed=seeds[s])``
    exactly."""

    def __init__(
        self,
        seeds: Sequence[int],
        activation: str = "tanh",
        init: str = "glorot-normal",
        n_inputs: int = 10,
        units: int = 32,
        hidden: int = 2,
    ) -> None:
        super().__init__()
        nets = [BlockModel(activation, init, n_inputs, units, hidden, seed) for seed in seeds]
        self.activation = activation
        layers = [[*net.hidden, net.out] for net in nets]
        # weights stored [n_models, in, out] so a batch goes through with one baddbmm
        self.weights = nn.ParameterList(
            nn.Parameter(torch.stack([ls[k].weight.detach().T for ls in layers]).contiguous())
            for k in range(hidden + 1)
        )
        self.biases = nn.ParameterList(
            nn.Parameter(torch.stack([ls[k].bias.detach() for ls in layers])[:, None, :].clone())
            for k in range(hidden + 1)
        )

    @property
    def n_models(self) -> int:
        return self.weights[0].shape[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [N, in] (shared) or [n_models, N, in] -> logits [n_models, N]."""
        h = x.expand(self.n_models, *x.shape) if x.dim() == 2 else x
        act = ACTIVATIONS[self.activation]
        for w, b in zip(self.weights[:-1], self.biases[:-1], strict=True):
            h = act(torch.baddbmm(b, h, w))
        return torch.baddbmm(self.biases[-1], h, self.weights[-1]).squeeze(-1)

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Per-copy mean BCE [n_models]; ``.sum()`` to train all copies at once."""
        logits = self.forward(x)
        y = y.expand_as(logits) if y.dim() == 1 else y
        return F.binary_cross_entropy_with_logits(logits, y, reduction="none").mean(-1)

    @torch.no_grad()
    def accuracy(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Per-copy accuracy [n_models]."""
        return ((self.forward(x) > 0).float() == y).float().mean(-1)

    def input_weights(self) -> torch.Tensor:
        """First-layer weights as [n_models, units, inputs] (nn.Linear's layout)."""
        return self.weights[0].detach().transpose(1, 2)

    def penalized(self) -> list[torch.Tensor]:
        """The weight tensors (no biases): what an L1/L2 penalty counts, as the course says."""
        return list(self.weights)
