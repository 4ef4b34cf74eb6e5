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
    assert checks["matches the course"].all()


def test_playground_reproduces_the_course_numbers(conv_page):
    np.testing.assert_array_equal(output(conv_page), [[9, 5, 4], [8, 8, 10], [8, 15, 12]])
    widget(conv_page.number_input, "Stride").set_value(2).run()
    np.testing.assert_array_equal(output(conv_page), [[9, 4], [8, 12]])
    widget(conv_page.radio, "Padding").set_value("SAME").run()
    np.testing.assert_array_equal(output(conv_page), [[5, 4, 3], [5, 8, 3], [5, 9, 2]])
    widget(conv_page.selectbox, "Show example").set_value("max-pool 2x2 stride 1").run()
    assert widget(conv_page.radio, "Operation").value == "max-pool"
    np.testing.assert_array_equal(output(conv_page), [[4, 2, 2], [4, 1, 1], [2, 3, 3]])


def test_padding_1d_is_the_course_example_and_bad_widths_get_a_message(conv_page):
    (text,) = [m.value for m in conv_page.markdown if m.value.startswith("VALID gives")]
    assert text.startswith("VALID gives **2** outputs and drops inputs [12, 13]; SAME gives **3**")
    widget(conv_page.number_input, "Filter width").set_value(20).run()
    assert not conv_page.exception
    assert any("no larger than the input" in e.value for e in conv_page.error)


def test_init_page_shows_vanishing_gradients_for_tiny_sigmoid_weights(ui):
    pytest.importorskip("cnn.labs.init")
    at = AppTest.from_file(str(ui.root / "app_pages" / "lab_init.py"), default_timeout=120).run()
    assert not at.exception, at.exception
    widget(at.selectbox, "Activation").set_value("sigmoid")
    widget(at.selectbox, "Initializer").set_value("normal-0.01").run()
    table = at.dataframe[0].value
    assert list(table.columns) == ["h1", "h2", "h3", "h4", "h5"]
    assert {"z", "activations", "weights", "gradients"} <= set(table.index)
    gradients = table.loc["gradients"]
    assert gradients["h1"] < 1e-3 * gradients["h5"]  # the course: h1 barely learns
    np.testing.assert_allclose(table.loc["weights"], 0.01, rtol=0.05)
    assert len(at.image) >= 1  # the 2x2 histogram figure


def test_optimizer_race_page(ui):
    pytest.importorskip("cnn.labs.optim_race")
    from cnn.labs.optim_race import RACERS

    at = AppTest.from_file(str(ui.root / "app_pages" / "lab_optim.py"), default_timeout=180)
    at.run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert list(table.index) == list(RACERS)
    assert (table["final_distance"].astype(float) >= 0).all()

    widget(at.multiselect, "Optimizers").set_value(["sgd", "adam"])
    widget(at.slider, "Full-batch steps").set_value(20).run()
    widget(at.button, "Run the race").click().run()
    assert not at.exception, at.exception
    race = at.dataframe[-1].value
    assert list(race.index) == ["sgd", "adam"]
    # the BCE of an untrained net on ~59% positives is ~0.69; 20 SGD steps must lower it
    assert race.loc["sgd", "final loss"] < 0.68


def test_regularization_page_l1_empties_the_noise_inputs(ui):
    pytest.importorskip("cnn.labs.reg_lab")
    at = AppTest.from_file(
        str(ui.root / "app_pages" / "lab_regularization.py"), default_timeout=180
    )
    at.run()
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["eval output = input"] == "yes"
    assert 45 < float(metrics["zeroed in training"].rstrip("%")) < 55
    assert metrics["kept units scaled by"] == "2.000"

    widget(at.slider, "Training steps").set_value(150).run()
    widget(at.button, "Train the three nets").click().run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert list(table.index) == ["none", "l1", "l2"]
    assert table.loc["l1", "noise_features_kept"] < table.loc["none", "noise_features_kept"]
    assert (
        table.loc["l1", "noise_weights_near_zero"] > 2 * table.loc["l2", "noise_weights_near_zero"]
    )
    assert table["test_accuracy"].min() > 0.8
