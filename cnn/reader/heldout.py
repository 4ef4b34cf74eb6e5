"""Held-out drawings: EVALUATION ONLY. Nothing in the project trains, fits or tunes on them.

They answer "does the reader hold on drawings it has never seen?", so they come from generators
and fonts the rest of the project does not use:

- pen drawings (``cnn.reader.pen``, a round pen like the app's canvas) by *held-out writers*:
  styles drawn from ``np.random.default_rng([seed, HELDOUT_TAG, ...])``, never from
  ``pen.writer_style`` (which other code uses), so no writer here draws anywhere else.
  Non-digits: letters no digit resembles (``pen.LETTERS``), shapes (smiley, star, arrow, house,
  heart, ...), scribbles (loops, a cloud), and two- and three-digit numbers (a number is not a
  digit for a single-digit reader). Look-alike letters (S Z B G q) are a set of their own.
- letters and symbols typed in the *held-out font group* (``cnn.reader.fonts``: Breip, Steve
  Hand, Because We Learn / Mentor / Organize, Liberation Sans, DejaVu Serif), which neither
  ``cnn.reader.nondigits`` nor ``cnn.reader.proxies`` uses.
- digits drawn with the pen by held-out writers, flagged 1s and crossed 7s included (the writers
  choose, as people do), and per-kind digit sets (flagged 1s, crossed 7s, thin and thick pens,
  small and off-centre).

Everything goes through ``nondigits.to_pixels``, i.e. the app's real preprocessing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np

from cnn.reader import pen
from cnn.reader.fonts import font_group
from cnn.reader.nondigits import LETTERS as FONT_LETTERS
from cnn.reader.nondigits import SYMBOLS, DrawnSet, characters, to_pixels

HELDOUT_TAG = 0x4E1D0  # seeds writers no other code draws
HELDOUT_NONDIGIT_SETS = (
    "pen_letters",
    "pen_shapes",
    "pen_scribbles",
    "pen_numbers",
    "font_letters",
    "font_symbols",
)
SHAPES = tuple(name for name in pen.SHAPES if name not in ("scribble", "cloud"))
SCRIBBLES = ("scribble",)
# Look-alikes: S 5, Z 2, B 8, G 6, q 9, and the pen "cloud" (a closed line of bumps round an
# ellipse: in 28x28 MNIST form the bumps are a pixel deep and it is an O, i.e. a 0; every one of
# the 117 of 284 held-out scribbles shown at >= 99% was a cloud read as 0). O, I, D are left out
# altogether: they *are* 0, 1, 0.
LOOKALIKES = (*"SZBGq", "cloud")
DIGIT_KINDS = ("flagged_ones", "crossed_sevens", "thin_pen", "thick_pen", "small_off_centre")


def heldout_writer(rng: np.random.Generator) -> pen.PenStyle:
    """A fresh held-out writer."""
    return pen.random_writer(rng)


def _glyphs(names: tuple[str, ...] | str, count: int, rng: np.random.Generator) -> list:
    """``count`` glyphs, each a random one of ``names`` by a new held-out writer."""
    return [
        pen.pen_glyph(str(rng.choice(list(names))), heldout_writer(rng), rng) for _ in range(count)
    ]


def _numbers(count: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Two- and three-digit numbers written on the app's square canvas."""
    drawings = []
    for _ in range(count):
        digits = "".join(str(d) for d in rng.integers(0, 10, size=int(rng.integers(2, 4))))
        gap = rng.uniform(0.05, 0.4)
        image, _ = pen.pen_number(digits, heldout_writer(rng), rng, canvas=pen.CANVAS, gap=gap)
        drawings.append(image)
    return drawings


