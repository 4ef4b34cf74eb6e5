"""MAP estimates and NUTS posteriors of the models in ``bayes.models``.

MAP: ``find_MAP`` with default tolerances stops ~1e-3 from the optimum, and with a Laplace prior
L-BFGS-B can stop at its starting point (the kink at 0) and report success=False without
raising. So: smooth priors use ``find_MAP(return_raw=True)`` with tight tolerances, the raw
result is checked (a failed optimization raises ``MapError``), and the answer is polished with
Newton steps on the model's own gradient and Hessian. The Laplace prior uses proximal gradient
(FISTA with restarts) on the model's own log-density, split into its smooth part (likelihood,
compiled from the model) and the L1 part (the model's Laplace term, whose prox is
soft-thresholding), warm-started from the smooth (Normal-prior) fit; the KKT conditions of the
result are checked before it is returned.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from bayes.models import PriorSpec, build_model


class MapError(RuntimeError):
    """The optimizer did not converge; the message says what it reported."""


@dataclass
class MapResult:
    """A MAP estimate: coefficients in the design's basis and how they were found."""

    w: np.ndarray
    method: str
    iterations: int
    optimizer_message: str = ""


def _value_vars(model, names):
    return [model.rvs_to_values[model[name]] for name in names if name in model.named_vars]


def _splitter(model, names):
    """vec -> [value per name]; shapes read once (initial_point compiles a function)."""
    start = model.initial_point()
    shapes = [start[name].shape for name in names if name in model.named_vars]
    sizes = np.cumsum([0] + [int(np.prod(s)) for s in shapes])

    def split(vec):
        return [vec[a:b].reshape(s) for a, b, s in zip(sizes[:-1], sizes[1:], shapes)]

    return split


def _check_map_model(model) -> None:
    if "intercept" not in model.named_vars:
        raise MapError("MAP needs the 'direct' parameterization (priors on intercept and beta)")
    if "sigma" in model.named_vars:
        raise MapError("MAP <-> penalty equivalence needs a known sigma (PriorSpec(sigma=...))")


def _smooth_fn(model, terms, with_hessian: bool = True):
    """Compiled f(vec) -> (logp, grad[, hess]) of the given model terms in [intercept, beta]."""
    import pytensor
    import pytensor.tensor as pt

    names = ["intercept", "beta"]
    vals = _value_vars(model, names)
    logp = model.logp(vars=terms, jacobian=False)
    grads = pt.concatenate([pt.atleast_1d(g).ravel() for g in pytensor.grad(logp, vals)])
    outs = [logp, grads]
    if with_hessian:
        hess = pytensor.gradient.jacobian(grads, vals)
        outs.append(pt.concatenate([h.reshape((grads.shape[0], -1)) for h in hess], axis=1))
    fn = pytensor.function(vals, outs, on_unused_input="ignore")
    split = _splitter(model, names)
    return lambda vec: fn(*split(vec))


def _newton_polish(model, vec, steps: int = 3):
    """Newton steps on the model's whole log-density (exact for Gaussian-smooth posteriors)."""
    f = _smooth_fn(model, None)
    for _ in range(steps):
        _, g, H = f(vec)
        vec = vec - np.linalg.solve(H, g)
    return vec


def map_smooth(model, maxeval: int = 100_000) -> MapResult:
    """MAP for flat / Normal priors via PyMC's find_MAP, convergence-checked and polished."""
    import pymc as pm

    _check_map_model(model)
    if "beta" in model.named_vars and "Laplace" in type(model["beta"].owner.op).__name__:
        raise MapError("a Laplace prior has a kink at 0 that L-BFGS-B mishandles; use map_laplace")
    with model:
        point, raw = pm.find_MAP(
            method="L-BFGS-B",
            return_raw=True,
            progressbar=False,
            maxeval=maxeval,
            options={"ftol": 1e-12, "gtol": 1e-9, "maxiter": 50_000},
        )
    if raw is None or not raw.success:
        msg = "stopped by maxeval" if raw is None else raw.message
        raise MapError(f"find_MAP did not converge ({msg}); the returned point is not the MAP")
    vec = np.concatenate(
        [np.atleast_1d(point[n]).ravel() for n in ("intercept", "beta") if n in point]
    )
    vec = _newton_polish(model, vec)
    return MapResult(
        w=vec,
        method="find_MAP L-BFGS-B + Newton polish",
        iterations=raw.nit,
        optimizer_message=str(raw.message),
    )


