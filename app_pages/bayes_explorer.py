"""Bayesian regression explorer: priors vs penalties on the course's polynomial or your own
points, the prior's curves before any data, the NUTS posterior, and the choice of degree."""

from __future__ import annotations

import io
from dataclasses import astuple, dataclass, replace

import numpy as np
import pandas as pd
import streamlit as st

from bayes.analysis import (
    SettingsError,
    degree_selection,
    posterior,
    predictive_curves,
    prior_curves,
    underdetermined_note,
)
from bayes.data import DataConfig, DataError, Dataset, make_data, true_curve
from bayes.design import Basis, DesignError
from bayes.evidence import best_sigma_alpha
from bayes.fit import MapError, NutsConfig, map_estimate, problems
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
    prior_predictive_figure,
)
from bayes.userdata import dataset_from_frame, read_table

BAD_INPUT = (DataError, DesignError, ModelError, PenaltyError, SettingsError)
SEPARATORS = {"comma": ",", "semicolon": ";", "tab": "\t"}
SOURCES = ("The course's polynomial", "Upload a CSV file", "Type the points in a table")
PK_NOTE = (
    "Pareto k above 0.7 marks a point that on its own moves the fit so much that the quick "
    "leave-one-out shortcut (PSIS) is unreliable there; for those points the exact "
    "leave-one-out value is computed instead, so the scores in the table above stay trustworthy."
)
STARTER = pd.DataFrame(  # a few points of the course's curve, for the table editor
    {"x": [-0.9, -0.6, -0.3, 0.0, 0.3, 0.6, 0.9], "y": [2.8, 3.1, -0.6, 0.5, -0.3, 0.9, -2.4]}
)


@dataclass(frozen=True)
class Settings:
    """Everything a result depends on (so it can key st.cache_data): the data and the model."""

    points: tuple[tuple[float, ...], tuple[float, ...]] | None  # None: the course's polynomial
    n: int
    noise: float | None  # None: unknown (estimated / learned)
    degree: int
    prior: str
    scale: float | None
    seed: int
    labels: tuple[str, str] = ("x", "y")


def dataset(s: Settings) -> Dataset:
    """The course's noisy polynomial, or the user's points."""
    if s.points is None:
        return make_data(DataConfig(n=s.n, noise=s.noise or 1.0, seed=s.seed))
    frame = pd.DataFrame({"x": s.points[0], "y": s.points[1]})
    data = dataset_from_frame(frame, "x", "y", source="your data")
    return Dataset(x=data.x, y=data.y, source="your data", x_label=s.labels[0], y_label=s.labels[1])


def noise_for_map(s: Settings, data: Dataset, X: np.ndarray) -> tuple[float, str]:
    """Sigma for the MAP <-> penalty mapping: known, or estimated (type-II ML) from the data."""
    if s.noise is not None:
        return s.noise, ""
    if len(data.y) <= X.shape[1]:
        raise SettingsError(
            f"{len(data.y)} points cannot estimate the noise σ at degree {s.degree}: "
            "fix σ in the sidebar, or lower the degree"
        )
    sigma = best_sigma_alpha(X, data.y)[0]
    return sigma, f"σ estimated from the data: {sigma:.3g} (the value that makes them most likely)."


