"""Outlier-exposure proxies: reproducible, in MNIST form, never 1-like, and from fonts,
alphabets and digits that no evaluation set uses."""

from __future__ import annotations

import numpy as np

from cnn.reader import fonts, heldout, nondigits, pen, proxies


def test_proxies_are_reproducible_and_in_mnist_form():
    a = proxies.proxy_pixels(24, seed=0, cache_dir=None)
    b = proxies.proxy_pixels(24, seed=0, cache_dir=None)
    c = proxies.proxy_pixels(24, seed=1, cache_dir=None)
    assert a.shape == (24, 28, 28) and a.dtype == np.float32
    assert a.min() >= 0 and a.max() <= 1 and (a.reshape(24, -1).max(1) > 0.5).all()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert not any(proxies.one_like(x) for x in a)


def test_every_kind_draws_and_the_cache_returns_the_same(tmp_path):
    drawings, kinds = proxies.proxy_drawings(40, seed=3)
    assert set(kinds) <= set(proxies.KINDS) and len(set(kinds)) >= 5
    for kind, make in proxies.MAKERS.items():
        image = make(np.random.default_rng(0))
        assert image.shape == (proxies.SIDE, proxies.SIDE) and image.max() > 128, kind
    made = proxies.proxy_pixels(10, seed=2, cache_dir=tmp_path)
    (cached,) = tmp_path.glob("proxies-v*-2-10.npy")
    np.testing.assert_array_equal(np.load(cached, allow_pickle=False), made)
    np.testing.assert_array_equal(proxies.proxy_pixels(10, seed=2, cache_dir=tmp_path), made)


def test_one_like_is_a_tall_narrow_stroke():
    bar = np.zeros((28, 28), np.float32)
    bar[4:24, 13:16] = 1
    box = np.zeros((28, 28), np.float32)
    box[6:22, 6:22] = 1
    assert proxies.one_like(bar) and not proxies.one_like(box)


def test_no_font_of_an_evaluation_set_is_a_proxy():
    """Fonts are disjoint. The symbol glyphs share no character with an evaluation set; Latin
    letters (version 3) do, typed in the proxies' fonts only, never a letter that is a digit."""
    mine = set(fonts.font_group("proxies"))
    assert not mine & set(fonts.font_group("heldout"))
    assert not mine & set(nondigits.text_fonts())
    evaluated = set(nondigits.LETTERS + nondigits.SYMBOLS + nondigits.ONE_LIKE)
    evaluated |= set(pen.LETTERS + pen.AMBIGUOUS) | set(heldout.LOOKALIKES)
    assert not set(proxies.GLYPHS) & evaluated
    assert not set(proxies.GLYPHS + proxies.LATIN) & set("0123456789")
    assert not set(proxies.LATIN + proxies.LOOKALIKE) & set("OoQDIlij")
    assert set(proxies.LOOKALIKE) <= set(proxies.LATIN)


def test_proxies_do_not_draw_with_the_evaluation_pen():
    """The pen drawings the held-out sets and the app-shape measurement use (cnn.reader.pen)
    are not imported by the proxies: doodles and letters come from their own code."""
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(proxies))
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not {m for m in imported if m and ("pen" in m or "heldout" in m or "app_shapes" in m)}


def test_proxy_digits_come_from_the_training_part_only():
    from cnn.data import load_mnist
    from cnn.splits import VALIDATION_SIZE

    images, _ = proxies._train_digits()
    assert len(images) == len(load_mnist("train")) - VALIDATION_SIZE
