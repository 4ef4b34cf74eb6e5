"""``python -m serving adapt``'s settings, without ONNX (``--help`` shows them at once);
serving.adapt updates the reader with them."""

from __future__ import annotations

from dataclasses import dataclass

WEIGHT_GRID = (1.0, 3.0, 10.0, 30.0, 100.0)


@dataclass(frozen=True)
class AdaptConfig:
    """The update's settings; all of them land in the adapted graph's metadata."""

    # Likelihood weight per example. 1 = plain Bayes: measured enough at 5 drawings per digit
    # (docs/BENCHMARKS.md); None = chosen by leave-one-out on the examples, which cannot see
    # what a larger weight costs on MNIST (measured there: up to 0.3 points of test accuracy).
    weight: float | None = 1.0
    weight_grid: tuple[float, ...] = WEIGHT_GRID
    mean_prior: float = 1.0  # pseudo-drawings MNIST's class mean counts for in the writer's gate
    cov_prior: float = 10.0  # degrees of freedom MNIST's class covariance has beyond d + 1
    gate_tail: float = 0.01  # share of a writer's own new digits beyond the writer gate's line
    # How the gate learns the writer. "mixture": the writer's Gaussians join the base density's
    # class mixture (each taught digit with weight writer_share / K beside MNIST's), so only the
    # density score changes and the gate's other scores still judge every drawing; "min":
    # uncertainty = min(base, the writer's own F-quantile gate), which also overrides them.
    gate_mode: str = "mixture"
    writer_share: float = 0.5
    tolerance: float = 1e-14  # Newton decrement (nats) at which the MAP counts as found
    max_iterations: int = 50
