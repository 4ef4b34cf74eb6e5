"""Non-digit PROXIES for training an "is it a digit?" output by outlier exposure.

The reader never sees a real non-digit while it trains, so it learns "not a digit" from
generated stand-ins. They come from generators and fonts that NO evaluation set uses
(``cnn.reader.nondigits``: fonts' letters/symbols, smooth scribbles, noise blobs, rotated and
paired *test* digits; ``cnn.reader.heldout``: pen letters, shapes, scribbles, numbers, held-out
fonts), so the evaluation sets measure how far the lesson carries, not what was memorised:

- ``shuffled``: an MNIST *training* digit cut into a 2x2 or 4x4 grid, the pieces shuffled;
- ``overlaid``: two training digits of different classes drawn on top of each other;
- ``crop``: a corner of a training digit (50-65% of it), drawn big;
- ``polygon``: a straight-line path of 3-8 corners, open or closed;
- ``zigzag``: a zigzag of 3-8 teeth at any angle;
- ``grid``: 3-5 lines crossed by 3-5 others;
- ``arcs``: 1-3 random elliptic arcs;
- ``glyph``: Greek, Cyrillic and mathematical characters (no Latin letters, no look-alikes of
  a digit) in the proxies' font group (``cnn.reader.fonts``: Comic Neue, DejaVu Sans Mono /
  Condensed / Math, Liberation Mono / Sans Narrow / Serif);
- ``latin`` (version 3): Latin letters in the same proxies' font group, strokes evened like a
  pen's (bold faces thinned, others thickened at random), sheared and turned; never a letter
  that *is* a digit when written (O o Q D, I l i j);
- ``lookalike`` (version 3): the same, S s Z z only: the letters a 28x28 reader takes for a 5
  and a 2 (before them the app showed a drawn S as a 5 in 98% of drawings);
- ``doodle`` (version 3): a wobbly closed ring with 1-4 random marks inside (dots, short
  lines, small arcs, small rings) and sometimes strokes outside (rays, ears, a stem).

Why the version-3 kinds do not break the rule "no evaluation drawing trains anything": they are
made by this module's own code and fonts. The evaluation sets' letters are drawn by other
fonts (``nondigits``: dkg, Delphine, Because We Build/Connect/Create, DejaVu Sans; ``heldout``:
Breip, Steve Hand, Because We Learn/Mentor/Organize, Liberation Sans, DejaVu Serif) and by the
pen skeletons of ``cnn.reader.pen``, which this module does not import; the held-out pen shapes
(smiley, star, house, ...) are fixed skeletons, the doodles random parts. What is no longer
blind: the *category*. The evaluation's letter sets and its smiley now measure how far typed
letters in other fonts and random ring-and-marks doodles carry to them, not a kind of
drawing the reader has never been taught to refuse (docs/BENCHMARKS.md says so by its numbers).

MNIST digits come from the training part of the fixed split only (``cnn.splits``), never the
validation digits the abstain threshold is chosen on, nor the test digits. Lines are drawn with
a round pen on a 112-pixel canvas (the app's 280 scaled by 0.4, pen widths likewise) and every
drawing goes through the app's preprocessing, ``serving.preprocess.to_mnist``: proxies are in
the same MNIST form as what the served reader sees. No evaluation drawing trains or tunes
anything.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from cnn.reader.fonts import font_group, fonts_with
from serving.preprocess import to_mnist

SIDE = 112  # canvas: 0.4 x the app's 280 (to_mnist is ~3x faster than at 280)
PEN = (2, 16)  # pen widths on this canvas: the app's 5-40 scaled by 0.4
SUPERSAMPLE = 2
# Greek, Cyrillic and maths: no Latin letters (the evaluation sets' alphabets), nothing a
# digit looks like (O o I Z B 3-like З, 6-like б, 4-like Ч, 0-like Θ θ ∅), no doodle-like
# symbols the held-out pen shapes draw (stars, hearts, smileys).
GLYPHS = (
    "ΓΔΛΞΠΣΦΨΩαβγεζηλμξπρσφψω"
    "БГДЖИЛПФЦШЩЭЮЯгджилпфцшщэюя"
    "∀∂∃∇∈∏∑√∞∫≈≠≤≥⊂⊃⊕⊗§¶©®€£¥¢±×÷←→↑↓↔⇒♪♫"
)  # fmt: skip
# Latin letters for the ``latin`` kind, typed in the proxies' fonts only. Left out: the letters
# that *are* a digit when written (O o Q D: 0; I l i j: 1), which no reader could refuse without
# refusing the digit. ``lookalike`` types only S s Z z (a 5 and a 2 to a 28x28 reader unless
# it sees many of them: a drawn S was shown as a 5 in 98% of the app's drawings).
LATIN = "ABCEFGHJKLMNPRSTUVWXYZabcdefghkmnpqrstuvwxyz"
LOOKALIKE = "SsZz"
KINDS = (
    "shuffled", "overlaid", "crop", "polygon", "zigzag", "grid", "arcs", "glyph", "latin",
    "lookalike", "doodle",
)  # fmt: skip
# Relative weights (per 30,000 proxies): the first eight as in version 1 (20,000), plus 4,000
# Latin letters, 3,000 look-alike letters and 3,000 doodles.
WEIGHTS = tuple(
    np.array([3000, 3000, 1600, 2400, 2000, 1600, 2400, 4000, 4000, 3000, 3000]) / 30_000
)
# bump when a generator changes: the cache is keyed by it (2 was a curve/coil kind, not shipped;
# 3: Latin letters, look-alike letters and doodles)
VERSION = 3
CACHE = Path("runs/proxies")  # 20,000 take ~2 minutes on an idle core; kept once made


# --- from MNIST training digits -----------------------------------------------------------


@cache
def _train_digits() -> tuple[np.ndarray, np.ndarray]:
    """MNIST's training part of the fixed split (no validation digit, no test digit)."""
    from cnn.data import load_mnist
    from cnn.splits import train_validation_indices

    train = load_mnist("train")
    idx, _ = train_validation_indices(len(train))
    return train.images[idx], train.labels[idx]


