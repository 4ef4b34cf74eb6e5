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
    at = AppTest.from_file(str(ui.root / "app_pages" / "bayes_explorer.py"), default_timeout=600)
    at.run()
    assert not at.exception, at.exception
    return at


def coefficients(at: AppTest):
    """The point-estimate table (the table editor, when shown, is a data frame too)."""
    (table,) = [d.value for d in at.dataframe if any("Ridge" in c for c in d.value.columns)]
    return table


def texts(at: AppTest) -> str:
    """Everything a reader sees as text, to check it reads like a product."""
    parts = [e.value for kind in ("markdown", "caption", "warning", "error") for e in at.get(kind)]
    return "\n".join(str(p) for p in parts)


def assert_readable(at: AppTest) -> None:
    for frame in [d.value for d in at.dataframe]:
        names = " ".join(map(str, [*frame.columns, *frame.index]))
        assert "w_monomial" not in names and "[w" not in names and "_" not in names, names
        assert frame.astype(str).isin(["None", "nan"]).sum().sum() == 0
    shown = texts(at)
    assert "None" not in shown and "{'" not in shown and "Traceback" not in shown


def test_map_equals_ridge_and_lasso_with_the_mapped_lambda(page):
    table = coefficients(page)
    assert list(table.columns) == [
        "true",
        "MLE",
        "MAP (normal)",
        "Ridge (τ = 10)",
        "Lasso (b = 5)",
    ]
    assert list(table.index) == [f"x^{k}" for k in range(6)]
    np.testing.assert_allclose(
        table["true"], [0.5423, -3.2648, -16.5311, 43.3645, 25.6159, -51.2418]
    )
    np.testing.assert_allclose(table["MAP (normal)"], table["Ridge (τ = 10)"], rtol=1e-6, atol=1e-8)
    (mapping,) = [c.value for c in page.caption if "λ₂ =" in c.value and "·" in c.value]
    assert mapping == "ridge λ₂ = σ²/τ² = 0.01 · lasso λ₁ = 2σ²/b = 0.4"
    assert any("on top of each other on purpose" in c.value for c in page.caption)
    (chart,) = page.get("vega_lite_chart")
    assert_readable(page)

    widget(page.selectbox, "Prior on the coefficients").set_value("laplace").run()
    assert not page.exception
    table = coefficients(page)
    np.testing.assert_allclose(table["MAP (laplace)"], table["Lasso (b = 5)"], rtol=1e-5, atol=1e-6)


def test_the_page_and_bayes_compare_show_the_same_fit_by_default(page):
    """One set of defaults (n, noise, lambdas, seed): the page's plain-power coefficients are
    `python -m bayes compare`'s Legendre ones converted, for every estimate."""
    import contextlib
    import io
    import json

    from bayes.__main__ import main
    from bayes.design import Basis

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["compare", "--degree", "5", "--json"]) == 0
    cli = json.loads(out.getvalue().splitlines()[-1])
    assert (cli["lambda_l2"], cli["lambda_l1"], len(cli["x"])) == (0.01, 0.4, 50)
    to_powers = Basis(5, "legendre", (-1.0, 1.0)).to_monomial
    table = coefficients(page)
    for column, key in (("MLE", "mle"), ("MAP (normal)", "map_normal"),
                        ("Ridge (τ = 10)", "ridge"), ("Lasso (b = 5)", "lasso")):  # fmt: skip
        np.testing.assert_allclose(table[column], to_powers(cli[key]), rtol=1e-4, atol=1e-6)
    assert any("Fitted in the Legendre basis" in c.value for c in page.caption)


def test_overlapping_fits_get_distinct_dashes_and_markers(page):
    import json

    (chart,) = page.get("vega_lite_chart")
    spec = json.loads(chart.proto.spec)
    lines, markers = spec["layer"][0], spec["layer"][1]
    dash = lines["encoding"]["strokeDash"]["scale"]
    names = dash["domain"]
    assert names == ["true f(x)", "MLE", "MAP (normal)", "Ridge (τ = 10)", "Lasso (b = 5)"]
    ridge, map_ = names.index("Ridge (τ = 10)"), names.index("MAP (normal)")
    assert dash["range"][ridge] != dash["range"][map_]
    shapes = markers["encoding"]["shape"]["scale"]["range"]
    assert len(set(shapes)) == len(names)


def test_degree_above_n_needs_a_prior(page):
    widget(page.slider, "Points n").set_value(4)
    widget(page.selectbox, "Prior on the coefficients").set_value("flat").run()
    assert not page.exception
    assert any("flat prior needs more points than the degree" in e.value for e in page.error)

    widget(page.selectbox, "Prior on the coefficients").set_value("normal").run()
    assert not page.exception
    assert not page.error
    assert any("4 points cannot pin down 6 coefficients" in w.value for w in page.warning)
    assert "MAP (normal)" in coefficients(page).columns


