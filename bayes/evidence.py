"""Model evidence and leave-one-out for choosing the polynomial degree.

Closed form (Bishop, PRML section 3.5) for y ~ N(X w, sigma^2), known sigma, prior
w_j ~ N(0, 1/alpha) on the slopes and a flat prior on the intercept w_0:

    A = X^T X / sigma^2 + alpha D,  D = diag(0, 1, ..., 1),  m = A^-1 X^T y / sigma^2
    log p(y) = -n/2 log(2 pi sigma^2) + (p-1)/2 log alpha + 1/2 log(2 pi)
               - 1/2 log|A| - 1/2 (||y - X m||^2 / sigma^2 + alpha ||m[1:]||^2)

The flat intercept contributes the same constant to every degree (column 0 is the constant 1 in
every basis), so differences between degrees are exact. alpha is set by maximizing the evidence
(type-II maximum likelihood), one alpha per degree.

Sigma unknown: write lambda = sigma^2 alpha. Then log p(y) = c(lambda) - (n-1)/2 log sigma^2
- E(lambda)/(2 sigma^2) with E = ||y - X m||^2 + lambda ||m[1:]||^2 (m does not depend on sigma
for fixed lambda), so the best sigma^2 = E/(n-1) in closed form and type-II ML of (sigma, tau)
is a 1-D search over lambda (``best_sigma_alpha``). It needs n > D + 1: with fewer points the
curve can interpolate, sigma -> 0 and the "evidence" grows without bound.

Proper prior (``log_evidence_proper``): with a Normal(0, s0) intercept the evidence is the
Gaussian N(y | 0, sigma^2 I + X diag(s0^2, tau^2, ...) X^T): the reference for SMC
(``smc_log_evidence``), which needs a proper prior and then also handles Laplace and horseshoe
priors, which have no closed form.

LOO: PSIS-LOO (ArviZ) on exact posterior draws; points whose Pareto k exceeds 0.7 (PSIS is not
reliable there; common at small n) are replaced by exact LOO, which is closed form here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar

from bayes.design import Basis

K_THRESHOLD = 0.7


def _posterior(X, y, sigma, alpha):
    prec = np.full(X.shape[1], alpha)
    prec[0] = 0.0
    A = X.T @ X / sigma**2 + np.diag(prec)
    m = np.linalg.solve(A, X.T @ y / sigma**2)
    return A, m


def log_evidence(X: np.ndarray, y: np.ndarray, sigma: float, alpha: float) -> float:
    """log p(y | X, sigma, alpha): Normal(0, 1/alpha) slopes, flat intercept (see module doc)."""
    n, p = X.shape
    A, m = _posterior(X, y, sigma, alpha)
    r = y - X @ m
    fit = r @ r / sigma**2 + alpha * (m[1:] @ m[1:])
    _, logdet = np.linalg.slogdet(A)
    return float(
        -0.5 * n * np.log(2 * np.pi * sigma**2)
        + 0.5 * (p - 1) * np.log(alpha)
        + 0.5 * np.log(2 * np.pi)
        - 0.5 * logdet
        - 0.5 * fit
    )


def best_alpha(X: np.ndarray, y: np.ndarray, sigma: float) -> float:
    """The prior precision alpha = 1/tau^2 that maximizes the evidence (1-D, log scale)."""
    if X.shape[1] == 1:
        return 1.0  # no slopes: alpha does not enter
    res = minimize_scalar(
        lambda la: -log_evidence(X, y, sigma, np.exp(la)),
        bounds=(-25.0, 25.0),
        method="bounded",
        options={"xatol": 1e-8},
    )
    return float(np.exp(res.x))


def _energy(X: np.ndarray, y: np.ndarray, lam: float) -> float:
    """E(lambda) = min_w ||y - X w||^2 + lambda ||w[1:]||^2 (see module doc)."""
    D = np.full(X.shape[1], lam)
    D[0] = 0.0
    m = np.linalg.solve(X.T @ X + np.diag(D), X.T @ y)
    r = y - X @ m
    return float(r @ r + lam * (m[1:] @ m[1:]))


def _profile(X, y, lam: float) -> tuple[float, float]:
    """(sigma, alpha) with sigma maximizing the evidence at fixed lambda = sigma^2 alpha."""
    sigma = np.sqrt(_energy(X, y, lam) / (len(y) - 1))
    return float(sigma), float(lam / sigma**2)


def best_sigma_alpha(X: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Type-II maximum likelihood of the noise sigma and the prior precision alpha = 1/tau^2."""
    n, p = X.shape
    if n <= p:
        raise ValueError(
            f"{n} points cannot pin down {p} coefficients and the noise: type-II maximum "
            "likelihood of sigma needs n > degree + 1 (fix sigma instead)"
        )
    if p == 1:
        sigma = float(np.std(y, ddof=1))
        return sigma, 1.0

    def neg(log_lam):
        sigma, alpha = _profile(X, y, np.exp(log_lam))
        return -log_evidence(X, y, sigma, alpha)

    res = minimize_scalar(neg, bounds=(-25.0, 25.0), method="bounded", options={"xatol": 1e-10})
    return _profile(X, y, float(np.exp(res.x)))


