"""NUTS posteriors: diagnostics, agreement with the closed-form Gaussian, CLI outputs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bayes.data import DataConfig, make_data
from bayes.design import Basis
from bayes.fit import problems


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
    assert d["checked_variables"] == ["theta", "w"]  # every free variable, and w
    assert problems(d) == []


def test_problems_name_each_failed_check():
    bad = {
        "divergences": 3,
        "r_hat_max": 1.05,
        "worst_r_hat": "lam[w7]",
        "ess_bulk_min": 900.0,
        "ess_tail_min": 120.0,
        "worst_ess": "tau",
    }
    found = problems(bad)
    assert len(found) == 3
    assert found[0].startswith("3 divergent transitions")
    assert "r_hat 1.050 > 1.01 (lam[w7])" in found[1]
    assert "effective sample size 120 < 400 (tau)" in found[2]


def test_posterior_predictive_via_set_data_matches_the_closed_form(data, normal_fit):
    """pm.set_data + pm.sample_posterior_predictive on a grid: y's band is the exact Gaussian
    predictive N(G m, G S G^T + sigma^2), within Monte Carlo error."""
    from scipy.stats import norm

    from bayes.analysis import predictive_curves
    from bayes.fit import gaussian_posterior

    res, _ = normal_fit
    basis = Basis(5)
    grid = np.linspace(-1, 1, 9)
    band = predictive_curves(res, data, basis, grid, seed=1)
    m, S = gaussian_posterior(basis.matrix(data.x), data.y, 1.0, 2.0)
    G = basis.matrix(grid)
    sd = np.sqrt(np.einsum("ij,jk,ik->i", G, S, G) + 1.0)
    z = norm.ppf(0.97)
    np.testing.assert_allclose(band["pred_band"][1], G @ m + z * sd, atol=0.12)
    np.testing.assert_allclose(band["pred_band"][0], G @ m - z * sd, atol=0.12)
    np.testing.assert_allclose(band["mean"], G @ m, atol=0.05)
    assert res.model["X"].get_value().shape == (50, 6)  # set back to the observed data


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
    # y's observations are a named dim (not ArviZ's anonymous y_dim_0), in data order
    assert res.idata.log_likelihood["y"].dims == ("chain", "draw", "obs")
    assert res.idata.observed_data["y"].dims == ("obs",)
    np.testing.assert_array_equal(res.idata.observed_data["obs"], np.arange(50))
    np.testing.assert_allclose(res.idata.observed_data["y"], data.y)
    w = res.idata.posterior["w"].values.reshape(-1, 6)
    # an independent conversion: on x in [-1, 1] the Legendre series in x is numpy's leg2poly
    expected = np.array([np.polynomial.legendre.leg2poly(c) for c in w[:50]])
    got = res.idata.posterior["w_monomial"].values.reshape(-1, 6)[:50]
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-9)
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


def test_fit_cli_writes_netcdf_csv_and_pngs_and_strict_fails_on_few_draws(tmp_path, capsys):
    from bayes.__main__ import main

    out = tmp_path / "fit"
    args = "fit --degree 5 --prior laplace --learn-sigma --draws 200 --tune 300 --chains 2"
    rc = main([*args.split(), "--quiet", "--strict", "--out", str(out)])
    # 2 x 200 draws cannot give 400 effective draws everywhere: warned, and --strict fails
    err = capsys.readouterr().err
    assert rc == 1
    assert "warning: effective sample size" in err and "< 400" in err
    for name in (
        "idata.nc",
        "summary.csv",
        "diagnostics.json",
        "posterior_predictive.png",
        "prior_predictive.png",
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
    report = json.loads((out / "diagnostics.json").read_text())
    assert "loo_elpd" in report and report["problems"]
    assert set(report["checked_variables"]) == {"theta", "sigma", "w"}


def test_any_n_and_degree_closed_form_paths_never_fail():
    """n >= 2, degree 0..20: ridge, lasso, evidence (sigma known; unknown where n > D + 1),
    LOO and degree selection give finite answers on the cheap closed-form paths."""
    from bayes.analysis import degree_selection
    from bayes.evidence import best_alpha, best_sigma_alpha, log_evidence
    from bayes.penalized import lasso_coefs, ridge_closed_form, ridge_coefs

    for n in (2, 3, 5, 12):
        d = make_data(DataConfig(n=n, seed=n))
        for degree in range(21):
            X = Basis(degree, x_range=d.x_range).matrix(d.x)
            w = ridge_coefs(X, d.y, 1.0)
            np.testing.assert_allclose(w, ridge_closed_form(X, d.y, 1.0), rtol=1e-6, atol=1e-8)
            assert np.all(np.isfinite(lasso_coefs(X, d.y, 5.0)))
            assert np.isfinite(log_evidence(X, d.y, 1.0, best_alpha(X, d.y, 1.0)))
            if n > degree + 1:
                assert np.isfinite(log_evidence(X, d.y, *best_sigma_alpha(X, d.y)))
        for learn in (False, True):
            res = degree_selection(d, 20, learn_sigma=learn)
            assert np.all(np.isfinite(res["log_evidence"])) and res["loo_ties"]


def test_underdetermined_fits_sample_and_explain(capsys):
    """n = 2 with degree 20, n = 5 with degree 8: no traceback; MAP = Ridge from the CLI;
    NUTS samples (QR falls back to the direct parameterization) and the coefficients that two
    points cannot pin down keep (nearly) their prior spread."""
    from bayes.__main__ import main
    from bayes.analysis import posterior
    from bayes.fit import NutsConfig

    assert main(["compare", "--n", "2", "--degree", "20", "--json"]) == 0
    out = capsys.readouterr()
    res = json.loads(out.out)
    assert res["mle"] is None and "2 points cannot pin down 21 coefficients" in out.err
    np.testing.assert_allclose(res["map_normal"], res["ridge"], rtol=1e-6, atol=1e-8)
    assert main(["compare", "--n", "2", "--degree", "0", "--json"]) == 0  # was a Ridge crash
    flat = json.loads(capsys.readouterr().out)
    assert flat["ridge"] == pytest.approx([np.mean(flat["y"])])

    config = NutsConfig(draws=150, tune=150, chains=2)
    for n, degree in ((2, 20), (5, 8)):
        d = make_data(DataConfig(n=n, seed=0))
        fit = posterior(d, degree=degree, config=config)
        w = fit.idata.posterior["w"].values.reshape(-1, degree + 1)
        assert np.all(np.isfinite(w)), (n, degree)
        assert "theta" not in fit.idata.posterior  # direct parameterization
        assert 5.0 < w[:, -1].std() < 15.0  # the Normal(0, 10) prior on the top coefficient


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
    assert {"tau", "lam", "c2", "z", "intercept"} <= set(res.diagnostics["checked_variables"])
    w = res.idata.posterior["w"].values.reshape(-1, 9).mean(0)
    # the true curve is degree 5: degrees 6..8 near zero, degree 5 clearly not
    assert np.abs(w[6:]).max() < 0.5 < abs(w[5])
