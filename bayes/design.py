"""Design matrices for polynomial regression, in a sound or a naive basis.

``legendre``: P_0..P_D of u = affine map of x onto [-1, 1]; the columns are nearly orthogonal
for x spread over the range, so coefficients are well identified. ``monomial``: raw 1, x, x^2,
...; columns are highly correlated, which is what makes samplers and optimizers struggle.
Column 0 is the constant 1 in both bases, so the intercept is always coefficient 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.polynomial import legendre as L
from numpy.polynomial import polynomial as P

BASES = ("legendre", "monomial")


class DesignError(ValueError):
    """Bad degree or basis; the message says how to fix it."""


@dataclass(frozen=True)
class Basis:
    """A polynomial basis of a given degree on a given x-range."""

    degree: int
    kind: str = "legendre"
    x_range: tuple[float, float] = (-1.0, 1.0)

    def __post_init__(self) -> None:
        if self.degree < 0:
            raise DesignError(f"degree must be >= 0 (got {self.degree}); pass e.g. --degree 5")
        if self.kind not in BASES:
            raise DesignError(f"unknown basis {self.kind!r}; choose one of {', '.join(BASES)}")

    @property
    def n_coef(self) -> int:
        return self.degree + 1

    def scale(self, x: np.ndarray) -> np.ndarray:
        """Map x-range affinely onto [-1, 1]."""
        lo, hi = self.x_range
        return (2.0 * np.asarray(x, dtype=float) - (lo + hi)) / (hi - lo)

    def matrix(self, x: np.ndarray) -> np.ndarray:
        """Design matrix [n, degree + 1]; column 0 is all ones (the intercept)."""
        x = np.asarray(x, dtype=float)
        if self.kind == "monomial":
            return np.vander(x, self.n_coef, increasing=True)
        return L.legvander(self.scale(x), self.degree)

    def to_monomial_matrix(self) -> np.ndarray:
        """T with monomial coefficients (in x, low -> high) = T @ basis coefficients."""
        if self.kind == "monomial":
            return np.eye(self.n_coef)
        lo, hi = self.x_range
        a, b = 2.0 / (hi - lo), -(lo + hi) / (hi - lo)  # u = a x + b
        T = np.zeros((self.n_coef, self.n_coef))
        for k in range(self.n_coef):
            in_u = L.leg2poly(np.eye(self.n_coef)[k])  # P_k as a polynomial in u
            T[:, k] = _compose_affine(in_u, a, b, self.n_coef)
        return T

    def to_monomial(self, coefs: np.ndarray) -> np.ndarray:
        """Basis coefficients (..., degree + 1) -> monomial coefficients in x, low -> high."""
        return np.asarray(coefs) @ self.to_monomial_matrix().T

    def from_monomial(self, monomial: np.ndarray) -> np.ndarray:
        """Monomial coefficients -> basis coefficients (pads/truncates to this degree)."""
        m = np.zeros(self.n_coef)
        src = np.asarray(monomial, dtype=float)[: self.n_coef]
        m[: src.size] = src
        return np.linalg.solve(self.to_monomial_matrix(), m)


def _compose_affine(coefs_u: np.ndarray, a: float, b: float, size: int) -> np.ndarray:
    """Coefficients in x of p(a x + b), where p has coefficients ``coefs_u`` in u (low->high)."""
    out = np.zeros(size)
    power = np.array([1.0])  # (a x + b)^k, low -> high
    for c in coefs_u:
        out[: power.size] += c * power
        power = P.polymul(power, [b, a])
    return out