@st.cache_data(show_spinner=False)
def point_estimates(s: Settings) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, float], list]:
    """Curves on a grid and monomial coefficients of MLE / MAP / Ridge / Lasso, the lambdas,
    and notes for the reader."""
    data = dataset(s)
    basis = Basis(s.degree, "legendre", data.x_range)
    X = basis.matrix(data.x)
    sigma, sigma_note = noise_for_map(s, data, X)
    PriorSpec(prior=s.prior, scale=s.scale, sigma=sigma).validate(len(data.x), basis.n_coef)
    # Ridge takes the Normal prior's scale, Lasso the Laplace prior's: the chosen prior's own
    # scale for its pair, the default for the other (as `bayes compare`'s default lambdas).
    tau = s.scale if s.prior == "normal" and s.scale is not None else DEFAULT_SCALE["normal"]
    b = s.scale if s.prior == "laplace" and s.scale is not None else DEFAULT_SCALE["laplace"]
    lambdas = {
        "ridge λ₂ = σ²/τ²": ridge_lambda(sigma, tau),
        "lasso λ₁ = 2σ²/b": lasso_lambda(sigma, b),
    }
    fits, notes = {}, [sigma_note] if sigma_note else []
    if len(data.x) > s.degree:
        fits["MLE"] = least_squares(X, data.y)
    else:
        notes.append(underdetermined_note(len(data.x), s.degree).capitalize() + ".")
    if s.prior == "horseshoe":
        notes.append("The horseshoe has no MAP (its density is infinite at 0); run NUTS below.")
    else:
        try:
            fits[f"MAP ({s.prior})"] = map_estimate(X, data.y, sigma, s.prior, s.scale).w
        except MapError as error:
            notes.append(f"The MAP optimizer failed: {error}.")
    fits[f"Ridge (τ = {tau:g})"] = ridge_coefs(X, data.y, lambdas["ridge λ₂ = σ²/τ²"])
    fits[f"Lasso (b = {b:g})"] = lasso_coefs(X, data.y, lambdas["lasso λ₁ = 2σ²/b"])

    grid = np.linspace(*data.x_range, 201)
    G = basis.matrix(grid)
    truth = {} if data.truth is None else {"true f(x)": true_curve(grid, data.truth)}
    curves = pd.DataFrame({"x": grid} | truth | {name: G @ w for name, w in fits.items()})
    n_rows = max(basis.n_coef, len(data.truth or ()))
    rows = [f"x^{k}" for k in range(n_rows)]
    coefs = pd.DataFrame(index=pd.Index(rows, name="term"))
    if data.truth is not None:
        coefs["true"] = pd.Series(data.truth, index=rows[: len(data.truth)])
    for name, w in fits.items():
        coefs[name] = pd.Series(basis.to_monomial(w), index=rows[: basis.n_coef])
    return curves, coefs, lambdas, notes


@st.cache_data(show_spinner=False)
def prior_band(s: Settings) -> dict:
    """Curves drawn by pm.sample_prior_predictive: what the prior alone allows."""
    data = dataset(s)
    spec = PriorSpec(prior=s.prior, scale=s.scale, sigma=s.noise, parameterization="direct")
    grid = np.linspace(*data.x_range, 101)
    return prior_curves(data, s.degree, spec, grid, seed=s.seed)


