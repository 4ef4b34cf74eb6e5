"""Overfitting in numbers: least-squares train/test error by degree, up to n - 1."""

from __future__ import annotations

import numpy as np

from bayes.data import Dataset
from bayes.design import Basis
from bayes.penalized import least_squares


def overfitting_table(
    data: Dataset, degrees: list[int] | None = None, basis: str = "legendre"
) -> list[dict]:
    """Train / test mean squared error of the MLE (least squares) per degree.

    Degree n - 1 interpolates the n points: zero training error, large test error. The
    default degrees stop at 100 (a degree-n design is n x n: 800 MB at n = 10,000).
    """
    n = len(data.x)
    top = min(n - 1, 100)
    degrees = degrees if degrees is not None else sorted({0, 1, 3, 5, min(9, top), top})
    rows = []
    for d in degrees:
        b = Basis(d, basis, data.x_range)
        w = least_squares(b.matrix(data.x), data.y)
        train = np.mean((b.matrix(data.x) @ w - data.y) ** 2)
        test = np.mean((b.matrix(data.x_test) @ w - data.y_test) ** 2)
        rows.append({"degree": d, "train_mse": float(train), "test_mse": float(test)})
    return rows
