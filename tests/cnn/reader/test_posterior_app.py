"""The draw page with the Bayesian model: 'Not sure this is a digit', and the uncertainty shown."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw
from streamlit.testing.v1 import AppTest

from cnn.reader.nondigits import scribble
from serving.predictor import Predictor, predict_image

APP = Path(__file__).resolve().parents[3] / "app.py"


def canvas_value(gray: np.ndarray) -> dict:
    """What the canvas component sends: white-on-black RGBA pixels as a PNG data URL."""
    buffer = io.BytesIO()
    Image.fromarray(np.dstack([gray, gray, gray, np.full_like(gray, 255)])).save(buffer, "PNG")
    url = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    return {
        "drawing": {"raw": {"objects": [{"type": "path"}], "background": "#000000"}, "data": url},
        "backgroundFit": None,
    }


def draw(at: AppTest, gray: np.ndarray) -> AppTest:
    at.session_state[f"canvas-{at.session_state['canvas_version']}"] = canvas_value(gray)
    return at.run()


@pytest.fixture(scope="module")
def abstained_scribble() -> np.ndarray:
    """The first seeded scribble the served model abstains on."""
    predictor, rng = Predictor(), np.random.default_rng(11)
    for _ in range(50):
        gray = scribble(rng)
        rgba = np.dstack([gray, gray, gray, np.full_like(gray, 255)])
        if predict_image(rgba, predictor).abstain:
            return gray
    pytest.fail("no abstained scribble in 50")


def test_page_says_not_sure_with_best_guesses(abstained_scribble):
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    assert any("weight decay" in c.value and "evidence" in c.value for c in at.caption)
    draw(at, abstained_scribble)
    assert not at.exception
    assert "Not sure this is a digit" in [h.value for h in at.subheader]
    assert not any(h.value.startswith("Prediction") for h in at.subheader)
    (guesses,) = [c.value for c in at.caption if c.value.startswith("Best guesses")]
    assert "uncertainty" in guesses and guesses.count("%") == 3


def test_a_clear_digit_shows_its_uncertainty():
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    image = Image.new("L", (280, 280))
    ImageDraw.Draw(image).line([(140, 50), (140, 230)], fill=255, width=20)
    draw(at, np.asarray(image))
    assert "Prediction: 1" in [h.value for h in at.subheader]
    (confidence,) = [c.value for c in at.caption if c.value.startswith("Confidence")]
    value = float(confidence.split("uncertainty ")[1].split()[0])
    assert value < 1.0
