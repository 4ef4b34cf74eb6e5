"""Drawings that are not digits, and digits drawn like the app's canvas, as MNIST-form pixels.

Everything is drawn on a 280x280 canvas (or a photo-like page) the way the app receives it and
then goes through the real preprocessing, ``serving.preprocess.to_mnist``: the model is judged on
exactly what it would see. Non-digit sets are for *evaluation only*: nothing is ever fitted or
tuned on them (the abstain threshold is chosen on drawn-like validation digits).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from cnn.augment import add_crossbar, add_flag
from cnn.reader.fonts import font_group, fonts_with, load_font
from serving.preprocess import to_mnist
from serving.robustness import CANVAS, VARIANTS

# Letters and symbols that do not look like a digit in handwriting. Left out on purpose:
# O o D Q (0), I l i j | / \ ! (1), Z z (2), S s (5), b G (6), B (8), g q (9).
LETTERS = "ACEFHKLMNPRTUVWXYacefhkmnrtuvwxy"
SYMBOLS = "+-=*#@&%?$<>~"
# Brackets are not symbols here: after the preprocessing (cropped, scaled to 20 pixels tall)
# ( ) [ ] { } are a single tall stroke, i.e. a 1, like I l | / \ which were left out above. No
# 28x28 reader can refuse them without refusing 1s, so pooled with the symbols they only set a
# floor (about 1.6 points of "shown at >= 99%"). They are their own 1-like category
# (``one_like_set``), reported apart and never pooled with the non-digits.
ONE_LIKE = "()[]{}"
NONDIGIT_SETS = ("letters", "symbols", "scribbles", "noise", "rotated_digits", "two_digits")
# Bumped whenever the drawings change (caches of them are keyed by it). 2: font groups, no
# missing-glyph boxes, brackets out of the symbols, flagged 1s and crossed 7s in drawn digits.
SETS_VERSION = 3
# Share of the 1s drawn with a flag and of the 7s with a crossbar in the drawn-digit sets.
PEOPLE_SHARE = 0.5
# Drawn-like digit variants (serving.robustness), without "drawn" (a random pick of the others).
DRAWN_VARIANTS = tuple(name for name in VARIANTS if name != "drawn")


@dataclass(frozen=True)
class DrawnSet:
    """Pixels the model sees, for the drawings ``to_mnist`` found ink in; ``rejected`` did not."""

    pixels: np.ndarray  # float32 [N, 28, 28]
    labels: np.ndarray  # int64 [N]: the digit, or -1 for a non-digit
    rejected: int  # drawings the preprocessing read as empty (no prediction is made)


def to_pixels(drawings: Iterable[np.ndarray], labels: Iterable[int]) -> DrawnSet:
    """Run every drawing through the app's preprocessing; keep those it finds ink in."""
    pixels, kept, rejected = [], [], 0
    for drawing, label in zip(drawings, labels, strict=True):
        x = to_mnist(drawing)
        if x is None:
            rejected += 1
            continue
        pixels.append(x)
        kept.append(label)
    stacked = np.stack(pixels).astype(np.float32) if pixels else np.zeros((0, 28, 28), np.float32)
    return DrawnSet(stacked, np.asarray(kept, dtype=np.int64), rejected)


# --- digits drawn like the app's canvas ---------------------------------------------------


def drawn_digits(
    images: np.ndarray, labels: np.ndarray, count: int, seed: int, people: float = PEOPLE_SHARE
) -> DrawnSet:
    """``count`` of these MNIST digits, each drawn with one of the robustness variants; a
    ``people`` share of the 1s gets a flag and of the 7s a crossbar first (cnn.augment), as
    many people write them."""
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(images), size=min(count, len(images)), replace=False)
    names = rng.choice(DRAWN_VARIANTS, size=len(pick))
    flip = rng.random(len(pick)) < people
    drawings = (
        VARIANTS[name](_as_people_write(images[i], int(labels[i]), change, rng), rng)
        for i, name, change in zip(pick, names, flip, strict=True)
    )
    return to_pixels(drawings, labels[pick])


