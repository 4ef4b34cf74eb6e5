"""Regenerate examples/digit_3.png: a "3" drawn the way the app's canvas records one.

Why a script: the sample is made, not scanned, so anyone can see (and redo) exactly what it is:
one freehand stroke, 18 px wide with round ends and a slight tremor, white on black, 280x280,
like a mouse drawing on the draw page. Run: ``python examples/make_digit.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

OUT = Path(__file__).resolve().parent / "digit_3.png"
SIDE, WIDTH = 280, 18  # the draw page's canvas and a typical stroke


def three(seed: int = 3) -> Image.Image:
    """Two bowls in one stroke: over the top and back to the middle, then round the bottom."""
    rng = np.random.default_rng(seed)
    upper = [(140, 95, 48, 42, a) for a in np.linspace(0.85 * np.pi, -0.5 * np.pi, 40)]
    lower = [(145, 185, 55, 48, a) for a in np.linspace(0.5 * np.pi, -0.9 * np.pi, 46)]
    points = [
        (cx + rx * np.cos(a) + rng.normal(0, 1.2), cy - ry * np.sin(a) + rng.normal(0, 1.2))
        for cx, cy, rx, ry, a in upper + lower
    ]
    image = Image.new("L", (SIDE, SIDE), 0)
    draw = ImageDraw.Draw(image)
    draw.line([(float(x), float(y)) for x, y in points], fill=255, width=WIDTH, joint="curve")
    for x, y in (points[0], points[-1]):  # round pen ends, as a canvas brush has
        r = WIDTH / 2
        draw.ellipse([x - r, y - r, x + r, y + r], fill=255)
    return image


if __name__ == "__main__":
    three().save(OUT, optimize=True)
    print(f"wrote {OUT}")
