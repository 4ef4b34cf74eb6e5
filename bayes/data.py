"""The course's fifth-degree polynomial and seeded noisy samples of it."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: Coefficients low -> high of the course's polynomial (handout, "Bayesian statistics").
COURSE_COEFS: tuple[float, ...] = (0.5423, -3.2648, -16.5311, 43.3645, 25.6159, -51.2418)


class DataError(ValueError):
    """Bad data settings (n, noise, x-range); the message says how to fix them."""


@dataclass(frozen=True)
class DataConfig:
    """How to draw a data set: n points, x uniform on ``x_range``, Gaussian noise ``noise``."""

    n: int = 50
    noise: float = 1.0
    x_range: tuple[float, float] = (-1.0, 1.0)
    seed: int = 0
    n_test: int = 500
    coefs: tuple[float, ...] = field(default=COURSE_COEFS)

    def validate(self) -> None:
        if self.n < 1:
            raise DataError(f"n must be >= 1 (got {self.n}); pass e.g. --n 50")
        if not self.noise > 0:
            raise DataError(f"noise sigma must be > 0 (got {self.noise}); pass e.g. --noise 1.0")
        lo, hi = self.x_range
        if not (np.isfinite(lo) and np.isfinite(hi) and hi > lo):
            raise DataError(f"x-range must be finite with low < high (got {lo}, {hi})")


@dataclass(frozen=True)
class Dataset:
    """Training sample (x, y), a fresh test sample from the same distribution, and the truth."""

    x: np.ndarray
    y: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    config: DataConfig

    @property
    def sigma(self) -> float:
        return self.config.noise

    @property
    def x_range(self) -> tuple[float, float]:
        return self.config.x_range


def true_curve(x: np.ndarray, coefs: tuple[float, ...] = COURSE_COEFS) -> np.ndarray:
    """f(x) for monomial coefficients given low -> high."""
    return np.polynomial.polynomial.polyval(np.asarray(x, dtype=float), coefs)


def make_data(config: DataConfig = DataConfig()) -> Dataset:
    """Draw x uniformly on the range, y = f(x) + N(0, noise^2); one seed controls both sets."""
    config.validate()
    rng = np.random.default_rng(config.seed)
    lo, hi = config.x_range
    x = rng.uniform(lo, hi, config.n)
    y = true_curve(x, config.coefs) + rng.normal(0.0, config.noise, config.n)
    x_test = rng.uniform(lo, hi, config.n_test)
    y_test = true_curve(x_test, config.coefs) + rng.normal(0.0, config.noise, config.n_test)
    return Dataset(x=x, y=y, x_test=x_test, y_test=y_test, config=config)
