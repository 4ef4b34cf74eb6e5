"""The 10-D ball data of the course's initialization figures, generated (seeded) instead of loaded.

1,000 points uniform in a 10-D ball of radius sqrt(10): a direction from a normal draw and a
radius proportional to U**(1/10) (so volume, not radius, is uniform). Points and radius are then
rescaled together so the points' overall std is 1, as the course asks (zero mean, unit std).

Labels: the handout says points "within half of the radius" are negatives, but the data behind
its figures labels a point positive when ``|sum_i x_i| > radius / 2`` (about 59% positives). A
norm rule would make ~99.9% of points positive, because in 10-D nearly all of a ball's volume
lies near its surface (only 0.5**10 ~ 0.1% lies within half the radius). So we use the |sum| rule.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class BallData:
    X: np.ndarray  # float32 [n, n_dims (+ noise features)]
    y: np.ndarray  # float32 [n], 1.0 = positive
    radius: float  # the ball's radius after rescaling
    n_signal: int  # the first ``n_signal`` columns carry the label; the rest are pure noise


def make_ball(n: int = 1000, n_dims: int = 10, seed: int = 0, noise_features: int = 0) -> BallData:
    """The course's ball data; ``noise_features`` appends that many standard-normal columns that
    carry no information (the regularization lab's feature-selection test)."""
    if n < 1 or n_dims < 1 or noise_features < 0:
        raise ValueError(
            f"need n >= 1, n_dims >= 1, noise_features >= 0; got {n}, {n_dims}, {noise_features}"
        )
    rng = np.random.default_rng(seed)
    direction = rng.normal(size=(n, n_dims))
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    radius = np.sqrt(n_dims)
    points = direction * radius * rng.uniform(size=(n, 1)) ** (1.0 / n_dims)
    scale = points.std()
    points, radius = points / scale, radius / scale
    y = (np.abs(points.sum(axis=1)) > radius / 2).astype(np.float32)
    if noise_features:
        points = np.hstack([points, rng.normal(size=(n, noise_features))])
    return BallData(points.astype(np.float32), y, float(radius), n_dims)