def run_nuts(s: Settings, config: NutsConfig) -> dict:
    """NUTS with a progress bar; keeps what the page shows (the PyMC model is dropped)."""
    import arviz as az

    data = dataset(s)
    basis = Basis(s.degree, "legendre", data.x_range)
    bar = st.progress(0.0, text="Compiling the model (about 10-20 s) ...")
    step = max(config.chains * (config.draws + config.tune) // 100, 1)

    def progress(done: int, total: int) -> None:
        if done % step == 0 or done == total:
            bar.progress(done / total, text=f"NUTS: {done:,} of {total:,} iterations")

    try:
        result = posterior(
            data,
            s.degree,
            s.prior,
            s.scale,
            learn_sigma=s.noise is None,
            config=config,
            progress=progress,
            sigma=s.noise,
        )
    finally:
        bar.empty()
    idata = result.idata
    grid = np.linspace(*data.x_range, 201)
    summary = az.summary(idata, var_names=["w_monomial"], hdi_prob=0.94)
    summary.index = pd.Index([f"x^{k}" for k in range(basis.n_coef)], name="term")
    table = pd.DataFrame(
        {
            "posterior mean": summary["mean"],
            "posterior sd": summary["sd"],
            "94% interval from": summary["hdi_3%"],
            "94% interval to": summary["hdi_97%"],
            "effective draws": summary["ess_bulk"].round().astype(int),
            "r̂": summary["r_hat"],
        }
    )
    if data.truth is not None:
        truth = pd.Series(data.truth, index=[f"x^{k}" for k in range(len(data.truth))])
        table.insert(0, "true", truth.reindex(table.index))
    sigma = None
    if "sigma" in idata.posterior:
        sigma = float(idata.posterior["sigma"].mean())
    return {
        "idata": idata,
        "diagnostics": result.diagnostics,
        "compile_s": result.compile_s,
        "band": predictive_curves(result, data, basis, grid, seed=s.seed),
        "table": table,
        "sigma_mean": sigma,
    }


@st.cache_data(show_spinner=False)
def degree_scores(s: Settings, max_degree: int) -> dict:
    return degree_selection(dataset(s), max_degree, sigma=s.noise, learn_sigma=s.noise is None)


def one_decimal(value: float) -> str:
    """One decimal, and 0.0 where rounding would show "-0.0"."""
    text = f"{value:.1f}"
    return "0.0" if text == "-0.0" else text


def show_figure(figure) -> None:
    """Draw a pyplot figure made by bayes.plots at one common width, then close it."""
    import matplotlib.pyplot as plt

    st.columns([2, 1])[0].pyplot(figure)  # two thirds of the width, for every figure
    plt.close(figure)


#: one dash pattern and point shape per fit, so lines that coincide stay distinguishable
DASHES = {"MLE": [1, 0], "MAP": [8, 4], "Ridge": [2, 3], "Lasso": [12, 3, 2, 3]}


def fits_chart(points: pd.DataFrame, curves: pd.DataFrame, labels: tuple[str, str]) -> dict:
    """Vega-Lite: the data as dots, every fit as a line with its own dash pattern and marker
    shape, y clipped to the data's range."""
    lo, hi = points["y"].min(), points["y"].max()
    pad = 0.25 * (hi - lo) + 1e-9
    long = curves.melt("x", var_name="fit", value_name="y")
    names = list(curves.columns[1:])
    dashes = [DASHES.get(name.split(" ")[0], [6, 3]) for name in names]
    shapes = ["circle", "square", "triangle-up", "diamond", "cross", "triangle-down"]
    marks = long[long.index % 10 == 0]  # a marker every 10 grid points
    y_scale = {"domain": [lo - pad, hi + pad]}
    x_enc = {"field": "x", "type": "quantitative", "title": labels[0]}
    y_enc = {"field": "y", "type": "quantitative", "scale": y_scale, "title": labels[1]}
    fit_scale = {"domain": names}
    return {
        "layer": [
            {"data": {"values": long.to_dict("records")},
             "mark": {"type": "line", "clip": True, "strokeWidth": 2.5},
             "encoding": {"x": x_enc, "y": y_enc,
                          "color": {"field": "fit", "type": "nominal", "scale": fit_scale},
                          "strokeDash": {"field": "fit", "type": "nominal",
                                         "scale": {"domain": names, "range": dashes}}}},
            {"data": {"values": marks.to_dict("records")},
             "mark": {"type": "point", "clip": True, "filled": False, "size": 60},
             "encoding": {"x": x_enc, "y": y_enc,
                          "color": {"field": "fit", "type": "nominal", "scale": fit_scale},
                          "shape": {"field": "fit", "type": "nominal",
                                    "scale": {"domain": names, "range": shapes[: len(names)]}}}},
            {"data": {"values": points.to_dict("records")},
             "mark": {"type": "circle", "color": "black", "size": 30, "clip": True},
             "encoding": {"x": x_enc, "y": y_enc}},
        ],
    }  # fmt: skip


def user_points(source: str) -> tuple[pd.DataFrame | None, tuple[str, str]]:
    """The user's points (x, y) from an uploaded CSV or the table editor, and their labels."""
    if source == SOURCES[1]:
        upload = st.file_uploader("CSV file with a header line", type=["csv", "txt"])
        sep = st.selectbox("Separator", list(SEPARATORS), help="how the columns are separated")
        if upload is None:
            st.info("Upload a CSV file to fit your own data.")
            return None, ("x", "y")
        try:
            frame = read_table(io.BytesIO(upload.getvalue()), upload.name, SEPARATORS[sep])
        except DataError as error:
            st.error(str(error))
            return None, ("x", "y")
        columns = list(frame.columns)
        c1, c2 = st.columns(2)
        x = c1.selectbox("x column", columns, index=0)
        y = c2.selectbox("y column", columns, index=min(1, len(columns) - 1))
        try:
            data = dataset_from_frame(frame, x, y, source=upload.name, where="on lines")
        except DataError as error:
            st.error(f"{upload.name}: {error}")
            return None, (x, y)
        return pd.DataFrame({"x": data.x, "y": data.y}), (x, y)
    st.caption("Edit the numbers, add rows at the bottom, or delete rows (select, then Delete).")
    edited = st.data_editor(STARTER, num_rows="dynamic", key="points_table")
    try:
        data = dataset_from_frame(edited, "x", "y", where="in table rows (counting the header)")
    except DataError as error:
        st.error(str(error))
        return None, ("x", "y")
    return pd.DataFrame({"x": data.x, "y": data.y}), ("x", "y")


st.title("Bayesian polynomial regression")
st.write(
    "Fit a polynomial of your chosen degree to noisy points: the course's fifth-degree "
    "polynomial, or your own data. With noise σ, the MAP under a Normal(0, τ) prior is Ridge "
    "with λ₂ = σ²/τ², and under a Laplace(0, b) prior it is Lasso with λ₁ = 2σ²/b: the table "
    "shows the coefficients agree. NUTS then gives the whole posterior."
)
with st.expander("Words used on this page"):
    st.markdown(
        "- **MLE** (maximum likelihood): the curve that fits the points best, with no prior; "
        "plain least squares.\n"
        "- **Prior**: what we believe about the coefficients before seeing data (here: they "
        "are probably small).\n"
        "- **MAP** (maximum a posteriori): the single most probable curve once the prior and "
        "the data are combined.\n"
        "- **Ridge**: least squares plus a penalty on the squared size of the coefficients "
        "(λ₂ sets how strong).\n"
        "- **Lasso**: least squares plus a penalty on the absolute size of the coefficients "
        "(λ₁); it can set some exactly to 0.\n"
        "- **NUTS** (No-U-Turn Sampler): draws thousands of plausible coefficient sets from "
        "the posterior, so you see the uncertainty, not just one curve.\n"
        "- **Posterior**: what we believe about the coefficients after seeing the data."
    )

with st.sidebar:
    source = st.radio("Data", SOURCES)
    course = source == SOURCES[0]
    if course:
        n = st.slider("Points n", 2, 200, value=DataConfig().n)  # `bayes compare`'s defaults
        noise = float(st.slider("Noise σ", 0.1, 5.0, value=DataConfig().noise, step=0.1))
    else:
        n = 0
        fix = st.checkbox("I know the noise σ", help="otherwise it is estimated from the data")
        noise = float(st.number_input("Noise σ", 0.001, 1e6, value=1.0)) if fix else None
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

points, labels = (None, ("x", "y")) if course else user_points(source)
if not course and points is None:
    st.stop()
settings = Settings(
    points=None if points is None else (tuple(points["x"]), tuple(points["y"])),
    n=n,
    noise=noise,
    degree=degree,
    prior=prior,
    scale=scale,
    seed=seed,
    labels=labels,
)

try:
    with st.spinner("Fitting (the first MAP compiles a PyMC model: ~10 s) ..."):
        curves, coefs, lambdas, notes = point_estimates(settings)
except BAD_INPUT as error:
    st.error(str(error))
    st.stop()
for note in notes:
    if "cannot" in note or "failed" in note:
        st.warning(note)
    else:
        st.caption(note)

st.header("Point estimates")
data = dataset(settings)
shown = pd.DataFrame({"x": data.x, "y": data.y})
st.vega_lite_chart(fits_chart(shown, curves, labels), height=380)
if any(c.startswith("MAP (normal)") for c in coefs.columns):
    st.caption(
        "The MAP (normal) and Ridge lines lie on top of each other on purpose: with λ₂ = σ²/τ² "
        "they are the same estimate (dashes and markers tell them apart)."
    )
st.subheader("Coefficients in plain powers (of x⁰, x¹, ...)")
st.caption(
    "Fitted in the Legendre basis (well-conditioned coordinates) and converted to plain powers "
    "here; `python -m bayes compare` prints both, with the same defaults (n, noise, λ₂, λ₁)."
)
st.dataframe(coefs.style.format("{:.4f}", na_rep="–"))
st.caption(" · ".join(f"{name} = {value:.4g}" for name, value in lambdas.items()))

with st.expander("What does the prior say before any data?"):
    st.write(
        "Curves drawn from the prior alone (`pm.sample_prior_predictive`): if they look "
        "absurd for your data, the prior scale is wrong. The intercept's prior is flat, so "
        "here it is drawn around the data's mean level."
    )
    if st.toggle("Draw prior curves"):
        try:
            with st.spinner("Sampling from the prior ..."):
                band = prior_band(settings)
            title = f"degree {degree}, {prior} prior, before any data"
            show_figure(prior_predictive_figure(data.x, data.y, band, title, labels))
        except BAD_INPUT as error:
            st.info(str(error))

st.header("Full posterior with NUTS")
with st.expander("Sampler settings"):
    c1, c2, c3 = st.columns(3)
    chains = c1.slider("Chains", 1, 4, value=NutsConfig.chains)
    draws = c2.slider("Draws per chain", 200, 4000, value=NutsConfig.draws, step=100)
    tune = c3.slider("Tuning steps per chain", 200, 4000, value=NutsConfig.tune, step=100)
    if course:
        learn = st.checkbox("Learn σ too (HalfNormal prior) instead of treating it as known")
        if learn:
            settings = replace(settings, noise=None)
config = NutsConfig(draws=draws, tune=tune, chains=chains, seed=settings.seed)
# The page (so Settings) is re-executed on every rerun: compare plain tuples, not instances.
run_key = (astuple(settings), config)
if st.button("Run NUTS", type="primary", icon=":material/play_arrow:"):
    try:
        st.session_state.nuts = (run_key, run_nuts(settings, config))
    except BAD_INPUT as error:
        st.error(str(error))
nuts = st.session_state.get("nuts")
if nuts is None:
    st.caption("NUTS samples the posterior of the coefficients (PyMC). Press Run NUTS.")
elif nuts[0] != run_key:
    st.caption("The settings changed since the last run: press Run NUTS again.")
else:
    fit = nuts[1]
    title = f"degree {degree}, {prior} prior"
    show_figure(posterior_predictive_figure(data.x, data.y, fit["band"], data.truth, title, labels))
    st.subheader("Can the sampler be trusted?")
    d = fit["diagnostics"]
    m = st.columns(5)
    m[0].metric("Largest r̂", f"{d['r_hat_max']:.3f}", help="≤ 1.01: the chains agree")
    m[1].metric("Fewest effective draws", f"{d['ess_bulk_min']:,.0f}", help="≥ 400 is plenty")
    m[2].metric("Fewest in the tails", f"{d['ess_tail_min']:,.0f}", help="≥ 400 is plenty")
    m[3].metric("Divergent transitions", d["divergences"], help="0: NUTS saw all the posterior")
    m[4].metric(
        "Sampling time",
        f"{d.get('sample_s', float('nan')):.1f} s",
        help=f"plus {fit['compile_s']:.1f} s to compile the model",
    )
    trouble = problems(d, draws="“Draws per chain”", tune="“Tuning steps per chain”")
    if trouble:
        st.warning(
            "The sampler struggled, so treat the numbers below with care:\n\n- "
            + "\n- ".join(trouble)
        )
    if fit["sigma_mean"] is not None:
        st.caption(f"Noise σ learned from the data: posterior mean {fit['sigma_mean']:.3g}.")
    st.subheader("Coefficient posteriors (of x⁰, x¹, ...)")
    show_figure(forest_figure(fit["idata"], var="w_monomial", labels=list(fit["table"].index)))
    st.caption(
        "Left: each coefficient's 94% highest-density interval (HDI), the narrowest range "
        "that holds 94% of the posterior, with its mean as a dot. Right: r-hat (r̂) compares "
        "the chains; close to 1 means they agree."
    )
    st.dataframe(
        fit["table"].style.format(
            {c: "{:.3f}" for c in fit["table"].columns if c != "effective draws"}
            | {"effective draws": "{:,}"},
            na_rep="–",
        )
    )

st.header("Which degree? Evidence and leave-one-out")
max_degree = st.slider("Highest degree", 1, 20, value=max(10, settings.degree))
try:
    with st.spinner("Evidence and leave-one-out for every degree ..."):
        scores = degree_scores(settings, max_degree)
except BAD_INPUT as error:
    st.error(str(error))
    st.stop()
degrees = scores["degrees"]
show_figure(
    evidence_figure(
        degrees,
        scores["log_evidence"],
        scores["loo_elpd"],
        scores["chosen_degree"],
        scores["elpd_diff_se"],
        scores["loo_ties"],
    )
)
others = [d for d in scores["loo_ties"] if d != scores["chosen_degree_loo"]]
if others:
    ties = (
        f"but degree{'s' if len(others) > 1 else ''} {', '.join(map(str, others))} "
        f"{'are' if len(others) > 1 else 'is'} within one standard error of it, so the "
        f"simplest, degree **{scores['chosen_degree_loo_1se']}**, is the sensible choice"
    )
else:
    ties = "and no other degree comes within one standard error of it"
truth = " (the truth is 5)" if course else ""
sigma_text = "with known σ" if scores["sigma_known"] else "with σ estimated for each degree as well"
st.write(
    f"The evidence picks degree **{scores['chosen_degree']}**{truth}; leave-one-out ranks "
    f"degree **{scores['chosen_degree_loo']}** best, {ties}. Each degree gets the Normal prior "
    f"scale that makes the data most probable (its evidence largest), {sigma_text}."
)
table = pd.DataFrame(
    {
        "log evidence (vs best)": np.array(scores["log_evidence"]) - max(scores["log_evidence"]),
        "LOO score (vs best)": scores["elpd_diff"],
        "± standard error": scores["elpd_diff_se"],
        "stacking weight": scores["stacking_weight"],
        "prior scale τ": scores["prior_scale"],
        "noise σ": scores["sigma_estimate"],
        "points with Pareto k > 0.7": np.asarray(scores["n_pareto_k_high"], dtype=int),
    },
    index=pd.Index(degrees, name="degree"),
)
table["LOO score (vs best)"] = 0.0 - table["LOO score (vs best)"]  # the best shows 0, not -0
st.dataframe(
    table.style.format(
        {
            "log evidence (vs best)": one_decimal,
            "LOO score (vs best)": one_decimal,
            "± standard error": one_decimal,
            "stacking weight": "{:.2f}",
            "prior scale τ": "{:.2f}",
            "noise σ": "{:.2f}",
            "points with Pareto k > 0.7": "{:d}",
        }
    )
)
st.caption(
    "Scores are relative to the best degree (0 = best; lower is worse). LOO score: how well "
    "each degree predicts a point it was not fitted on (expected log predictive density, "
    "leave-one-out). Stacking weight: the share each degree gets when the degrees' "
    "predictions are blended to predict best (the weights add up to 1)."
)
if any(scores["n_pareto_k_high"]):
    st.caption(PK_NOTE)
