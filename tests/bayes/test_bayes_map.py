"""MAP (PyMC) vs penalized least squares (scikit-learn / numpy) under the exact mapping."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bayes.__main__ import main
from bayes.data import DataConfig, make_data
from bayes.design import Basis
from bayes.penalized import lasso_lambda, least_squares, objective, ridge_lambda

KEYS = [
    "x",
    "y",
    "degree",
    "sigma",
    "design",
    "lambda_l2",
    "lambda_l1",
    "mle",
    "map_normal",
    "ridge",
    "map_laplace",
    "lasso",
    "sigma_source",
    "notes",
]


def _rel(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return np.max(np.abs(a - b)) / np.max(np.abs(b))


@pytest.fixture(scope="module", params=[("legendre", 5), ("legendre", 9), ("monomial", 5)])
def compare(request):
    """The CLI's JSON for one parameter set. stdout is redirected around this very call: a
    module-wide redirect is undone by pytest's per-test capture, and every parameter set then
    read the first one's output."""
    import contextlib
    import io

    basis, degree = request.param
    argv = ["compare", "--json", "--degree", str(degree), "--basis", basis, "--noise", "1.5"]
    argv += ["--lambda-l2", "2.0", "--lambda-l1", "6.0", "--seed", "1"]
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(argv) == 0
    res = json.loads(buf.getvalue().splitlines()[-1])
    assert res["degree"] == degree
    X = np.array(res["design"])
    assert np.allclose(X[:, 2], np.square(res["x"])) == (basis == "monomial")
    return res


def test_compare_json_has_exactly_the_promised_keys(compare):
    assert list(compare) == KEYS
    X = np.array(compare["design"])
    assert X.shape == (50, compare["degree"] + 1) and np.all(X[:, 0] == 1)
    assert compare["sigma"] == 1.5 and compare["sigma_source"] == "given"
    assert compare["notes"] == []


def test_flat_prior_map_equals_lstsq(compare):
    ls = least_squares(np.array(compare["design"]), np.array(compare["y"]))
    assert _rel(compare["mle"], ls) <= 1e-6


def test_normal_map_equals_ridge(compare):
    assert _rel(compare["map_normal"], compare["ridge"]) <= 1e-6


def test_laplace_map_equals_lasso(compare):
    assert _rel(compare["map_laplace"], compare["lasso"]) <= 1e-6
    # same sparsity pattern, exactly
    assert [v == 0 for v in compare["map_laplace"]] == [v == 0 for v in compare["lasso"]]


def test_lasso_at_degree_9_is_sparse(compare):
    if compare["degree"] != 9:
        pytest.skip("sparsity at lambda 6 is a property of the degree-9 fit only")
    assert sum(v == 0 for v in compare["lasso"][1:]) >= 2


@pytest.fixture(scope="module")
def small():
    d = make_data(DataConfig(n=30, noise=0.8, seed=2))
    return Basis(4).matrix(d.x), d.y, 0.8


@pytest.mark.parametrize("prior,kind,scale", [("normal", "l2", 0.7), ("laplace", "l1", 0.5)])
def test_log_posterior_is_minus_half_objective_over_sigma2(small, prior, kind, scale):
    from bayes.models import PriorSpec, build_model

    X, y, sigma = small
    lam = ridge_lambda(sigma, scale) if kind == "l2" else lasso_lambda(sigma, scale)
    model = build_model(X, y, PriorSpec(prior, scale, sigma, "direct"))
    logp = model.compile_logp()
    rng = np.random.default_rng(0)
    consts = []
    for _ in range(6):
        w = rng.normal(0, 3, X.shape[1])
        lp = logp({"intercept": w[0], "beta": w[1:]})
        consts.append(lp + objective(X, y, w, lam, kind) / (2 * sigma**2))
    assert np.ptp(consts) < 1e-8 * abs(consts[0])


def test_failed_find_map_is_rejected(small):
    from bayes.fit import MapError, map_smooth
    from bayes.models import PriorSpec, build_model

    X, y, sigma = small
    model = build_model(X, y, PriorSpec("normal", 1.0, sigma, "direct"))
    with pytest.raises(MapError, match="did not converge"):
        map_smooth(model, maxeval=3)  # stopped early: must not pass for a MAP
    laplace = build_model(X, y, PriorSpec("laplace", 1.0, sigma, "direct"))
    with pytest.raises(MapError, match="kink"):
        map_smooth(laplace)


def test_kkt_check_rejects_a_non_optimal_laplace_point():
    from bayes.fit import MapError, _check_kkt

    inv_b = np.array([1.0, 1.0])
    _check_kkt(np.array([0.0, 1.0, 0.3]), np.array([0.2, 0.5, 0.0]), inv_b)  # optimal
    with pytest.raises(MapError, match="KKT"):
        _check_kkt(np.array([0.0, 0.4, 0.3]), np.array([0.2, 0.5, 0.0]), inv_b)


def test_cli_rejects_bad_arguments(capsys):
    assert main(["compare", "--degree", "-1"]) == 2
    assert "degree must be >= 0" in capsys.readouterr().err
    assert main(["compare", "--n", "1"]) == 2
    assert "n must be >= 2" in capsys.readouterr().err
    assert main(["compare", "--noise", "0"]) == 2
    assert "sigma must be > 0" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["fit", "--prior", "cauchy"])
    assert "invalid choice" in capsys.readouterr().err
