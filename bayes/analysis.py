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


#: highest polynomial degree the commands accept (Legendre columns stay well conditioned;
#: higher degrees only cost time and memory)
MAX_DEGREE = 30


def check_degree(n: int, degree: int) -> None:
    """A degree the commands accept (any n >= 2 works with a proper prior)."""
    if degree < 0:
        raise SettingsError(f"degree must be >= 0 (got {degree}); pass e.g. --degree 5")
    if degree > MAX_DEGREE:
        raise SettingsError(f"degree must be <= {MAX_DEGREE} (got {degree}); pass e.g. --degree 5")


def underdetermined_note(n: int, degree: int) -> str:
    """The plain-words reason there is no unique least-squares (MLE) fit, or ''."""
    if n > degree:
        return ""
    return (
        f"{n} points cannot pin down {degree + 1} coefficients: least squares (MLE) has no "
        "unique answer; the prior (MAP, Ridge, Lasso, the posterior) still gives one"
    )


def resolve_sigma(data: Dataset, sigma: float | None = None, learn_sigma: bool = False):
    """The noise sigma to fix, or None to treat it as unknown.

    An explicit ``sigma`` wins; then ``learn_sigma``; then the data's known sigma (the course's
    polynomial), which user data does not have (None: unknown).
    """
    if sigma is not None:
        if not (np.isfinite(sigma) and sigma > 0):
            raise SettingsError(f"sigma must be > 0 (got {sigma}); pass e.g. --sigma 1.0")
        return float(sigma)
    return None if learn_sigma else data.sigma


def point_estimates(
    data: Dataset,
    degree: int = 5,
    lambda_l2: float = 1.0,
    lambda_l1: float = 5.0,
    basis: str = "legendre",
    sigma: float | None = None,
) -> dict:
    """MLE, Normal/Laplace MAP (PyMC) and Ridge/Lasso (scikit-learn) in the design's basis.

    Returns the ``python -m bayes compare --json`` object: x, y, degree, sigma, design,
    lambda_l2, lambda_l1, mle, map_normal, ridge, map_laplace, lasso, then sigma_source and
    notes. ``mle`` is None when n <= degree (no unique least-squares fit; ``notes`` says why),
    a MAP is None when its optimizer failed (``notes`` says so). The MAP <-> penalty mapping
    needs sigma: the data's known one, else ``sigma``, else its type-II ML estimate.
    """
    from bayes.evidence import best_sigma_alpha
    from bayes.fit import MapError, map_estimate

    check_degree(len(data.x), degree)
    X = Basis(degree, basis, data.x_range).matrix(data.x)
    y = data.y
    sigma = resolve_sigma(data, sigma)
    source = "given"
    if sigma is None:
        if len(y) <= X.shape[1]:
            raise SettingsError(
                f"{len(y)} points cannot estimate the noise sigma at degree {degree}; "
                "pass --sigma, or use a lower --degree"
            )
        sigma, source = best_sigma_alpha(X, y)[0], "estimated (type-II maximum likelihood)"
    notes = [underdetermined_note(len(y), degree)] if len(y) <= degree else []

    def map_or_none(prior, scale):
        try:
            return map_estimate(X, y, sigma, prior, scale).w.tolist()
        except MapError as exc:
            notes.append(f"{prior} MAP: {exc}")
            return None

    return {
        "x": data.x.tolist(),
        "y": y.tolist(),
        "degree": degree,
        "sigma": float(sigma),
        "design": X.tolist(),
        "lambda_l2": float(lambda_l2),
        "lambda_l1": float(lambda_l1),
        "mle": None if len(y) <= degree else map_or_none("flat", None),
        "map_normal": map_or_none("normal", normal_scale(sigma, lambda_l2)),
        "ridge": ridge_coefs(X, y, lambda_l2).tolist(),
        "map_laplace": map_or_none("laplace", laplace_scale(sigma, lambda_l1)),
        "lasso": lasso_coefs(X, y, lambda_l1).tolist(),
        "sigma_source": source,
        "notes": notes,
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
    sigma: float | None = None,
):
    """NUTS posterior (``bayes.fit.NutsResult``) with monomial coefficients added.

    ``idata.posterior["w"]`` holds the coefficients in the design's basis,
    ``idata.posterior["w_monomial"]`` the same draws as plain monomial coefficients in x.
    Sigma: see ``resolve_sigma`` (user data: learned with a HalfNormal prior unless given).
    """
    from bayes.fit import NutsConfig, sample_nuts

    check_degree(len(data.x), degree)
    b = Basis(degree, basis, data.x_range)
    spec = prior_spec(data, prior, scale, learn_sigma, parameterization, sigma)
    result = sample_nuts(
        b.matrix(data.x), data.y, spec, config or NutsConfig(), progress, progressbar
    )
    w = result.idata.posterior["w"]
    result.idata.posterior["w_monomial"] = w.copy(data=b.to_monomial(w.values))
    return result


def prior_spec(
    data: Dataset,
    prior: str = "normal",
    scale: float | None = None,
    learn_sigma: bool = False,
    parameterization: str = "qr",
    sigma: float | None = None,
):
    """The ``PriorSpec`` the CLI and the app use for ``data``."""
    from bayes.models import PriorSpec

    return PriorSpec(
        prior=prior,
        scale=scale,
        sigma=resolve_sigma(data, sigma, learn_sigma),
        parameterization=parameterization,
    )


