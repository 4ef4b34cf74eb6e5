"""The course-lab pages, run headless by AppTest: the numbers they show are the course's."""

from __future__ import annotations

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

pytest.importorskip("cnn.labs.conv_lab")


@pytest.fixture(autouse=True, scope="module")
def torch_threads():
    """The torch lab pages run torch on one thread; give later tests the default back."""
    import torch

    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.fixture
def conv_page(ui) -> AppTest:
    at = AppTest.from_file(str(ui.root / "app_pages" / "lab_conv.py"), default_timeout=120).run()
    assert not at.exception, at.exception
    return at


def output(at: AppTest) -> np.ndarray:
    """The playground's result table (the last data frame before the 1-D section)."""
    (shape,) = [m.value for m in at.markdown if m.value.startswith("Output (")]
    frames = [d.value for d in at.dataframe]
    table = frames[-1]
    rows, cols = (int(v) for v in shape.removeprefix("Output (").split(")")[0].split("x"))
    assert table.shape == (rows, cols)
    return table.to_numpy()


def readable(at: AppTest) -> None:
    """Every table a page shows is for people: no Python None/dicts, no snake_case headers."""
    for frame in [d.value for d in at.dataframe] + [t.value for t in at.table]:
        text = frame.astype(str).to_numpy().ravel().tolist() + [str(c) for c in frame.columns]
        assert not any(t in ("None", "nan") or t.startswith("{") for t in text), text
        assert not any("_" in str(c) for c in frame.columns), list(frame.columns)


def number(text: str) -> float:
    """A number as the pages write it: 2.76, or 6.24 × 10⁻¹⁰."""
    if "×" not in text:
        return float(text)
    mantissa, power = text.split(" × 10")
    return float(mantissa) * 10 ** int(power.translate(str.maketrans("⁻⁰¹²³⁴⁵⁶⁷⁸⁹", "-0123456789")))


def widget(widgets, label):
    (found,) = [w for w in widgets if w.label == label]
    return found


def test_app_lists_the_lab_pages(ui):
    at = AppTest.from_file(str(ui.root / "app.py"), default_timeout=120).run()
    at.switch_page("app_pages/lab_conv.py").run()
    assert not at.exception
    assert [t.value for t in at.title] == ["Convolution & pooling"]


def test_worked_examples_all_match_the_course(conv_page):
    checks = conv_page.dataframe[0].value
    assert len(checks) == 8
    assert (checks["Matches the course"] == "yes").all()
    readable(conv_page)


def test_playground_reproduces_the_course_numbers(conv_page):
    np.testing.assert_array_equal(output(conv_page), [[9, 5, 4], [8, 8, 10], [8, 15, 12]])
    result = conv_page.dataframe[-1].value  # counted from 1, as the 1-D section counts
    assert list(result.columns) == ["Col 1", "Col 2", "Col 3"]
    assert list(result.index) == ["Row 1", "Row 2", "Row 3"]
    widget(conv_page.number_input, "Stride").set_value(2).run()
    np.testing.assert_array_equal(output(conv_page), [[9, 4], [8, 12]])
    widget(conv_page.radio, "Padding").set_value("SAME").run()
    np.testing.assert_array_equal(output(conv_page), [[5, 4, 3], [5, 8, 3], [5, 9, 2]])
    widget(conv_page.selectbox, "Show example").set_value("max-pool 2x2 stride 1").run()
    assert widget(conv_page.radio, "Operation").value == "max-pool"
    np.testing.assert_array_equal(output(conv_page), [[4, 2, 2], [4, 1, 1], [2, 3, 3]])


def test_padding_1d_is_the_course_example_and_bad_widths_get_a_message(conv_page):
    (text,) = [m.value for m in conv_page.markdown if m.value.startswith("VALID gives")]
    # inputs counted from 1 here, in the figure and in the CLI
    assert text.startswith("VALID gives **2** outputs and drops inputs 12, 13; SAME gives **3**")
    widget(conv_page.number_input, "Filter width").set_value(20).run()
    assert not conv_page.exception
    assert any("no larger than the input" in e.value for e in conv_page.error)


def test_init_page_shows_vanishing_gradients_for_tiny_sigmoid_weights(ui):
    pytest.importorskip("cnn.labs.init")
    at = AppTest.from_file(str(ui.root / "app_pages" / "lab_init.py"), default_timeout=180).run()
    assert not at.exception, at.exception
    widget(at.selectbox, "Activation").set_value("sigmoid")
    widget(at.selectbox, "Initializer").set_value("normal-0.01").run()
    table = at.dataframe[0].value
    assert list(table.columns) == ["h1", "h2", "h3", "h4", "h5"]
    assert {"Z-values", "Activations", "Weights", "Weight gradients"} <= set(table.index)
    gradients = table.loc["Weight gradients"]
    assert gradients["h1"] < 1e-3 * gradients["h5"]  # the course: h1 barely learns
    np.testing.assert_allclose(table.loc["Weights"], 0.01, rtol=0.05)
    assert any(
        c.value.startswith("Loss (binary cross-entropy) before training") for c in at.caption
    )
    assert any("1.23 × 10⁻⁴ means 0.000123" in c.value for c in at.caption)
    assert "Saturated units (share)" in table.index  # sigmoid: shown, as a percentage
    assert len(at.image) >= 1  # the 2x2 histogram figure

    widget(at.toggle, "Check the course's statements about epoch 0 (a few seconds)").set_value(
        True
    ).run()
    claims = at.table[-1].value
    assert list(claims.columns) == ["Claim", "The course says", "Course text, line",
                                    "Measured (median over seeds)", "Reproduced",
                                    "What the numbers show"]  # fmt: skip
    assert not claims["The course says"].str.contains("caveat").any()
    he = claims[claims["Claim"] == "ReLU, He Normal: the backward signal stays flat"].iloc[0]
    assert he["Reproduced"] == "yes" and he["Course text, line"] == 539
    twenty = claims[claims["Claim"].str.contains("20x")].iloc[0]
    assert twenty["Reproduced"] == "no (see docs/LABS.md)"
    assert any("Course text, line: where the course's handout" in c.value for c in at.caption)
    readable(at)

    widget(at.slider, "Epochs").set_value(1)
    widget(at.button, "Train from every initializer").click().run()
    assert not at.exception, at.exception
    runs = at.dataframe[-1].value
    assert list(runs.columns) == ["Initializer", "BCE before training", "BCE after 1 epochs"]
    assert len(runs) == 7
    readable(at)
    widget(at.button, "Train from every initializer").click().run()  # cached runs replayed
    assert not at.exception, at.exception
    assert len(at.dataframe[-1].value) == 7


