"""SMC evidence (pm.sample_smc) against the closed form, and for priors with no closed form."""

from __future__ import annotations

import numpy as np
import pytest

from bayes.data import DataConfig, make_data
from bayes.design import Basis
from bayes.evidence import log_evidence_proper, smc_log_evidence
from bayes.models import ModelError, PriorSpec

# A proper prior everywhere (SMC needs one): Normal(0, 10) on every coefficient, sigma = 1.
TAU, S0 = 10.0, 10.0


@pytest.fixture(scope="module")
def data():
    return make_data(DataConfig(n=50, noise=1.0, seed=0))


@pytest.fixture(scope="module")
def normal_gaps(data):
    gaps = {}
    for degree in range(1, 10):
        X = Basis(degree).matrix(data.x)
        spec = PriorSpec("normal", TAU, 1.0, intercept_scale=S0)
        smc = smc_log_evidence(X, data.y, spec, draws=1000, chains=2, seed=degree)
        gaps[degree] = float(smc.mean() - log_evidence_proper(X, data.y, 1.0, TAU, S0))
    print("SMC - closed form (nats) by degree:", {d: round(g, 3) for d, g in gaps.items()})
    return gaps


@pytest.mark.slow
def test_smc_evidence_matches_the_closed_form_for_degrees_1_to_9(normal_gaps):
    assert max(abs(g) for g in normal_gaps.values()) <= 0.25, normal_gaps


@pytest.mark.slow
def test_smc_evidence_for_laplace_and_horseshoe(data):
    """No closed form: the chains must agree (the horseshoe's 3 variables per slope make SMC
    noisier: a few nats at 600 draws), and degree 2 (cannot bend like the quintic) must lose
    to degree 5 by far more than the chains' spread."""
    est = {}
    for prior, degree in (("laplace", 2), ("laplace", 5), ("horseshoe", 5)):
        X = Basis(degree).matrix(data.x)
        spec = PriorSpec(prior, 5.0 if prior == "laplace" else None, 1.0, intercept_scale=S0)
        chains = smc_log_evidence(X, data.y, spec, draws=600, chains=2, seed=1)
        spread = 1.0 if prior == "laplace" else 5.0
        assert np.all(np.isfinite(chains)) and np.ptp(chains) < spread, (prior, degree, chains)
        est[prior, degree] = chains.mean()
    assert est["laplace", 5] > est["laplace", 2] + 50
    assert est["horseshoe", 5] > est["laplace", 2] + 50


def test_smc_refuses_an_improper_prior(data):
    X = Basis(2).matrix(data.x)
    with pytest.raises(ModelError, match="flat intercept's evidence is defined only up to"):
        smc_log_evidence(X, data.y, PriorSpec("normal", 1.0, 1.0))


@pytest.mark.slow
def test_select_cli_adds_an_smc_evidence_curve(capsys):
    import json

    from bayes.__main__ import main

    args = ["select", "--max-degree", "1", "--smc", "laplace", "--smc-draws", "300", "--json"]
    assert main(args) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["prior"] == "laplace" and len(res["smc_log_evidence"]) == 2
    assert np.all(np.isfinite(res["smc_log_evidence"]))
    # a straight line explains far more of the course's curve than a constant
    assert res["smc_log_evidence"][1] > res["smc_log_evidence"][0] + 10
    assert res["chosen_degree_smc"] == 1