def log_evidence_proper(
    X: np.ndarray, y: np.ndarray, sigma: float, tau: float, intercept_scale: float
) -> float:
    """log N(y | 0, sigma^2 I + X diag(s0^2, tau^2, ..., tau^2) X^T): Normal prior everywhere."""
    from scipy.linalg import cho_factor, cho_solve

    prior_var = np.full(X.shape[1], float(tau) ** 2)
    prior_var[0] = float(intercept_scale) ** 2
    cov = sigma**2 * np.eye(len(y)) + (X * prior_var) @ X.T
    c, low = cho_factor(cov, lower=True)
    logdet = 2.0 * np.log(np.diag(c)).sum()
    return float(-0.5 * (len(y) * np.log(2 * np.pi) + logdet + y @ cho_solve((c, low), y)))


def smc_log_evidence(
    X: np.ndarray, y: np.ndarray, spec, draws: int = 2000, chains: int = 4, seed: int = 0
) -> np.ndarray:
    """log p(y) per SMC chain (``pm.sample_smc``'s ``log_marginal_likelihood``, last stage).

    ``spec`` (a ``PriorSpec``) must have a proper intercept (``intercept_scale``) and a proper
    prior on the slopes; the model is built in the direct parameterization (SMC starts from
    prior draws, which QR's flat theta cannot give).
    """
    from dataclasses import replace

    import pymc as pm

    from bayes.models import ModelError, build_model

    if spec.intercept_scale is None or spec.prior == "flat":
        raise ModelError(
            "SMC evidence needs a proper prior: give the intercept a scale (a flat intercept's "
            "evidence is defined only up to a constant) and use a proper prior on the slopes"
        )
    model = build_model(X, y, replace(spec, parameterization="direct"))
    with model:
        idata = pm.sample_smc(
            draws=draws,
            chains=chains,
            cores=1,
            random_seed=seed,
            progressbar=False,
            compute_convergence_checks=False,
        )
    values = idata.sample_stats["log_marginal_likelihood"].values
    # (chain, stage) when all chains ran the same number of stages; otherwise ArviZ keeps one
    # list of stages per chain in an object array of another shape
    rows = values if values.shape[0] == chains else values.reshape(-1)
    if len(rows) != chains:
        raise RuntimeError(f"unexpected log_marginal_likelihood layout {values.shape}")
    return np.array([_last_finite(row) for row in rows])


def _last_finite(stages) -> float:
    """PyMC stores each chain's per-stage running estimates; the last finite one is the answer."""
    parts = [np.atleast_1d(np.asarray(v, dtype=float)).ravel() for v in np.ravel(stages)]
    values = np.concatenate(parts) if parts else np.array([])
    values = values[np.isfinite(values)]
    return float(values[-1]) if values.size else float("nan")


def exact_loo(X: np.ndarray, y: np.ndarray, sigma: float, alpha: float) -> np.ndarray:
    """log p(y_i | y_-i) for every i, in closed form (refit without point i)."""
    A, _ = _posterior(X, y, sigma, alpha)
    b = X.T @ y / sigma**2
    out = np.empty(len(y))
    for i, (xi, yi) in enumerate(zip(X, y)):
        A_i = A - np.outer(xi, xi) / sigma**2
        m_i = np.linalg.solve(A_i, b - xi * yi / sigma**2)
        var = sigma**2 + xi @ np.linalg.solve(A_i, xi)
        out[i] = -0.5 * (np.log(2 * np.pi * var) + (yi - xi @ m_i) ** 2 / var)
    return out


def posterior_idata(X, y, sigma, alpha, draws: int = 1000, chains: int = 4, seed: int = 0):
    """InferenceData of exact Gaussian posterior draws with the pointwise log-likelihood."""
    import arviz as az

    A, m = _posterior(X, y, sigma, alpha)
    rng = np.random.default_rng(seed)
    w = rng.multivariate_normal(m, np.linalg.inv(A), size=(chains, draws))
    mu = np.einsum("cdp,np->cdn", w, X)
    loglik = -0.5 * (np.log(2 * np.pi * sigma**2) + (y - mu) ** 2 / sigma**2)
    return az.from_dict(posterior={"w": w}, log_likelihood={"y": loglik}, observed_data={"y": y})


