"""Held-out evaluation drawings, the font groups that keep them apart, and the drawn-digit
kinds: deterministic, labelled right, through the real preprocessing, disjoint from training."""

from __future__ import annotations

from itertools import combinations
from pathlib import Path

import numpy as np
import pytest

from cnn.reader import fonts, heldout, nondigits


def test_font_groups_are_disjoint_by_pattern_and_on_this_machine(tmp_path):
    names = [p.name for d in fonts.FONT_DIRS if d.is_dir() for p in d.rglob("*.[ot]tf")]
    names += ["DejaVuSans.ttf", "DejaVuSansMono.ttf", "LiberationSansNarrow-Bold.ttf", "dkg.ttf"]
    for a, b in combinations(fonts.GROUPS, 2):
        in_a = {n for n in names if any(Path(n).match(p) for p in fonts.GROUPS[a])}
        in_b = {n for n in names if any(Path(n).match(p) for p in fonts.GROUPS[b])}
        assert not in_a & in_b, (a, b, in_a & in_b)
    installed = {g: set(fonts.font_group(g)) for g in fonts.GROUPS}
    for a, b in combinations(installed, 2):
        assert not installed[a] & installed[b]
    assert set(nondigits.text_fonts()) == installed["nondigits"]
    with pytest.raises(ValueError, match="unknown font group"):
        fonts.font_group("everything")


def test_missing_glyphs_are_not_drawn_as_boxes():
    """Because We Build has no '<': its 'missing glyph' box would be a 0, so it is skipped."""
    build = [p for p in fonts.font_group("nondigits") if p.name.startswith("BecauseWeBuild")]
    if not build:
        pytest.skip("fonts-bwht is not installed (.ci/install-system-packages.sh)")
    assert not fonts.has_glyph(build[0], "<") and fonts.has_glyph(build[0], "A")
    assert fonts.fonts_with(build, "<") == []


def test_brackets_are_their_own_one_like_category():
    assert not set(nondigits.ONE_LIKE) & set(nondigits.SYMBOLS)
    brackets = nondigits.one_like_set(count=4, seed=0)
    assert len(brackets.labels) + brackets.rejected == 4 and (brackets.labels == -1).all()


def test_heldout_nondigits_are_reproducible_and_preprocessed():
    sets = heldout.heldout_nondigit_sets(count=4, seed=0)
    assert tuple(sets) == heldout.HELDOUT_NONDIGIT_SETS
    for name, s in sets.items():
        assert len(s.labels) + s.rejected == 4, name
        assert len(s.labels) >= 2, f"{name}: preprocessing rejected {s.rejected} of 4"
        assert (s.labels == -1).all() and s.pixels.shape[1:] == (28, 28)
        assert 0 <= s.pixels.min() and s.pixels.max() <= 1
    again = heldout.heldout_nondigit_sets(count=4, seed=0)
    other = heldout.heldout_nondigit_sets(count=4, seed=1)
    for name in sets:
        np.testing.assert_array_equal(sets[name].pixels, again[name].pixels)
    assert not np.array_equal(sets["pen_letters"].pixels, other["pen_letters"].pixels)


def test_heldout_writers_are_not_writer_style_writers():
    mine = {
        heldout.heldout_writer(np.random.default_rng([s, heldout.HELDOUT_TAG])) for s in range(3)
    }
    from cnn.reader.pen import writer_style

    assert not mine & {writer_style(s) for s in range(1000)}


def test_heldout_digits_are_balanced_and_labelled():
    digits = heldout.heldout_digit_set(count=25, seed=0)
    assert digits.rejected == 0 and len(digits.labels) == 25
    assert np.bincount(digits.labels, minlength=10)[:10].min() >= 2
    kinds = heldout.heldout_digit_kind_sets(count=3, seed=0)
    assert tuple(kinds) == heldout.DIGIT_KINDS
    assert (kinds["flagged_ones"].labels == 1).all()
    assert (kinds["crossed_sevens"].labels == 7).all()


def test_drawn_kind_sets_keep_their_labels(mnist_test):
    kinds = nondigits.drawn_kind_sets(mnist_test.images, mnist_test.labels, count=4, seed=0)
    assert tuple(kinds) == nondigits.DRAWN_KINDS
    assert (kinds["flagged_ones"].labels == 1).all()
    assert (kinds["crossed_sevens"].labels == 7).all()
    for s in kinds.values():
        assert s.rejected == 0 and len(s.labels) == 4