def _l1_weights(model) -> np.ndarray:
    """1/b_j read off the model's own Laplace term: logp(beta=0) - logp(beta=e_j)."""
    import pytensor

    value = model.rvs_to_values[model["beta"]]
    fn = pytensor.function([value], model.logp(vars=[model["beta"]], jacobian=False))
    k = int(np.prod(model.initial_point()["beta"].shape))
    at0 = fn(np.zeros(k))
    return np.array([at0 - fn(np.eye(k)[j]) for j in range(k)])


def map_laplace(
    model, start: np.ndarray | None = None, tol: float = 1e-14, max_iter: int = 500_000
) -> MapResult:
    """MAP for the Laplace prior: FISTA on the model's own smooth part + L1 prox, KKT-checked."""
    _check_map_model(model)
    inv_b = _l1_weights(model)
    smooth = _smooth_fn(model, model.observed_RVs, with_hessian=False)
    p = 1 + inv_b.size
    x = np.zeros(p) if start is None else np.asarray(start, dtype=float).copy()
    _, _, H = _smooth_fn(model, model.observed_RVs)(x)
    step = 1.0 / np.linalg.eigvalsh(-H).max()  # 1/L: exact Lipschitz constant of the gradient

    def prox(v, t):
        out = v.copy()
        out[1:] = np.sign(v[1:]) * np.maximum(np.abs(v[1:]) - t * inv_b, 0.0)
        return out

    def objective(v):  # negative log posterior up to a constant
        return -smooth(v)[0] + (inv_b * np.abs(v[1:])).sum()

    z, t_k, f_prev = x.copy(), 1.0, objective(x)
    for it in range(1, max_iter + 1):
        x_new = prox(z + step * smooth(z)[1], step)
        f_new = objective(x_new)
        if f_new > f_prev:  # adaptive restart keeps FISTA monotone
            z, t_k = x.copy(), 1.0
            x_new = prox(z + step * smooth(z)[1], step)
            f_new = objective(x_new)
        t_next = (1 + np.sqrt(1 + 4 * t_k**2)) / 2
        z = x_new + (t_k - 1) / t_next * (x_new - x)
        done = np.max(np.abs(x_new - x)) <= tol * (1 + np.max(np.abs(x_new)))
        x, t_k, f_prev = x_new, t_next, f_new
        if done:
            break
    else:
        raise MapError(f"proximal gradient did not converge in {max_iter} iterations")
    _check_kkt(smooth(x)[1], x, inv_b)
    return MapResult(w=x, method="proximal gradient (FISTA) on model logp", iterations=it)


def _check_kkt(grad: np.ndarray, w: np.ndarray, inv_b: np.ndarray, rtol: float = 1e-6) -> None:
    """0 in grad - (1/b) d|w|: the subgradient optimality conditions of the Laplace MAP."""
    scale = rtol * (inv_b.max() + np.abs(grad).max())
    g, v = grad[1:], w[1:]
    nz = v != 0
    bad_int = abs(grad[0]) > scale
    bad_nz = np.any(np.abs(g[nz] - np.sign(v[nz]) * inv_b[nz]) > scale)
    bad_z = np.any(np.abs(g[~nz]) > inv_b[~nz] + scale)
    if bad_int or bad_nz or bad_z:
        raise MapError("Laplace MAP failed its optimality (KKT) check; the optimizer stopped early")


def map_estimate(
    X: np.ndarray, y: np.ndarray, sigma: float, prior: str, scale: float | None = None
) -> MapResult:
    """MAP of the direct-parameterized model with known sigma (flat, normal or laplace prior)."""
    if prior not in ("flat", "normal", "laplace"):
        raise MapError(f"MAP <-> penalty is defined for flat, normal, laplace; not {prior!r}")
    spec = PriorSpec(prior=prior, scale=scale, sigma=sigma, parameterization="direct")
    model = build_model(X, y, spec)
    if prior != "laplace" or X.shape[1] == 1:
        return map_smooth(model)
    # warm start from the smooth fit with the same prior variance (Laplace var = 2 b^2)
    warm = map_smooth(
        build_model(X, y, PriorSpec("normal", np.sqrt(2) * spec.prior_scale(), sigma, "direct"))
    )
    return map_laplace(model, start=warm.w)


# ---------------------------------------------------------------------------------------- NUTS


@dataclass(frozen=True)
class NutsConfig:
    """Sampler settings; CPU-friendly defaults that meet r_hat <= 1.01 and ESS >= 400."""

    draws: int = 1000
    tune: int = 1000
    chains: int = 4
    cores: int = 1  # one process: small models sample faster than worker start-up costs
    target_accept: float = 0.9
    seed: int = 0
    sampler: str = "pymc"  # or "nutpie" when installed