def _big(small: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A 28x28 (or smaller) image drawn 2.5-4x bigger somewhere on the canvas."""
    scale = rng.uniform(2.5, 4.0) * 28 / max(small.shape)
    size = (max(8, round(small.shape[1] * scale)), max(8, round(small.shape[0] * scale)))
    big = np.asarray(Image.fromarray(small).resize(size, Image.Resampling.BICUBIC))
    canvas = np.zeros((SIDE, SIDE), np.uint8)
    h, w = min(big.shape[0], SIDE), min(big.shape[1], SIDE)
    top, left = rng.integers(0, SIDE - h + 1), rng.integers(0, SIDE - w + 1)
    canvas[top : top + h, left : left + w] = big[:h, :w]
    return canvas


def shuffled(rng: np.random.Generator) -> np.ndarray:
    images, _ = _train_digits()
    digit = images[rng.integers(len(images))]
    k = int(rng.choice([2, 4]))
    step = 28 // k
    tiles = [
        digit[r : r + step, c : c + step] for r in range(0, 28, step) for c in range(0, 28, step)
    ]
    order = rng.permutation(len(tiles))
    while (order == np.arange(len(tiles))).all():
        order = rng.permutation(len(tiles))
    rows = [np.hstack([tiles[i] for i in order[r * k : (r + 1) * k]]) for r in range(k)]
    return _big(np.vstack(rows), rng)


def overlaid(rng: np.random.Generator) -> np.ndarray:
    images, labels = _train_digits()
    first = rng.integers(len(images))
    others = np.flatnonzero(labels != labels[first])
    second = np.roll(images[rng.choice(others)], rng.integers(-5, 6, size=2), axis=(0, 1))
    return _big(np.maximum(images[first], second), rng)


def crop(rng: np.random.Generator) -> np.ndarray:
    """A corner of a digit: 50-65% of its box, which corner at random."""
    images, _ = _train_digits()
    digit = images[rng.integers(len(images))]
    rows, cols = np.nonzero(digit > 60)
    top, bottom, left, right = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    h = max(3, round((bottom - top) * rng.uniform(0.5, 0.65)))
    w = max(3, round((right - left) * rng.uniform(0.5, 0.65)))
    y0 = top if rng.random() < 0.5 else bottom - h
    x0 = left if rng.random() < 0.5 else right - w
    return _big(digit[y0 : y0 + h, x0 : x0 + w], rng)


# --- pen lines ------------------------------------------------------------------------------


def _pen(paths: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """Paths (points in [0, 1]^2) traced with one round pen, anti-aliased."""
    s = SUPERSAMPLE
    image = Image.new("L", (SIDE * s, SIDE * s))
    draw = ImageDraw.Draw(image)
    width = int(rng.integers(PEN[0], PEN[1] + 1)) * s
    margin = 0.06 + width / s / SIDE
    for path in paths:
        points = [tuple(p) for p in (margin + path * (1 - 2 * margin)) * SIDE * s]
        draw.line(points, fill=255, width=width, joint="curve")
        for x, y in (points[0], points[-1]):
            draw.ellipse((x - width / 2, y - width / 2, x + width / 2, y + width / 2), fill=255)
    return np.asarray(image.resize((SIDE, SIDE), Image.Resampling.BOX))


def _box(points: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Points scaled into a random box inside [0, 1]^2 (40-100% of it, any aspect)."""
    low, high = points.min(axis=0), points.max(axis=0)
    unit = (points - low) / np.maximum(high - low, 1e-9)
    size = rng.uniform(0.4, 1.0, size=2)
    return rng.uniform(0, 1 - size) + unit * size


def polygon(rng: np.random.Generator) -> np.ndarray:
    # 4-8 corners: with 3, a random path is too often a 7, an L or a 1 with a flag
    points = rng.uniform(0, 1, size=(int(rng.integers(4, 9)), 2))
    if rng.random() < 0.4:
        points = np.vstack([points, points[:1]])
    return _pen([_box(points, rng)], rng)


def zigzag(rng: np.random.Generator) -> np.ndarray:
    teeth = int(rng.integers(3, 9))
    x = np.linspace(0, 1, 2 * teeth + 1)
    y = np.where(np.arange(len(x)) % 2, 1.0, 0.0) * rng.uniform(0.2, 1.0)
    angle = rng.uniform(0, np.pi)
    turn = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return _pen([_box(np.stack([x, y], axis=1) @ turn.T, rng)], rng)


def grid(rng: np.random.Generator) -> np.ndarray:
    lines = []
    for angle in (rng.uniform(-0.3, 0.3), np.pi / 2 + rng.uniform(-0.3, 0.3)):
        direction = np.array([np.cos(angle), np.sin(angle)])
        normal = np.array([-direction[1], direction[0]])
        for offset in np.linspace(-0.35, 0.35, int(rng.integers(3, 6))):
            centre = 0.5 + offset * normal
            lines.append(np.stack([centre - 0.45 * direction, centre + 0.45 * direction]))
    return _pen([np.clip(line, 0, 1) for line in lines], rng)


def arcs(rng: np.random.Generator) -> np.ndarray:
    paths = []
    count = int(rng.integers(1, 4))
    for _ in range(count):  # a single short arc is a ( or a 1: alone, an arc is long
        start = rng.uniform(0, 2 * np.pi)
        t = start + np.linspace(0, rng.uniform(0.6 if count > 1 else 1.2, 1.6) * np.pi, 40)
        centre, radius = rng.uniform(0.25, 0.75, 2), rng.uniform(0.15, 0.5, 2)
        paths.append(np.clip(centre + radius * np.stack([np.cos(t), np.sin(t)], axis=1), 0, 1))
    return _pen(paths, rng)


# --- font glyphs ----------------------------------------------------------------------------


@cache
def _font(path: Path) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(path), size=72)


