"""Bayesian regression explorer: priors vs penalties on the course's polynomial, then NUTS."""

from __future__ import annotations

from dataclasses import astuple, dataclass

import numpy as np
import pandas as pd
import streamlit as st

from bayes.analysis import SettingsError, degree_selection, posterior
from bayes.data import COURSE_COEFS, DataConfig, DataError, make_data, true_curve
from bayes.design import Basis, DesignError
from bayes.fit import MapError, NutsConfig, map_estimate
from bayes.models import DEFAULT_SCALE, PRIORS, ModelError, PriorSpec
from bayes.penalized import (
    PenaltyError,
    lasso_coefs,
    lasso_lambda,
    least_squares,
    ridge_coefs,
    ridge_lambda,
)
from bayes.plots import (
    evidence_figure,
    forest_figure,
    posterior_predictive_figure,
    predictive_band,
)

GRID = np.linspace(-1.0, 1.0, 201)
BAD_INPUT = (DataError, DesignError, ModelError, PenaltyError, SettingsError)


@dataclass(frozen=True)
class Settings:
    n: int
    noise: float
    degree: int
    prior: str
    scale: float | None
    seed: int

    def spec(self) -> PriorSpec:
        return PriorSpec(prior=self.prior, scale=self.scale, sigma=self.noise)


@st.cache_data(show_spinner=False)
def point_estimates(s: Settings) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, float], str]:
    """Curves on GRID and monomial coefficients of MLE / MAP / Ridge / Lasso, plus the lambdas."""
    data, basis, X = problem(s)
    s.spec().validate(s.n, basis.n_coef)
    scale = s.scale if s.scale is not None else DEFAULT_SCALE["normal"]
    lambdas = {
        "ridge λ₂ = σ²/τ²": ridge_lambda(s.noise, scale),
        "lasso λ₁ = 2σ²/b": lasso_lambda(s.noise, scale),
    }
    fits, note = {}, ""
    if s.n > s.degree:
        fits["MLE"] = least_squares(X, data.y)
    else:
        note = f"No MLE: {s.n} points cannot pin down {basis.n_coef} coefficients. "
    if s.prior == "horseshoe":
        note += "The horseshoe has no MAP here (its density has a pole at 0); run NUTS."
    else:
        try:
            fits[f"MAP ({s.prior})"] = map_estimate(X, data.y, s.noise, s.prior, s.scale).w
        except MapError as error:
            note += f"MAP failed: {error}."
    fits[f"Ridge (τ = {scale:g})"] = ridge_coefs(X, data.y, lambdas["ridge λ₂ = σ²/τ²"])
    fits[f"Lasso (b = {scale:g})"] = lasso_coefs(X, data.y, lambdas["lasso λ₁ = 2σ²/b"])

    G = basis.matrix(GRID)
    curves = pd.DataFrame(
        {"x": GRID, "true f(x)": true_curve(GRID)} | {name: G @ w for name, w in fits.items()}
    )
    rows = [f"x^{k}" for k in range(max(basis.n_coef, len(COURSE_COEFS)))]
    coefs = pd.DataFrame(index=rows)
    coefs["true"] = pd.Series(COURSE_COEFS, index=rows[: len(COURSE_COEFS)])
    for name, w in fits.items():
        coefs[name] = pd.Series(basis.to_monomial(w), index=rows[: basis.n_coef])
    return curves, coefs, lambdas, note


def problem(s: Settings):
    """The data set, the basis and the design matrix the settings describe."""
    data = make_data(DataConfig(n=s.n, noise=s.noise, seed=s.seed))
    basis = Basis(s.degree, "legendre", data.x_range)
    return data, basis, basis.matrix(data.x)


