"""to_mnist on real MNIST digits drawn the ways people draw them, and on inputs that are wrong."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from serving.preprocess import (
    BLOT,
    NOTHING_TO_READ,
    SPECK,
    NoDigit,
    PreprocessError,
    find_digit,
    to_mnist,
)


def upscale(digit: np.ndarray, factor: int) -> np.ndarray:
    size = 28 * factor
    return np.asarray(Image.fromarray(digit).resize((size, size), Image.Resampling.BICUBIC))


def on_canvas(ink: np.ndarray, side: int, top: int, left: int) -> np.ndarray:
    canvas = np.zeros((side, side), dtype=np.uint8)
    canvas[top : top + ink.shape[0], left : left + ink.shape[1]] = ink
    return canvas


@pytest.fixture(scope="module")
def digits(mnist_test):
    return mnist_test.images[:50], mnist_test.labels[:50]


def test_mnist_digit_comes_back_as_itself(digits):
    # MNIST digits are already in MNIST form: the recipe must (nearly) reproduce them.
    images, _ = digits
    out = np.stack([to_mnist(im) for im in images])
    assert out.dtype == np.float32 and out.shape == (50, 28, 28)
    assert np.abs(out - images / 255.0).mean() < 0.02


def test_output_is_mnist_shaped(digits):
    x = to_mnist(on_canvas(upscale(digits[0][3], 6), 400, 10, 200))
    assert x.shape == (28, 28) and x.dtype == np.float32
    assert x.min() == 0.0 and x.max() == pytest.approx(1.0)
    rows, cols = np.flatnonzero(x.any(1)), np.flatnonzero(x.any(0))
    assert max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1 == 20  # fits the 20x20 box
    cy, cx = ndimage.center_of_mass(x)
    assert abs(cy - 14) <= 0.5 and abs(cx - 14) <= 0.5  # centred by mass, as MNIST


def test_corner_and_centre_give_the_same_pixels(digits):
    big = upscale(digits[0][0], 4)
    centred = to_mnist(on_canvas(big, 400, 144, 144))
    for top, left in [(0, 0), (0, 288), (288, 0), (288, 288)]:
        corner = to_mnist(on_canvas(big, 400, top, left))
        np.testing.assert_allclose(corner, centred, atol=1e-5)


def test_polarity_is_detected(digits):
    ink = on_canvas(upscale(digits[0][1], 5), 300, 40, 60)
    white_ink = to_mnist(ink)
    dark_ink = to_mnist(255 - ink)
    np.testing.assert_allclose(dark_ink, white_ink, atol=1e-5)
    rgb_paper = np.repeat((255 - ink)[..., None], 3, axis=2)
    np.testing.assert_allclose(to_mnist(rgb_paper), white_ink, atol=1e-2)


def test_grey_paper_with_noise_still_finds_the_digit(digits, rng):
    ink = on_canvas(upscale(digits[0][2], 5), 300, 20, 20) / 255.0
    paper = 0.75 + rng.normal(0, 0.02, ink.shape)  # dim photo of paper
    photo = np.clip(paper * (1 - ink) + 0.1 * ink, 0, 1)
    clean = to_mnist(on_canvas(upscale(digits[0][2], 5), 300, 20, 20))
    assert np.abs(to_mnist(photo) - clean).mean() < 0.03


@pytest.mark.parametrize("colour", [(0, 0, 0), (255, 255, 255), (30, 90, 200), (250, 220, 0)])
def test_canvas_rgba_with_transparent_background(digits, colour):
    """The drawing canvas: strokes in any colour, alpha = coverage, background alpha 0."""
    ink = on_canvas(upscale(digits[0][4], 8), 280, 30, 30)
    rgba = np.zeros((280, 280, 4), dtype=np.uint8)
    rgba[ink > 0, :3] = colour
    rgba[..., 3] = ink
    np.testing.assert_allclose(to_mnist(rgba), to_mnist(ink), atol=2e-2)


def test_opaque_canvas_with_background_colour(digits):
    ink = on_canvas(upscale(digits[0][5], 8), 280, 0, 0).astype(np.float64) / 255
    rgba = np.empty((280, 280, 4))
    rgba[..., :3] = (1 - ink[..., None]) * [1.0, 1.0, 0.9] + ink[..., None] * [0.1, 0.1, 0.4]
    rgba[..., 3] = 1.0
    np.testing.assert_allclose(to_mnist(rgba), to_mnist(ink), atol=5e-2)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32, np.float64, np.bool_])
def test_empty_canvas_is_no_digit(dtype):
    assert to_mnist(np.zeros((280, 280), dtype=dtype)) is None
    assert to_mnist(np.ones((64, 64), dtype=dtype)) is None


def test_nearly_empty_drawings_are_no_digit():
    canvas = np.zeros((280, 280, 4), dtype=np.uint8)
    assert to_mnist(canvas) is None  # transparent: what the canvas gives before drawing
    dot = canvas.copy()
    yy, xx = np.mgrid[:280, :280]
    dot[(yy - 100) ** 2 + (xx - 150) ** 2 <= 8**2] = 255  # one click of the pen
    assert to_mnist(dot) is None
    speck = np.zeros((1000, 1000), dtype=np.uint8)
    speck[500:503, 500:510] = 255  # a tiny scratch on a large photo
    assert to_mnist(speck) is None
    faint = np.full((100, 100), 200, dtype=np.uint8)
    faint[20:80, 48:52] = 195  # contrast far below anything drawn
    assert to_mnist(faint) is None


def test_find_digit_says_why_there_is_no_digit(blot):
    """Ink that holds no digit is not called empty: a pen click or a scribbled-over blot is a
    blot, a scratch on a big photo a speck; a digit comes back exactly as to_mnist gives it."""
    yy, xx = np.mgrid[:280, :280]
    canvas = np.zeros((280, 280), dtype=np.uint8)
    click, one = canvas.copy(), canvas.copy()
    click[(yy - 100) ** 2 + (xx - 150) ** 2 <= 8**2] = 255
    one[40:240, 130:146] = 255
    speck = np.zeros((1000, 1000), dtype=np.uint8)
    speck[500:503, 500:510] = 255
    assert find_digit(canvas) == NoDigit(NOTHING_TO_READ)
    assert find_digit(np.full((64, 64), 255, np.uint8)) == NoDigit(NOTHING_TO_READ)
    assert find_digit(click) == NoDigit(BLOT)
    assert find_digit(blot) == NoDigit(BLOT)
    assert find_digit(speck) == NoDigit(SPECK)
    assert np.array_equal(find_digit(one), to_mnist(one))
    assert len({NOTHING_TO_READ, SPECK, BLOT}) == 3


def test_a_drawn_one_is_not_mistaken_for_a_dot():
    canvas = np.zeros((280, 280), dtype=np.uint8)
    canvas[40:240, 130:146] = 255  # a thick vertical stroke: a "1"
    x = to_mnist(canvas)
    assert x is not None
    assert (x.max(axis=1) > 0.5).sum() >= 19  # a 20-pixel tall bar
    assert (x.max(axis=0) > 0.5).sum() <= 4  # of MNIST pen width


@pytest.mark.parametrize(
    ("image", "words"),
    [
        (np.full((50, 50), np.nan, dtype=np.float32), "NaN"),
        (np.where(np.eye(50) > 0, np.inf, 0.0), "infinite"),
        (np.zeros((50, 50), dtype=np.int64), "dtype"),
        (np.zeros((50, 50), dtype=np.complex64), "dtype"),
        (np.zeros(50, dtype=np.uint8), "2-D"),
        (np.zeros((2, 50, 50, 3), dtype=np.uint8), "2-D"),
        (np.zeros((50, 50, 2), dtype=np.uint8), "RGB"),
        (np.zeros((4, 4), dtype=np.uint8), "4x4"),
        (np.zeros((20_000, 10), dtype=np.uint8), "20000x10"),
        (np.full((50, 50), 255.0), "divide"),
        (np.full((50, 50), -0.5), "[0, 1]"),
        ([[0, 1], [1, 0]], "numpy array"),
    ],
)
def test_bad_input_is_a_clear_error(image, words):
    with pytest.raises(PreprocessError, match=None) as info:
        to_mnist(image)
    assert words in str(info.value)
    assert isinstance(info.value, ValueError)


def test_to_gray_is_pils_luminance_in_0_1_whatever_the_dtype(rng):
    """Against PIL's own "L" conversion (ITU-R 601: 299, 587, 114 per mille), and the same
    gray for the same picture stored as uint8, uint16 (x 257) or float in [0, 1]."""
    from serving.preprocess import to_gray

    rgb = rng.integers(0, 256, (40, 30, 3), dtype=np.uint8)
    rgb[0, :3] = [[255, 0, 0], [0, 255, 0], [0, 0, 255]]  # pure red, green, blue
    reference = np.asarray(Image.fromarray(rgb).convert("L"), dtype=np.float64) / 255
    gray = to_gray(rgb)
    assert gray.dtype == np.float64 and gray.shape == (40, 30)
    np.testing.assert_allclose(gray, reference, atol=1 / 255)
    np.testing.assert_allclose(gray[0, :3], [0.299, 0.587, 0.114], atol=1e-9)
    for same in (rgb.astype(np.uint16) * 257, rgb / np.float32(255), rgb / 255.0):
        np.testing.assert_allclose(to_gray(same), gray, atol=1e-6)
    np.testing.assert_allclose(to_gray(rgb[..., 0].astype(np.uint16) * 257), rgb[..., 0] / 255)
