"""Turn a drawing or a photo of a digit into MNIST form, the way MNIST itself was made.

MNIST's recipe (LeCun et al.): size-normalize the digit to fit a 20x20 box preserving its aspect
ratio, with anti-aliasing, then place it in a 28x28 field so that its centre of mass sits at the
field's centre. Before that we have to find the ink: any size, gray/RGB/RGBA, either polarity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import ndimage

SIZE, BOX = 28, 20
# MNIST's centre of mass sits at pixel (14, 14) (measured: 13.99, 14.00 over the test set).
CENTRE = 14.0
SUPPORTED = "bool, uint8, uint16 or float (0..1)"


class PreprocessError(ValueError):
    """The array cannot be an image of a digit; the message says what is wrong and how to fix it."""


@dataclass(frozen=True)
class PreprocessConfig:
    """Thresholds of the ink finder; the defaults suit canvases, scans and photos of paper."""

    min_side: int = 8  # smaller is not a drawing
    max_side: int = 10_000  # larger is a mistake (or a 400-megapixel photo)
    work_side: int = 512  # bigger images are first reduced to this (area-averaged)
    min_work_side: int = 28  # smaller ones are first enlarged to this
    min_crop: int = 80  # the digit is measured and its pen adjusted at >= 4x MNIST's 20 pixels
    min_contrast: float = 0.1  # ink must differ from the background by this much (of 0..1)
    noise_floor: float = 0.1  # ink weaker than this (after normalizing) is paper texture / JPEG
    stroke_level: float = 0.3  # pixels above this are certainly part of a stroke
    min_part: float = 0.05  # pieces smaller than this fraction of the largest stroke are dust
    min_extent: float = 0.02  # ink whose bounding box is below this fraction of the image: a speck
    min_elongation: float = 2.0  # bbox long side / stroke width below this: a dot, not a digit
    min_stroke: float = 2.0  # strokes thinner than this (28x28 pixels) are thickened, like MNIST's
    max_stroke: float = 4.5  # strokes thicker than this are thinned
    # Pen adjustment costs (crop pixels) x (disk pixels), which grows as the 4th power of the
    # crop's side: a 1-px line on a 1024-px page took 5 s, binary noise a minute. Above this many
    # operations (~0.3 s) the crop is first area-reduced to pen_side (then ~0.03 s). The
    # drawn-like MNIST variants stay below (p99 3 million, max 40 million in 1,400): their pixels
    # do not change.
    max_pen_work: int = 80_000_000
    pen_side: int = 160  # 8x MNIST's 20-pixel box


DEFAULT = PreprocessConfig()

# Why a drawing holds no digit to read: said the same in the CLI, HTTP and the app. A canvas
# covered in ink is not "empty", and the person who drew a blot should hear what to change.
NOTHING_TO_READ = "no digit: the drawing is empty or uniform (nothing to read)"
SPECK = "no digit: the only ink is a speck, too small to be a digit; draw the digit bigger"
BLOT = (
    "no digit: the ink is a dot or a blot, about as thick as it is long, not a written "
    "stroke; write the digit with a line (a thinner pen helps)"
)


@dataclass(frozen=True)
class NoDigit:
    """What find_digit answers when there is no digit to read, and why (one of the texts above)."""

    reason: str = NOTHING_TO_READ


def to_mnist(image: np.ndarray, config: PreprocessConfig = DEFAULT) -> np.ndarray | None:
    """float32 [28, 28] in [0, 1], ink high, centred like MNIST; None if there is no digit."""
    found = find_digit(image, config)
    return None if isinstance(found, NoDigit) else found


def find_digit(image: np.ndarray, config: PreprocessConfig = DEFAULT) -> np.ndarray | NoDigit:
    """to_mnist's pixels, or NoDigit saying why there is none (empty, a speck, a blot)."""
    ink = ink_map(image, config)
    box = None if ink is None else _bounding_box(ink > 0)
    if box is None:
        return NoDigit(NOTHING_TO_READ)
    if max(ink[box].shape) < config.min_extent * max(ink.shape):
        return NoDigit(SPECK)
    crop = _enlarge(ink[box], config.min_crop)
    width, long_side = stroke_width(crop), max(crop.shape)
    if long_side < config.min_elongation * width:
        return NoDigit(BLOT)
    crop, width = _within_pen_budget(crop, width, config)
    crop = _adjust_stroke(crop, width, BOX / max(crop.shape), config)
    return centre_by_mass(_fit_box(crop))


def ink_map(image: np.ndarray, config: PreprocessConfig = DEFAULT) -> np.ndarray | None:
    """Ink in [0, 1] (1 = strongest ink, 0 = background) at working size; None if uniform."""
    gray = _working_size(to_gray(_shrink_uint8(_validated(image, config), config)), config)
    background = float(np.median(_border(gray)))
    dark, bright = background - gray.min(), gray.max() - background
    contrast = max(dark, bright)
    if contrast < config.min_contrast:
        return None
    # Ink is the minority that departs furthest from the background: dark on paper, bright on
    # a blackboard-style canvas.
    ink = (background - gray) / contrast if dark > bright else (gray - background) / contrast
    ink = np.clip(ink, 0.0, 1.0)
    ink[ink < config.noise_floor] = 0.0
    return _drop_specks(ink, config)