@dataclass
class NutsResult:
    """The InferenceData plus timings: compile (model + gradient build) vs sampling."""

    idata: object
    model: object
    compile_s: float
    sample_s: float
    diagnostics: dict = field(default_factory=dict)


def sample_nuts(
    X: np.ndarray,
    y: np.ndarray,
    spec: PriorSpec = PriorSpec(),
    config: NutsConfig = NutsConfig(),
    progress: Callable[[int, int], None] | None = None,
    progressbar: bool = False,
) -> NutsResult:
    """NUTS posterior with the log-likelihood stored; ``progress(done, total)`` per draw."""
    import pymc as pm

    t0 = time.perf_counter()
    model = build_model(X, y, spec)
    target = config.target_accept if spec.prior != "horseshoe" else max(config.target_accept, 0.99)
    if config.sampler == "nutpie":
        return _sample_nutpie(model, config, t0)
    with model:
        step = pm.NUTS(target_accept=target)  # compiles logp + gradient
    compile_s = time.perf_counter() - t0
    total = config.chains * (config.draws + config.tune)
    counter = {"n": 0}

    def callback(trace, draw):
        counter["n"] += 1
        if progress is not None:
            progress(counter["n"], total)

    with model:
        idata = pm.sample(
            draws=config.draws,
            tune=config.tune,
            chains=config.chains,
            cores=config.cores,
            step=step,
            random_seed=config.seed,
            progressbar=progressbar,
            callback=callback if progress is not None else None,
            idata_kwargs={"log_likelihood": True},
            compute_convergence_checks=False,
        )
    sample_s = float(idata.sample_stats.attrs.get("sampling_time", np.nan))
    compile_s += max(time.perf_counter() - t0 - compile_s - sample_s, 0.0)
    return NutsResult(
        idata=idata,
        model=model,
        compile_s=compile_s,
        sample_s=sample_s,
        diagnostics=diagnostics(idata, sample_s, free_variable_names(idata, model)),
    )


def _sample_nutpie(model, config: NutsConfig, t0: float) -> NutsResult:
    try:
        import nutpie
    except ImportError as exc:
        raise ModuleNotFoundError("sampler 'nutpie' is not installed: pip install nutpie") from exc
    import pymc as pm

    compiled = nutpie.compile_pymc_model(model)
    compile_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    idata = nutpie.sample(
        compiled,
        draws=config.draws,
        tune=config.tune,
        chains=config.chains,
        seed=config.seed,
        progress_bar=False,
    )
    sample_s = time.perf_counter() - t1
    with model:
        pm.compute_log_likelihood(idata, progressbar=False)
    return NutsResult(
        idata=idata,
        model=model,
        compile_s=compile_s,
        sample_s=sample_s,
        diagnostics=diagnostics(idata, sample_s, free_variable_names(idata, model)),
    )


#: the targets a fit must meet (Vehtari et al. 2021): r_hat <= 1.01, bulk and tail ESS >= 400
MAX_R_HAT = 1.01
MIN_ESS = 400


def free_variable_names(idata, model=None) -> list[str]:
    """Every sampled variable (theta or intercept/beta, sigma, the horseshoe's tau, lam, c2, z)
    plus the user's coefficients w: diagnostics must cover all of them, not just w."""
    names = [rv.name for rv in model.free_RVs] if model is not None else []
    if not names:  # e.g. read back from netCDF: every non-derived posterior variable
        names = [v for v in idata.posterior.data_vars if v not in ("w_monomial", "beta")]
    return [n for n in dict.fromkeys([*names, "w"]) if n in idata.posterior]


def diagnostics(idata, sample_s: float | None = None, var_names: list[str] | None = None) -> dict:
    """Worst-case r_hat, bulk/tail ESS over every free variable, divergences, ESS per second.

    ``worst_r_hat`` / ``worst_ess`` name the variable element responsible (e.g. ``lam[w7]``).
    """
    import arviz as az

    names = var_names or free_variable_names(idata)
    summ = az.summary(idata, var_names=names, kind="diagnostics")
    out = {
        "r_hat_max": float(summ["r_hat"].max()),
        "ess_bulk_min": float(summ["ess_bulk"].min()),
        "ess_tail_min": float(summ["ess_tail"].min()),
        "divergences": int(idata.sample_stats["diverging"].sum()),
        "checked_variables": names,
        "worst_r_hat": str(summ["r_hat"].idxmax()),
        "worst_ess": str(summ[["ess_bulk", "ess_tail"]].min(axis=1).idxmin()),
    }
    if sample_s:
        out["sample_s"] = float(sample_s)
        out["ess_bulk_per_s"] = out["ess_bulk_min"] / sample_s
    return out


