"""The library calls behind the CLI and the app page: one function per analysis."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from bayes.data import Dataset
from bayes.design import Basis
from bayes.penalized import (
    laplace_scale,
    lasso_coefs,
    least_squares,
    normal_scale,
    ridge_coefs,
)


class SettingsError(ValueError):
    """Settings that cannot work together; the message says how to fix them."""


def check_degree(n: int, degree: int) -> None:
    """The penalty-free fit (MLE) needs n > degree points."""
    if degree < 0:
        raise SettingsError(f"degree must be >= 0 (got {degree}); pass e.g. --degree 5")
    if n <= degree:
        raise SettingsError(
            f"n={n} points cannot determine a degree-{degree} least-squares fit (needs n > degree);"
            f" pass --n {degree + 1} or more, or a lower --degree"
        )


def point_estimates(
    data: Dataset,
    degree: int = 5,
    lambda_l2: float = 1.0,
    lambda_l1: float = 5.0,
    basis: str = "legendre",
) -> dict:
    """MLE, Normal/Laplace MAP (PyMC) and Ridge/Lasso (scikit-learn) in the design's basis.

    Returns the ``python -m bayes compare --json`` object: x, y, degree, sigma, design,
    lambda_l2, lambda_l1, mle, map_normal, ridge, map_laplace, lasso.
    """
    from bayes.fit import map_estimate

    check_degree(len(data.x), degree)
    X = Basis(degree, basis, data.x_range).matrix(data.x)
    y, sigma = data.y, data.sigma
    return {
        "x": data.x.tolist(),
        "y": y.tolist(),
        "degree": degree,
        "sigma": sigma,
        "design": X.tolist(),
        "lambda_l2": float(lambda_l2),
        "lambda_l1": float(lambda_l1),
        "mle": map_estimate(X, y, sigma, "flat").w.tolist(),
        "map_normal": map_estimate(
            X, y, sigma, "normal", normal_scale(sigma, lambda_l2)
        ).w.tolist(),
        "ridge": ridge_coefs(X, y, lambda_l2).tolist(),
        "map_laplace": map_estimate(
            X, y, sigma, "laplace", laplace_scale(sigma, lambda_l1)
        ).w.tolist(),
        "lasso": lasso_coefs(X, y, lambda_l1).tolist(),
    }


def lstsq_check(result: dict) -> float:
    """Max relative difference between the PyMC flat-prior MAP and numpy.linalg.lstsq."""
    X, y = np.array(result["design"]), np.array(result["y"])
    ls = least_squares(X, y)
    return float(np.max(np.abs(np.array(result["mle"]) - ls)) / np.max(np.abs(ls)))


def regularization_paths(
    data: Dataset, degree: int, basis: str = "legendre", lambdas: np.ndarray | None = None
) -> dict:
    """Ridge and Lasso coefficient paths over a log grid of lambda."""
    from bayes.penalized import regularization_path

    X = Basis(degree, basis, data.x_range).matrix(data.x)
    lambdas = np.logspace(-3, 3, 40) if lambdas is None else np.asarray(lambdas)
    return {
        "lambdas": lambdas,
        "ridge": regularization_path(X, data.y, lambdas, "l2"),
        "lasso": regularization_path(X, data.y, lambdas, "l1"),
    }


def posterior(
    data: Dataset,
    degree: int = 5,
    prior: str = "normal",
    scale: float | None = None,
    learn_sigma: bool = False,
    basis: str = "legendre",
    parameterization: str = "qr",
    config=None,
    progress: Callable[[int, int], None] | None = None,
    progressbar: bool = False,
):
    """NUTS posterior (``bayes.fit.NutsResult``) with monomial coefficients added.

    ``idata.posterior["w"]`` holds the coefficients in the design's basis,
    ``idata.posterior["w_monomial"]`` the same draws as plain monomial coefficients in x.
    """
    from bayes.fit import NutsConfig, sample_nuts
    from bayes.models import PriorSpec

    if prior == "flat":
        check_degree(len(data.x), degree)
    b = Basis(degree, basis, data.x_range)
    spec = PriorSpec(
        prior=prior,
        scale=scale,
        sigma=None if learn_sigma else data.sigma,
        parameterization=parameterization,
    )
    result = sample_nuts(
        b.matrix(data.x), data.y, spec, config or NutsConfig(), progress, progressbar
    )
    w = result.idata.posterior["w"]
    result.idata.posterior["w_monomial"] = w.copy(data=b.to_monomial(w.values))
    return result


def degree_selection(
    data: Dataset,
    max_degree: int = 10,
    basis: str = "legendre",
    with_loo: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Log evidence (prior scale maximizing it) and LOO per degree; ``chosen_degree`` by evidence.

    Uses the closed-form Gaussian posterior (Normal prior, known sigma = the data's noise).
    """
    from bayes.evidence import chosen_degree, evidence_by_degree

    if max_degree < 0:
        raise SettingsError(f"max degree must be >= 0 (got {max_degree})")
    if len(data.x) < 2:
        raise SettingsError("degree selection needs at least 2 points (LOO); pass --n 2 or more")
    scores = evidence_by_degree(
        data.x,
        data.y,
        data.sigma,
        max_degree,
        data.x_range,
        basis,
        with_loo,
        seed=data.config.seed,
        progress=progress,
    )
    out = {
        "n": len(data.x),
        "sigma": data.sigma,
        "basis": basis,
        "degrees": [s.degree for s in scores],
        "log_evidence": [s.log_evidence for s in scores],
        "prior_scale": [s.prior_scale for s in scores],
        "chosen_degree": chosen_degree(scores),
    }
    if with_loo:
        out["loo_elpd"] = [s.loo.elpd for s in scores]
        out["loo_se"] = [s.loo.se for s in scores]
        out["pareto_k_max"] = [float(s.loo.pareto_k.max()) for s in scores]
        out["n_pareto_k_high"] = [s.loo.n_high_k for s in scores]
        out["chosen_degree_loo"] = max(scores, key=lambda s: s.loo.elpd).degree
    return out
