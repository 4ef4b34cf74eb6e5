"""Read image files into arrays that serving.preprocess accepts (the I/O half of predict)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError


class ImageReadError(ValueError):
    """The file is missing or is not an image PIL can decode."""


def read_image(path: str | Path) -> np.ndarray:
    """[H,W] uint8/uint16 gray, [H,W,3] RGB or [H,W,4] RGBA, whatever mode the file has."""
    path = Path(path)
    try:
        with Image.open(path) as image:
            image.load()
            return _to_array(image)
    except FileNotFoundError as exc:
        raise ImageReadError(f"{path}: no such file") from exc
    except UnidentifiedImageError as exc:
        raise ImageReadError(f"{path}: not an image file PIL can read (PNG, JPEG, ...)") from exc
    except OSError as exc:  # truncated or unreadable files, directories
        raise ImageReadError(f"{path}: cannot read image ({exc})") from exc


def _to_array(image: Image.Image) -> np.ndarray:
    if image.mode in ("L", "RGB", "RGBA"):
        return np.asarray(image)
    if image.mode.startswith("I;16"):
        return np.asarray(image).astype(np.uint16)
    if image.mode == "1":
        return np.asarray(image.convert("L"))
    transparent = image.mode in ("LA", "PA", "RGBa", "La") or "transparency" in image.info
    return np.asarray(image.convert("RGBA" if transparent else "RGB"))