def test_optimizer_race_page(ui):
    pytest.importorskip("cnn.labs.optim_race")
    from cnn.labs.config import NAMES, RACERS

    at = AppTest.from_file(str(ui.root / "app_pages" / "lab_optim.py"), default_timeout=240)
    at.run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert list(table["Optimizer"]) == [NAMES[n] for n in RACERS]
    assert (table["Distance to the minimum"].map(number) >= 0).all()
    assert not any("e+" in t or "e-" in t for t in table["Final value"])  # no 2.76e+00
    assert not any("torch" in n or n.islower() for n in table["Optimizer"])

    widget(at.multiselect, "Optimizers").set_value(["sgd", "rprop", "adam-bc"])
    widget(at.slider, "Full-batch steps per run").set_value(20).run()
    widget(at.button, "Run the sweep").click().run()
    assert not at.exception, at.exception
    race, rprop, adam = (d.value for d in at.dataframe[-3:])
    assert list(race["Optimizer"]) == [NAMES["sgd"], NAMES["rprop"], NAMES["adam-bc"]]
    assert race["Training loss (BCE)"].map(number).min() >= 0
    assert any(c.value.startswith("BCE: binary cross-entropy") for c in at.caption)
    # RProp on mini-batches does worse than RProp on the full batch (handout line 616)
    acc = rprop.set_index("Batches")["Held-out accuracy"].str.rstrip("%").astype(float)
    assert acc.iloc[1] < acc.iloc[0]
    assert adam["Course's Adam (x rate)"].iloc[0] == "3.16"
    assert adam["torch's Adam (x rate)"].iloc[0] == "1.00"
    readable(at)
    widget(at.button, "Run the sweep").click().run()  # the cached sweep is replayed
    assert not at.exception, at.exception
    assert list(at.dataframe[-3].value["Optimizer"]) == list(race["Optimizer"])


def test_regularization_page_l1_empties_the_noise_inputs(ui):
    pytest.importorskip("cnn.labs.reg_lab")
    at = AppTest.from_file(
        str(ui.root / "app_pages" / "lab_regularization.py"), default_timeout=240
    )
    at.run()
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Evaluation output = input"] == "yes"
    assert 45 < float(metrics["Zeroed in training"].rstrip("%")) < 55
    assert metrics["Kept units scaled by"] == "2.000"

    widget(at.slider, "Training steps").set_value(150).run()
    widget(at.button, "Train the three nets").click().run()
    assert not at.exception, at.exception
    table = at.table[0].value.set_index("Penalty")
    assert list(table.index) == ["no penalty", "L1", "L2"]
    assert table.loc["no penalty", "λ"] == "—"  # no empty cell

    def kept(row: str) -> int:
        return int(table.loc[row, "Noise features kept"].split(" of ")[0])

    def share(row: str) -> float:
        return float(table.loc[row, "Noise-input weights near 0 (|w| < 0.01)"].rstrip("%"))

    assert kept("L1") < kept("no penalty")
    assert share("L1") > 2 * share("L2")
    assert table["Held-out accuracy"].str.rstrip("%").astype(float).min() > 80

    widget(at.slider, "Steps per run").set_value(100).run()
    widget(at.button, "Run the λ path").click().run()
    assert not at.exception, at.exception
    path = at.table[-1].value
    prox = path[path["Method"] == "L1, proximal step (soft threshold)"]
    assert prox["Noise weights at 0"].astype(int).max() > 0
    others = path[path["Method"] != "L1, proximal step (soft threshold)"]
    assert (others["Noise weights at 0"].astype(int) == 0).all()
    assert len(path.columns) == 7
    assert any("**Subgradient**" in m.value for m in at.markdown)
    readable(at)
    widget(at.button, "Run the λ path").click().run()  # the cached path is replayed
    assert not at.exception, at.exception
    widget(at.button, "Train the three nets").click().run()
    assert not at.exception, at.exception


def test_init_page_compare_every_initializer_survives_a_cached_rerun(ui):
    """The comparison is cached: the second run replays it and must not touch stale UI."""
    pytest.importorskip("cnn.labs.init")
    at = AppTest.from_file(str(ui.root / "app_pages" / "lab_init.py"), default_timeout=240).run()
    assert not at.exception, at.exception
    images = len(at.image)
    (compare,) = [t for t in at.toggle if t.label.startswith("Compare every initializer")]
    compare.set_value(True).run()
    assert not at.exception, at.exception
    assert len(at.image) == images + 1  # the layer-by-layer profile figure
    at.run()  # same arguments: the cached result is replayed
    assert not at.exception, at.exception
    assert len(at.image) == images + 1
