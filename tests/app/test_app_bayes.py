"""The Bayesian regression page, run headless by AppTest with real PyMC fits and real NUTS."""

from __future__ import annotations

import re

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest


def widget(widgets, label):
    (found,) = [w for w in widgets if w.label == label]
    return found


@pytest.fixture
def page(ui) -> AppTest:
    # st.cache_data is per process, so only the first test pays for PyMC's compile.
    at = AppTest.from_file(str(ui.root / "app_pages" / "bayes_explorer.py"), default_timeout=300)
    at.run()
    assert not at.exception, at.exception
    return at


def coefficients(at: AppTest):
    return at.dataframe[0].value


def test_map_equals_ridge_and_lasso_with_the_mapped_lambda(page):
    table = coefficients(page)
    assert list(table.columns) == [
        "true",
        "MLE",
        "MAP (normal)",
        "Ridge (τ = 10)",
        "Lasso (b = 10)",
    ]
    assert list(table.index) == [f"x^{k}" for k in range(6)]
    np.testing.assert_allclose(
        table["true"], [0.5423, -3.2648, -16.5311, 43.3645, 25.6159, -51.2418]
    )
    np.testing.assert_allclose(table["MAP (normal)"], table["Ridge (τ = 10)"], rtol=1e-6, atol=1e-8)
    (mapping,) = [c.value for c in page.caption if "λ₂" in c.value]
    assert mapping == "ridge λ₂ = σ²/τ² = 0.01 · lasso λ₁ = 2σ²/b = 0.2"
    assert len(page.get("vega_lite_chart")) == 1

    widget(page.selectbox, "Prior on the coefficients").set_value("laplace").run()
    assert not page.exception
    table = coefficients(page)
    np.testing.assert_allclose(table["MAP (laplace)"], table["Lasso (b = 5)"], rtol=1e-5, atol=1e-6)


def test_degree_above_n_needs_a_prior(page):
    widget(page.slider, "Points n").set_value(4)
    widget(page.selectbox, "Prior on the coefficients").set_value("flat").run()
    assert not page.exception
    assert any("flat prior needs more points than the degree" in e.value for e in page.error)

    widget(page.selectbox, "Prior on the coefficients").set_value("normal").run()
    assert not page.exception
    assert not page.error
    assert any("No MLE" in w.value for w in page.warning)
    assert "MAP (normal)" in coefficients(page).columns


def test_evidence_picks_the_true_degree(page):
    (text,) = [m.value for m in page.markdown if m.value.startswith("The evidence picks")]
    assert re.match(r"The evidence picks degree \*\*5\*\*", text), text
    scores = page.dataframe[-1].value
    assert list(scores.index) == list(range(11))
    assert scores["log_evidence"].idxmax() == 5


@pytest.mark.slow
def test_nuts_posterior_agrees_with_the_map(page):
    widget(page.slider, "Chains").set_value(2)
    widget(page.slider, "Draws per chain").set_value(400)
    widget(page.slider, "Tuning steps per chain").set_value(400).run()
    map_normal = coefficients(page)["MAP (normal)"].to_numpy()
    widget(page.button, "Run NUTS").click().run()
    assert not page.exception, page.exception
    metrics = {m.label: m.value for m in page.metric}
    assert float(metrics["max r_hat"]) <= 1.02
    assert metrics["divergences"] == "0"
    assert float(metrics["min bulk ESS"].replace(",", "")) >= 200
    summary = page.dataframe[1].value
    assert list(summary.index) == [f"x^{k}" for k in range(6)]
    # Normal prior, known sigma: the posterior is Gaussian, so its mean is the MAP.
    np.testing.assert_array_less(np.abs(summary["mean"] - map_normal), 0.25 * summary["sd"])
    assert len(page.image) >= 2  # predictive band and forest plot

    widget(page.slider, "Degree").set_value(4).run()  # stale results are not shown
    assert not page.metric
    assert any("press Run NUTS again" in c.value for c in page.caption)