def heldout_nondigit_drawings(count: int, seed: int) -> dict[str, list[np.ndarray]]:
    """``count`` raw drawings (uint8 canvases) per held-out non-digit set."""
    fonts = font_group("heldout")
    make: dict[str, Callable[[np.random.Generator], list[np.ndarray]]] = {
        "pen_letters": lambda rng: _glyphs(pen.LETTERS, count, rng),
        "pen_shapes": lambda rng: _glyphs(SHAPES, count, rng),
        "pen_scribbles": lambda rng: _glyphs(SCRIBBLES, count, rng),
        "pen_numbers": lambda rng: _numbers(count, rng),
        "font_letters": lambda rng: characters(FONT_LETTERS, count, rng, fonts),
        "font_symbols": lambda rng: characters(SYMBOLS, count, rng, fonts),
    }
    return {
        name: make[name](np.random.default_rng([seed, HELDOUT_TAG, k]))
        for k, name in enumerate(make)
    }


def heldout_nondigit_sets(count: int, seed: int) -> dict[str, DrawnSet]:
    """Each held-out non-digit set as the reader sees it (labels -1)."""
    return {
        name: to_pixels(drawings, [-1] * len(drawings))
        for name, drawings in heldout_nondigit_drawings(count, seed).items()
    }


def heldout_lookalike_set(count: int, seed: int) -> DrawnSet:
    """Pen drawings a digit looks like (S Z B G q, a cloud): non-digits, reported on their own."""
    rng = np.random.default_rng([seed, HELDOUT_TAG, 100])
    drawings = _glyphs(LOOKALIKES, count, rng)
    return to_pixels(drawings, [-1] * len(drawings))


def heldout_digit_drawings(count: int, seed: int) -> tuple[list[np.ndarray], np.ndarray]:
    """``count`` pen digits, every held-out writer writing 0-9 once (the last may stop early)."""
    rng = np.random.default_rng([seed, HELDOUT_TAG, 200])
    drawings, labels = [], []
    while len(labels) < count:
        writer = heldout_writer(rng)
        for digit in rng.permutation(10)[: count - len(labels)]:
            drawings.append(pen.pen_digit(int(digit), writer, rng))
            labels.append(int(digit))
    return drawings, np.asarray(labels, dtype=np.int64)


def heldout_digit_set(count: int, seed: int) -> DrawnSet:
    """Pen digits by held-out writers as the reader sees them (labels 0-9)."""
    drawings, labels = heldout_digit_drawings(count, seed)
    return to_pixels(drawings, labels)


def heldout_digit_kind_sets(count: int, seed: int) -> dict[str, DrawnSet]:
    """Digits people draw differently, ``count`` per kind, each by a new held-out writer: a 1
    with a flag, a 7 with a crossbar, any digit with a thin (5-9 px) or thick (32-40 px) pen,
    or small (25-40% of the canvas) near an edge or a corner."""
    kinds: dict[str, Callable[[pen.PenStyle, np.random.Generator], tuple[pen.PenStyle, int]]] = {
        "flagged_ones": lambda w, r: (replace(w, one_flag=True), 1),
        "crossed_sevens": lambda w, r: (replace(w, seven_bar=True), 7),
        "thin_pen": lambda w, r: (replace(w, width=int(r.integers(5, 10))), int(r.integers(10))),
        "thick_pen": lambda w, r: (replace(w, width=int(r.integers(32, 41))), int(r.integers(10))),
        "small_off_centre": lambda w, r: (
            replace(w, size=r.uniform(0.25, 0.4), centre=tuple(r.choice([0.2, 0.3, 0.7, 0.8], 2))),
            int(r.integers(10)),
        ),
    }
    sets = {}
    for k, (name, make) in enumerate(kinds.items()):
        rng = np.random.default_rng([seed, HELDOUT_TAG, 300 + k])
        drawings, labels = [], []
        for _ in range(count):
            writer, digit = make(heldout_writer(rng), rng)
            drawings.append(pen.pen_digit(digit, writer, rng))
            labels.append(digit)
        sets[name] = to_pixels(drawings, labels)
    return sets