@dataclass
class LooResult:
    """PSIS-LOO with exact LOO substituted where Pareto k > 0.7; ``elpd_data`` is ArviZ's
    ELPDData with the same substitution (what ``az.compare`` takes)."""

    elpd: float
    se: float
    pareto_k: np.ndarray
    n_high_k: int
    pointwise: np.ndarray
    elpd_data: object = None


def psis_loo(idata, exact: Callable[[], np.ndarray] | None = None) -> LooResult:
    """ArviZ PSIS-LOO; if ``exact`` is given, points with k > 0.7 use exact LOO from it."""
    import warnings

    import arviz as az

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # high-k warnings are handled below, not hidden
        loo = az.loo(idata, pointwise=True)
    k = np.asarray(loo.pareto_k).ravel()
    pw = np.asarray(loo.loo_i).ravel().copy()
    high = k > K_THRESHOLD
    if high.any() and exact is not None:
        pw[high] = exact()[high]
    se = float(np.sqrt(len(pw) * np.var(pw)))
    # p_loo = lppd - elpd_loo (ArviZ's definition); lppd, the in-sample log predictive density,
    # does not change with the substitution, so p_loo is recomputed from the new elpd.
    lppd = float(loo["elpd_loo"]) + float(loo["p_loo"])
    loo = loo.copy()
    loo["loo_i"] = loo["loo_i"].copy(data=pw.reshape(loo["loo_i"].shape))
    loo["elpd_loo"], loo["se"] = float(pw.sum()), se
    loo["p_loo"] = lppd - float(pw.sum())
    if exact is not None:
        loo["warning"] = False  # the unreliable points were replaced by exact LOO
    return LooResult(
        elpd=float(pw.sum()),
        se=se,
        pareto_k=k,
        n_high_k=int(high.sum()),
        pointwise=pw,
        elpd_data=loo,
    )


@dataclass
class DegreeScore:
    """One degree's log evidence, the type-II ML prior scale tau and noise sigma, and LOO."""

    degree: int
    log_evidence: float
    prior_scale: float
    loo: LooResult | None
    sigma: float


def evidence_by_degree(
    x: np.ndarray,
    y: np.ndarray,
    sigma: float | None,
    max_degree: int = 10,
    x_range: tuple[float, float] = (-1.0, 1.0),
    basis: str = "legendre",
    with_loo: bool = True,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> list[DegreeScore]:
    """Evidence (alpha, and sigma when ``sigma`` is None, maximized) and LOO per degree.

    With sigma unknown, degrees with n <= degree + 1 are left out (see ``best_sigma_alpha``).
    """
    degrees = [d for d in range(max_degree + 1) if sigma is not None or len(y) > d + 1]
    scores = []
    for i, d in enumerate(degrees):
        X = Basis(d, basis, x_range).matrix(x)
        if sigma is None:
            sig, alpha = best_sigma_alpha(X, y)
        else:
            sig, alpha = float(sigma), best_alpha(X, y, sigma)
        loo = None
        if with_loo:
            idata = posterior_idata(X, y, sig, alpha, seed=seed)
            loo = psis_loo(idata, exact=lambda: exact_loo(X, y, sig, alpha))
        scores.append(DegreeScore(d, log_evidence(X, y, sig, alpha), alpha**-0.5, loo, sig))
        if progress is not None:
            progress(i + 1, len(degrees))
    return scores


def chosen_degree(scores: list[DegreeScore]) -> int:
    """The degree with the largest log evidence."""
    return max(scores, key=lambda s: s.log_evidence).degree


def loo_comparison(scores: list[DegreeScore]) -> dict:
    """``az.compare`` over degrees (elpd differences, their SEs, stacking weights) and the
    one-standard-error rule: the simplest degree whose elpd lies below the best's by at most
    one standard error of the paired difference (``dse``: the SE of the pointwise differences
    to the best degree, not the best degree's own SE).

    Returns per-degree lists (in degree order) ``elpd_diff``, ``elpd_diff_se``,
    ``stacking_weight``, plus ``best`` (largest elpd), ``ties`` (degrees within one ``dse``
    of it) and ``chosen`` (the smallest of the ties).
    """
    import warnings

    import arviz as az

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = az.compare({str(s.degree): s.loo.elpd_data for s in scores}, method="stacking")
    rows = [table.loc[str(s.degree)] for s in scores]
    diff = [float(r["elpd_diff"]) for r in rows]
    dse = [float(r["dse"]) for r in rows]
    ties = [s.degree for s, d, e in zip(scores, diff, dse) if d <= e]
    return {
        "elpd_diff": diff,
        "elpd_diff_se": dse,
        "stacking_weight": [float(r["weight"]) for r in rows],
        "best": int(table.index[0]),
        "ties": ties,
        "chosen": min(ties),
    }
