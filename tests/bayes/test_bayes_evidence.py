"""Closed-form evidence, degree choice over 20 seeds, PSIS-LOO with exact fallback."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.stats import multivariate_normal

from bayes.data import DataConfig, make_data
from bayes.design import Basis
from bayes.evidence import (
    best_alpha,
    chosen_degree,
    evidence_by_degree,
    exact_loo,
    log_evidence,
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
    loo = psis_loo(posterior_idata(X, data.y, 1.0, a))
    assert loo.n_high_k == 0
    assert loo.elpd == pytest.approx(exact_loo(X, data.y, 1.0, a).sum(), abs=0.5)


def test_high_pareto_k_points_fall_back_to_exact_loo():
    small = make_data(DataConfig(n=10, seed=0))
    X = Basis(7).matrix(small.x)
    a = best_alpha(X, small.y, 1.0)
    exact = exact_loo(X, small.y, 1.0, a)
    loo = psis_loo(posterior_idata(X, small.y, 1.0, a), exact=lambda: exact)
    high = loo.pareto_k > 0.7
    assert loo.n_high_k == high.sum() > 0  # small n: PSIS is unreliable somewhere
    np.testing.assert_array_equal(loo.pointwise[high], exact[high])


def test_select_cli_json(capsys):
    from bayes.__main__ import main

    assert main(["select", "--max-degree", "10", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["chosen_degree"] == 5
    assert res["degrees"] == list(range(11))
    for key in ("log_evidence", "loo_elpd", "pareto_k_max", "n_pareto_k_high", "prior_scale"):
        assert len(res[key]) == 11, key
    assert int(np.argmax(res["log_evidence"])) == 5