def predictive_curves(result, data: Dataset, basis: Basis, grid: np.ndarray, seed: int = 0):
    """94% bands on ``grid``: the mean curve from the w draws, y from
    ``pm.sample_posterior_predictive`` after ``pm.set_data`` (``bayes.fit.predict``)."""
    from bayes.fit import predict
    from bayes.plots import band_from_draws

    G = basis.matrix(grid)
    mu = result.idata.posterior["w"].values.reshape(-1, basis.n_coef) @ G.T
    y_rep = predict(result.model, result.idata, G, seed=seed)
    return band_from_draws(grid, mu, y_rep)


def prior_curves(
    data: Dataset, degree: int, spec, grid: np.ndarray, basis: str = "legendre", seed: int = 0
) -> dict:
    """``pm.sample_prior_predictive`` curves on ``grid`` (``bayes.fit.prior_predictive``)."""
    from bayes.fit import prior_predictive
    from bayes.plots import band_from_draws

    b = Basis(degree, basis, data.x_range)
    draws = prior_predictive(b.matrix(data.x), data.y, spec, b.matrix(grid), seed=seed)
    band = band_from_draws(grid, draws["mu"], draws["y"])
    band["curves"] = draws["mu"][:30]
    return band


def smc_evidence_curve(
    data: Dataset,
    prior: str = "laplace",
    max_degree: int = 10,
    basis: str = "legendre",
    intercept_scale: float | None = None,
    sigma: float | None = None,
    draws: int = 2000,
    chains: int = 4,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """SMC log evidence per degree for any proper prior (Normal, Laplace, horseshoe).

    The intercept gets Normal(0, intercept_scale) (default: 10 times the largest |y|, wide),
    since a flat intercept's evidence is defined only up to a constant; sigma is the data's
    known one, ``sigma``, or learned (HalfNormal). Returns per-degree means and chain spreads.
    """
    from bayes.evidence import smc_log_evidence
    from bayes.models import PriorSpec

    check_degree(len(data.x), max_degree)
    s0 = intercept_scale or 10.0 * float(np.max(np.abs(data.y)) or 1.0)
    sig = resolve_sigma(data, sigma)
    spec = PriorSpec(prior=prior, sigma=sig, parameterization="direct", intercept_scale=s0)
    means, spreads = [], []
    for d in range(max_degree + 1):
        X = Basis(d, basis, data.x_range).matrix(data.x)
        chains_est = smc_log_evidence(X, data.y, spec, draws=draws, chains=chains, seed=data.seed)
        means.append(float(chains_est.mean()))
        spreads.append(float(np.ptp(chains_est)))
        if progress is not None:
            progress(d + 1, max_degree + 1)
    return {
        "prior": prior,
        "intercept_scale": s0,
        "degrees": list(range(max_degree + 1)),
        "smc_log_evidence": means,
        "smc_chain_spread": spreads,
        "chosen_degree_smc": int(np.argmax(means)),
    }


def degree_selection(
    data: Dataset,
    max_degree: int = 10,
    basis: str = "legendre",
    with_loo: bool = True,
    progress: Callable[[int, int], None] | None = None,
    sigma: float | None = None,
    learn_sigma: bool = False,
) -> dict:
    """Log evidence and LOO per degree; ``chosen_degree`` by evidence.

    Closed-form Gaussian posterior, Normal prior with its scale by type-II maximum likelihood;
    sigma known (the course's data, or ``sigma``) or, when unknown (user data, or
    ``learn_sigma``), also by type-II maximum likelihood per degree (then only degrees with
    n > degree + 1 are scored). LOO degrees are compared with ``az.compare``; the one-SE rule
    gives ``chosen_degree_loo_1se`` and ``loo_ties`` (``chosen_degree_loo`` stays the argmax).
    """
    from bayes.evidence import chosen_degree, evidence_by_degree, loo_comparison

    if max_degree < 0:
        raise SettingsError(f"max degree must be >= 0 (got {max_degree})")
    check_degree(len(data.x), max_degree)
    if len(data.x) < 2:
        raise SettingsError("degree selection needs at least 2 points (LOO); pass --n 2 or more")
    sig = resolve_sigma(data, sigma, learn_sigma)
    scores = evidence_by_degree(
        data.x,
        data.y,
        sig,
        max_degree,
        data.x_range,
        basis,
        with_loo,
        seed=data.seed,
        progress=progress,
    )
    out = {
        "n": len(data.x),
        "sigma": sig,
        "basis": basis,
        "degrees": [s.degree for s in scores],
        "log_evidence": [s.log_evidence for s in scores],
        "prior_scale": [s.prior_scale for s in scores],
        "chosen_degree": chosen_degree(scores),
        "sigma_known": sig is not None,
        "sigma_estimate": [s.sigma for s in scores],
    }
    if with_loo:
        cmp = loo_comparison(scores)
        out["loo_elpd"] = [s.loo.elpd for s in scores]
        out["loo_se"] = [s.loo.se for s in scores]
        out["pareto_k_max"] = [float(s.loo.pareto_k.max()) for s in scores]
        out["n_pareto_k_high"] = [s.loo.n_high_k for s in scores]
        out["chosen_degree_loo"] = max(scores, key=lambda s: s.loo.elpd).degree
        out["elpd_diff"] = cmp["elpd_diff"]
        out["elpd_diff_se"] = cmp["elpd_diff_se"]
        out["stacking_weight"] = cmp["stacking_weight"]
        out["loo_ties"] = cmp["ties"]
        out["chosen_degree_loo_1se"] = cmp["chosen"]
    return out