def problems(diag: dict, draws: str = "--draws", tune: str = "--tune") -> list[str]:
    """One plain sentence per failed check (empty when the fit can be trusted). ``draws`` and
    ``tune`` name the knobs where the reader sets them (the CLI's flags; the app's sliders)."""
    out = []
    if diag["divergences"] > 0:
        out.append(
            f"{diag['divergences']} divergent transitions: the sampler could not follow the "
            f"posterior's curvature; raise {tune}, or try another prior scale"
        )
    if not diag["r_hat_max"] <= MAX_R_HAT:
        out.append(
            f"r_hat {diag['r_hat_max']:.3f} > {MAX_R_HAT} ({diag['worst_r_hat']}): the chains "
            f"disagree; raise {draws} and {tune}"
        )
    ess = min(diag["ess_bulk_min"], diag["ess_tail_min"])
    if not ess >= MIN_ESS:
        out.append(
            f"effective sample size {ess:.0f} < {MIN_ESS} ({diag['worst_ess']}): too few "
            f"independent draws for reliable intervals; raise {draws}"
        )
    return out


def predict(model, idata, X_new: np.ndarray, seed: int = 0):
    """Posterior predictive draws of y at new design rows: ``pm.set_data`` on the model's
    "X" (and a placeholder "y_obs" of the new length), then ``pm.sample_posterior_predictive``.
    Returns an array [chains * draws, len(X_new)]."""
    import pymc as pm

    old = {name: model[name].get_value() for name in ("X", "y_obs")}
    old_obs = np.arange(len(old["y_obs"]))
    with model, warnings.catch_warnings():
        # "Potentials are ignored": the QR prior is a Potential, but its effect is already in
        # the posterior draws; only y is drawn here, given those draws
        warnings.filterwarnings("ignore", message=".*Potentials.*")
        new = {"obs": np.arange(len(X_new))}
        pm.set_data({"X": X_new, "y_obs": np.zeros(len(X_new))}, coords=new)
        try:
            pp = pm.sample_posterior_predictive(
                idata, var_names=["y"], predictions=True, random_seed=seed, progressbar=False
            )
        finally:
            pm.set_data(old, coords={"obs": old_obs})  # the model describes the data again
    y = pp.predictions["y"].values
    return y.reshape(-1, y.shape[-1])


def prior_predictive(
    X: np.ndarray, y: np.ndarray, spec: PriorSpec, X_new: np.ndarray, draws: int = 200, seed=0
) -> dict:
    """``pm.sample_prior_predictive`` on a grid: what the prior says before any data.

    A flat intercept cannot be sampled, so for this picture the intercept is drawn from
    Normal(mean y, sd y) (only the level of the curves depends on it); a flat prior on the
    slopes has no prior predictive at all (ModelError). Returns coefficient draws "w" [draws, p]
    and the curves "mu" and noisy "y" on X_new [draws, len(X_new)].
    """
    import pymc as pm

    from bayes.models import ModelError

    if spec.prior == "flat":
        raise ModelError("a flat prior has no prior predictive (it is not a distribution)")
    proper = replace(
        spec,
        parameterization="direct",
        intercept_scale=float(np.std(y)) or 1.0,
        intercept_loc=float(np.mean(y)),
    )
    model = build_model(X, y, proper)
    with model:
        new = {"obs": np.arange(len(X_new))}
        pm.set_data({"X": X_new, "y_obs": np.zeros(len(X_new))}, coords=new)
        prior = pm.sample_prior_predictive(draws=draws, var_names=["w", "y"], random_seed=seed)
    w = prior.prior["w"].values.reshape(draws, -1)
    return {"w": w, "mu": w @ X_new.T, "y": prior.prior_predictive["y"].values.reshape(draws, -1)}


def gaussian_posterior(X: np.ndarray, y: np.ndarray, sigma: float, tau: float | None):
    """Closed-form posterior N(m, S) for a Normal(0, tau) prior on w[1:], flat w[0], known sigma.

    ``tau=None`` is the flat prior (then m is least squares and S = sigma^2 (X^T X)^-1).
    """
    prec = np.zeros(X.shape[1])
    if tau is not None:
        prec[1:] = 1.0 / tau**2
    A = X.T @ X / sigma**2 + np.diag(prec)
    S = np.linalg.inv(A)
    m = S @ X.T @ y / sigma**2
    return m, S
