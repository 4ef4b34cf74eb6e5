"""Read image files into arrays that serving.preprocess accepts (the I/O half of predict).

One function, one contract: ``read_image`` either returns the pixels, upright (EXIF orientation
applied), or raises ``ImageReadError`` with one line that names the file. The pixel count is read
from the header and checked against a cap *before* anything is decoded, so a small file that
promises a huge picture (a 400 KB PNG of 10000x10000 pixels) costs nothing. The CLI, the app and
the HTTP service all read images through it.
"""

from __future__ import annotations

import io
import math
import re
import warnings
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

DEFAULT_MAX_PIXELS = 40_000_000  # 40 megapixels: any phone photo, not a decompression bomb
# What read_image returns is at most this many pixels a side (area-averaged): preprocessing works
# at 1024 anyway, and a 40-megapixel 16-bit PNG otherwise became ~850 MB of float copies. JPEGs
# are decoded at reduced size outright (DCT scaling); other formats are decoded once, then
# reduced, so one image's peak is its decoded size (<= 4 bytes x 40 MP = 160 MB) plus ~30 MB.
DECODE_SIDE = 2048
# Raster formats people hand over (JPEG includes phones' MPO). Others are refused unopened
# (EPS would run Ghostscript).
FORMATS = ("PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP")
FORMAT_NAMES = "PNG, JPEG, GIF, BMP, TIFF or WebP"

# We enforce our own (lower) cap before decoding; PIL's warning at its 89 MP limit would only
# add a library warning line to the CLI's output before our one-line error.
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
# Malformed metadata makes the TIFF plugin warn per tag; the image still decodes, or fails with
# our one-line error: library warnings would only clutter the CLI's stderr.
warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.")
Image.init()  # register every plugin (TIFF, WebP, ...): `formats=` only finds loaded ones


class ImageReadError(ValueError):
    """The file is missing, too large, or not an image we can decode; one line, naming it."""


def read_image(
    source: str | Path | BinaryIO,
    *,
    name: str | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_side: int | None = DECODE_SIDE,
) -> np.ndarray:
    """[H,W] uint8/uint16/float32 gray, [H,W,3] RGB or [H,W,4] RGBA, upright; else
    ImageReadError.

    ``source`` is a path or an open binary file (an upload); ``name`` is what error messages
    call it (default: the path, or the file object's ``name``). Images with a side over
    ``max_side`` come back area-reduced to it (None: full size).
    """
    if name is not None:
        label = name
    elif isinstance(source, str | Path):
        label = str(source)
    else:
        label = str(getattr(source, "name", "<image>"))
    if max_pixels < 1:
        raise ValueError(f"max_pixels must be >= 1, got {max_pixels}")
    try:
        with Image.open(source, formats=FORMATS) as image:
            _check_size(image.size, max_pixels, label)  # header only: nothing decoded yet
            if (
                max_side is not None
                and image.format == "JPEG"
                and _factor(image.size, max_side) > 1
            ):
                image.draft(image.mode, _reduced(image.size, max_side))  # decode at 1/2..1/8
            image.load()
            if max_side is None or _factor(image.size, max_side) <= 1:
                upright = ImageOps.exif_transpose(image)
            else:  # reduce first: a transposed copy of 40 megapixels would cost 160 MB more
                upright = _orient(_reduce(image, max_side), image.getexif().get(ORIENTATION))
            _check_size(upright.size, max_pixels, label)
            return _to_array(upright, label)
    except ImageReadError:
        raise
    except FileNotFoundError as exc:
        raise ImageReadError(f"{label}: no such file") from exc
    except IsADirectoryError as exc:
        raise ImageReadError(f"{label}: is a folder, not an image file") from exc
    except PermissionError as exc:
        raise ImageReadError(f"{label}: permission denied; make the file readable") from exc
    except UnidentifiedImageError as exc:
        raise ImageReadError(
            f"{label}: not an image file ({FORMAT_NAMES}) or a broken one"
        ) from exc
    except Image.DecompressionBombError as exc:  # PIL's own check, in open(): > 179 MP
        raise ImageReadError(_too_large(label, _bomb_pixels(exc), max_pixels)) from exc
    except MemoryError as exc:
        raise ImageReadError(f"{label}: not enough memory to decode this image") from exc
    except Exception as exc:  # malformed files: each decoder fails its own way (OSError,
        # ValueError, SyntaxError, TypeError, struct.error, zlib.error, ... found by fuzzing)
        raise ImageReadError(f"{label}: broken or truncated image ({_one_line(exc)})") from exc


def header_pixels(data: bytes) -> int:
    """Width x height as the file's header states it (nothing decoded); 0 if unreadable."""
    try:
        with Image.open(io.BytesIO(data), formats=FORMATS) as image:
            return image.size[0] * image.size[1]
    except Exception:  # noqa: BLE001 - read_image gives the real error later
        return 0


def _check_size(size: tuple[int, int], max_pixels: int, label: str) -> None:
    width, height = size
    if width < 1 or height < 1:
        raise ImageReadError(f"{label}: broken image header (size {width}x{height})")
    if width * height > max_pixels:
        raise ImageReadError(_too_large(label, (width, height), max_pixels))


