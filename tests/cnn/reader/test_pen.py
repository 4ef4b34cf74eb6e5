"""Pen drawings: reproducible per seed, inked, inside the canvas, every digit and glyph."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from cnn.reader.pen import (
    AMBIGUOUS,
    LETTERS,
    SHAPES,
    PenStyle,
    pen_digit,
    pen_digits,
    pen_glyph,
    pen_number,
    writer_style,
)


def test_a_writer_is_reproducible_and_writers_differ():
    assert writer_style(3) == writer_style(3)
    assert len({writer_style(s) for s in range(20)}) == 20


def test_same_seeds_same_drawings_other_seed_other_drawings():
    a, labels_a = pen_digits(10, writer_seed=1, seed=2)
    b, labels_b = pen_digits(10, writer_seed=1, seed=2)
    c, _ = pen_digits(10, writer_seed=1, seed=3)
    np.testing.assert_array_equal(labels_a, labels_b)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c, strict=True))
    assert sorted(labels_a.tolist()) == list(range(10))


@pytest.mark.parametrize("digit", range(10))
def test_every_digit_is_inked_inside_the_canvas(digit):
    for seed in range(4):
        style = writer_style(seed)
        image = pen_digit(digit, style, np.random.default_rng(seed))
        assert image.shape == (280, 280) and image.dtype == np.uint8
        assert image.max() == 255 and image.min() == 0
        # a margin is left on every side: the pen never runs off the canvas
        assert image[0].max() == image[-1].max() == image[:, 0].max() == image[:, -1].max() == 0


def test_every_glyph_renders():
    for k, name in enumerate([*LETTERS, *AMBIGUOUS, *SHAPES, "7"]):
        image = pen_glyph(name, writer_style(k), np.random.default_rng(k))
        assert image.shape == (280, 280) and (image > 128).sum() > 100, name


def test_unknown_glyph_and_digit_are_refused():
    with pytest.raises(ValueError, match="unknown glyph"):
        pen_glyph("?", PenStyle(), np.random.default_rng(0))
    with pytest.raises(ValueError, match="0-9"):
        pen_digit(10, PenStyle(), np.random.default_rng(0))
    with pytest.raises(ValueError, match="digits"):
        pen_number("4a", PenStyle(), np.random.default_rng(0))


def test_the_pen_width_is_the_styles():
    """A vertical 1 is as wide as the pen (within the anti-aliased edge)."""
    for width in (6, 20, 40):
        style = PenStyle(width=width, jitter=0.0, rotation=0.0, slant=0.0)
        image = pen_digit(1, style, np.random.default_rng(0))
        row = image[140] > 127
        assert abs(int(row.sum()) - width) <= 3, (width, row.sum())


def test_flag_and_crossbar_add_ink():
    plain, rng = PenStyle(jitter=0.0), np.random.default_rng
    for digit, field in ((1, "one_flag"), (7, "seven_bar")):
        with_it = dataclasses.replace(plain, **{field: True})
        assert (pen_digit(digit, with_it, rng(0)) > 127).sum() > (
            pen_digit(digit, plain, rng(0)) > 127
        ).sum()


@pytest.mark.parametrize("gap", [0.3, 0.0, -0.2])
def test_number_boxes_inside_the_canvas_left_to_right(gap):
    for seed in range(6):
        digits = ["42", "137", "2026", "11", "7", "90817"][seed]
        image, boxes = pen_number(digits, writer_style(seed), np.random.default_rng(seed), gap=gap)
        assert image.shape == (280, 560)
        assert len(boxes) == len(digits)
        for x0, y0, x1, y1 in boxes:
            assert 0 <= x0 < x1 <= 560 and 0 <= y0 < y1 <= 280
            assert image[y0:y1, x0:x1].max() == 255
        starts = [b[0] for b in boxes]
        assert starts == sorted(starts)


def test_a_negative_gap_makes_digits_touch():
    style = PenStyle(jitter=0.0)
    _, apart = pen_number("44", style, np.random.default_rng(0), gap=0.4)
    _, touching = pen_number("44", style, np.random.default_rng(0), gap=-0.1)
    assert apart[0][2] < apart[1][0]  # a space between the boxes
    assert touching[0][2] > touching[1][0]  # boxes overlap
