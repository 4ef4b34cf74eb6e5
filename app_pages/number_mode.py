"""The draw page's Number mode: a wide canvas, the number read digit by digit, each digit's box
on the drawing with its confidence, and which digit made the reader unsure.

Not a page of its own (app.py lists the pages): app_pages/draw.py calls ``show``. The reading is
serving/number.py's; this module only draws what it returns.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st
from PIL import Image, ImageDraw

from app_pages.canvas import pen_canvas
from serving.number import EMPTY, NumberResult, read_number
from serving.predictor import Predictor

WIDTH, HEIGHT = 560, 280  # two MNIST-like squares side by side
EMPTY_TEXT = "The canvas is empty: write a number, digits side by side, left to right."
SURE, UNSURE = (80, 200, 120), (240, 90, 70)  # box colours: read clearly / made it unsure


def annotated(image: np.ndarray, result: NumberResult) -> np.ndarray:
    """The drawing (RGB, on black) with each digit's box and 'digit confidence' above it."""
    rgba = np.asarray(image)
    alpha = rgba[..., 3:4].astype(np.float32) / 255 if rgba.shape[-1] == 4 else 1.0
    rgb = (rgba[..., :3].astype(np.float32) * alpha).astype(np.uint8)
    picture = Image.fromarray(rgb)
    draw = ImageDraw.Draw(picture)
    for k, reading in enumerate(result.digits):
        unsure = k == result.culprit or reading.abstain
        colour = UNSURE if unsure else SURE
        x0, y0, x1, y1 = reading.box
        draw.rectangle((x0, y0, x1 - 1, y1 - 1), outline=colour, width=3)
        label = "?" if reading.digit is None else f"{reading.digit} {reading.confidence:.0%}"
        draw.text((x0 + 2, max(0, y0 - 14)), label, fill=colour)
    return np.asarray(picture)


def digits_table(result: NumberResult) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "position": [k + 1 for k in range(len(result.digits))],
            "digit": ["?" if r.digit is None else str(r.digit) for r in result.digits],
            "confidence": [r.confidence for r in result.digits],
            "uncertainty": [r.uncertainty for r in result.digits],
            "not sure": [k == result.culprit or r.abstain for k, r in enumerate(result.digits)],
        }
    )


def show(predictor: Predictor, stroke_width: int, version: int) -> None:
    """The wide canvas and, once something is drawn, what the reader made of it."""
    st.caption("Write a number: digits side by side, left to right, a little space between.")
    st.space("small")
    canvas = pen_canvas(stroke_width, f"number-canvas-{version}", width=WIDTH, height=HEIGHT)
    image = canvas.image_data
    if image is None:
        st.info(EMPTY_TEXT)
        return
    result = read_number(np.asarray(image), predictor)
    if result.reason == EMPTY:
        st.info(EMPTY_TEXT)
        return
    if result.number is not None:
        st.subheader(f"Number: {result.number}")
        st.caption(f"Read digit by digit in {result.seconds * 1e3:.0f} ms.")
    else:
        st.subheader("Not sure of the number")
        st.caption(f"Why: {result.reason}. Better no answer than a wrong one.")
    st.image(
        annotated(image, result),
        caption="Each digit's box and confidence; red: the digit that made the reader unsure",
    )
    st.dataframe(digits_table(result), hide_index=True)
