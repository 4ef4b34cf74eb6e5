"""Drawings made with a round pen, like the app's canvas: digits, numbers, letters and shapes.

The app's canvas is 280x280, white ink on black, drawn with a round pen 5-40 pixels wide (20 by
default, ``app_pages/draw.py``). A drawing here is a *skeleton* (polylines and arcs in a unit box,
in the order a hand draws them) traced with such a pen: PIL lines with round joints plus round
caps at the ends. A *writer* (``PenStyle``, reproducible from one seed by ``writer_style``) fixes
the slant, aspect, size, place on the canvas, pen width, how much the hand wobbles, and the
choices people make differently: a 1 with or without a flag and base, a 7 with or without a
crossbar, an open or a closed 4, a straight or curved tail on the 9, a 2 with or without a loop,
an 8 in one stroke or as two circles. Each drawing varies a little around its writer (``rng``).

Unit-box coordinates: x to the right, y *down*, both in [0, 1]; arcs use the usual maths angles
(degrees, 90 = top, counterclockwise as seen on screen). Output arrays are uint8 [H, W], ink 255
on 0; ``canvas`` is (width, height) as PIL has it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

Stroke = np.ndarray  # float [K, 2]: (x, y) points of one pen-down path in the unit box
Skeleton = list[Stroke]
CANVAS = (280, 280)
DEFAULT_WIDTH = 20  # the app's slider default
SUPERSAMPLE = 2  # drawn at 2x and reduced: anti-aliased edges like the browser's canvas


@dataclass(frozen=True)
class PenStyle:
    """One writer: how they draw every digit and glyph (a drawing varies a little around it)."""

    slant: float = 0.0  # shear: x moves by slant * (height above the bottom); + leans right
    aspect: float = 1.0  # width multiplier on the glyph's natural width
    size: float = 0.65  # glyph height as a fraction of the canvas height
    centre: tuple[float, float] = (0.5, 0.5)  # where on the canvas (fractions of width, height)
    width: int = DEFAULT_WIDTH  # pen width in canvas pixels (the app's slider: 5-40)
    jitter: float = 0.01  # wobble of the hand, in glyph heights (smooth, not per-pixel noise)
    rotation: float = 0.0  # degrees, counterclockwise
    one_flag: bool = False  # 1 with a flag from the top going down-left (reads as 7 to MNIST)
    one_base: bool = False  # 1 standing on a base line (only with the flag, as people write it)
    seven_bar: bool = False  # 7 with a crossbar
    seven_hook: bool = False  # 7 whose top bar starts with a short down-stroke
    four_closed: bool = False  # closed (triangular) 4 instead of the open one
    nine_curved: bool = False  # 9 whose tail curls to the left at the bottom
    two_loop: bool = False  # 2 with a small loop at the bottom left
    eight_two_loops: bool = False  # 8 drawn as two stacked circles instead of one stroke
    zero_overlap: float = 15.0  # degrees a 0 (or O) runs past its start
    sloppiness: float = 0.0  # 0: every stroke where it belongs; 1: strokes turned, sized and
    # placed a little off (about 8 degrees, 10% and 5% of the height)


def writer_style(seed: int) -> PenStyle:
    """A reproducible writer: the same seed gives the same style, whatever else is drawn."""
    return random_writer(np.random.default_rng([seed, 0x9E7]))


def random_writer(rng: np.random.Generator) -> PenStyle:
    """A writer drawn from ``rng`` (``writer_style`` seeds it; cnn.reader.heldout seeds its own,
    so its writers are none of ``writer_style``'s)."""
    # Half the people leave the app's slider at its default width.
    width = DEFAULT_WIDTH if rng.random() < 0.5 else int(rng.integers(6, 41))
    one_flag = bool(rng.random() < 0.5)
    return PenStyle(
        slant=float(rng.normal(0.08, 0.12)),
        aspect=float(rng.uniform(0.75, 1.3)),
        size=float(rng.uniform(0.4, 0.85)),
        centre=(float(rng.uniform(0.38, 0.62)), float(rng.uniform(0.38, 0.62))),
        width=width,
        jitter=float(rng.uniform(0.005, 0.03)),
        rotation=float(rng.normal(0, 4)),
        one_flag=one_flag,
        one_base=one_flag and bool(rng.random() < 0.35),
        seven_bar=bool(rng.random() < 0.3),
        seven_hook=bool(rng.random() < 0.15),
        four_closed=bool(rng.random() < 0.45),
        nine_curved=bool(rng.random() < 0.35),
        two_loop=bool(rng.random() < 0.25),
        eight_two_loops=bool(rng.random() < 0.3),
        zero_overlap=float(rng.uniform(-10, 30)),
        sloppiness=float(rng.uniform(0, 1)),
    )


# --- skeleton helpers ----------------------------------------------------------------------


def arc(cx: float, cy: float, rx: float, ry: float, start: float, end: float) -> Stroke:
    """Points of an elliptic arc from ``start`` to ``end`` degrees (90 = top, on screen)."""
    n = max(4, int(abs(end - start) / 8))
    a = np.radians(np.linspace(start, end, n))
    return np.stack([cx + rx * np.cos(a), cy - ry * np.sin(a)], axis=1)


def line(*points: tuple[float, float]) -> Stroke:
    return np.asarray(points, dtype=np.float64)


def join(*parts: Stroke) -> Stroke:
    """One pen-down path through several pieces (each starts where the last one ended)."""
    return np.vstack(parts)


def smooth(points: Stroke, steps: int = 8) -> Stroke:
    """Catmull-Rom spline through the points: a hand's curve, not a polygon."""
    p = np.vstack([points[:1], points, points[-1:]])
    t = np.linspace(0, 1, steps, endpoint=False)[:, None]
    segments = [
        0.5
        * (
            2 * p[i]
            + (p[i + 1] - p[i - 1]) * t
            + (2 * p[i - 1] - 5 * p[i] + 4 * p[i + 1] - p[i + 2]) * t**2
            + (3 * p[i] - p[i - 1] - 3 * p[i + 1] + p[i + 2]) * t**3
        )
        for i in range(1, len(p) - 2)
    ]
    return np.vstack([*segments, points[-1:]])


# --- digits ----------------------------------------------------------------------------------
# Each returns the skeleton and the glyph's natural width (as a fraction of its height).


def _zero(s: PenStyle, rng: np.random.Generator) -> tuple[Skeleton, float]:
    start = rng.uniform(70, 130)
    lean = rng.uniform(-0.06, 0.06)  # an egg, wider at the top or at the bottom
    ring = arc(0.5, 0.5, 0.5, 0.5, start, start + 360 + s.zero_overlap + rng.uniform(-10, 10))
    ring[:, 0] = 0.5 + (ring[:, 0] - 0.5) * (1 + lean * (ring[:, 1] - 0.5) * 4)
    return [ring], rng.uniform(0.55, 0.75)


def _one(s: PenStyle, rng: np.random.Generator) -> tuple[Skeleton, float]:
    lean = rng.uniform(-0.04, 0.04)  # in heights: the stem is rarely quite upright
    if not s.one_flag:
        return [line((0.5 + lean / 0.08, 0.0), (0.5, 1.0))], 0.08
    # A flag from the top down to the left, shorter and steeper than a 7's bar.
    # Lengths are in glyph heights; the box is as wide as the flag reaches.
    length, angle = rng.uniform(0.15, 0.45), np.radians(rng.uniform(25, 60))
    reach = length * np.cos(angle)
    top = (1.0, 0.0)
    strokes = [line((0.0, length * np.sin(angle)), top, (1.0 - lean / reach, 1.0))]
    if s.one_base:
        half = rng.uniform(0.2, 0.35) / reach
        strokes.append(line((1.0 - half, 1.0), (1.0 + half, 1.0)))
    return strokes, reach


def _two(s: PenStyle, rng: np.random.Generator) -> tuple[Skeleton, float]:
    ry = rng.uniform(0.22, 0.36)
    top = arc(0.5, ry, 0.47, ry, rng.uniform(140, 175), rng.uniform(-55, -20))
    right = rng.uniform(0.7, 1.0)
    if s.two_loop:
        tail = smooth(line(tuple(top[-1]), (0.2, 0.85), (0.08, 0.97), (0.2, 0.88), (0.3, 1.0)))
        base = line((0.3, 1.0), (right, 1.0 + rng.uniform(-0.04, 0.04)))
    else:
        corner = (rng.uniform(0.0, 0.1), 1.0)
        tail = line(tuple(top[-1]), corner)
        base = line(corner, (right, 1.0 + rng.uniform(-0.04, 0.04)))
    return [join(top, tail, base)], 0.65


def _three(s: PenStyle, rng: np.random.Generator) -> tuple[Skeleton, float]:
    split = rng.uniform(0.42, 0.55)  # where the two bows meet
    upper = arc(0.5, split / 2, 0.44, split / 2, rng.uniform(130, 170), -90)
    lower = arc(0.5, (1 + split) / 2, 0.5, (1 - split) / 2, 90, rng.uniform(-170, -130))
    middle = line((rng.uniform(0.25, 0.5), split))
    return [join(upper, middle, lower)], 0.6


def _four(s: PenStyle, rng: np.random.Generator) -> tuple[Skeleton, float]:
    bar = rng.uniform(0.55, 0.72)
    stem = rng.uniform(0.6, 0.78)
    if s.four_closed:
        return [line((stem, 1.0), (stem, 0.0), (0.0, bar), (1.0, bar))], 0.7
    return [
        line((rng.uniform(0.05, 0.3), 0.0), (0.02, bar), (1.0, bar + rng.uniform(-0.04, 0.04))),
        line((stem, rng.uniform(0.0, 0.3)), (stem + rng.uniform(-0.05, 0.05), 1.0)),
    ], 0.7


def _five(s: PenStyle, rng: np.random.Generator) -> tuple[Skeleton, float]:
    ry = rng.uniform(0.26, 0.36)
    belly = arc(0.45, 1 - ry, 0.5, ry, rng.uniform(120, 150), rng.uniform(-175, -140))
    body = join(line((0.2, 0.0), (0.14, 1 - 2 * ry + 0.05)), belly)
    flag = line((0.2, 0.0), (rng.uniform(0.7, 1.0), rng.uniform(-0.04, 0.04)))
    return [body, flag], 0.6


def _six(s: PenStyle, rng: np.random.Generator) -> tuple[Skeleton, float]:
    ry = rng.uniform(0.2, 0.32)
    stem = smooth(line((rng.uniform(0.6, 0.9), 0.0), (0.3, 0.3), (0.05, 1 - ry)))
    loop = arc(0.5, 1 - ry, 0.45, ry, 180, 180 + 320 + rng.uniform(0, 50))
    return [join(stem, loop)], 0.6


def _seven(s: PenStyle, rng: np.random.Generator) -> tuple[Skeleton, float]:
    foot = (rng.uniform(0.15, 0.55), 1.0)
    top = line((0.0, rng.uniform(-0.03, 0.03)), (1.0, rng.uniform(-0.03, 0.03)), foot)
    if s.seven_hook:
        top = join(line((0.0, rng.uniform(0.1, 0.2))), top)
    strokes = [top]
    if s.seven_bar:
        y = rng.uniform(0.42, 0.58)
        x = 1 - (1 - foot[0]) * y  # where the bar crosses the down-stroke
        strokes.append(line((x - rng.uniform(0.15, 0.3), y), (x + rng.uniform(0.15, 0.3), y)))
    return strokes, 0.62


def _eight(s: PenStyle, rng: np.random.Generator) -> tuple[Skeleton, float]:
    split = rng.uniform(0.38, 0.5)
    if s.eight_two_loops:
        return [
            arc(0.5, split / 2, 0.38, split / 2, 90, 450),
            arc(0.5, (1 + split) / 2, 0.48, (1 - split) / 2, 90, 450),
        ], 0.6
    # One stroke: t = 0 at the top, the top loop while cos t > 0, crossing at t = pi/2, 3pi/2.
    t = np.linspace(0.15, 2 * np.pi + 0.35 + rng.uniform(0, 0.3), 70)
    upper = np.cos(t) > 0
    x = 0.5 + np.where(upper, rng.uniform(0.3, 0.42), 0.48) * np.sin(2 * t)
    y = np.where(upper, split * (1 - np.cos(t)), split - (1 - split) * np.cos(t))
    return [np.stack([x, y], axis=1)], 0.6


def _nine(s: PenStyle, rng: np.random.Generator) -> tuple[Skeleton, float]:
    ry = rng.uniform(0.2, 0.32)
    loop = arc(0.5, ry, 0.45, ry, 10, 370 + rng.uniform(0, 20))
    if s.nine_curved:
        tail = smooth(line((0.95, ry), (0.92, 0.75), (0.7, 0.98), (0.3, 0.95)))
    else:
        tail = line((0.95, ry), (rng.uniform(0.6, 0.95), 1.0))
    return [join(loop, tail)], 0.62


DIGITS: tuple[Callable[[PenStyle, np.random.Generator], tuple[Skeleton, float]], ...] = (
    _zero,
    _one,
    _two,
    _three,
    _four,
    _five,
    _six,
    _seven,
    _eight,
    _nine,
)


# --- letters and shapes ----------------------------------------------------------------------

L = line


def _glyphs() -> dict[str, tuple[Callable[[np.random.Generator], Skeleton], float]]:
    """name -> (skeleton maker, natural width)."""
    return {
        # Capitals that no digit resembles.
        "A": (lambda r: [L((0, 1), (0.5, 0), (1, 1)), L((0.22, 0.6), (0.78, 0.6))], 0.8),
        "C": (lambda r: [arc(0.55, 0.5, 0.5, 0.5, 50, 310)], 0.75),
        "E": (lambda r: [L((1, 0), (0, 0), (0, 1), (1, 1)), L((0, 0.5), (0.8, 0.5))], 0.65),
        "F": (lambda r: [L((1, 0), (0, 0), (0, 1)), L((0, 0.48), (0.75, 0.48))], 0.6),
        "H": (lambda r: [L((0, 0), (0, 1)), L((1, 0), (1, 1)), L((0, 0.5), (1, 0.5))], 0.75),
        "K": (lambda r: [L((0, 0), (0, 1)), L((1, 0), (0.02, 0.55), (1, 1))], 0.7),
        "L": (lambda r: [L((0, 0), (0, 1), (0.9, 1))], 0.6),
        "M": (lambda r: [L((0, 1), (0.06, 0), (0.5, 0.65), (0.94, 0), (1, 1))], 0.9),
        "N": (lambda r: [L((0, 1), (0, 0), (1, 1), (1, 0))], 0.75),
        "P": (
            lambda r: [
                join(L((0, 1), (0, 0), (0.5, 0)), arc(0.5, 0.25, 0.45, 0.25, 90, -90), L((0, 0.5)))
            ],
            0.65,
        ),
        "R": (
            lambda r: [
                join(
                    L((0, 1), (0, 0), (0.5, 0)),
                    arc(0.5, 0.25, 0.45, 0.25, 90, -90),
                    L((0, 0.5), (0.35, 0.5), (1, 1)),
                )
            ],
            0.7,
        ),
        "T": (lambda r: [L((0, 0), (1, 0)), L((0.5, 0), (0.5, 1))], 0.8),
        "U": (lambda r: [join(L((0, 0)), arc(0.5, 0.6, 0.5, 0.4, 180, 360), L((1, 0)))], 0.75),
        "V": (lambda r: [L((0, 0), (0.5, 1), (1, 0))], 0.8),
        "W": (lambda r: [L((0, 0), (0.25, 1), (0.5, 0.35), (0.75, 1), (1, 0))], 1.0),
        "X": (lambda r: [L((0, 0), (1, 1)), L((1, 0), (0, 1))], 0.8),
        "Y": (lambda r: [L((0, 0), (0.5, 0.5)), L((1, 0), (0.5, 0.5), (0.5, 1))], 0.8),
        # Lowercase, each drawn as big as the box.
        "a": (
            lambda r: [arc(0.45, 0.6, 0.45, 0.4, 20, 375), L((0.92, 0.2), (0.92, 0.9), (1, 1))],
            0.8,
        ),
        "e": (lambda r: [join(L((0.02, 0.5), (1, 0.5)), arc(0.5, 0.5, 0.5, 0.5, 0, 310))], 0.85),
        "h": (
            lambda r: [L((0, 0), (0, 1)), join(arc(0.5, 0.65, 0.5, 0.25, 170, 0), L((1, 1)))],
            0.7,
        ),
        "m": (
            lambda r: [
                L((0, 1), (0, 0.15)),
                join(arc(0.25, 0.3, 0.25, 0.25, 170, 0), L((0.5, 1))),
                join(arc(0.75, 0.3, 0.25, 0.25, 170, 0), L((1, 1))),
            ],
            1.0,
        ),
        "n": (
            lambda r: [L((0, 1), (0, 0.05)), join(arc(0.5, 0.35, 0.5, 0.3, 170, 0), L((1, 1)))],
            0.8,
        ),
        "r": (lambda r: [L((0, 1), (0, 0)), arc(0.55, 0.4, 0.55, 0.35, 175, 45)], 0.6),
        "t": (
            lambda r: [
                join(L((0.4, 0), (0.4, 0.8)), arc(0.7, 0.8, 0.3, 0.2, 180, 300)),
                L((0.0, 0.3), (0.85, 0.3)),
            ],
            0.6,
        ),
        # Ambiguous letters that look like digits (S 5, Z 2, O 0, I 1, B 8, G 6, D 0, q 9).
        "S": (
            lambda r: [
                join(arc(0.5, 0.25, 0.45, 0.25, 30, 270), arc(0.5, 0.75, 0.5, 0.25, 90, -180))
            ],
            0.65,
        ),
        "Z": (lambda r: [L((0, 0), (1, 0), (0, 1), (1, 1))], 0.7),
        "O": (lambda r: [arc(0.5, 0.5, 0.5, 0.5, 100, 470)], 0.75),
        "I": (lambda r: [L((0.5, 0), (0.5, 1)), L((0.1, 0), (0.9, 0)), L((0.1, 1), (0.9, 1))], 0.5),
        "B": (
            lambda r: [
                L((0, 0), (0, 1)),
                join(
                    L((0, 0)),
                    arc(0.4, 0.25, 0.5, 0.25, 90, -90),
                    arc(0.45, 0.75, 0.55, 0.25, 90, -90),
                    L((0, 1)),
                ),
            ],
            0.7,
        ),
        "G": (lambda r: [join(arc(0.5, 0.5, 0.5, 0.5, 50, 360), L((0.55, 0.5)))], 0.75),
        "D": (
            lambda r: [
                join(L((0, 1), (0, 0), (0.4, 0)), arc(0.4, 0.5, 0.6, 0.5, 90, -90), L((0, 1)))
            ],
            0.7,
        ),
        "q": (
            lambda r: [arc(0.45, 0.3, 0.45, 0.3, 20, 375), L((0.9, 0.05), (0.9, 1), (1.1, 0.9))],
            0.7,
        ),
        # Shapes people doodle.
        "smiley": (
            lambda r: [
                arc(0.5, 0.5, 0.5, 0.5, 90, 460),
                L((0.33, 0.32), (0.33, 0.4)),
                L((0.67, 0.32), (0.67, 0.4)),
                arc(0.5, 0.5, 0.3, 0.25, 200, 340),
            ],
            1.0,
        ),
        "star": (lambda r: [_star()], 1.0),
        "arrow": (lambda r: [L((0, 0.5), (1, 0.5)), L((0.7, 0.2), (1, 0.5), (0.7, 0.8))], 1.6),
        "house": (
            lambda r: [
                L((0.05, 0.45), (0.05, 1), (0.95, 1), (0.95, 0.45)),
                L((0, 0.5), (0.5, 0), (1, 0.5)),
                L((0.4, 1), (0.4, 0.72), (0.6, 0.72), (0.6, 1)),
            ],
            1.0,
        ),
        "heart": (
            lambda r: [
                join(
                    L((0.5, 1)),
                    smooth(
                        L(
                            (0.12, 0.6),
                            (0.0, 0.25),
                            (0.25, 0.02),
                            (0.5, 0.25),
                            (0.75, 0.02),
                            (1.0, 0.25),
                            (0.88, 0.6),
                        )
                    ),
                    L((0.5, 1)),
                )
            ],
            1.0,
        ),
        "triangle": (lambda r: [L((0.5, 0), (1, 1), (0, 1), (0.5, 0))], 1.1),
        "square": (lambda r: [L((0, 0), (1, 0), (1, 1), (0, 1), (0, 0))], 1.0),
        "spiral": (lambda r: [_spiral(r)], 1.0),
        "crosshatch": (
            lambda r: [
                L((0.3, 0), (0.25, 1)),
                L((0.7, 0), (0.65, 1)),
                L((0, 0.3), (1, 0.32)),
                L((0, 0.7), (1, 0.72)),
            ],
            1.0,
        ),
        "check": (lambda r: [L((0, 0.6), (0.35, 1), (1, 0))], 1.0),
        "cloud": (lambda r: [_cloud(r)], 1.4),
        "scribble": (lambda r: [_scribble(r)], 1.0),
    }


def _star() -> Stroke:
    a = np.radians(90 + 144 * np.arange(6))
    return np.stack([0.5 + 0.5 * np.cos(a), 0.52 - 0.5 * np.sin(a)], axis=1)


def _spiral(rng: np.random.Generator) -> Stroke:
    t = np.linspace(0, 2 * np.pi * rng.uniform(2.2, 3.2), 120)
    r = 0.5 * t / t[-1]
    return np.stack([0.5 + r * np.cos(t), 0.5 - r * np.sin(t)], axis=1)


def _cloud(rng: np.random.Generator) -> Stroke:
    """A closed line of bumps around an ellipse."""
    t = np.linspace(0, 2 * np.pi, 200)
    bumps = int(rng.integers(5, 9))
    r = 1 + 0.18 * np.abs(np.sin(bumps * t / 2))
    return np.stack([0.5 + 0.42 * r * np.cos(t), 0.5 - 0.38 * r * np.sin(t)], axis=1)


def _scribble(rng: np.random.Generator) -> Stroke:
    """Loops dragged across the box, like someone testing the pen."""
    t = np.linspace(0, 2 * np.pi * rng.uniform(3, 6), 200)
    x = np.linspace(0.15, 0.85, len(t)) + 0.15 * np.cos(t)
    y = 0.5 + 0.35 * np.sin(t) * rng.uniform(0.6, 1.0) + 0.1 * np.sin(t / 3)
    return np.stack([x, y], axis=1)


GLYPHS = _glyphs()
LETTERS = "ACEFHKLMNPRTUVWXY" + "aehmnrt"  # no digit looks like them
AMBIGUOUS = "SZOIBGDq"  # letters a digit looks like: S 5, Z 2, O 0, I 1, B 8, G 6, D 0, q 9
SHAPES = (
    "smiley", "star", "arrow", "house", "heart", "triangle", "square", "spiral", "crosshatch",
    "check", "cloud", "scribble",
)  # fmt: skip


# --- drawing ---------------------------------------------------------------------------------


def pen_digit(
    digit: int, style: PenStyle, rng: np.random.Generator, canvas: tuple[int, int] = CANVAS
) -> np.ndarray:
    """One digit 0-9 as ``style`` draws it: uint8 [H, W], ink 255 on 0."""
    if not 0 <= int(digit) <= 9:
        raise ValueError(f"digit must be 0-9, got {digit}")
    strokes, natural = DIGITS[int(digit)](style, rng)
    return _render([_place(strokes, natural, style, rng, canvas)], style.width, canvas)


def pen_glyph(
    name: str, style: PenStyle, rng: np.random.Generator, canvas: tuple[int, int] = CANVAS
) -> np.ndarray:
    """A letter (``LETTERS``, ``AMBIGUOUS``), a shape (``SHAPES``) or a digit '0'-'9'."""
    if len(name) == 1 and name.isdigit():
        return pen_digit(int(name), style, rng, canvas)
    if name not in GLYPHS:
        raise ValueError(f"unknown glyph {name!r}: use a digit, {LETTERS}, {AMBIGUOUS} or {SHAPES}")
    make, natural = GLYPHS[name]
    return _render([_place(make(rng), natural, style, rng, canvas)], style.width, canvas)


def pen_number(
    digits: str,
    style: PenStyle,
    rng: np.random.Generator,
    canvas: tuple[int, int] = (560, 280),
    gap: float = 0.15,
) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """A number written left to right: the drawing and each digit's ink box [x0, y0, x1, y1].

    ``gap`` is the space between neighbouring digits' skeletons in digit heights; 0 makes the
    pen strokes overlap by a pen width, negative values push the digits into each other. The
    number is shrunk to fit the canvas when the writer's size would not fit.
    """
    if not digits or not digits.isdigit():
        raise ValueError(f"digits must be a non-empty string of 0-9, got {digits!r}")
    w, h = canvas
    made = [DIGITS[int(d)](style, rng) for d in digits]
    height = min(style.size * h * rng.uniform(0.92, 1.08), h - style.width - 8)
    centres, widths, span = _layout([n for _, n in made], height, gap, style)
    for _ in range(8):  # too wide for the canvas: write smaller (the pen stays the same)
        if span <= w - style.width - 8:
            break
        height *= (w - style.width - 8) / span
        centres, widths, span = _layout([n for _, n in made], height, gap, style)
    left = rng.uniform(
        style.width / 2 + 4, max(style.width / 2 + 4, w - span - style.width / 2 - 4)
    )
    top = np.clip(
        style.centre[1] * h - height / 2, style.width / 2 + 4, h - height - style.width / 2 - 4
    )
    layers = []
    for (strokes, _), width, centre in zip(made, widths, centres, strict=True):
        cy = top + height / 2 + rng.normal(0, 0.02) * height
        points = _transform(strokes, width, height, (left + centre, cy), style, rng)
        points = _inside(points, style.width, canvas)
        layers.append(_render([points], style.width, canvas))
    drawing = np.maximum.reduce(layers)
    return drawing, [_ink_box(layer) for layer in layers]


def pen_digits(count: int, writer_seed: int, seed: int) -> tuple[list[np.ndarray], np.ndarray]:
    """``count`` digits by one writer (``writer_style(writer_seed)``), labels balanced 0-9."""
    rng = np.random.default_rng(seed)
    style = writer_style(writer_seed)
    labels = rng.permutation(np.arange(count) % 10)
    return [pen_digit(int(d), style, rng) for d in labels], labels.astype(np.int64)


def _layout(
    naturals: list[float], height: float, gap: float, style: PenStyle
) -> tuple[list[float], list[float], float]:
    """Digit centres (from the number's left edge), widths and the whole span, in pixels.

    Neighbouring skeletons are ``gap`` digit heights apart, but centres advance by at least a
    pen width and a quarter of the two widths: overlapping, never swapped.
    """
    widths = [n * style.aspect * height for n in naturals]
    lean = abs(style.slant) * height  # a slanted digit reaches this much further
    centres = [lean / 2 + widths[0] / 2]
    for a, b in zip(widths, widths[1:], strict=False):
        step = max((a + b) / 2 + gap * height, (a + b) / 4 + style.width)
        centres.append(centres[-1] + step)
    return centres, widths, centres[-1] + widths[-1] / 2 + lean / 2


def _place(
    strokes: Skeleton,
    natural: float,
    style: PenStyle,
    rng: np.random.Generator,
    canvas: tuple[int, int],
) -> Skeleton:
    """Size, place and distort a glyph on the canvas, within the canvas."""
    w, h = canvas
    height = style.size * h * rng.uniform(0.9, 1.1)
    width = natural * style.aspect * height * rng.uniform(0.92, 1.08)
    fit = min(1.0, (h - style.width - 8) / height, (w - style.width - 8) / (width + 1e-9))
    height, width = height * fit, width * fit
    margin_x = width / 2 + abs(style.slant) * height / 2 + style.width / 2 + 4
    margin_y = height / 2 + style.width / 2 + 4
    cx = np.clip((style.centre[0] + rng.normal(0, 0.03)) * w, margin_x, max(margin_x, w - margin_x))
    cy = np.clip((style.centre[1] + rng.normal(0, 0.03)) * h, margin_y, max(margin_y, h - margin_y))
    return _inside(_transform(strokes, width, height, (cx, cy), style, rng), style.width, canvas)


def _inside(strokes: Skeleton, pen: int, canvas: tuple[int, int]) -> Skeleton:
    """Shrink (about the middle) and move the strokes so the pen stays on the canvas."""
    points = np.vstack(strokes)
    low, high = points.min(axis=0), points.max(axis=0)
    room = np.asarray(canvas, dtype=np.float64) - pen - 6
    middle = (low + high) / 2
    scale = min(1.0, *(room / np.maximum(high - low, 1e-9)))
    low, high = middle + (low - middle) * scale, middle + (high - middle) * scale
    edge = pen / 2 + 3
    shift = np.maximum(edge - low, 0) - np.maximum(high - (np.asarray(canvas) - edge), 0)
    return [middle + (p - middle) * scale + shift for p in strokes]


def _transform(
    strokes: Skeleton,
    width: float,
    height: float,
    centre: tuple[float, float],
    style: PenStyle,
    rng: np.random.Generator,
) -> Skeleton:
    """Unit-box strokes -> canvas pixels: wobble, slant, rotation, size and place."""
    angle = np.radians(style.rotation + rng.normal(0, 2))
    rotate = np.array([[np.cos(angle), np.sin(angle)], [-np.sin(angle), np.cos(angle)]])
    out = []
    for k, stroke in enumerate(strokes):
        # Later strokes land a little off where they were meant to start (pen lifted).
        shift = rng.normal(0, 1.5 * style.jitter, size=2) if k else np.zeros(2)
        p = stroke + shift + _wobble(len(stroke), style.jitter, rng)
        x = (p[:, 0] - 0.5) * width + style.slant * (0.5 - p[:, 1]) * height
        y = (p[:, 1] - 0.5) * height
        out.append(_sloppy(np.stack([x, y], axis=1), k, height, style.sloppiness, rng))
    return [p @ rotate.T + np.asarray(centre) for p in out]


def _sloppy(
    points: np.ndarray, k: int, height: float, sloppiness: float, rng: np.random.Generator
) -> np.ndarray:
    """One stroke turned, sized and (if not the first) moved a little about its middle."""
    if sloppiness <= 0:
        return points
    angle = np.radians(rng.normal(0, 8 * sloppiness))
    turn = np.array([[np.cos(angle), np.sin(angle)], [-np.sin(angle), np.cos(angle)]])
    scale = 1 + rng.normal(0, 0.1 * sloppiness)
    shift = rng.normal(0, 0.05 * sloppiness * height, size=2) if k else np.zeros(2)
    middle = points.mean(axis=0)
    return middle + (points - middle) @ turn.T * scale + shift


def _wobble(n: int, jitter: float, rng: np.random.Generator) -> np.ndarray:
    """Smooth noise along a stroke: a few random offsets, interpolated."""
    knots = max(2, n // 12 + 2)
    offsets = rng.normal(0, jitter, size=(knots, 2))
    where = np.linspace(0, knots - 1, n)
    return np.stack([np.interp(where, np.arange(knots), offsets[:, k]) for k in (0, 1)], axis=1)


def _render(glyphs: list[Skeleton], pen: int, canvas: tuple[int, int]) -> np.ndarray:
    """Trace strokes with a round pen (round joints and caps), anti-aliased by supersampling."""
    s = SUPERSAMPLE
    image = Image.new("L", (canvas[0] * s, canvas[1] * s))
    draw = ImageDraw.Draw(image)
    r = pen * s / 2
    for strokes in glyphs:
        for stroke in strokes:
            points = [tuple(p) for p in stroke * s]
            if len(points) > 1:
                draw.line(points, fill=255, width=pen * s, joint="curve")
            for x, y in (points[0], points[-1]):
                draw.ellipse((x - r, y - r, x + r, y + r), fill=255)
    return np.asarray(image.resize(canvas, Image.Resampling.BOX))


def _ink_box(layer: np.ndarray) -> tuple[int, int, int, int]:
    rows, cols = np.nonzero(layer)
    return int(cols.min()), int(rows.min()), int(cols.max()) + 1, int(rows.max()) + 1