def _drop_specks(ink: np.ndarray, config: PreprocessConfig) -> np.ndarray:
    """Keep the strokes (and ink close to them); drop dust and noise far smaller than a stroke."""
    labels, count = ndimage.label(ink > config.stroke_level, structure=np.ones((3, 3)))
    if count == 0:
        return np.zeros_like(ink)
    sizes = np.bincount(labels.ravel())[1:]
    keep = np.flatnonzero(sizes >= config.min_part * sizes.max()) + 1
    strokes = np.isin(labels, keep)
    rows, cols = _bounding_box(strokes)
    # Faint ink within 2 pixels of a stroke is its anti-aliased edge; elsewhere it is noise.
    rows = slice(max(rows.start - 2, 0), rows.stop + 2)
    cols = slice(max(cols.start - 2, 0), cols.stop + 2)
    out = np.zeros_like(ink)
    out[rows, cols] = ink[rows, cols] * ndimage.binary_dilation(strokes[rows, cols], iterations=2)
    return out


def to_gray(image: np.ndarray) -> np.ndarray:
    """float64 [H, W] luminance in [0, 1]; transparency is composited onto a contrasting paper."""
    x = _as_unit_float(image)
    if x.ndim == 2:
        return x
    if x.shape[2] == 1:
        return x[..., 0]
    luma = x[..., :3] @ np.array([0.299, 0.587, 0.114])  # ITU-R 601, as PIL's "L"
    if x.shape[2] == 3:
        return luma
    alpha = x[..., 3]
    if alpha.min() > 0.99:
        return luma
    # A canvas gives strokes (alpha > 0) over a transparent background whose RGB means nothing.
    # Put the strokes on paper of the opposite brightness, so ink keeps its contrast whatever
    # its colour (a yellow stroke goes on black, a blue one on white).
    ink_level = float((luma * alpha).sum() / max(alpha.sum(), 1e-12))
    paper = 1.0 if ink_level < 0.5 else 0.0
    return luma * alpha + paper * (1.0 - alpha)


def stroke_width(ink: np.ndarray) -> float:
    """Typical stroke width in pixels: twice the 95th-percentile distance to the ink's edge."""
    mask = ink > 0.5
    if not mask.any():
        return 1.0
    distance = ndimage.distance_transform_edt(np.pad(mask, 1))[1:-1, 1:-1]
    return max(1.0, 2.0 * float(np.percentile(distance[mask], 95)))


def centre_by_mass(digit: np.ndarray) -> np.ndarray:
    """Place a digit of at most 20x20 in a 28x28 field with its centre of mass at (14, 14)."""
    h, w = digit.shape
    cy, cx = ndimage.center_of_mass(digit)
    top = int(np.clip(round(CENTRE - cy), 0, SIZE - h))
    left = int(np.clip(round(CENTRE - cx), 0, SIZE - w))
    out = np.zeros((SIZE, SIZE), dtype=np.float32)
    out[top : top + h, left : left + w] = digit
    return out


def _validated(image: np.ndarray, config: PreprocessConfig) -> np.ndarray:
    if not isinstance(image, np.ndarray):
        raise PreprocessError(
            f"expected a numpy array, got {type(image).__name__}; convert it with np.asarray(...)"
        )
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3, 4)):
        raise PreprocessError(
            f"expected a 2-D grayscale [H, W] or an [H, W, 3|4] RGB(A) image, got shape "
            f"{image.shape}; for a batch, call to_mnist on each image"
        )
    h, w = image.shape[:2]
    if min(h, w) < config.min_side or max(h, w) > config.max_side:
        raise PreprocessError(
            f"image is {h}x{w}; sides must lie between {config.min_side} and {config.max_side} "
            "pixels (resize it first)"
        )
    return image


def _shrink_uint8(image: np.ndarray, config: PreprocessConfig) -> np.ndarray:
    """Reduce a big 8-bit photo in PIL before any float copy of its megapixels is made
    (PIL averages RGBA with premultiplied alpha, so transparency stays right)."""
    factor = max(image.shape[:2]) / config.work_side
    if image.dtype != np.uint8 or factor <= 1:
        return image
    size = (max(1, round(image.shape[1] / factor)), max(1, round(image.shape[0] / factor)))
    pil = Image.fromarray(image[..., 0] if image.ndim == 3 and image.shape[2] == 1 else image)
    return np.asarray(pil.resize(size, Image.Resampling.BOX))


def _as_unit_float(image: np.ndarray) -> np.ndarray:
    kind = image.dtype
    if kind == np.bool_:
        return image.astype(np.float64)
    if kind == np.uint8:
        return image.astype(np.float64) / 255.0
    if kind == np.uint16:
        return image.astype(np.float64) / 65535.0
    if np.issubdtype(kind, np.floating):
        x = image.astype(np.float64)
        if not np.isfinite(x).all():
            raise PreprocessError(
                "image contains NaN or infinite values; clean it before predicting"
            )
        if x.min() < 0.0 or x.max() > 1.0:
            raise PreprocessError(
                f"float image values lie in [{x.min():.3g}, {x.max():.3g}], expected [0, 1]; "
                "divide 0..255 data by 255 (or pass it as uint8)"
            )
        return x
    raise PreprocessError(f"unsupported dtype {kind}; pass {SUPPORTED}")


