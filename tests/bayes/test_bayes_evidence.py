"""Closed-form evidence (sigma known or not), degree choice over 20 seeds, PSIS-LOO with exact
fallback, az.compare and the one-standard-error rule."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.stats import multivariate_normal

from bayes.data import DataConfig, make_data
from bayes.design import Basis
from bayes.evidence import (
    best_alpha,
    best_sigma_alpha,
    chosen_degree,
    evidence_by_degree,
    exact_loo,
    log_evidence,
    log_evidence_proper,
    posterior_idata,
    psis_loo,
)


@pytest.fixture(scope="module")
def data():
    return make_data(DataConfig(n=50, noise=1.0, seed=0))


def test_log_evidence_matches_the_marginal_gaussian(data):
    """p(y) = N(y | 0, sigma^2 I + X Sigma_w X^T); a very wide intercept prior ~ the flat one."""
    X, sigma, alpha, v = Basis(4).matrix(data.x), 1.0, 0.3, 1e5
    cov = sigma**2 * np.eye(50) + X @ np.diag([v] + [1 / alpha] * 4) @ X.T
    direct = multivariate_normal(np.zeros(50), cov).logpdf(data.y) + 0.5 * np.log(2 * np.pi * v)
    assert log_evidence(X, data.y, sigma, alpha) == pytest.approx(direct, abs=1e-3)


def test_best_alpha_maximizes_the_evidence(data):
    X = Basis(6).matrix(data.x)
    a = best_alpha(X, data.y, 1.0)
    best = log_evidence(X, data.y, 1.0, a)
    assert best > log_evidence(X, data.y, 1.0, 1.1 * a)
    assert best > log_evidence(X, data.y, 1.0, a / 1.1)


def _picks(basis):
    picks = []
    for seed in range(20):
        d = make_data(DataConfig(n=50, noise=1.0, x_range=(-1.0, 1.0), seed=seed))
        picks.append(
            chosen_degree(evidence_by_degree(d.x, d.y, 1.0, 10, basis=basis, with_loo=False))
        )
    return np.array(picks)


def test_evidence_picks_the_true_degree_in_at_least_15_of_20_seeds():
    assert (_picks("legendre") == 5).sum() >= 15


def test_raw_monomials_do_worse_at_picking_the_degree():
    # the same isotropic prior on raw monomial coefficients is a different, worse prior
    assert (_picks("monomial") == 5).sum() < (_picks("legendre") == 5).sum()


def test_psis_loo_agrees_with_exact_loo_when_k_is_small(data):
    X = Basis(5).matrix(data.x)
    a = best_alpha(X, data.y, 1.0)
    idata = posterior_idata(X, data.y, 1.0, a)
    loo = psis_loo(idata)
    assert loo.n_high_k == 0
    assert loo.elpd == pytest.approx(exact_loo(X, data.y, 1.0, a).sum(), abs=0.5)
    # nothing substituted: the same elpd, SE and p_loo as ArviZ's own az.loo
    import arviz as az

    reference = az.loo(idata)
    assert loo.elpd == pytest.approx(float(reference["elpd_loo"]), rel=1e-9)
    assert loo.se == pytest.approx(float(reference["se"]), rel=1e-9)
    assert float(loo.elpd_data["se"]) == pytest.approx(float(reference["se"]), rel=1e-9)
    assert float(loo.elpd_data["p_loo"]) == pytest.approx(float(reference["p_loo"]), rel=1e-9)


def test_high_pareto_k_points_fall_back_to_exact_loo():
    small = make_data(DataConfig(n=10, seed=0))
    X = Basis(7).matrix(small.x)
    a = best_alpha(X, small.y, 1.0)
    exact = exact_loo(X, small.y, 1.0, a)
    idata = posterior_idata(X, small.y, 1.0, a)
    plain, loo = psis_loo(idata), psis_loo(idata, exact=lambda: exact)
    high = loo.pareto_k > 0.7
    assert loo.n_high_k == high.sum() > 0  # small n: PSIS is unreliable somewhere
    # where PSIS is unreliable it is also wrong here; the substituted total is right
    assert abs(plain.elpd - exact.sum()) > 1.0
    assert loo.elpd == pytest.approx(exact.sum(), abs=0.5)
    # the SE of a sum of n pointwise values, as ArviZ defines it: sqrt(n var(elpd_i))
    assert loo.se == pytest.approx(np.sqrt(len(exact) * np.var(loo.pointwise)), rel=1e-12)
    # and az.compare sees the same numbers
    assert float(loo.elpd_data["elpd_loo"]) == pytest.approx(loo.elpd)
    np.testing.assert_allclose(np.asarray(loo.elpd_data["loo_i"]).ravel(), loo.pointwise)
    # p_loo = lppd - elpd_loo, with lppd (log of each point's mean likelihood over the draws)
    # from the log-likelihood itself: unchanged by the substitution, so p_loo moves with elpd
    import arviz as az
    from scipy.special import logsumexp

    ll = idata.log_likelihood["y"].values.reshape(-1, len(small.y))
    lppd = float((logsumexp(ll, axis=0) - np.log(len(ll))).sum())
    assert float(plain.elpd_data["p_loo"]) == pytest.approx(lppd - plain.elpd, abs=1e-6)
    assert float(loo.elpd_data["p_loo"]) == pytest.approx(lppd - loo.elpd, abs=1e-6)
    assert abs(float(loo.elpd_data["p_loo"]) - float(plain.elpd_data["p_loo"])) > 1.0
    table = az.compare({"psis": plain.elpd_data, "exact": loo.elpd_data})
    assert table.loc["exact", "p_loo"] == pytest.approx(lppd - loo.elpd, abs=1e-6)
    assert table.loc["exact", "elpd_loo"] == pytest.approx(loo.elpd)


def test_sigma_unknown_type2_ml_matches_sklearn_bayesian_ridge(data):
    """sklearn's BayesianRidge (MacKay's updates, no hyperpriors) on the data with the flat
    intercept integrated out: project y and the slope columns onto the complement of the
    constant (an orthonormal basis H, n - 1 rows), which is exactly what a flat intercept does."""
    from sklearn.linear_model import BayesianRidge

    n = len(data.y)
    Q, _ = np.linalg.qr(np.column_stack([np.ones(n), np.eye(n)[:, : n - 1]]))
    H = Q[:, 1:]
    for degree in (1, 5, 9):
        X = Basis(degree).matrix(data.x)
        sigma, alpha = best_sigma_alpha(X, data.y)
        ref = BayesianRidge(
            fit_intercept=False,
            alpha_1=0.0,
            alpha_2=0.0,
            lambda_1=0.0,
            lambda_2=0.0,
            tol=1e-14,
            max_iter=100_000,
        ).fit(H.T @ X[:, 1:], H.T @ data.y)
        assert sigma == pytest.approx(ref.alpha_**-0.5, rel=1e-4), degree
        assert alpha == pytest.approx(ref.lambda_, rel=1e-4), degree
        # and sigma is the evidence's maximum: nudging it either way loses evidence
        best = log_evidence(X, data.y, sigma, alpha)
        for f in (0.98, 1.02):
            assert log_evidence(X, data.y, f * sigma, alpha) < best


def test_sigma_unknown_picks_the_true_degree_in_at_least_17_of_20_seeds():
    picks = []
    for seed in range(20):
        d = make_data(DataConfig(n=50, noise=1.0, seed=seed))
        scores = evidence_by_degree(d.x, d.y, None, 10, with_loo=False)
        picks.append(chosen_degree(scores))
        assert 0.7 < scores[5].sigma < 1.3  # the noise sigma is recovered too
    assert sum(p == 5 for p in picks) >= 17, picks


def test_proper_prior_evidence_is_the_marginal_gaussian(data):
    from scipy.stats import multivariate_normal

    X = Basis(3).matrix(data.x)
    cov = 1.5**2 * np.eye(50) + X @ np.diag([4.0**2] + [2.0**2] * 3) @ X.T
    direct = multivariate_normal(np.zeros(50), cov).logpdf(data.y)
    assert log_evidence_proper(X, data.y, 1.5, 2.0, 4.0) == pytest.approx(direct, rel=1e-12)


def test_select_cli_json(capsys):
    from bayes.__main__ import main

    assert main(["select", "--max-degree", "10", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["chosen_degree"] == 5
    assert res["degrees"] == list(range(11))
    for key in ("log_evidence", "loo_elpd", "pareto_k_max", "n_pareto_k_high", "prior_scale"):
        assert len(res[key]) == 11, key
    ev = np.array(res["log_evidence"])
    # degree 4 cannot make the x^5 term: far less evidence, not a near tie
    assert ev[5] - ev[4] > 10
    # az.compare: the best LOO degree has difference 0; the one-SE rule picks the simplest
    # degree whose difference is within its standard error, and lists all of them
    best = res["chosen_degree_loo"]
    assert res["elpd_diff"][best] == 0 and res["elpd_diff_se"][best] == 0
    ties = [d for d in res["degrees"] if res["elpd_diff"][d] <= res["elpd_diff_se"][d]]
    assert res["loo_ties"] == ties and res["chosen_degree_loo_1se"] == min(ties) == 5
    assert len(ties) > 1  # degrees above 5 fit as well within the noise: shown as ties
    assert sum(res["stacking_weight"]) == pytest.approx(1.0)
    assert max(res["stacking_weight"][d] for d in range(5)) < 0.01


def test_select_cli_learn_sigma_text(capsys):
    from bayes.__main__ import main

    assert main(["select", "--max-degree", "7", "--learn-sigma"]) == 0
    out = capsys.readouterr().out
    assert "sigma unknown (ML)" in out
    assert "chosen degree (evidence): 5" in out
    assert "simplest within one SE of the best" in out