def run_nuts(s: Settings, learn_sigma: bool, config: NutsConfig) -> dict:
    """NUTS with a progress bar; keeps what the page shows (the PyMC model is dropped)."""
    import arviz as az

    data, basis, _ = problem(s)
    bar = st.progress(0.0, text="Compiling the model ...")
    step = max(config.chains * (config.draws + config.tune) // 100, 1)

    def progress(done: int, total: int) -> None:
        if done % step == 0 or done == total:
            bar.progress(done / total, text=f"NUTS: {done:,} of {total:,} iterations")

    result = posterior(
        data, s.degree, s.prior, s.scale, learn_sigma=learn_sigma, config=config, progress=progress
    )
    bar.empty()
    idata = result.idata
    sigma = idata.posterior["sigma"].values if learn_sigma else s.noise
    summary = az.summary(idata, var_names=["w_monomial"], hdi_prob=0.94)
    summary.index = [f"x^{k}" for k in range(basis.n_coef)]
    summary.insert(0, "true", pd.Series(COURSE_COEFS, index=summary.index[: len(COURSE_COEFS)]))
    return {
        "idata": idata,
        "diagnostics": result.diagnostics,
        "compile_s": result.compile_s,
        "band": predictive_band(basis, idata.posterior["w"].values, sigma, GRID, seed=s.seed),
        "summary": summary,
    }


@st.cache_data(show_spinner=False)
def degree_scores(s: Settings, max_degree: int) -> dict:
    data, _, _ = problem(s)
    return degree_selection(data, max_degree)


def show_figure(figure) -> None:
    """Draw a pyplot figure made by bayes.plots, then close it (a server lives long)."""
    import matplotlib.pyplot as plt

    st.columns([2, 1])[0].pyplot(figure)  # two thirds of the width is plenty
    plt.close(figure)


def fits_chart(points: pd.DataFrame, curves: pd.DataFrame) -> dict:
    """Vega-Lite: the data as dots, every curve as a line, y clipped to the data's range."""
    lo, hi = points["y"].min(), points["y"].max()
    pad = 0.25 * (hi - lo)
    long = curves.melt("x", var_name="fit", value_name="y")
    y_scale = {"domain": [lo - pad, hi + pad]}
    return {
        "layer": [
            {"data": {"values": long.to_dict("records")}, "mark": {"type": "line", "clip": True},
             "encoding": {"x": {"field": "x", "type": "quantitative"},
                          "y": {"field": "y", "type": "quantitative", "scale": y_scale},
                          "color": {"field": "fit", "type": "nominal"},
                          "strokeDash": {"condition": {"test": "datum.fit === 'true f(x)'",
                                                       "value": [6, 3]}, "value": [1, 0]}}},
            {"data": {"values": points.to_dict("records")},
             "mark": {"type": "circle", "color": "black", "size": 30, "clip": True},
             "encoding": {"x": {"field": "x", "type": "quantitative"},
                          "y": {"field": "y", "type": "quantitative", "scale": y_scale}}},
        ],
    }  # fmt: skip


st.title("Bayesian polynomial regression")
st.write(
    "Noisy samples of the course's fifth-degree polynomial, fitted with a polynomial of your "
    "degree. With known noise σ, the MAP under a Normal(0, τ) prior is Ridge with "
    "λ₂ = σ²/τ², and under a Laplace(0, b) prior it is Lasso with λ₁ = 2σ²/b: the table shows "
    "the coefficients agree. NUTS then gives the whole posterior."
)

with st.sidebar:
    n = st.slider("Points n", 2, 200, value=30)
    noise = st.slider("Noise σ", 0.1, 5.0, value=1.0, step=0.1)
    degree = st.slider("Degree", 0, 20, value=5)
    prior = st.selectbox("Prior on the coefficients", PRIORS)
    default = DEFAULT_SCALE[prior]
    if default is None:
        scale = None
        st.caption(
            "The flat prior has no scale."
            if prior == "flat"
            else "Horseshoe global scale: Piironen & Vehtari's default."
        )
    else:
        scale = st.number_input("Prior scale (τ or b)", 0.01, 1000.0, value=default)
    seed = int(st.number_input("Seed", 0, 1_000_000, value=0))
settings = Settings(n, float(noise), degree, prior, scale, seed)

try:
    with st.spinner("Fitting (the first MAP compiles a PyMC model: ~10 s) ..."):
        curves, coefs, lambdas, note = point_estimates(settings)
except BAD_INPUT as error:
    st.error(str(error))
    st.stop()
if note:
    st.warning(note)

st.header("Point estimates")
data, basis, X = problem(settings)
points = pd.DataFrame({"x": data.x, "y": data.y})
st.vega_lite_chart(fits_chart(points, curves), height=380)
st.subheader("Coefficients (monomial, x^0 first)")
st.dataframe(coefs.style.format("{:.4f}", na_rep=""))
st.caption(" · ".join(f"{name} = {value:.4g}" for name, value in lambdas.items()))

st.header("Full posterior with NUTS")
with st.expander("Sampler settings"):
    c1, c2, c3 = st.columns(3)
    chains = c1.slider("Chains", 1, 4, value=NutsConfig.chains)
    draws = c2.slider("Draws per chain", 200, 4000, value=NutsConfig.draws, step=100)
    tune = c3.slider("Tuning steps per chain", 200, 4000, value=NutsConfig.tune, step=100)
    learn_sigma = st.checkbox("Learn σ too (HalfNormal prior) instead of treating it as known")
config = NutsConfig(draws=draws, tune=tune, chains=chains, seed=settings.seed)
# The page (so Settings) is re-executed on every rerun: compare plain tuples, not instances.
run_key = (astuple(settings), learn_sigma, config)
if st.button("Run NUTS", type="primary", icon=":material/play_arrow:"):
    try:
        st.session_state.nuts = (run_key, run_nuts(settings, learn_sigma, config))
    except BAD_INPUT as error:
        st.error(str(error))
nuts = st.session_state.get("nuts")
if nuts is None:
    st.caption("NUTS samples the posterior of the coefficients (PyMC). Press Run NUTS.")
elif nuts[0] != run_key:
    st.caption("The settings changed since the last run: press Run NUTS again.")
else:
    fit = nuts[1]
    title = f"degree {settings.degree}, {settings.prior} prior"
    show_figure(posterior_predictive_figure(data.x, data.y, fit["band"], title=title))
    st.subheader("Posterior diagnostics")
    d = fit["diagnostics"]
    m = st.columns(5)
    m[0].metric("max r_hat", f"{d['r_hat_max']:.3f}", help="≤ 1.01: the chains agree")
    m[1].metric("min bulk ESS", f"{d['ess_bulk_min']:,.0f}", help="≥ 400 is plenty")
    m[2].metric("min tail ESS", f"{d['ess_tail_min']:,.0f}")
    m[3].metric("divergences", d["divergences"], help="0: NUTS explored the whole posterior")
    m[4].metric(
        "sampling",
        f"{d.get('sample_s', float('nan')):.1f} s",
        help=f"plus {fit['compile_s']:.1f} s to compile the model",
    )
    if d["r_hat_max"] > 1.01 or d["divergences"] > 0:
        st.warning("The sampler struggled: more tuning steps or another prior scale may help.")
    st.subheader("Coefficient posteriors (monomial, x^0 first)")
    show_figure(forest_figure(fit["idata"], var="w_monomial"))
    st.dataframe(fit["summary"].style.format("{:.3f}", na_rep=""))

st.header("Which degree? Evidence and LOO")
max_degree = st.slider("Highest degree", 1, 20, value=max(10, settings.degree))
try:
    with st.spinner("Evidence and PSIS-LOO for every degree ..."):
        scores = degree_scores(settings, max_degree)
except BAD_INPUT as error:
    st.error(str(error))
    st.stop()
degrees = scores["degrees"]
show_figure(
    evidence_figure(
        degrees, scores["log_evidence"], scores["loo_elpd"], chosen=scores["chosen_degree"]
    )
)
st.write(
    f"The evidence picks degree **{scores['chosen_degree']}**, LOO picks degree "
    f"**{scores['chosen_degree_loo']}** (the truth is 5). Each degree gets the Normal prior "
    "scale that maximizes its evidence (type-II maximum likelihood), with known σ."
)
table = pd.DataFrame(
    {
        key: scores[key]
        for key in ("log_evidence", "loo_elpd", "loo_se", "prior_scale", "n_pareto_k_high")
    },
    index=degrees,
)
st.dataframe(table.rename_axis("degree").style.format("{:.4g}"))
