"""Helpers for the app's tests: run app.py headless, and hand the canvas a drawing.

Test modules run under --import-mode=importlib and cannot import this file, so the helpers
reach them through the ``ui`` fixture (``ui.draw(at, ui.vertical_stroke())``).
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image, ImageDraw
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "app.py"
CANVAS = 280  # the draw page's canvas side


def canvas_value(gray: np.ndarray) -> dict:
    """What the canvas component sends: white-on-black RGBA pixels as a PNG data URL."""
    rgba = np.dstack([gray, gray, gray, np.full_like(gray, 255)])
    buffer = io.BytesIO()
    Image.fromarray(rgba).save(buffer, format="PNG")
    url = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    drawing = {"raw": {"objects": [{"type": "path"}], "background": "#000000"}, "data": url}
    return {"drawing": drawing, "backgroundFit": None}


def vertical_stroke(width: int = 20) -> np.ndarray:
    """A '1' as a person draws it: one vertical line down the middle of the canvas."""
    image = Image.new("L", (CANVAS, CANVAS))
    ImageDraw.Draw(image).line([(140, 50), (140, 230)], fill=255, width=width)
    return np.asarray(image)


def mnist_on_canvas(digit: np.ndarray) -> np.ndarray:
    """An MNIST digit (uint8 28x28, ink high) blown up to the canvas's 280x280."""
    return np.asarray(Image.fromarray(digit).resize((CANVAS, CANVAS), Image.Resampling.BILINEAR))


def draw(at: AppTest, gray: np.ndarray) -> AppTest:
    """Put a drawing on the (current) canvas and rerun, as a mouse-up in the browser does."""
    key = f"canvas-{at.session_state['canvas_version']}"
    at.session_state[key] = canvas_value(gray)
    return at.run()


def predictions(at: AppTest) -> list[str]:
    return [h.value for h in at.subheader if h.value.startswith("Prediction")]


def canvas_args(at: AppTest) -> dict:
    """The arguments the page handed the canvas component (stroke width, colours, size)."""
    (node,) = at.get("bidi_component")
    return json.loads(node.proto.json)


def chart_data(at: AppTest, index: int = 0):
    """The data frame behind the index-th Vega-Lite chart (st.vega_lite_chart or st.*_chart)."""
    from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df

    proto = at.get("vega_lite_chart")[index].proto
    arrow = proto.data.data if proto.HasField("data") else proto.datasets[0].data.data
    return convert_arrow_bytes_to_pandas_df(arrow)


@pytest.fixture
def app() -> AppTest:
    """app.py run once on its first page; model loading gets a generous timeout."""
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    assert not at.exception, at.exception
    return at


@pytest.fixture(scope="session")
def ui() -> SimpleNamespace:
    return SimpleNamespace(
        canvas_value=canvas_value,
        vertical_stroke=vertical_stroke,
        mnist_on_canvas=mnist_on_canvas,
        draw=draw,
        predictions=predictions,
        canvas_args=canvas_args,
        chart_data=chart_data,
        root=ROOT,
    )
