"""The course's BLOCK model (5 hidden Dense layers of 100 + a sigmoid unit) and its initializers."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from cnn.labs.config import INIT_TITLES  # noqa: F401 - re-exported for the app pages

BLOCK_PARAMETERS = 41_601  # 1,100 + 4 x 10,100 + 101
ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": torch.relu,
}


def _normal(std: float):
    return lambda w: nn.init.normal_(w, 0.0, std)


# Names as in the course's figure titles. Glorot and He use torch.nn.init, whose formulas are
# the course's: Var = 2/(fan_in+fan_out) (limit sqrt(6/(fan_in+fan_out))) and Var = 2/fan_in
# (limit sqrt(6/fan_in)). Biases start at zero, as Keras does.
INITIALIZERS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "normal-0.01": _normal(0.01),
    "normal-0.1": _normal(0.1),
    "normal-1.0": _normal(1.0),
    "glorot-normal": nn.init.xavier_normal_,
    "glorot-uniform": nn.init.xavier_uniform_,
    "he-normal": lambda w: nn.init.kaiming_normal_(w, nonlinearity="relu"),
    "he-uniform": lambda w: nn.init.kaiming_uniform_(w, nonlinearity="relu"),
}


def expected_weight_std(init: str, fan_in: int, fan_out: int) -> float:
    """The std each initializer aims for, straight from the course's formulas."""
    if init.startswith("normal-"):
        return float(init.removeprefix("normal-"))
    if init.startswith("glorot"):
        return math.sqrt(2.0 / (fan_in + fan_out))
    return math.sqrt(2.0 / fan_in)


class BlockModel(nn.Module):
    """``hidden`` Dense layers of ``units`` with one activation, then one sigmoid unit.

    ``forward`` returns the output *logit* (the sigmoid is folded into the BCE loss for
    stability); ``trace`` also returns every hidden layer's Z-values and activations.
    """

    def __init__(
        self,
        activation: str = "relu",
        init: str = "he-normal",
        n_inputs: int = 10,
        units: int = 100,
        hidden: int = 5,
        seed: int | None = 0,
    ) -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        if init not in INITIALIZERS:
            raise ValueError(f"init must be one of {list(INITIALIZERS)}, got {init!r}")
        self.activation, self.init = activation, init
        sizes = [n_inputs] + [units] * hidden
        # fork_rng: a seeded model leaves the caller's random stream exactly as it was.
        with torch.random.fork_rng(devices=[], enabled=seed is not None):
            if seed is not None:
                torch.manual_seed(seed)
            self.hidden = nn.ModuleList(
                nn.Linear(a, b) for a, b in zip(sizes, sizes[1:], strict=False)
            )
            self.out = nn.Linear(units, 1)
            for layer in [*self.hidden, self.out]:  # the course initializes the output layer too
                INITIALIZERS[init](layer.weight)
                nn.init.zeros_(layer.bias)

    def trace(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
        """(logit, Z-values per hidden layer, activations per hidden layer)."""
        act = ACTIVATIONS[self.activation]
        zs, acts = [], []
        for layer in self.hidden:
            zs.append(layer(x))
            x = act(zs[-1])
            acts.append(x)
        return self.out(x).squeeze(-1), zs, acts

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.trace(x)[0]
