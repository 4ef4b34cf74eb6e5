"""Data sets: seeded noisy samples of the course's fifth-degree polynomial, or the user's own.

A ``Dataset`` carries the training points, a test sample when the truth is known (the course's
polynomial), and the noise sigma when it is known; user data (``bayes.userdata``) has neither.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: Coefficients low -> high of the course's polynomial (handout, "Bayesian statistics").
COURSE_COEFS: tuple[float, ...] = (0.5423, -3.2648, -16.5311, 43.3645, 25.6159, -51.2418)


#: Most points any command accepts: a NUTS fit stores chains x draws x n log-likelihood
#: values (4 x 1000 x 10,000 doubles = 320 MB), so more would exhaust a laptop's memory.
MAX_N = 10_000


class DataError(ValueError):
    """Bad data settings (n, noise, x-range) or a bad data file; the message says the fix."""


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
        if self.n < 2:
            raise DataError(f"n must be >= 2 (got {self.n}); pass e.g. --n 50")
        if self.n > MAX_N:
            raise DataError(
                f"n must be <= {MAX_N:,} (got {self.n:,}): a posterior stores chains x draws x n "
                "log-likelihood values and would run the machine out of memory; pass e.g. --n 1000"
            )
        if not self.noise > 0:
            raise DataError(f"noise sigma must be > 0 (got {self.noise}); pass e.g. --noise 1.0")
        lo, hi = self.x_range
        if not (np.isfinite(lo) and np.isfinite(hi) and hi > lo):
            raise DataError(f"x-range must be finite with low < high (got {lo}, {hi})")


@dataclass(frozen=True)
class Dataset:
    """Training sample (x, y); for the course's polynomial also a test sample and the truth.

    ``config`` is None for user data: then there is no test sample, no true curve, the noise
    sigma is unknown (``sigma`` is None) and the x-range is the data's own.
    """

    x: np.ndarray
    y: np.ndarray
    x_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    config: DataConfig | None = None
    source: str = "the course's polynomial"
    x_label: str = "x"
    y_label: str = "y"

    @property
    def sigma(self) -> float | None:
        """The known noise sigma (the course's data), or None (user data: learn it)."""
        return None if self.config is None else self.config.noise

    @property
    def x_range(self) -> tuple[float, float]:
        if self.config is None:
            return (float(np.min(self.x)), float(np.max(self.x)))
        return self.config.x_range

    @property
    def truth(self) -> tuple[float, ...] | None:
        """Monomial coefficients of the true curve, when known."""
        return None if self.config is None else self.config.coefs

    @property
    def seed(self) -> int:
        return 0 if self.config is None else self.config.seed


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
