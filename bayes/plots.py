"""Matplotlib figures (returned, never shown or saved here): predictive band, paths, evidence."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from bayes.data import COURSE_COEFS, true_curve  # noqa: E402
from bayes.design import Basis  # noqa: E402


def predictive_band(
    basis: Basis,
    w_draws: np.ndarray,
    sigma_draws: np.ndarray | float,
    x_grid: np.ndarray,
    seed: int = 0,
    level: float = 0.94,
) -> dict:
    """Mean curve, credible band of the mean and posterior-predictive band on ``x_grid``."""
    w = np.asarray(w_draws).reshape(-1, basis.n_coef)
    mu = w @ basis.matrix(x_grid).T
    sig = np.broadcast_to(
        np.asarray(sigma_draws, dtype=float).reshape(-1, 1)
        if np.ndim(sigma_draws)
        else sigma_draws,
        (mu.shape[0], 1),
    )
    y_rep = mu + np.random.default_rng(seed).normal(size=mu.shape) * sig
    q = [(1 - level) / 2 * 100, (1 + level) / 2 * 100]
    return {
        "x": x_grid,
        "mean": mu.mean(0),
        "mu_band": np.percentile(mu, q, axis=0),
        "pred_band": np.percentile(y_rep, q, axis=0),
    }


def posterior_predictive_figure(x, y, band: dict, coefs=COURSE_COEFS, title: str = ""):
    """Data, true curve, posterior mean and its 94% bands."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    g = band["x"]
    ax.fill_between(g, *band["pred_band"], alpha=0.2, color="C0", label="94% predictive")
    ax.fill_between(g, *band["mu_band"], alpha=0.4, color="C0", label="94% mean curve")
    ax.plot(g, band["mean"], color="C0", label="posterior mean")
    ax.plot(g, true_curve(g, coefs), "k--", label="true polynomial")
    ax.scatter(x, y, s=12, color="C3", label="data", zorder=3)
    ax.set(xlabel="x", ylabel="y", title=title or "posterior predictive")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def path_figure(lambdas: np.ndarray, path: np.ndarray, lam: float, map_w: np.ndarray, title: str):
    """Coefficients (slopes) vs lambda, with the MAP at the chosen lambda marked."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for j in range(1, path.shape[1]):
        ax.plot(lambdas, path[:, j], color=f"C{j % 10}", label=f"w{j}")
        ax.plot([lam], [map_w[j]], "o", color=f"C{j % 10}", mec="k")
    ax.set_xscale("log")
    ax.axvline(lam, color="gray", lw=0.8, ls=":")
    ax.set(xlabel="lambda", ylabel="coefficient", title=title)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


def evidence_figure(degrees, log_evidence, loo_elpd=None, chosen: int | None = None):
    """Log evidence (and LOO elpd) per degree."""
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(degrees, log_evidence, "o-", label="log evidence")
    if loo_elpd is not None:
        ax.plot(degrees, loo_elpd, "s--", label="LOO elpd")
    if chosen is not None:
        ax.axvline(chosen, color="gray", ls=":", label=f"chosen degree {chosen}")
    ax.set(xlabel="degree", ylabel="log score")
    ax.legend()
    fig.tight_layout()
    return fig


def trace_figure(idata, var: str = "w"):
    """ArviZ rank-trace plot of the coefficients."""
    import arviz as az

    axes = az.plot_trace(idata, var_names=[var], kind="rank_vlines", compact=True)
    return np.asarray(axes).ravel()[0].figure


def forest_figure(idata, var: str = "w"):
    """ArviZ forest plot (94% HDI, r_hat) of the coefficients."""
    import arviz as az

    axes = az.plot_forest(idata, var_names=[var], combined=True, r_hat=True)
    return np.asarray(axes).ravel()[0].figure