@pytest.mark.parametrize("n,degree", [(2, 20), (2, 0), (5, 8)])
def test_any_n_and_degree_shows_results_not_a_traceback(page, n, degree):
    widget(page.slider, "Points n").set_value(n)
    widget(page.slider, "Degree").set_value(degree).run()
    assert not page.exception, page.exception
    assert not page.error, [e.value for e in page.error]
    table = coefficients(page)
    np.testing.assert_allclose(table["MAP (normal)"], table["Ridge (τ = 10)"], rtol=1e-5, atol=1e-7)
    assert_readable(page)


def test_evidence_picks_the_true_degree_and_explains_ties(page):
    (text,) = [m.value for m in page.markdown if m.value.startswith("The evidence picks")]
    assert re.match(r"The evidence picks degree \*\*5\*\* \(the truth is 5\)", text), text
    scores = page.dataframe[-1].value
    assert list(scores.index) == list(range(11))
    assert scores["log evidence (vs best)"].idxmax() == 5
    assert scores["points with Pareto k > 0.7"].dtype.kind == "i"
    assert any(c.value.startswith("Pareto k above 0.7 marks a point") for c in page.caption)
    assert len(page.image) == 1  # the evidence figure
    best = scores["LOO score (vs best)"].max()
    assert best == 0 and not np.signbit(best)  # the best degree shows 0, never "-0.0"
    assert any("Stacking weight: the share" in c.value for c in page.caption)
    glossary = " ".join(m.value for m in page.markdown)
    for word in ("**MLE**", "**MAP**", "**Ridge**", "**Lasso**", "**NUTS**"):
        assert word in glossary, word


def test_points_typed_in_a_table(page):
    widget(page.radio, "Data").set_value("Type the points in a table").run()
    assert not page.exception, page.exception
    assert not page.error
    table = coefficients(page)
    assert "true" not in table.columns  # no known truth for the user's points
    assert any("σ estimated from the data" in c.value for c in page.caption)
    np.testing.assert_allclose(table["MAP (normal)"], table["Ridge (τ = 10)"], rtol=1e-5, atol=1e-7)
    assert_readable(page)


def test_upload_choice_and_the_parser_it_uses():
    """AppTest cannot drive st.file_uploader: the page asks for a file, and the parser it hands
    the upload's bytes to (with the separator picked) is checked on real bytes."""
    import io

    from bayes.data import DataConfig, DataError, make_data
    from bayes.userdata import dataset_from_frame, read_table

    d = make_data(DataConfig(n=40, seed=3))
    text = "id;hours;score\n" + "".join(f"{i};{a};{b}\n" for i, (a, b) in enumerate(zip(d.x, d.y)))
    frame = read_table(io.BytesIO(text.encode()), "scores.csv", ";")
    assert list(frame.columns) == ["id", "hours", "score"]
    data = dataset_from_frame(frame, "hours", "score")
    np.testing.assert_allclose(data.y, d.y)
    with pytest.raises(DataError, match="scores.csv is empty"):
        read_table(io.BytesIO(b""), "scores.csv")


def test_upload_source_asks_for_a_file(page):
    widget(page.radio, "Data").set_value("Upload a CSV file").run()
    assert not page.exception
    assert any("Upload a CSV file" in i.value for i in page.info)
    assert widget(page.selectbox, "Separator").options == ["comma", "semicolon", "tab"]


def test_prior_predictive_curves_on_request(page):
    n_images = len(page.image)
    widget(page.toggle, "Draw prior curves").set_value(True).run()
    assert not page.exception, page.exception
    assert len(page.image) == n_images + 1


@pytest.mark.slow
def test_nuts_posterior_agrees_with_the_map(page):
    widget(page.slider, "Chains").set_value(2)
    widget(page.slider, "Draws per chain").set_value(400)
    widget(page.slider, "Tuning steps per chain").set_value(400).run()
    map_normal = coefficients(page)["MAP (normal)"].to_numpy()
    widget(page.button, "Run NUTS").click().run()
    assert not page.exception, page.exception
    metrics = {m.label: m.value for m in page.metric}
    assert float(metrics["Largest r̂"]) <= 1.02
    assert metrics["Divergent transitions"] == "0"
    assert float(metrics["Fewest effective draws"].replace(",", "")) >= 200
    (summary,) = [d.value for d in page.dataframe if "posterior mean" in d.value.columns]
    assert list(summary.index) == [f"x^{k}" for k in range(6)]
    assert summary["effective draws"].dtype.kind == "i"
    # Normal prior, known sigma: the posterior is Gaussian, so its mean is the MAP.
    np.testing.assert_array_less(
        np.abs(summary["posterior mean"] - map_normal), 0.25 * summary["posterior sd"]
    )
    assert len(page.image) >= 3  # predictive band, forest plot, evidence
    assert any("highest-density interval (HDI)" in c.value for c in page.caption)
    # 2 x 400 draws: fewer than 400 effective draws in some tail -> a warning box says so
    if float(metrics["Fewest in the tails"].replace(",", "")) < 400:
        assert any("The sampler struggled" in w.value for w in page.warning)
    assert_readable(page)

    widget(page.slider, "Degree").set_value(4).run()  # stale results are not shown
    assert not page.metric
    assert any("press Run NUTS again" in c.value for c in page.caption)
