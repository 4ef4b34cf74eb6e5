"""Regenerate examples/handwriting/: one person's digits, to teach the reader with.

Why a script: the samples are made, not scanned. A fixed writer of cnn/reader/pen.py who writes
1 with a flag (the shipped reader reads most of their 1s as 7s) draws each digit twice on the
app's 280x280 canvas, white on black; the files are named as `python -m serving adapt` expects
(`<digit>_<n>.png`) and one more 1 (`new_1.png`) is left out of the folder to try the result on.
Not one of `python -m cnn adapt-eval`'s writers (it seeds its own).
Run: ``python examples/make_handwriting.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from cnn.reader.pen import pen_digit, random_writer

HERE = Path(__file__).resolve().parent
OUT = HERE / "handwriting"


def main(per_digit: int = 2, seed: int = 11) -> None:
    style = random_writer(np.random.default_rng([seed, 77]))
    rng = np.random.default_rng(5)
    OUT.mkdir(exist_ok=True)
    for k in range(per_digit):
        for digit in range(10):
            Image.fromarray(pen_digit(digit, style, rng)).save(
                OUT / f"{digit}_{k}.png", optimize=True
            )
    Image.fromarray(pen_digit(1, style, rng)).save(HERE / "new_1.png", optimize=True)


if __name__ == "__main__":
    main()