def glyph(rng: np.random.Generator) -> np.ndarray:
    """A character of ``GLYPHS`` in a proxies' font that has it, turned and placed at random."""
    char = str(rng.choice(list(GLYPHS)))
    usable = fonts_with(font_group("proxies"), char)
    font = _font(usable[rng.integers(len(usable))]) if usable else ImageFont.load_default(72)
    left, top, right, bottom = font.getbbox(char)
    image = Image.new("L", (right - left + 8, bottom - top + 8))
    ImageDraw.Draw(image).text((4 - left, 4 - top), char, fill=255, font=font)
    image = image.rotate(rng.uniform(-15, 15), resample=Image.Resampling.BICUBIC, expand=True)
    return _big(np.asarray(image), rng)


def latin(rng: np.random.Generator, letters: str = LATIN) -> np.ndarray:
    """A Latin letter of ``letters`` in a proxies' font, its strokes made even like a pen's (bold
    faces thinned, others thickened a little at random), sheared and turned a little."""
    char = str(rng.choice(list(letters)))
    usable = fonts_with(font_group("proxies"), char)
    path = usable[rng.integers(len(usable))] if usable else None
    font = _font(path) if path is not None else ImageFont.load_default(72)
    left, top, right, bottom = font.getbbox(char)
    image = Image.new("L", (right - left + 24, bottom - top + 24))
    ImageDraw.Draw(image).text((12 - left, 12 - top), char, fill=255, font=font)
    if path is not None and "Bold" in path.name:
        image = image.filter(ImageFilter.MinFilter(3))
    grow = int(rng.choice([0, 0, 3, 5]))
    if grow:
        image = image.filter(ImageFilter.MaxFilter(grow))
    shear = rng.normal(0, 0.15)
    image = image.transform(
        (image.width + int(abs(shear) * image.height), image.height),
        Image.Transform.AFFINE,
        (1, shear, -max(shear, 0) * image.height, 0, 1, 0),
        resample=Image.Resampling.BICUBIC,
    )
    image = image.rotate(rng.uniform(-12, 12), resample=Image.Resampling.BICUBIC, expand=True)
    return _big(np.asarray(image), rng)