def _bomb_pixels(exc: Image.DecompressionBombError) -> int | None:
    """The pixel count PIL's message gives ("Image size (400000000 pixels) exceeds ...")."""
    found = re.search(r"\((\d+) pixels\)", str(exc))
    return int(found.group(1)) if found else None


def _too_large(label: str, size: tuple[int, int] | int | None, max_pixels: int) -> str:
    if isinstance(size, tuple):
        what = f"{size[0]}x{size[1]} pixels"
    else:
        what = f"{size / 1e6:g} megapixels" if size else "too many pixels"
    return (
        f"{label}: image too large ({what}; the limit is {max_pixels / 1e6:g} megapixels); "
        "scale it down or crop it to the digit"
    )


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    text = text[:200] + "..." if len(text) > 200 else text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


ORIENTATION = 0x0112  # the EXIF tag
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


KEEP_SIDE = 32  # a reduction stops before the short side drops below this (a 10000x8 strip)
BAND_PIXELS = 2_000_000  # input pixels reduced at a time (a copy of this many is the overhead)


def _factor(size: tuple[int, int], max_side: int) -> float:
    return min(max(size) / max_side, min(size) / KEEP_SIDE)


def _reduced(size: tuple[int, int], max_side: int) -> tuple[int, int]:
    factor = max(1.0, _factor(size, max_side))
    return max(1, round(size[0] / factor)), max(1, round(size[1] / factor))


def _reduce(image: Image.Image, max_side: int) -> Image.Image:
    """Area-averaged (BOX) to fit ``max_side``. RGBA, palette and 1-bit images a band of rows
    at a time: PIL's resize of RGBA first makes a premultiplied copy of every pixel (a 40 MP PNG
    peaked at 490 MB), and palette/1-bit ones must be converted to average at all (PIL takes
    the nearest pixel); gray and RGB in one resize (0.3 s for 39 MP of 16-bit, twice as fast)."""
    if _factor(image.size, max_side) <= 1:
        return image
    if image.mode in ("L", "RGB", "I;16", "I", "F"):  # no copy of the input: PIL's own, fastest
        return image.resize(_reduced(image.size, max_side), Image.Resampling.BOX)
    width, height = image.size
    out_w, out_h = _reduced(image.size, max_side)
    mode = image.mode if image.mode in ("L", "RGB", "RGBA", "I;16", "I", "F") else None
    mode = mode or _plain_mode(image)
    out = Image.new(mode, (out_w, out_h))
    step = max(1, math.ceil(BAND_PIXELS / width * out_h / height))  # output rows per band
    for row in range(0, out_h, step):
        stop = min(out_h, row + step)
        top, bottom = row * height / out_h, stop * height / out_h
        band = image.crop((0, math.floor(top), width, min(height, math.ceil(bottom))))
        band = band if band.mode == mode else band.convert(mode)
        box = (0.0, top - math.floor(top), float(width), bottom - math.floor(top))
        out.paste(band.resize((out_w, stop - row), Image.Resampling.BOX, box=box), (0, row))
    return out


def _orient(image: Image.Image, orientation: object) -> Image.Image:
    method = _TRANSPOSE.get(orientation) if isinstance(orientation, int) else None
    return image if method is None else image.transpose(method)


def _plain_mode(image: Image.Image) -> str:
    if image.mode == "1":
        return "L"
    transparent = image.mode in ("LA", "PA", "RGBa", "La") or "transparency" in image.info
    return "RGBA" if transparent else "RGB"


def _to_array(image: Image.Image, label: str = "<image>") -> np.ndarray:
    if image.mode in ("L", "RGB", "RGBA"):
        return np.asarray(image)
    if image.mode.startswith("I;16"):
        return np.asarray(image).astype(np.uint16)
    if image.mode in ("I", "F"):  # 32-bit integer or float gray (TIFF): no silent conversion
        return _wide_gray(np.asarray(image), image.mode, label)
    return np.asarray(image.convert(_plain_mode(image)))


def _wide_gray(pixels: np.ndarray, mode: str, label: str) -> np.ndarray:
    """Float gray in 0..1 is read as is; 32-bit integers within 0..65535 as 16-bit gray.
    Anything else has no agreed brightness scale: refused (PIL's RGB conversion clipped a 0..1
    float TIFF to black, read as "no digit")."""
    low, high = (float(pixels.min()), float(pixels.max())) if pixels.size else (0.0, 0.0)
    if mode == "F" and np.isfinite(pixels).all() and 0.0 <= low and high <= 1.0:
        return pixels.astype(np.float32)
    if mode == "I" and 0 <= low and high <= 65535:
        return pixels.astype(np.uint16)
    kind = "float" if mode == "F" else "32-bit integer"
    expected = "0..1" if mode == "F" else "0..65535"
    raise ImageReadError(
        f"{label}: {kind} gray image with values in [{low:.4g}, {high:.4g}], expected "
        f"{expected}; save it as an 8- or 16-bit image (PNG)"
    )


def preview(image: np.ndarray, side: int) -> np.ndarray:
    """A uint8 copy of what read_image returned, at most ``side`` pixels a side, for display:
    the browser needs no 40-megapixel original (nor 16-bit pixels)."""
    pixels = np.asarray(image)
    if pixels.dtype == np.uint16:
        pixels = (pixels >> 8).astype(np.uint8)
    small = Image.fromarray(pixels)
    small.thumbnail((side, side), Image.Resampling.BOX)
    return np.asarray(small)
