"""Regenerate examples/number_2024.png: "2024" written on the draw page's wide Number canvas.

Why a script: the sample is made, not scanned. It is drawn with the project's round pen
(cnn/reader/pen.py: strokes traced 20 px wide with round ends, white on black, 560x280, as the
canvas records them) by a fixed writer, a little space between the digits. Not one of the
number evaluation's writers (cnn/reader/number_eval.py seeds its own).
Run: ``python examples/make_number.py``.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image

from cnn.reader.pen import PenStyle, pen_number

OUT = Path(__file__).resolve().parent / "number_2024.png"


def number(text: str = "2024", seed: int = 2024) -> Image.Image:
    style = replace(PenStyle(), slant=0.1, size=0.6, width=20, jitter=0.012)
    drawing, _ = pen_number(text, style, np.random.default_rng(seed), canvas=(560, 280), gap=0.25)
    return Image.fromarray(drawing)


if __name__ == "__main__":
    number().save(OUT, optimize=True)
    print(f"wrote {OUT}")
