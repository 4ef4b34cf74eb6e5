"""PyMC models for polynomial regression, one per prior; the intercept is never penalized.

Every model exposes the user's coefficients as ``w`` (dims ``coef``; w[0] the intercept, always
under a flat prior) in the basis of the design matrix it was given, the noise ``sigma`` (known
constant or learned), and the observed ``y`` (so log-likelihoods can be stored for LOO).

Two parameterizations of the *same* posterior:
- ``direct``: the priors sit on ``intercept`` and ``beta`` and ``w = [intercept, beta]``.
- ``qr``: X = Q R; NUTS samples theta = R w (flat), the likelihood uses Q theta, and the prior
  density of w = R^-1 theta is added as a Potential. Because the map is linear its Jacobian is
  constant, so the prior stays on the user's coefficients and the posterior is unchanged, but
  theta's posterior is close to isotropic, which is what NUTS wants.
The horseshoe is always non-centred (beta = tau * lambda_tilde * z) and ignores ``qr``.
QR needs more points than coefficients (R must be invertible); with n <= D + 1 the model falls
back to ``direct``, which the proper prior on the slopes keeps proper.

The design matrix and y are ``pm.Data`` ("X", "y_obs"), so predictions on a grid are
``pm.set_data`` + ``pm.sample_posterior_predictive`` (``bayes.fit.predict``).
``intercept_scale`` replaces the flat intercept with Normal(intercept_loc, intercept_scale):
needed wherever the prior must be proper (SMC evidence, prior predictive draws).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PRIORS = ("normal", "laplace", "horseshoe", "flat")
PARAMETERIZATIONS = ("qr", "direct")
DEFAULT_SCALE = {"normal": 10.0, "laplace": 5.0, "horseshoe": None, "flat": None}


class ModelError(ValueError):
    """Bad model settings; the message says how to fix them."""


@dataclass(frozen=True)
class PriorSpec:
    """Which prior on the non-intercept coefficients, its scale, and how sigma is treated.

    ``scale``: tau of Normal(0, tau), b of Laplace(0, b), the global scale tau0 of the
    horseshoe (default: Piironen & Vehtari's p0/(D - p0) * sigma/sqrt(n) with p0 = D/2);
    ignored for ``flat``. ``sigma=None`` learns the noise with a HalfNormal(sigma_scale) prior
    (default scale: twice the standard deviation of y, so the noise cannot exceed the spread of
    y by much). ``intercept_scale=None`` keeps the intercept flat.
    """

    prior: str = "normal"
    scale: float | None = None
    sigma: float | None = 1.0
    parameterization: str = "qr"
    slab_scale: float = 10.0
    intercept_scale: float | None = None
    intercept_loc: float = 0.0
    sigma_scale: float | None = None

    def validate(self, n: int, p: int) -> None:
        if self.prior not in PRIORS:
            raise ModelError(f"unknown prior {self.prior!r}; choose one of {', '.join(PRIORS)}")
        if self.parameterization not in PARAMETERIZATIONS:
            raise ModelError(
                f"unknown parameterization {self.parameterization!r}; "
                f"choose one of {', '.join(PARAMETERIZATIONS)}"
            )
        if self.scale is not None and not (np.isfinite(self.scale) and self.scale > 0):
            raise ModelError(f"prior scale must be > 0 (got {self.scale}); pass e.g. --scale 10")
        for name in ("intercept_scale", "sigma_scale"):
            v = getattr(self, name)
            if v is not None and not (np.isfinite(v) and v > 0):
                raise ModelError(f"{name.replace('_', ' ')} must be > 0 (got {v})")
        if self.sigma is not None and not (np.isfinite(self.sigma) and self.sigma > 0):
            raise ModelError(f"noise sigma must be > 0 (got {self.sigma}); pass e.g. --noise 1")
        if self.prior == "flat" and n <= p - 1:
            raise ModelError(
                f"a flat prior needs more points than the degree: n={n}, degree={p - 1}; "
                "use more points (--n) or a lower degree, or a proper prior (--prior normal)"
            )

    def prior_scale(self) -> float | None:
        return DEFAULT_SCALE[self.prior] if self.scale is None else float(self.scale)


def coef_labels(p: int) -> list[str]:
    return [f"w{k}" for k in range(p)]


def _prior_logp(spec: PriorSpec, beta):
    """Sum of the prior log-density of the slopes (used by the QR parameterization)."""
    import pymc as pm

    scale = spec.prior_scale()
    if spec.prior == "normal":
        return pm.logp(pm.Normal.dist(0.0, scale), beta).sum()
    if spec.prior == "laplace":
        return pm.logp(pm.Laplace.dist(0.0, scale), beta).sum()
    return 0.0


def _sigma(spec: PriorSpec, y: np.ndarray):
    import pymc as pm

    if spec.sigma is not None:
        return float(spec.sigma)
    # weakly informative: the noise cannot exceed the spread of y by much
    scale = spec.sigma_scale if spec.sigma_scale is not None else 2.0 * float(np.std(y)) + 1e-12
    return pm.HalfNormal("sigma", sigma=scale)


def _intercept(spec: PriorSpec):
    import pymc as pm

    if spec.intercept_scale is None:
        return pm.Flat("intercept")
    return pm.Normal("intercept", spec.intercept_loc, spec.intercept_scale)


def _direct_slopes(spec: PriorSpec, n_slope: int, sigma, n: int):
    import pymc as pm

    scale = spec.prior_scale()
    if spec.prior == "normal":
        return pm.Normal("beta", 0.0, scale, dims="slope")
    if spec.prior == "laplace":
        return pm.Laplace("beta", 0.0, scale, dims="slope")
    if spec.prior == "flat":
        return pm.Flat("beta", dims="slope")
    # regularized horseshoe (Piironen & Vehtari 2017), non-centred
    p0 = max(1, n_slope // 2)
    sig = sigma if spec.sigma is None else spec.sigma
    tau0 = scale if scale is not None else p0 / max(n_slope - p0, 1) * sig / np.sqrt(n)
    tau = pm.HalfStudentT("tau", nu=1, sigma=tau0)
    lam = pm.HalfStudentT("lam", nu=1, sigma=1.0, dims="slope")
    c2 = pm.InverseGamma("c2", alpha=2.0, beta=2.0 * spec.slab_scale**2)
    lam_t = pm.math.sqrt(c2 * lam**2 / (c2 + tau**2 * lam**2))
    z = pm.Normal("z", 0.0, 1.0, dims="slope")
    return pm.Deterministic("beta", tau * lam_t * z, dims="slope")


def uses_qr(spec: PriorSpec, n: int, p: int) -> bool:
    """QR coordinates only where they exist: R invertible needs n > p; never for the horseshoe."""
    return spec.parameterization == "qr" and spec.prior != "horseshoe" and n > p


def build_model(X: np.ndarray, y: np.ndarray, spec: PriorSpec = PriorSpec()):
    """A PyMC model of y ~ Normal(X w, sigma) with ``spec``'s prior on w[1:] (see module doc)."""
    import pymc as pm
    import pytensor.tensor as pt

    from bayes.blas import configure

    configure()
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    n, p = X.shape
    spec.validate(n, p)
    if not np.allclose(X[:, 0], 1.0):
        raise ModelError("design column 0 must be the constant 1 (the unpenalized intercept)")
    # "obs": a named observation dim, so y's draws, log-likelihood and data carry it (not
    # ArviZ's anonymous y_dim_0); predictions resize it with pm.set_data(..., coords=...).
    coords = {"coef": coef_labels(p), "slope": coef_labels(p)[1:], "obs": np.arange(n)}
    with pm.Model(coords=coords) as model:
        X_data = pm.Data("X", X, dims=("obs", "coef"))
        y_data = pm.Data("y_obs", y, dims="obs")
        # priors
        sigma = _sigma(spec, y)
        if uses_qr(spec, n, p):
            R = np.linalg.qr(X, mode="r")
            R = R * np.sign(np.diag(R))[:, None]  # diag(R) > 0 so theta has the signs of w
            theta = pm.Flat("theta", dims="coef")
            w = pm.Deterministic("w", pt.dot(np.linalg.inv(R), theta), dims="coef")
            logp = _prior_logp(spec, w[1:]) if p > 1 else 0.0
            if spec.intercept_scale is not None:
                dist = pm.Normal.dist(spec.intercept_loc, spec.intercept_scale)
                logp = logp + pm.logp(dist, w[0])
            if p > 1 or spec.intercept_scale is not None:
                pm.Potential("prior_w", logp)
        else:
            intercept = _intercept(spec)
            if p > 1:
                beta = _direct_slopes(spec, p - 1, sigma, n)
                w = pm.Deterministic("w", pt.concatenate([intercept[None], beta]), dims="coef")
            else:
                w = pm.Deterministic("w", intercept[None], dims="coef")
        mu = pt.dot(X_data, w)
        # likelihood
        pm.Normal("y", mu=mu, sigma=sigma, observed=y_data, dims="obs")
    return model
