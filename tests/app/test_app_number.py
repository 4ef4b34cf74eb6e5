"""The draw page's Number mode, run headless by AppTest: a 560x280 canvas, the number read digit
by digit (the same as serving.number.read_number on the same pixels), each digit's box on the
drawing, and which digit made the reader unsure."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from serving.number import read_number
from serving.predictor import Predictor

WIDTH, HEIGHT = 560, 280


def number_mode(app):
    (choice,) = app.segmented_control
    assert choice.label == "Read" and choice.value == "Digit"
    choice.set_value("Number").run()
    assert not app.exception, app.exception
    return app


def draw_number(app, ui, gray: np.ndarray):
    key = f"number-canvas-{app.session_state['canvas_version']}"
    app.session_state[key] = ui.canvas_value(gray)
    return app.run()


def mnist_number(mnist_test, indices) -> np.ndarray:
    """MNIST test digits side by side with a little space, white on black, 560x280."""
    strip = np.hstack([np.pad(mnist_test.images[i], ((0, 0), (3, 3))) for i in indices])
    big = np.asarray(Image.fromarray(strip).resize((strip.shape[1] * 5, 140)))
    canvas = np.zeros((HEIGHT, WIDTH), np.uint8)
    canvas[70:210, 30 : 30 + big.shape[1]] = big
    return canvas


def subheaders(app) -> list[str]:
    return [h.value for h in app.subheader]


def test_number_mode_has_a_wide_canvas_and_says_when_it_is_empty(app, ui):
    number_mode(app)
    args = ui.canvas_args(app)
    assert (args["canvasWidth"], args["canvasHeight"]) == (WIDTH, HEIGHT)
    assert any("The canvas is empty" in i.value for i in app.info)


def test_a_drawn_number_is_read_with_a_box_per_digit(app, ui, mnist_test):
    number_mode(app)
    gray = mnist_number(mnist_test, [0, 1, 2])
    draw_number(app, ui, gray)
    rgba = np.dstack([gray, gray, gray, np.full_like(gray, 255)])
    expected = read_number(rgba, Predictor())
    assert expected.number == "".join(str(d) for d in mnist_test.labels[:3])
    assert subheaders(app) == [f"Number: {expected.number}"]
    (table,) = app.dataframe
    frame = table.value
    assert list(frame["digit"]) == list(expected.number)
    np.testing.assert_allclose(frame["confidence"], [d.confidence for d in expected.digits])
    assert not frame["not sure"].any()
    (picture,) = [im for im in app.image if "box" in im.captions[0]]
    assert picture.value


def test_a_mark_that_is_no_digit_is_named_as_the_unsure_one(app, ui, mnist_test):
    number_mode(app)
    gray = mnist_number(mnist_test, [0, 1])
    image = Image.fromarray(gray)
    for line in (((390, 80), (490, 200)), ((490, 80), (390, 200))):  # a cross: no digit
        ImageDraw.Draw(image).line(line, fill=255, width=12)
    draw_number(app, ui, np.asarray(image))
    assert subheaders(app) == ["Not sure of the number"]
    (why,) = [c.value for c in app.caption if c.value.startswith("Why:")]
    frame = app.dataframe[0].value
    n = len(frame)
    assert n >= 3 and f"digit {n} of {n}" in why  # the cross, at the right end
    assert list(frame["digit"])[:2] == [str(d) for d in mnist_test.labels[:2]]
    assert list(frame["not sure"]) == [False] * (n - 1) + [True]


def test_digit_mode_is_unchanged(app, ui):
    assert ui.canvas_args(app)["canvasWidth"] == 280
    ui.draw(app, ui.vertical_stroke())
    assert ui.predictions(app) == ["Prediction: 1"]
