"""Ridge / Lasso and the exact mapping between penalty strength and prior scale.

Objective (the course's E_1 / E_2, bias left alone), w_0 the intercept:

    ridge:  ||y - X w||^2 + lambda * sum_{j>=1} w_j^2
    lasso:  ||y - X w||^2 + lambda * sum_{j>=1} |w_j|

With known noise sigma, -log posterior = (1/(2 sigma^2)) * objective + const when

    Normal(0, tau) prior on w_j   <=>  lambda_l2 = sigma^2 / tau^2
    Laplace(0, b) prior on w_j    <=>  lambda_l1 = 2 sigma^2 / b

(Normal: w^2/(2 tau^2) = (1/(2 sigma^2)) * (sigma^2/tau^2) w^2;
 Laplace: |w|/b = (1/(2 sigma^2)) * (2 sigma^2/b) |w|), and a flat prior on w_0.

scikit-learn scales the losses differently: Ridge minimizes ||y - Xw||^2 + alpha ||w||^2, so
alpha = lambda_l2; Lasso minimizes (1/(2n)) ||y - Xw||^2 + alpha ||w||_1, so
alpha = lambda_l1 / (2n). Column 0 of our design is the constant 1, so we hand scikit-learn the
other columns with ``fit_intercept=True``: its unpenalized intercept is exactly our w_0.
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import Lasso, Ridge


class PenaltyError(ValueError):
    """Bad penalty or prior scale; the message says how to fix it."""


def _positive(name: str, value: float) -> float:
    if not (np.isfinite(value) and value > 0):
        raise PenaltyError(f"{name} must be a positive number (got {value})")
    return float(value)


def ridge_lambda(sigma: float, tau: float) -> float:
    """lambda_l2 = sigma^2 / tau^2 for a Normal(0, tau) prior and noise sigma."""
    return _positive("sigma", sigma) ** 2 / _positive("prior scale tau", tau) ** 2


def normal_scale(sigma: float, lam: float) -> float:
    """tau = sigma / sqrt(lambda_l2): the Normal prior scale equivalent to a ridge lambda."""
    return _positive("sigma", sigma) / np.sqrt(_positive("lambda_l2", lam))


def lasso_lambda(sigma: float, b: float) -> float:
    """lambda_l1 = 2 sigma^2 / b for a Laplace(0, b) prior and noise sigma."""
    return 2.0 * _positive("sigma", sigma) ** 2 / _positive("Laplace scale b", b)


def laplace_scale(sigma: float, lam: float) -> float:
    """b = 2 sigma^2 / lambda_l1: the Laplace prior scale equivalent to a lasso lambda."""
    return 2.0 * _positive("sigma", sigma) ** 2 / _positive("lambda_l1", lam)


def sklearn_ridge_alpha(lam: float) -> float:
    """scikit-learn Ridge's alpha for our lambda_l2 (same scaling)."""
    return _positive("lambda_l2", lam)


def sklearn_lasso_alpha(lam: float, n: int) -> float:
    """scikit-learn Lasso's alpha for our lambda_l1: it divides the squared loss by 2n."""
    return _positive("lambda_l1", lam) / (2.0 * n)


def objective(X: np.ndarray, y: np.ndarray, w: np.ndarray, lam: float, kind: str) -> float:
    """||y - Xw||^2 + lambda * penalty(w[1:]); kind is 'l2' or 'l1'."""
    r = y - X @ w
    pen = np.sum(w[1:] ** 2) if kind == "l2" else np.sum(np.abs(w[1:]))
    return float(r @ r + lam * pen)


def _check_intercept(X: np.ndarray) -> None:
    if not np.allclose(X[:, 0], 1.0):
        raise PenaltyError("design column 0 must be the constant 1 (the unpenalized intercept)")


def ridge_coefs(X: np.ndarray, y: np.ndarray, lam: float) -> np.ndarray:
    """scikit-learn Ridge at our lambda_l2, returned as [w_0, w_1, ...] in X's basis."""
    _check_intercept(X)
    if X.shape[1] == 1:  # degree 0: no slopes to penalize (scikit-learn rejects 0 features)
        return np.array([y.mean()])
    model = Ridge(alpha=sklearn_ridge_alpha(lam), fit_intercept=True, solver="cholesky")
    model.fit(X[:, 1:], y)
    return np.concatenate([[model.intercept_], model.coef_])


def lasso_coefs(X: np.ndarray, y: np.ndarray, lam: float) -> np.ndarray:
    """scikit-learn Lasso at our lambda_l1 (tight tolerance), as [w_0, w_1, ...]."""
    _check_intercept(X)
    if X.shape[1] == 1:
        return np.array([y.mean()])
    model = Lasso(
        alpha=sklearn_lasso_alpha(lam, len(y)), fit_intercept=True, tol=1e-14, max_iter=1_000_000
    )
    model.fit(X[:, 1:], y)
    return np.concatenate([[model.intercept_], model.coef_])


def ridge_closed_form(X: np.ndarray, y: np.ndarray, lam: float) -> np.ndarray:
    """(X^T X + lambda D)^-1 X^T y with D = diag(0, 1, ..., 1): the same ridge, by hand."""
    D = np.eye(X.shape[1])
    D[0, 0] = 0.0
    return np.linalg.solve(X.T @ X + lam * D, X.T @ y)


def least_squares(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The MLE under Gaussian noise: numpy's least squares."""
    return np.linalg.lstsq(X, y, rcond=None)[0]


def regularization_path(X: np.ndarray, y: np.ndarray, lambdas: np.ndarray, kind: str) -> np.ndarray:
    """Coefficients [len(lambdas), p] along a grid of lambda for 'l2' (ridge) or 'l1' (lasso)."""
    fit = ridge_coefs if kind == "l2" else lasso_coefs
    return np.array([fit(X, y, lam) for lam in lambdas])
