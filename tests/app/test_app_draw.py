"""The draw page, run headless by AppTest with the shipped ONNX model and real MNIST digits."""

from __future__ import annotations

import io
import shutil

import numpy as np
from PIL import Image

from serving import predictor as serving_predictor
from serving.predictor import Predictor, predict_image

EMPTY = "The canvas is empty"


def test_first_page_is_the_canvas_and_an_empty_canvas_says_so(app, ui):
    assert [t.value for t in app.title] == ["Draw a digit"]
    assert ui.predictions(app) == []
    assert any(EMPTY in i.value for i in app.info)
    args = ui.canvas_args(app)
    assert (args["canvasWidth"], args["canvasHeight"]) == (280, 280)
    assert args["drawingMode"] == "freedraw"
    assert args["returnImageData"] is True


def test_a_vertical_stroke_is_read_as_one(app, ui):
    ui.draw(app, ui.vertical_stroke())
    assert not app.exception
    assert ui.predictions(app) == ["Prediction: 1"]
    assert not any(EMPTY in i.value for i in app.info)
    (timing,) = [c.value for c in app.caption if "drawing to prediction" in c.value]
    assert timing.startswith("Model inference ") and timing.endswith(" ms")


def test_page_shows_what_the_library_computes(app, ui, mnist_test):
    """Same digit, probabilities and 28x28 picture as serving.predict_image on the same pixels."""
    gray = ui.mnist_on_canvas(mnist_test.images[0])
    ui.draw(app, gray)
    rgba = np.dstack([gray, gray, gray, np.full_like(gray, 255)])
    expected = predict_image(rgba, Predictor())
    assert ui.predictions(app) == [f"Prediction: {expected.digit}"]
    chart = ui.chart_data(app)
    assert list(chart["digit"]) == [str(d) for d in range(10)]
    np.testing.assert_allclose(chart["probability"], expected.probabilities, rtol=1e-6)
    assert abs(chart["probability"].sum() - 1) < 1e-9
    (picture,) = [im for im in app.image if "What the model saw" in im.captions[0]]
    assert picture.value and picture.value[0]


def test_reads_real_mnist_digits_drawn_on_the_canvas(app, ui, mnist_test):
    """Twenty test digits, one after another on the same canvas (as a person redraws)."""
    labels = mnist_test.labels[:20]
    shown = []
    for image in mnist_test.images[:20]:
        ui.draw(app, ui.mnist_on_canvas(image))
        shown.append(ui.predictions(app))
    correct = sum(s == [f"Prediction: {label}"] for s, label in zip(shown, labels, strict=True))
    assert all(len(s) == 1 for s in shown)
    # Measured: 20 of 20 (the shipped model reads all twenty). Margin: one digit, for a
    # retrained model's borderline case; two misses is a canvas/preprocessing regression.
    assert correct >= 19, (correct, shown, list(labels))


def test_a_blot_is_not_called_an_empty_canvas(app, ui, blot):
    """A scribbled-over blot is ink without a digit: the page says so, not "empty"."""
    ui.draw(app, blot)
    assert not app.exception
    assert ui.predictions(app) == []
    assert not any(EMPTY in i.value for i in app.info)
    assert any(i.value.startswith("No digit to read: The ink is a dot or a blot") for i in app.info)


def test_clear_empties_the_canvas(app, ui):
    ui.draw(app, ui.vertical_stroke())
    assert ui.predictions(app) == ["Prediction: 1"]
    (clear,) = [b for b in app.button if b.label == "Clear"]
    clear.click().run()
    assert app.session_state["canvas_version"] == 1
    assert ui.predictions(app) == []
    assert any(EMPTY in i.value for i in app.info)
    assert ui.canvas_args(app)["initialDrawing"]["objects"] == []


def test_stroke_width_reaches_the_canvas(app, ui):
    (slider,) = app.slider
    assert slider.label == "Stroke width" and slider.value == 20
    slider.set_value(32).run()
    assert ui.canvas_args(app)["strokeWidth"] == 32


def test_a_thin_and_a_thick_one_are_both_one(app, ui):
    for width in (8, 36):
        ui.draw(app, ui.vertical_stroke(width))
        assert ui.predictions(app) == ["Prediction: 1"], width


def _photo(digit: np.ndarray, rng: np.random.Generator, fmt: str = "JPEG") -> bytes:
    """A scan-like picture: dark ink on grey-white paper with mild noise, 300x400, JPEG."""
    big = np.asarray(Image.fromarray(digit).resize((220, 220), Image.Resampling.BILINEAR))
    paper = rng.normal(215, 3, size=(400, 300)).clip(0, 255)
    paper[90:310, 40:260] -= big.astype(float) * 0.7
    buffer = io.BytesIO()
    Image.fromarray(paper.clip(0, 255).astype(np.uint8)).convert("RGB").save(buffer, fmt)
    return buffer.getvalue()


def test_uploaded_photo_is_read(app, mnist_test, rng):
    index = int(np.flatnonzero(mnist_test.labels == 7)[0])
    photo = _photo(mnist_test.images[index], rng)
    app.file_uploader[0].set_value(("seven.jpg", photo, "image/jpeg")).run()
    assert not app.exception
    expected = predict_image(np.asarray(Image.open(io.BytesIO(photo)).convert("RGBA")), Predictor())
    shown = [h.value for h in app.subheader if h.value.startswith("Prediction")]
    # the canvas is empty, so the only prediction on the page is the photo's
    assert shown == [f"Prediction: {expected.digit}"] == ["Prediction: 7"]


def test_upload_that_is_not_an_image_gets_a_message(app):
    app.file_uploader[0].set_value(("digit.png", b"this is not a PNG", "image/png")).run()
    assert not app.exception
    assert any("not an image" in e.value for e in app.error)


def test_blank_paper_upload_is_empty_not_a_guess(app, rng):
    paper = rng.normal(215, 4, size=(200, 200)).clip(0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(paper).save(buffer, "PNG")
    app.file_uploader[0].set_value(("blank.png", buffer.getvalue(), "image/png")).run()
    assert not app.exception
    assert [h.value for h in app.subheader if h.value.startswith("Prediction")] == []
    assert any(EMPTY in i.value for i in app.info)
    assert any("No digit found in the photo" in i.value for i in app.info)


def test_model_choice_appears_when_both_models_exist(ui, monkeypatch, tmp_path):
    int8 = serving_predictor.INT8_MODEL
    if not int8.is_file():  # until serving ships its INT8 file, a copy stands in for it
        int8 = tmp_path / "mnist_cnn_int8.onnx"
        shutil.copy(serving_predictor.DEFAULT_MODEL, int8)
        monkeypatch.setattr(serving_predictor, "INT8_MODEL", int8)
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ui.root / "app.py"), default_timeout=60).run()
    (radio,) = at.radio
    full, compact = "Full precision (fp32)", "Compact, faster (INT8)"
    assert radio.label == "Model" and radio.options == [full, compact] and radio.value == full
    radio.set_value(compact).run()
    assert not at.exception
    assert any(int8.name in c.value for c in at.caption)
    ui.draw(at, ui.vertical_stroke())
    assert ui.predictions(at) == ["Prediction: 1"]


def test_one_model_means_no_choice(app):
    if serving_predictor.INT8_MODEL.is_file():
        assert len(app.radio) == 1
    else:
        assert len(app.radio) == 0
        assert any("INT8" in c.value for c in app.caption)
