"""Design matrices, the lambda <-> prior-scale mapping, overfitting: no PyMC needed."""

from __future__ import annotations

import numpy as np
import pytest

from bayes.data import COURSE_COEFS, DataConfig, DataError, make_data, true_curve
from bayes.design import Basis, DesignError
from bayes.overfit import overfitting_table
from bayes.penalized import (
    laplace_scale,
    lasso_coefs,
    lasso_lambda,
    least_squares,
    normal_scale,
    objective,
    ridge_closed_form,
    ridge_coefs,
    ridge_lambda,
    sklearn_lasso_alpha,
)


@pytest.fixture(scope="module")
def data():
    return make_data(DataConfig(n=50, noise=1.0, seed=0))


def test_data_is_seeded_and_follows_the_course_polynomial():
    a, b = make_data(DataConfig(seed=3)), make_data(DataConfig(seed=3))
    np.testing.assert_array_equal(a.y, b.y)
    assert true_curve(np.array([1.0]))[0] == pytest.approx(sum(COURSE_COEFS))
    resid = a.y - true_curve(a.x)
    assert 0.7 < resid.std() < 1.3  # the noise, not the curve
    assert a.x.min() >= -1 and a.x.max() <= 1


@pytest.mark.parametrize("x_range", [(-1.0, 1.0), (-2.0, 3.0), (0.0, 10.0)])
def test_legendre_converts_back_to_monomials(x_range):
    basis = Basis(5, "legendre", x_range)
    c = basis.from_monomial(COURSE_COEFS)
    np.testing.assert_allclose(basis.to_monomial(c), COURSE_COEFS, atol=1e-9)
    x = np.linspace(*x_range, 17)
    np.testing.assert_allclose(basis.matrix(x) @ c, true_curve(x), rtol=1e-9, atol=1e-8)


def test_legendre_columns_are_well_conditioned_and_column0_is_intercept(data):
    leg, mono = Basis(9).matrix(data.x), Basis(9, "monomial").matrix(data.x)
    assert np.all(leg[:, 0] == 1) and np.all(mono[:, 0] == 1)
    assert np.linalg.cond(mono) > 50 * np.linalg.cond(leg)


def test_bad_degree_and_basis_are_clear_errors():
    with pytest.raises(DesignError, match="degree must be >= 0"):
        Basis(-1)
    with pytest.raises(DesignError, match="unknown basis"):
        Basis(2, "chebyshev")
    with pytest.raises(DataError, match="noise sigma must be > 0"):
        make_data(DataConfig(noise=0.0))


def test_mapping_is_exact_and_invertible():
    assert ridge_lambda(2.0, 4.0) == pytest.approx(0.25)  # sigma^2 / tau^2
    assert lasso_lambda(2.0, 4.0) == pytest.approx(2.0)  # 2 sigma^2 / b
    assert normal_scale(2.0, ridge_lambda(2.0, 4.0)) == pytest.approx(4.0)
    assert laplace_scale(2.0, lasso_lambda(2.0, 4.0)) == pytest.approx(4.0)
    assert sklearn_lasso_alpha(5.0, 50) == pytest.approx(0.05)


def test_sklearn_ridge_minimizes_our_objective_with_free_intercept(data):
    X = Basis(7).matrix(data.x)
    w = ridge_coefs(X, data.y, 3.0)
    np.testing.assert_allclose(w, ridge_closed_form(X, data.y, 3.0), rtol=1e-10, atol=1e-12)
    # the intercept is unpenalized: a huge lambda shrinks the slopes, not the mean level
    w_big = ridge_coefs(X, data.y, 1e9)
    assert np.abs(w_big[1:]).max() < 1e-6 and w_big[0] == pytest.approx(data.y.mean())


def test_sklearn_lasso_meets_the_kkt_conditions_of_our_objective(data):
    X, lam = Basis(9).matrix(data.x), 5.0
    w = lasso_coefs(X, data.y, lam)
    grad = -2 * X.T @ (data.y - X @ w)  # gradient of ||y - Xw||^2
    nz = np.flatnonzero(w[1:]) + 1
    z = np.flatnonzero(w[1:] == 0) + 1
    assert z.size > 0, "lambda 5 on degree 9 should zero some coefficients"
    assert abs(grad[0]) < 1e-8
    np.testing.assert_allclose(grad[nz], -lam * np.sign(w[nz]), atol=1e-7)
    assert np.all(np.abs(grad[z]) <= lam + 1e-7)
    # and it beats nearby points on the objective
    rng = np.random.default_rng(1)
    best = objective(X, data.y, w, lam, "l1")
    assert all(
        objective(X, data.y, w + 1e-4 * rng.normal(size=w.size), lam, "l1") > best
        for _ in range(20)
    )


def test_overfitting_degree_n_minus_1_interpolates_and_generalizes_badly():
    small = make_data(DataConfig(n=15, seed=0))
    rows = {r["degree"]: r for r in overfitting_table(small, [3, 5, 14])}
    assert rows[14]["train_mse"] < 1e-12
    assert rows[14]["test_mse"] > 1000 * rows[5]["test_mse"]
    assert rows[5]["train_mse"] < rows[3]["train_mse"]


def test_mle_is_least_squares_normal_equations(data):
    X = Basis(5).matrix(data.x)
    w = least_squares(X, data.y)
    np.testing.assert_allclose(X.T @ (data.y - X @ w), 0, atol=1e-9)
