"""NUTS posteriors: diagnostics, agreement with the closed-form Gaussian, CLI outputs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bayes.data import DataConfig, make_data
from bayes.design import Basis


@pytest.fixture(scope="module")
def data():
    return make_data(DataConfig())


@pytest.fixture(scope="module")
def normal_fit(data):
    from bayes.analysis import posterior

    calls = []
    res = posterior(
        data,
        degree=5,
        prior="normal",
        scale=2.0,
        progress=lambda done, total: calls.append((done, total)),
    )
    return res, calls


def test_default_fit_meets_the_diagnostic_targets(normal_fit):
    res, calls = normal_fit
    d = res.diagnostics
    assert d["r_hat_max"] <= 1.01
    assert d["ess_bulk_min"] >= 400 and d["ess_tail_min"] >= 400
    assert d["divergences"] == 0
    assert res.idata.posterior.sizes["chain"] == 4
    assert calls[-1] == (8000, 8000)  # progress reached the end


def test_nuts_agrees_with_closed_form_gaussian_posterior(data, normal_fit):
    from bayes.fit import gaussian_posterior

    res, _ = normal_fit
    X = Basis(5).matrix(data.x)
    m, S = gaussian_posterior(X, data.y, data.sigma, 2.0)
    w = res.idata.posterior["w"].values.reshape(-1, 6)
    sd = np.sqrt(np.diag(S))
    # MCSE of the mean is ~ sd / sqrt(ESS) < sd / 60; allow 5 of those
    np.testing.assert_array_less(np.abs(w.mean(0) - m), 5 * sd / 60)
    np.testing.assert_allclose(w.std(0), sd, rtol=0.06)
    corr_nuts, corr_exact = np.corrcoef(w.T), S / np.outer(sd, sd)
    np.testing.assert_allclose(corr_nuts, corr_exact, atol=0.05)


def test_log_likelihood_and_monomial_coefficients_are_stored(data, normal_fit):
    res, _ = normal_fit
    assert res.idata.log_likelihood["y"].shape == (4, 1000, 50)
    w = res.idata.posterior["w"].values
    np.testing.assert_allclose(
        res.idata.posterior["w_monomial"].values, Basis(5).to_monomial(w), rtol=1e-12
    )
    assert res.compile_s > 0 and res.sample_s > 0


def test_qr_keeps_the_prior_on_the_users_coefficients(data):
    """Same posterior either way: the QR model's log density equals the direct model's."""
    from bayes.models import PriorSpec, build_model

    X = Basis(3, "monomial").matrix(data.x)
    direct = build_model(X, data.y, PriorSpec("laplace", 0.3, 1.0, "direct"))
    qr = build_model(X, data.y, PriorSpec("laplace", 0.3, 1.0, "qr"))
    Q, R = np.linalg.qr(X)
    sign = np.sign(np.diag(R))
    R = R * sign[:, None]
    lp_d, lp_q = direct.compile_logp(), qr.compile_logp()
    rng = np.random.default_rng(0)
    diffs = []
    for _ in range(5):
        w = rng.normal(size=4)
        diffs.append(lp_d({"intercept": w[0], "beta": w[1:]}) - lp_q({"theta": R @ w}))
    assert np.ptp(diffs) < 1e-9  # constant offset only (the Laplace normalizer)


def test_fit_cli_writes_netcdf_csv_and_pngs(tmp_path):
    from bayes.__main__ import main

    out = tmp_path / "fit"
    args = "fit --degree 5 --prior laplace --learn-sigma --draws 200 --tune 300 --chains 2"
    rc = main([*args.split(), "--quiet", "--out", str(out)])
    assert rc == 0
    for name in (
        "idata.nc",
        "summary.csv",
        "diagnostics.json",
        "posterior_predictive.png",
        "trace_rank.png",
        "forest.png",
    ):
        assert (out / name).stat().st_size > 0, name
    import arviz as az

    idata = az.from_netcdf(out / "idata.nc")
    assert "log_likelihood" in idata.groups() and "sigma" in idata.posterior
    sigma = float(idata.posterior["sigma"].mean())
    assert 0.7 < sigma < 1.4  # the data's noise is 1
    summary = (out / "summary.csv").read_text().splitlines()
    assert len(summary) == 1 + 6 + 6 + 1  # header, w, w_monomial, sigma
    assert "loo_elpd" in json.loads((out / "diagnostics.json").read_text())


@pytest.mark.slow
def test_diagnostics_for_degrees_1_to_9_with_defaults(data):
    from bayes.analysis import posterior

    for degree in range(1, 10):
        d = posterior(data, degree=degree).diagnostics
        assert d["r_hat_max"] <= 1.01, (degree, d)
        assert d["ess_bulk_min"] >= 400 and d["ess_tail_min"] >= 400, (degree, d)
        assert d["divergences"] == 0, (degree, d)


@pytest.mark.slow
def test_horseshoe_shrinks_unneeded_high_degree_terms(data):
    from bayes.analysis import posterior
    from bayes.fit import NutsConfig

    res = posterior(
        data, degree=8, prior="horseshoe", config=NutsConfig(draws=200, tune=300, chains=2)
    )
    w = res.idata.posterior["w"].values.reshape(-1, 9).mean(0)
    # the true curve is degree 5: degrees 6..8 near zero, degree 5 clearly not
    assert np.abs(w[6:]).max() < 0.5 < abs(w[5])
