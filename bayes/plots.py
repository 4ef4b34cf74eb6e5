"""Matplotlib figures (returned, never shown or saved here): predictive bands, paths, evidence.

Every figure is ``FIGSIZE`` wide and tall (the app shows them side by side with the same
width), with labelled axes and a legend.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from bayes.data import true_curve  # noqa: E402
from bayes.design import Basis  # noqa: E402

FIGSIZE = (7.0, 4.2)
LEVEL = 0.94


def band_from_draws(
    x_grid: np.ndarray, mu: np.ndarray, y_rep: np.ndarray, level: float = LEVEL
) -> dict:
    """Mean curve, credible band of the mean and predictive band from draws [draws, grid]."""
    q = [(1 - level) / 2 * 100, (1 + level) / 2 * 100]
    return {
        "x": x_grid,
        "mean": mu.mean(0),
        "mu_band": np.percentile(mu, q, axis=0),
        "pred_band": np.percentile(y_rep, q, axis=0),
    }


def predictive_band(
    basis: Basis,
    w_draws: np.ndarray,
    sigma_draws: np.ndarray | float,
    x_grid: np.ndarray,
    seed: int = 0,
    level: float = LEVEL,
) -> dict:
    """The same bands computed in NumPy from coefficient and sigma draws (no PyMC model)."""
    w = np.asarray(w_draws).reshape(-1, basis.n_coef)
    mu = w @ basis.matrix(x_grid).T
    sig = np.broadcast_to(
        np.asarray(sigma_draws, dtype=float).reshape(-1, 1)
        if np.ndim(sigma_draws)
        else sigma_draws,
        (mu.shape[0], 1),
    )
    y_rep = mu + np.random.default_rng(seed).normal(size=mu.shape) * sig
    return band_from_draws(x_grid, mu, y_rep, level)


def _limits(ax, y) -> None:
    """Keep the data in view: wild high-degree curves must not squash it to a line."""
    lo, hi = float(np.min(y)), float(np.max(y))
    pad = 0.5 * (hi - lo) + 1e-9
    ax.set_ylim(lo - pad, hi + pad)


def posterior_predictive_figure(
    x, y, band: dict, coefs=None, title: str = "", labels: tuple[str, str] = ("x", "y")
):
    """Data, the true curve when known (``coefs``), the posterior mean and its 94% bands."""
    fig, ax = plt.subplots(figsize=FIGSIZE)
    g = band["x"]
    ax.fill_between(g, *band["pred_band"], alpha=0.2, color="C0", label="94% of new points")
    ax.fill_between(g, *band["mu_band"], alpha=0.4, color="C0", label="94% of curves")
    ax.plot(g, band["mean"], color="C0", label="posterior mean curve")
    if coefs is not None:
        ax.plot(g, true_curve(g, coefs), "k--", label="true polynomial")
    ax.scatter(x, y, s=12, color="C3", label="data", zorder=3)
    _limits(ax, y)
    ax.set(xlabel=labels[0], ylabel=labels[1], title=title or "posterior predictive")
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    return fig


def prior_predictive_figure(x, y, band: dict, title: str = "", labels=("x", "y")):
    """Curves drawn from the prior alone (before any data), with the data for scale."""
    fig, ax = plt.subplots(figsize=FIGSIZE)
    g = band["x"]
    ax.fill_between(g, *band["mu_band"], alpha=0.25, color="C2", label="94% of prior curves")
    for i, curve in enumerate(band.get("curves", [])):
        ax.plot(g, curve, color="C2", lw=0.6, alpha=0.5, label="prior draws" if i == 0 else None)
    ax.scatter(x, y, s=12, color="C3", label="data (not used by the prior)", zorder=3)
    _limits(ax, np.concatenate([np.asarray(y), band["mu_band"].ravel()]))
    ax.set(xlabel=labels[0], ylabel=labels[1], title=title or "prior predictive")
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    return fig


def path_figure(lambdas: np.ndarray, path: np.ndarray, lam: float, map_w: np.ndarray, title: str):
    """Coefficients (slopes) vs lambda, with the MAP at the chosen lambda marked."""
    fig, ax = plt.subplots(figsize=FIGSIZE)
    for j in range(1, path.shape[1]):
        ax.plot(lambdas, path[:, j], color=f"C{j % 10}", label=f"w{j}")
        if map_w is not None:
            ax.plot([lam], [map_w[j]], "o", color=f"C{j % 10}", mec="k")
    ax.set_xscale("log")
    ax.axvline(lam, color="gray", lw=0.8, ls=":")
    ax.set(xlabel="lambda", ylabel="coefficient", title=title)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


def evidence_figure(
    degrees, log_evidence, loo_elpd=None, chosen: int | None = None, loo_se=None, ties=None
):
    """Two panels, each as a difference from its best degree (the levels are not comparable:
    the flat intercept makes log evidence defined only up to a constant): log evidence, and
    LOO elpd with its standard error; degrees within one SE of the best LOO are marked."""
    panels = 1 if loo_elpd is None else 2
    fig, axes = plt.subplots(1, panels, figsize=FIGSIZE, squeeze=False)
    ev = np.asarray(log_evidence) - np.max(log_evidence)
    ax = axes[0, 0]
    ax.plot(degrees, ev, "o-", color="C0")
    if chosen is not None:
        ax.axvline(chosen, color="gray", ls=":", label=f"best: degree {chosen}")
        ax.legend(fontsize=8, loc="center right")
    ax.set(xlabel="degree", ylabel="log evidence, relative to best", title="evidence")
    if loo_elpd is not None:
        ax = axes[0, 1]
        elpd = np.asarray(loo_elpd) - np.max(loo_elpd)
        se = np.zeros_like(elpd) if loo_se is None else np.asarray(loo_se)
        ax.errorbar(
            degrees,
            elpd,
            yerr=se,
            fmt="s--",
            color="C1",
            capsize=3,
            label="difference ± its standard error",
        )
        if ties:
            idx = [list(degrees).index(d) for d in ties]
            ax.plot(
                ties,
                elpd[idx],
                "o",
                mfc="none",
                mec="k",
                ms=11,
                label="within one standard error of best",
            )
        ax.set(
            xlabel="degree",
            ylabel="expected log predictive density\n(LOO), relative to best",
            title="leave-one-out",
        )
        ax.legend(fontsize=8, loc="center right")
    from matplotlib.ticker import MaxNLocator

    # The worst degrees lie hundreds of nats below the best: a symmetric log scale keeps every
    # degree in view (linear within 10 of the best, where the choice is made; log beyond).
    for a in axes.ravel():
        a.set_yscale("symlog", linthresh=10)
        if a is axes[0, 0]:
            a.set_ylim(top=1.0)  # nothing lies above the best degree
        a.set_ylabel(a.get_ylabel() + "\n(log scale below -10)")
        a.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.tight_layout()
    return fig


def trace_figure(idata, var: str = "w"):
    """ArviZ rank-trace plot of the coefficients, one line per chain, sized to be read."""
    import arviz as az

    n_coef = idata.posterior[var].shape[-1]
    axes = az.plot_trace(
        idata,
        var_names=[var],
        kind="rank_vlines",
        compact=True,
        legend=True,
        figsize=(FIGSIZE[0] * 1.4, FIGSIZE[1]),
        chain_prop={"color": [f"C{i}" for i in range(idata.posterior.sizes["chain"])]},
    )
    fig = np.asarray(axes).ravel()[0].figure
    fig.suptitle(f"{var}: {n_coef} coefficients, rank plot per chain (flat = chains agree)")
    fig.tight_layout()
    return fig


def forest_figure(idata, var: str = "w", labels: list[str] | None = None):
    """ArviZ forest plot of the coefficients, with its panel titles in plain words: the
    highest-density interval and r-hat (≈ 1 when the chains agree)."""
    import arviz as az

    axes = az.plot_forest(
        idata, var_names=[var], combined=True, r_hat=True, figsize=FIGSIZE, hdi_prob=LEVEL
    )
    panels = np.asarray(axes).ravel()
    ax = panels[0]
    ax.set_title(f"{LEVEL:.0%} highest-density interval", fontsize=10)
    if len(panels) > 1:
        panels[1].set_title("r-hat (≈ 1: chains agree)", fontsize=10)
    if labels is not None:
        ticks = ax.get_yticklabels()
        ax.set_yticklabels(list(reversed(labels))[: len(ticks)])
    return ax.figure
