"""The abstain gate's pieces against direct computations (issue 25's reader rows).

Every expected value here is computed in the test from its definition (a double loop, an
eigendecomposition, a Monte Carlo average), never by the function under test.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import expit

from cnn.reader.gate import (
    COMBINERS,
    Residual,
    TiedMahalanobis,
    abstain_threshold,
    loo_p_values,
    p_values,
)


def test_p_values_count_calibration_scores_at_or_above(rng):
    cal = rng.integers(0, 20, 50).astype(float)  # ties on purpose: >= vs > matters
    scores = np.r_[rng.integers(-2, 23, 200), cal[:5]].astype(float)
    expected = np.array([(1 + sum(c >= s for c in cal)) / (len(cal) + 1) for s in scores])
    np.testing.assert_array_equal(p_values(cal, scores), expected)
    assert p_values(cal, [cal.max() + 1])[0] == 1 / 51  # beyond every digit: the smallest p
    assert p_values(cal, [cal.min() - 1])[0] == 1.0


def test_leave_one_out_p_values_judge_each_against_the_others(rng):
    cal = rng.integers(0, 10, 40).astype(float)
    n = len(cal)
    expected = [
        (1 + sum(cal[j] >= cal[i] for j in range(n) if j != i)) / ((n - 1) + 1) for i in range(n)
    ]
    np.testing.assert_allclose(loo_p_values(cal), expected, rtol=0, atol=1e-15)


def test_combiners_follow_their_formulas():
    p = np.array([[0.5, 0.01, 0.2], [1.0, 1.0, 1.0]])
    np.testing.assert_allclose(COMBINERS["min-p"](p), [-math.log(0.01), 0.0])
    fisher = -2 * (math.log(0.5) + math.log(0.01) + math.log(0.2))
    np.testing.assert_allclose(COMBINERS["fisher"](p), [fisher, 0.0])


@pytest.mark.parametrize("rate", [0.01, 0.05, 0.2])
def test_threshold_abstains_on_the_rate_asked_for(rng, rate):
    surprise = rng.normal(size=1000)  # higher = more unusual: the top `rate` share abstains
    threshold = abstain_threshold(surprise, rate)
    assert (surprise >= threshold).mean() == pytest.approx(rate, abs=1e-9)
    fresh = rng.normal(size=200_000)  # new digits from the same distribution
    assert (fresh >= threshold).mean() == pytest.approx(rate, abs=0.4 * rate)


def test_residual_is_the_norm_off_the_top_principal_directions(rng):
    x = rng.normal(size=(400, 12)) * np.linspace(3, 0.1, 12)  # distinct variances
    res = Residual(dims=4).fit(x)
    values, vectors = np.linalg.eigh(np.cov(x, rowvar=False))
    top = vectors[:, np.argsort(values)[::-1][:4]]
    test = rng.normal(size=(30, 12))
    c = test - x.mean(0)
    expected = np.linalg.norm(c - c @ top @ top.T, axis=1)
    np.testing.assert_allclose(res.score(test), expected, rtol=1e-6)
    inside = x.mean(0) + rng.normal(size=(5, 4)) @ top.T  # in the span: no residual at all
    np.testing.assert_allclose(res.score(inside), 0, atol=1e-6)  # float32 features


@pytest.mark.parametrize("dims", [8, 1])  # 8 of 10: full eigendecomposition; 1: randomized SVD
def test_tied_mahalanobis_to_the_nearest_class_mean(rng, dims):
    labels = rng.integers(0, 3, 900)
    centres = rng.normal(0, 4, (3, 10))
    scales = np.r_[np.linspace(4, 2, dims), np.full(10 - dims, 0.05)]  # low-rank enough for PCA
    x = centres[labels] * (scales > 0.1) + rng.normal(size=(900, 10)) * scales
    m = TiedMahalanobis(dims=dims, ridge=0.0, sample=None).fit(x, labels)
    values, vectors = np.linalg.eigh(np.cov(x, rowvar=False))
    basis = vectors[:, np.argsort(values)[::-1][:dims]]
    z = (x - x.mean(0)) @ basis
    means = np.stack([z[labels == c].mean(0) for c in range(3)])
    within = z - means[labels]
    precision = np.linalg.inv(within.T @ within / len(z))
    test = rng.normal(0, 3, (25, 10))
    zt = (test - x.mean(0)) @ basis
    expected = np.min(
        [np.einsum("nd,de,ne->n", zt - mu, precision, zt - mu) for mu in means], axis=0
    )
    np.testing.assert_allclose(m.score(test), expected, rtol=2e-3)


def test_probit_predictive_matches_a_monte_carlo_average(rng):
    """Two classes, the second's logit fixed at 0: softmax of the probit-scaled logits is
    sigmoid(mu / sqrt(1 + pi/8 v)), the probit approximation of E[sigmoid(f)], f ~ N(mu, v).
    Checked against the average over 100,000 sampled logits (pi/4 misses by 0.08)."""
    from cnn.reader.posterior import probit_probabilities

    mu, v = (a.ravel() for a in np.meshgrid(np.linspace(-6, 6, 25), [1.0, 4.0, 9.0, 16.0]))
    samples = mu + np.sqrt(v) * rng.standard_normal((100_000, len(mu)))
    monte_carlo = expit(samples).mean(0)
    logits = np.stack([mu, np.zeros_like(mu)], axis=1)
    variance = np.stack([v, np.zeros_like(v)], axis=1)
    probit = probit_probabilities(logits, variance)[:, 0]
    assert np.abs(probit - monte_carlo).max() < 0.02
    # A temperature divides the probit-scaled logits: sigmoid(mu / (T sqrt(1 + pi/8 v))).
    tempered = probit_probabilities(logits, variance, temperature=0.6)[:, 0]
    np.testing.assert_allclose(tempered, expit(mu / (0.6 * np.sqrt(1 + math.pi / 8 * v))))


def test_averaged_heads_are_one_head_giving_the_mean_logit(rng):
    """The OE ensemble is served as one wider head: its logit equals the members' mean."""
    import torch

    from cnn.reader.gate import DigitHead, OutlierExposure, average_heads

    mean, scale = rng.normal(size=7), rng.uniform(0.5, 2, size=7)
    heads = []
    for seed in range(3):
        torch.manual_seed(seed)
        heads.append(DigitHead(7, 5, mean, scale).eval())
    merged = average_heads(heads).eval()
    x = torch.from_numpy(rng.normal(size=(50, 7)).astype(np.float32))
    with torch.no_grad():
        expected = torch.stack([h(x) for h in heads]).mean(0)
        np.testing.assert_allclose(merged(x).numpy(), expected.numpy(), rtol=1e-5, atol=1e-6)
    assert merged.hidden.out_features == 15
    other = DigitHead(7, 5, mean + 1, scale)
    with pytest.raises(ValueError, match="standardization"):
        average_heads([heads[0], other])
    digits, proxies = rng.normal(size=(200, 7)), rng.normal(3, 1, size=(200, 7))
    oe = OutlierExposure(hidden=4, epochs=40, batch=64, members=2).fit(digits, proxies)
    assert oe.head_.hidden.out_features == 8
    assert oe.score(proxies).mean() > oe.score(digits).mean()
