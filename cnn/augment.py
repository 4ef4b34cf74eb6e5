"""Digits people draw differently from MNIST's writers: a 1 with a flag, a 7 with a crossbar,
a thin or a thick pen.

MNIST's 1s are mostly a bare stroke and its 7s rarely have a crossbar, so a reader trained on it
reads a European 1 as a 7 and is unsure of a crossed 7. ``people_copies`` adds, once at data
load, copies of a share of the training 1s with a flag and of the 7s with a crossbar (labels
unchanged); ``stroke_width`` thins or thickens each image of a batch by a random amount (grey
erosion/dilation by ``max_pool2d``, blended), on any device, from the caller's random state.
The rest of the drawn-digit variation (rotation, scale, shift) is ``cnn.train.augment_batch``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageDraw

if TYPE_CHECKING:  # torch is imported where it is used: the drawing helpers need numpy only
    import torch

SIDE = 28
UP = 4  # strokes are drawn at 4x and reduced: anti-aliased like MNIST's edges
PEOPLE_SHARE = 0.3  # share of the training 1s and 7s that get a flagged/crossed copy


def _ink(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    rows, cols = np.nonzero(image > 127)
    return rows, cols


def _pen_width(image: np.ndarray, length: float) -> float:
    """Mean stroke width in pixels: ink mass over the strokes' length."""
    return float(np.clip(image.sum() / 255 / max(length, 1.0), 1.5, 5.0))


def _draw(image: np.ndarray, points: list[tuple[float, float]], width: float) -> np.ndarray:
    """``image`` with a round-pen polyline on top (points in pixel coordinates, x then y)."""
    layer = Image.new("L", (SIDE * UP, SIDE * UP))
    draw = ImageDraw.Draw(layer)
    scaled = [(x * UP + UP / 2, y * UP + UP / 2) for x, y in points]
    w = max(1, round(width * UP))
    draw.line(scaled, fill=255, width=w, joint="curve")
    for x, y in (scaled[0], scaled[-1]):
        draw.ellipse((x - w / 2, y - w / 2, x + w / 2, y + w / 2), fill=255)
    stroke = np.asarray(layer.resize((SIDE, SIDE), Image.Resampling.BOX))
    return np.maximum(image, stroke)


def _recentre(image: np.ndarray) -> np.ndarray:
    """Shift by whole pixels so the centre of mass sits at MNIST's (14, 14) again."""
    mass = image.astype(np.float64)
    total = mass.sum()
    if total == 0:
        return image
    y = (mass.sum(1) * np.arange(SIDE)).sum() / total
    x = (mass.sum(0) * np.arange(SIDE)).sum() / total
    dy, dx = round(14 - y), round(14 - x)
    out = np.zeros_like(image)
    src = image[max(0, -dy) : SIDE - max(0, dy), max(0, -dx) : SIDE - max(0, dx)]
    out[max(0, dy) : max(0, dy) + src.shape[0], max(0, dx) : max(0, dx) + src.shape[1]] = src
    return out


def add_flag(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A 1 (uint8 [28, 28]) with a flag: a short stroke from its top going down to the left,
    as wide as the 1's own stroke, then recentred like MNIST."""
    rows, cols = _ink(image)
    if len(rows) == 0:
        return image
    top, bottom = rows.min(), rows.max()
    height = bottom - top + 1
    x_top = cols[rows <= top + 1].mean()
    length = height * rng.uniform(0.2, 0.45)
    angle = np.radians(rng.uniform(25, 60))
    end = (x_top - length * np.cos(angle), top + length * np.sin(angle))
    width = _pen_width(image, height)
    return _recentre(_draw(image, [end, (x_top, float(top))], width))


def add_crossbar(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A 7 (uint8 [28, 28]) with a crossbar through its down-stroke near mid-height."""
    rows, cols = _ink(image)
    if len(rows) == 0:
        return image
    top, bottom = rows.min(), rows.max()
    height, span = bottom - top + 1, cols.max() - cols.min() + 1
    y = round(top + height * rng.uniform(0.45, 0.6))
    at = cols[rows == y]
    x = at.mean() if len(at) else cols.mean()
    half = max(span, 0.6 * height) * rng.uniform(0.2, 0.35)  # narrow 7s get a real bar
    tilt = rng.uniform(-1, 1)
    width = _pen_width(image, height + span)
    return _recentre(_draw(image, [(x - half, y + tilt), (x + half, y - tilt)], width))


def people_copies(
    images: np.ndarray, labels: np.ndarray, rng: np.random.Generator, share: float = PEOPLE_SHARE
) -> tuple[np.ndarray, np.ndarray]:
    """Flagged copies of ``share`` of the 1s and crossed copies of ``share`` of the 7s
    (uint8 [M, 28, 28], labels int64 [M]); append them to the training set."""
    made, made_labels = [], []
    for digit, change in ((1, add_flag), (7, add_crossbar)):
        where = np.flatnonzero(labels == digit)
        pick = rng.choice(where, size=round(share * len(where)), replace=False)
        made += [change(images[i], rng) for i in np.sort(pick)]
        made_labels += [digit] * len(pick)
    if not made:
        return np.zeros((0, SIDE, SIDE), np.uint8), np.zeros(0, np.int64)
    return np.stack(made).astype(np.uint8), np.asarray(made_labels, dtype=np.int64)


def stroke_width(
    x: torch.Tensor, p: float = 0.5, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Thin or thicken each image of a float batch [N, 1, 28, 28] by a random amount.

    With probability ``p`` an image moves part of the way (uniform) towards its 3x3 grey
    dilation (a thicker pen) or, at most 60% of the way, towards its erosion (a thinner one),
    half and half; the rest are unchanged.
    Random numbers come from ``generator`` (or torch's global state, as ``augment_batch``).
    """
    import torch
    import torch.nn.functional as F

    n = x.shape[0]
    u = torch.rand(n, 2, device=x.device, generator=generator)
    amount = torch.where(u[:, 0] < p, u[:, 1], torch.zeros_like(u[:, 1]))
    thicker = (u[:, 0] < p / 2).view(n, 1, 1, 1)
    dilated = F.max_pool2d(x, 3, stride=1, padding=1)
    eroded = -F.max_pool2d(-x, 3, stride=1, padding=1)
    target = torch.where(thicker, dilated, eroded)
    # A full 3x3 erosion wipes out MNIST's thinnest strokes: thin by at most 60% of it.
    amount = torch.where(thicker.view(n), amount, 0.6 * amount)
    return x + amount.view(n, 1, 1, 1) * (target - x)


def with_people_copies(
    images: np.ndarray, labels: np.ndarray, seed: int, share: float = PEOPLE_SHARE
) -> tuple[np.ndarray, np.ndarray]:
    """The training images followed by their flagged/crossed copies (same seed, same copies)."""
    copies, copy_labels = people_copies(images, labels, np.random.default_rng([seed, 0x1F7]), share)
    return np.concatenate([images, copies]), np.concatenate([labels, copy_labels])