def _loop(rng: np.random.Generator, centre, radius, start: float, sweep: float) -> np.ndarray:
    """A hand-drawn elliptic arc: its radius wobbles smoothly (a few random harmonics)."""
    t = start + np.linspace(0, sweep, max(12, int(60 * sweep / (2 * np.pi))))
    wobble = 1 + sum(
        rng.normal(0, 0.04) * np.cos(k * t + rng.uniform(0, 2 * np.pi)) for k in (2, 3, 4)
    )
    return np.asarray(centre) + np.stack([np.cos(t), -np.sin(t)], axis=1) * radius * wobble[:, None]


def doodle(rng: np.random.Generator) -> np.ndarray:
    """A composite doodle from generic parts: a closed (or nearly closed) ring with 1-4 marks
    inside it (dots, short lines, small arcs, small rings) and, sometimes, 1-5 strokes outside
    it (rays, ears, a stem). Not any evaluation set's skeleton: parts placed at random."""
    radius = 0.5 * rng.uniform(0.75, 1.0, size=2)
    paths = [
        _loop(rng, (0.5, 0.5), radius, rng.uniform(0, 2 * np.pi), rng.uniform(1.85, 2.1) * np.pi)
    ]
    for _ in range(int(rng.integers(1, 5))):
        where = 0.5 + rng.uniform(-0.5, 0.5, size=2) * radius
        kind = rng.integers(4)
        if kind == 0:  # a dot: a very short stroke, a blob of the pen's width
            paths.append(np.stack([where, where + rng.normal(0, 0.015, size=2)]))
        elif kind == 1:  # a short line
            angle = rng.uniform(0, np.pi)
            half = rng.uniform(0.05, 0.2) * np.array([np.cos(angle), np.sin(angle)])
            paths.append(np.stack([where - half, where + half]))
        elif kind == 2:  # an arc (a smile, a frown, a brow)
            size = radius * rng.uniform(0.2, 0.6, size=2)
            paths.append(
                _loop(rng, where, size, rng.uniform(0, 2 * np.pi), rng.uniform(0.5, 1.2) * np.pi)
            )
        else:  # a small ring
            paths.append(_loop(rng, where, radius * rng.uniform(0.1, 0.25), 0, 2 * np.pi))
    if rng.random() < 0.3:
        for _ in range(int(rng.integers(1, 6))):
            angle = rng.uniform(0, 2 * np.pi)
            out = np.array([np.cos(angle), -np.sin(angle)])
            start = 0.5 + out * radius * 1.05
            paths.append(np.stack([start, start + out * rng.uniform(0.1, 0.3)]))
    points = np.vstack(paths)
    low, high = points.min(axis=0), points.max(axis=0)
    scale = 1 / max(high - low)
    return _pen([(p - low) * scale for p in paths], rng)