def _as_people_write(
    digit: np.ndarray, label: int, change: bool, rng: np.random.Generator
) -> np.ndarray:
    if change and label == 1:
        return add_flag(digit, rng)
    if change and label == 7:
        return add_crossbar(digit, rng)
    return digit


DRAWN_KINDS = ("flagged_ones", "crossed_sevens", "thin", "thick", "small_off_centre")


def drawn_kind_sets(
    images: np.ndarray, labels: np.ndarray, count: int, seed: int
) -> dict[str, DrawnSet]:
    """Digits people draw differently, one set each (``count`` drawings): a 1 with a flag, a 7
    with a crossbar (both drawn big), any digit with a thin or a thick pen, or small and
    off-centre. For per-kind rows beside ``drawn_digits``' pooled one."""
    ones, sevens = np.flatnonzero(labels == 1), np.flatnonzero(labels == 7)
    every = np.arange(len(labels))
    make = {
        "flagged_ones": (ones, add_flag, "large"),
        "crossed_sevens": (sevens, add_crossbar, "large"),
        "thin": (every, None, "thin"),
        "thick": (every, None, "thick"),
        "small_off_centre": (every, None, "off_centre"),
    }
    sets = {}
    for k, (name, (pool, change, variant)) in enumerate(make.items()):
        rng = np.random.default_rng([seed, k])
        pick = rng.choice(pool, size=min(count, len(pool)), replace=False)
        drawings = (
            VARIANTS[variant](change(images[i], rng) if change else images[i], rng) for i in pick
        )
        sets[name] = to_pixels(drawings, labels[pick])
    return sets


# --- non-digits ------------------------------------------------------------------------------


def text_fonts() -> list[Path]:
    """This module's font group (cnn.reader.fonts: handwriting fonts if installed, the CI
    installs them, plus DejaVu Sans); the held-out and proxy fonts are never used here."""
    return font_group("nondigits")


def render_text(
    text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont, rng: np.random.Generator
) -> np.ndarray:
    """White text on a black canvas: a random size (35-75% of the canvas), slant and place."""
    left, top, right, bottom = font.getbbox(text)
    glyph = Image.new("L", (right - left + 8, bottom - top + 8))
    ImageDraw.Draw(glyph).text((4 - left, 4 - top), text, fill=255, font=font)
    glyph = glyph.rotate(rng.uniform(-10, 10), resample=Image.Resampling.BICUBIC, expand=True)
    scale = rng.uniform(0.35, 0.75) * CANVAS / max(glyph.size)
    glyph = glyph.resize(
        (max(1, round(glyph.width * scale)), max(1, round(glyph.height * scale))),
        Image.Resampling.LANCZOS,
    )
    return _paste(np.asarray(glyph), rng)


def characters(
    alphabet: str, count: int, rng: np.random.Generator, fonts: list[Path] | None = None
) -> list[np.ndarray]:
    """``count`` characters from ``alphabet``, each in a random one of ``fonts`` (default
    ``text_fonts()``) that has a real glyph for it (a 'missing glyph' box would be a 0)."""
    paths = text_fonts() if fonts is None else fonts
    drawings = []
    for _ in range(count):
        char = str(rng.choice(list(alphabet)))
        usable = fonts_with(paths, char)
        font = (
            load_font(usable[rng.integers(len(usable))])
            if usable
            else ImageFont.load_default(size=160)
        )
        drawings.append(render_text(char, font, rng))
    return drawings


def scribble(rng: np.random.Generator) -> np.ndarray:
    """A random pen path: 5-12 points joined by a smooth stroke, 8-30 pixels wide."""
    points = _smooth_path(rng.uniform(20, CANVAS - 20, size=(int(rng.integers(5, 13)), 2)))
    image = Image.new("L", (CANVAS, CANVAS))
    width = int(rng.integers(8, 31))
    ImageDraw.Draw(image).line([tuple(p) for p in points], fill=255, width=width, joint="curve")
    return np.asarray(image)