def _working_size(gray: np.ndarray, config: PreprocessConfig) -> np.ndarray:
    """Area-average big images down (keeps thin strokes' mass); blow tiny ones up (bicubic), so
    that stroke widths and specks are measured at a sensible resolution."""
    long_side = max(gray.shape)
    if long_side > config.work_side:
        factor, resample = config.work_side / long_side, Image.Resampling.BOX
    elif long_side < config.min_work_side:
        factor, resample = config.min_work_side / long_side, Image.Resampling.BICUBIC
    else:
        return gray
    size = (max(1, round(gray.shape[1] * factor)), max(1, round(gray.shape[0] * factor)))
    resized = Image.fromarray(gray.astype(np.float32)).resize(size, resample)
    return np.clip(np.asarray(resized, dtype=np.float64), 0.0, 1.0)


def _border(gray: np.ndarray) -> np.ndarray:
    return np.concatenate([gray[0], gray[-1], gray[1:-1, 0], gray[1:-1, -1]])


def _bounding_box(mask: np.ndarray) -> tuple[slice, slice] | None:
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    if rows.size == 0:
        return None
    return slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)


def _pen_radius(width: float, scale: float, config: PreprocessConfig) -> int:
    """The disk radius _adjust_stroke uses (positive: thicken, negative: thin, 0: nothing)."""
    target = width * scale
    if target < config.min_stroke:
        return max(0, round((config.min_stroke / scale - width) / 2))
    if target > config.max_stroke:
        return -max(0, round((width - config.max_stroke / scale) / 2))
    return 0


def pen_work(shape: tuple[int, ...], width: float, config: PreprocessConfig = DEFAULT) -> int:
    """Operations the pen adjustment of a crop of this shape and stroke width would cost."""
    radius = abs(_pen_radius(width, BOX / max(shape), config))
    if radius < 1:
        return 0
    side = 2 * radius + 1
    return (shape[0] + 2 * radius) * (shape[1] + 2 * radius) * side * side


def _within_pen_budget(
    crop: np.ndarray, width: float, config: PreprocessConfig
) -> tuple[np.ndarray, float]:
    """The crop (and its stroke width), area-reduced to ``config.pen_side`` when the pen
    adjustment would cost over ``config.max_pen_work``: the work is then bounded by the output's
    size, not by the input's."""
    if pen_work(crop.shape, width, config) <= config.max_pen_work:
        return crop, width
    factor = max(1.0, max(crop.shape) / config.pen_side)
    size = (max(1, round(crop.shape[1] / factor)), max(1, round(crop.shape[0] / factor)))
    small = Image.fromarray(crop.astype(np.float32)).resize(size, Image.Resampling.BOX)
    small = np.clip(np.asarray(small, dtype=np.float64), 0.0, 1.0)
    peak = small.max()
    small = small / peak if peak > 0 else small  # a hairline averages out faint: ink back to 1
    return small, stroke_width(small)


def _adjust_stroke(
    ink: np.ndarray, width: float, scale: float, config: PreprocessConfig
) -> np.ndarray:
    """Thicken hairlines and thin marker strokes so that, at 28x28, they look like MNIST's pen."""
    target = width * scale
    if target < config.min_stroke:
        radius = round((config.min_stroke / scale - width) / 2)
        if radius >= 1:
            ink = np.pad(ink, radius)
            return ndimage.grey_dilation(ink, footprint=_disk(radius))
    elif target > config.max_stroke:
        radius = round((width - config.max_stroke / scale) / 2)
        if radius >= 1:
            return ndimage.grey_erosion(ink, footprint=_disk(radius))
    return ink


def _enlarge(crop: np.ndarray, min_side: int) -> np.ndarray:
    """Bicubic enlargement by a whole factor, so that a 1-pixel pen change is a fine step."""
    factor = -(-min_side // max(crop.shape))
    if factor <= 1:
        return crop
    size = (crop.shape[1] * factor, crop.shape[0] * factor)
    big = Image.fromarray(crop.astype(np.float32)).resize(size, Image.Resampling.BICUBIC)
    return np.clip(np.asarray(big, dtype=np.float64), 0.0, 1.0)


def _disk(radius: int) -> np.ndarray:
    y, x = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    return x * x + y * y <= radius * radius + radius


def _fit_box(crop: np.ndarray) -> np.ndarray:
    """Resize (anti-aliased) so the long side is 20 pixels; peak ink back to 1."""
    h, w = crop.shape
    scale = BOX / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    resample = Image.Resampling.BOX if scale < 1 else Image.Resampling.BICUBIC
    small = Image.fromarray(crop.astype(np.float32)).resize(size, resample)
    digit = np.clip(np.asarray(small, dtype=np.float32), 0.0, 1.0)
    peak = digit.max()
    return digit / peak if peak > 0 else digit