def one_like(x: np.ndarray) -> bool:
    """A tall narrow stroke in MNIST form: a 1 to any reader, so no proxy (a crop of a stroke,
    a short arc, a flat zigzag seen edge-on)."""
    rows, cols = np.nonzero(x > 0.3)
    if len(rows) == 0:
        return True
    return (cols.max() - cols.min() + 1) < 0.4 * (rows.max() - rows.min() + 1)


MAKERS: dict[str, Callable[[np.random.Generator], np.ndarray]] = {
    "shuffled": shuffled,
    "overlaid": overlaid,
    "crop": crop,
    "polygon": polygon,
    "zigzag": zigzag,
    "grid": grid,
    "arcs": arcs,
    "glyph": glyph,
    "latin": latin,
    "lookalike": lambda rng: latin(rng, LOOKALIKE),
    "doodle": doodle,
}


def proxy_drawings(count: int, seed: int) -> tuple[list[np.ndarray], list[str]]:
    """``count`` raw proxy drawings (uint8 [112, 112]) and the kind of each."""
    rng = np.random.default_rng([seed, 0x0E])
    drawings, kinds = [], []
    for _ in range(count):  # the same draws as proxy_pixels (which skips inkless ones)
        kinds.append(str(rng.choice(KINDS, p=WEIGHTS)))
        drawings.append(MAKERS[kinds[-1]](rng))
    return drawings, kinds


def proxy_pixels(count: int, seed: int, cache_dir: Path | str | None = CACHE) -> np.ndarray:
    """``count`` proxies in MNIST form: float32 [count, 28, 28] in [0, 1], ink high.

    A drawing the preprocessing finds no ink in, or that became a 1-like
    stroke (``one_like``), is replaced by another. The result is kept in ``cache_dir`` as
    ``proxies-v{VERSION}-{seed}-{count}.npy`` (read back without pickle); None: no cache.
    """
    path = Path(cache_dir) / f"proxies-v{VERSION}-{seed}-{count}.npy" if cache_dir else None
    if path is not None and path.is_file():
        return np.load(path, allow_pickle=False)
    rng = np.random.default_rng([seed, 0x0E])
    out = np.zeros((count, 28, 28), np.float32)
    done = 0
    while done < count:
        x = to_mnist(MAKERS[str(rng.choice(KINDS, p=WEIGHTS))](rng))
        if x is not None and not one_like(x):
            out[done] = x
            done += 1
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial.npy")
        np.save(partial, out)
        partial.replace(path)  # a reader never finds half a file
    return out