def _smooth_path(points: np.ndarray, steps: int = 12) -> np.ndarray:
    """Catmull-Rom spline through the points: a hand's path, not a polygon."""
    p = np.vstack([points[:1], points, points[-1:]])
    t = np.linspace(0, 1, steps, endpoint=False)[:, None]
    segments = []
    for i in range(1, len(p) - 2):
        a, b, c, d = p[i - 1], p[i], p[i + 1], p[i + 2]
        segments.append(
            0.5
            * (
                2 * b
                + (c - a) * t
                + (2 * a - 5 * b + 4 * c - d) * t**2
                + (3 * b - a - 3 * c + d) * t**3
            )
        )
    return np.vstack([*segments, points[-1:]])


def noise(rng: np.random.Generator) -> np.ndarray:
    """Blotchy noise: smoothed random blobs over part of the canvas (a smudge, a bad photo)."""
    from scipy import ndimage

    side = int(rng.integers(40, CANVAS))
    field = ndimage.gaussian_filter(rng.normal(size=(side, side)), sigma=rng.uniform(2, 8))
    blobs = np.where(field > np.quantile(field, rng.uniform(0.6, 0.9)), 255, 0).astype(np.uint8)
    return _paste(blobs, rng)


def rotated_digit(digit: np.ndarray, label: int, rng: np.random.Generator) -> np.ndarray:
    """A digit turned a quarter either way, then drawn big (a 0 turned is still a 0: skipped)."""
    del label
    turned = np.rot90(digit, k=int(rng.choice([1, 3])))
    return VARIANTS["large"](np.ascontiguousarray(turned), rng)


def two_digits(first: np.ndarray, second: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A two-digit number: two MNIST digits side by side, drawn big."""
    pair = np.hstack([first[:, 4:24], second[:, 4:24]])  # 28 x 40, the usual gap
    size = rng.uniform(4, 6)
    big = np.asarray(
        Image.fromarray(pair).resize(
            (round(pair.shape[1] * size), round(pair.shape[0] * size)), Image.Resampling.BICUBIC
        )
    )
    return _paste(big, rng)


def _paste(big: np.ndarray, rng: np.random.Generator, side: int = CANVAS) -> np.ndarray:
    side = max(side, *big.shape)
    canvas = np.zeros((side, side), dtype=np.uint8)
    top, left = rng.integers(0, side - np.array(big.shape) + 1)
    canvas[top : top + big.shape[0], left : left + big.shape[1]] = big
    return canvas


def nondigit_drawings(
    images: np.ndarray, labels: np.ndarray, count: int, seed: int
) -> dict[str, list[np.ndarray]]:
    """``count`` drawings per non-digit set; ``images``/``labels`` (MNIST test) feed the
    rotated digits and the two-digit numbers."""
    make: dict[str, Callable[[np.random.Generator], list[np.ndarray]]] = {
        "letters": lambda rng: characters(LETTERS, count, rng),
        "symbols": lambda rng: characters(SYMBOLS, count, rng),
        "scribbles": lambda rng: [scribble(rng) for _ in range(count)],
        "noise": lambda rng: [noise(rng) for _ in range(count)],
        "rotated_digits": lambda rng: [
            rotated_digit(images[i], int(labels[i]), rng)
            for i in rng.choice(np.flatnonzero(labels != 0), size=count, replace=False)
        ],
        "two_digits": lambda rng: [
            two_digits(images[i], images[j], rng)
            for i, j in rng.choice(len(images), size=(count, 2), replace=False)
        ],
    }
    return {name: make[name](np.random.default_rng([seed, k])) for k, name in enumerate(make)}


def nondigit_sets(images: np.ndarray, labels: np.ndarray, count: int, seed: int) -> dict:
    """Each non-digit set as the model sees it (a DrawnSet with labels -1)."""
    return {
        name: to_pixels(drawings, [-1] * len(drawings))
        for name, drawings in nondigit_drawings(images, labels, count, seed).items()
    }


def one_like_set(count: int, seed: int) -> DrawnSet:
    """Brackets ``( ) [ ] { }`` in this module's fonts: non-digits that preprocess into a 1's
    single stroke. Report them on their own; never pool them with ``nondigit_sets``."""
    rng = np.random.default_rng([seed, 0x1])
    drawings = characters(ONE_LIKE, count, rng)
    return to_pixels(drawings, [-1] * len(drawings))
