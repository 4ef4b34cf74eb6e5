"""Is a drawn digit recognized? Accuracy through preprocessing + model on drawing-like inputs.

Three sources: MNIST test digits turned into what a canvas or a phone gives (scaled up on a large
canvas, off-centre, thicker / thinner strokes, dark ink on paper, coloured RGBA strokes); digits
typed in handwriting-like fonts and drawn on a canvas; and other people's handwriting: the UCI
optical-digits set that scikit-learn ships (1,797 digits by 43 writers, 8x8 pixels, 17 grey
levels), shown as a small photo would be.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

from serving.predictor import Predictor
from serving.preprocess import to_mnist

Progress = Callable[[int, int], None]
Variant = Callable[[np.ndarray, np.random.Generator], np.ndarray]
CANVAS = 280  # the app's canvas is 280x280, like most drawing widgets
# Handwriting-like fonts (Debian packages fonts-dkg-handwriting, fonts-breip,
# fonts-comic-neue, fonts-bwht, fonts-sjfonts, fonts-rufscript, fonts-dancingscript).
# Not femkeklaver: its digits are hollow outlines, which nobody draws.
HANDWRITING = (
    "dkg",
    "breip",
    "ComicNeue",
    "BecauseWe",
    "Delphine",
    "SteveHand",
    "Rufscript",
    "DancingScript",
)
FONT_DIRS = (Path("/usr/share/fonts"), Path("/usr/local/share/fonts"), Path.home() / ".fonts")


@dataclass(frozen=True)
class RobustnessConfig:
    """How many MNIST test digits per variant, and the seed that draws them and their changes."""

    count: int = 1000
    seed: int = 0


# --- MNIST digits made to look drawn -------------------------------------------------------


def _upscale(digit: np.ndarray, factor: float) -> np.ndarray:
    size = max(8, round(28 * factor))
    return np.asarray(Image.fromarray(digit).resize((size, size), Image.Resampling.BICUBIC))


def _paste(big: np.ndarray, rng: np.random.Generator, side: int = CANVAS) -> np.ndarray:
    """Put an ink image anywhere on a black canvas of at least ``side`` pixels."""
    side = max(side, *big.shape)
    canvas = np.zeros((side, side), dtype=np.uint8)
    top, left = rng.integers(0, side - np.array(big.shape) + 1)
    canvas[top : top + big.shape[0], left : left + big.shape[1]] = big
    return canvas


def large(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Drawn big: 6-12x MNIST size on a 280-400 pixel canvas."""
    return _paste(_upscale(digit, rng.uniform(6, 12)), rng, side=int(rng.integers(280, 401)))


def off_centre(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Drawn small and anywhere, corners included."""
    return _paste(_upscale(digit, rng.uniform(2, 5)), rng)


def thick(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A fat marker: strokes widened by 8-16 canvas pixels."""
    big = _upscale(digit, 8)
    radius = int(rng.integers(4, 9))
    return _paste(ndimage.grey_dilation(np.pad(big, radius), footprint=_disk(radius)), rng)


def thin(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A fine pen: the digit's skeleton (found at 4x), drawn 4-8 pixels wide on an 8x canvas."""
    skeleton = np.kron(_skeleton(_upscale(digit, 4) > 100), np.ones((2, 2), dtype=bool))
    radius = int(rng.integers(1, 4))
    pen = ndimage.binary_dilation(skeleton, structure=_disk(radius))
    return _paste(np.where(pen, 255, 0).astype(np.uint8), rng)


def _skeleton(mask: np.ndarray) -> np.ndarray:
    """Zhang-Suen thinning (1984), vectorized: peel boundary pixels until 1-pixel lines remain."""
    x = np.pad(mask, 1).astype(np.uint8)
    while True:
        changed = False
        for step in (0, 1):
            # Neighbours P2..P9, clockwise from north.
            p = [
                np.roll(x, shift, axis=(0, 1))
                for shift in ((1, 0), (1, -1), (0, -1), (-1, -1), (-1, 0), (-1, 1), (0, 1), (1, 1))
            ]
            count = sum(p)
            transitions = sum((p[i] == 0) & (p[(i + 1) % 8] == 1) for i in range(8))
            if step == 0:
                a, b = p[0] * p[2] * p[4], p[2] * p[4] * p[6]
            else:
                a, b = p[0] * p[2] * p[6], p[0] * p[4] * p[6]
            delete = (
                (x == 1) & (count >= 2) & (count <= 6) & (transitions == 1) & (a == 0) & (b == 0)
            )
            if delete.any():
                x[delete] = 0
                changed = True
        if not changed:
            return x[1:-1, 1:-1].astype(bool)


def inverted(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Dark ink on light paper, with a little paper texture."""
    ink = _paste(_upscale(digit, rng.uniform(4, 10)), rng).astype(np.float64) / 255
    paper = rng.uniform(0.8, 1.0) + rng.normal(0, 0.02, ink.shape)
    gray = paper * (1 - ink) + rng.uniform(0.0, 0.2) * ink
    return np.clip(gray * 255, 0, 255).astype(np.uint8)


def rgba(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """What the canvas returns: coloured strokes, alpha = ink, transparent background."""
    ink = _paste(_upscale(digit, rng.uniform(4, 10)), rng)
    colour = rng.integers(0, 256, size=3).astype(np.uint8)
    out = np.zeros((*ink.shape, 4), dtype=np.uint8)
    out[ink > 0, :3] = colour
    out[..., 3] = ink
    return out


def drawn(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Any of the above, chosen at random."""
    variant = VARIANTS[list(VARIANTS)[rng.integers(0, len(VARIANTS) - 1)]]
    return variant(digit, rng)


VARIANTS: dict[str, Variant] = {
    "large": large,
    "off_centre": off_centre,
    "thick": thick,
    "thin": thin,
    "inverted": inverted,
    "rgba": rgba,
    "drawn": drawn,
}


def _disk(radius: int) -> np.ndarray:
    y, x = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    return x * x + y * y <= radius * radius


def accuracy_on_images(
    images: Iterable[np.ndarray],
    labels: np.ndarray,
    predictor: Predictor,
    progress: Progress | None = None,
) -> dict[str, float | int]:
    """Preprocess each image, predict in one batch; 'no digit' counts as wrong."""
    pixels, found = [], []
    for i, image in enumerate(images):
        x = to_mnist(image)
        found.append(x is not None)
        pixels.append(x if x is not None else np.zeros((28, 28), np.float32))
        if progress:
            progress(i + 1, len(labels))
    digits = predictor.predict(np.stack(pixels)).digits
    correct = (digits == labels) & np.array(found)
    return {
        "accuracy": float(correct.mean()),
        "correct": int(correct.sum()),
        "total": len(labels),
        "no_digit": int(len(labels) - sum(found)),
    }


def evaluate_mnist_variants(
    images: np.ndarray,
    labels: np.ndarray,
    predictor: Predictor,
    config: RobustnessConfig = RobustnessConfig(),
    progress: Progress | None = None,
) -> dict[str, dict]:
    """Accuracy per variant on ``config.count`` test digits, next to the plain 28x28 accuracy."""
    rng = np.random.default_rng(config.seed)
    pick = rng.choice(len(labels), size=min(config.count, len(labels)), replace=False)
    digits, truth = images[pick], labels[pick]
    plain = predictor.predict(digits.astype(np.float32) / 255).digits
    correct = int((plain == truth).sum())
    results = {
        "plain_28x28": {
            "accuracy": correct / len(truth),
            "correct": correct,
            "total": len(truth),
            "no_digit": 0,
        }
    }
    for k, (name, variant) in enumerate(VARIANTS.items()):
        variant_rng = np.random.default_rng([config.seed, k + 1])
        drawings = (variant(d, variant_rng) for d in digits)
        overall = _offset(progress, k, len(VARIANTS)) if progress else None
        results[name] = accuracy_on_images(drawings, truth, predictor, overall)
    return results


def _offset(progress: Progress, k: int, parts: int) -> Progress:
    """Progress of part k of ``parts`` equal parts, reported as progress of the whole."""
    return lambda done, total: progress(k * total + done, parts * total)


# --- digits typed in handwriting-like fonts, drawn on a canvas ---------------------------


def handwriting_fonts(dirs: Iterable[Path] = FONT_DIRS) -> list[Path]:
    """Font files on this machine whose names mark them as handwriting-like, sorted."""
    found = {
        path
        for d in dirs
        if d.is_dir()
        for path in d.rglob("*")
        if path.suffix.lower() in (".ttf", ".otf") and any(k in path.name for k in HANDWRITING)
    }
    return sorted(found, key=lambda p: p.name)


def render_digit(
    font: ImageFont.FreeTypeFont, digit: int, rng: np.random.Generator, side: int = CANVAS
) -> np.ndarray | None:
    """One digit typed in ``font``: white on a black canvas, a random size, slant and place."""
    text = str(digit)
    left, top, right, bottom = font.getbbox(text)
    if right - left < 2 or bottom - top < 2:
        return None
    glyph = Image.new("L", (right - left + 8, bottom - top + 8))
    ImageDraw.Draw(glyph).text((4 - left, 4 - top), text, fill=255, font=font)
    glyph = glyph.rotate(rng.uniform(-8, 8), resample=Image.Resampling.BICUBIC, expand=True)
    scale = rng.uniform(0.35, 0.75) * side / max(glyph.size)
    glyph = glyph.resize(
        (max(1, round(glyph.width * scale)), max(1, round(glyph.height * scale))),
        Image.Resampling.LANCZOS,
    )
    return _paste(np.asarray(glyph), rng, side)


def has_digits(font: ImageFont.FreeTypeFont) -> bool:
    """False for fonts that draw every digit as the same 'missing glyph' box."""
    masks = set()
    for d in range(10):
        image = Image.new("L", (font.size * 2, font.size * 2))
        ImageDraw.Draw(image).text((0, 0), str(d), fill=255, font=font)
        masks.add(image.tobytes())
    return len(masks) == 10


def evaluate_fonts(
    predictor: Predictor,
    fonts: Iterable[Path] | None = None,
    per_digit: int = 5,
    seed: int = 0,
    progress: Progress | None = None,
) -> dict[str, dict]:
    """Accuracy per font on ``per_digit`` renderings of each digit 0-9."""
    results = {}
    for path in handwriting_fonts() if fonts is None else fonts:
        font = ImageFont.truetype(str(path), size=160)
        if not has_digits(font):
            continue
        rng = np.random.default_rng([seed, len(results)])
        labels = np.repeat(np.arange(10), per_digit)
        images = [render_digit(font, int(d), rng) for d in labels]
        if any(im is None for im in images):
            continue
        results[path.name] = accuracy_on_images(images, labels, predictor, progress)
    return results


def summarize(results: dict[str, dict]) -> dict[str, float | int]:
    """Pooled accuracy over several result rows (each with correct / total)."""
    correct = sum(r["correct"] for r in results.values() if "correct" in r)
    total = sum(r["total"] for r in results.values() if "correct" in r)
    return {
        "accuracy": correct / total if total else float("nan"),
        "correct": correct,
        "total": total,
    }


# --- other people's handwriting: scikit-learn's 8x8 digits --------------------------------


def evaluate_uci_digits(
    predictor: Predictor, limit: int | None = None, progress: Progress | None = None
) -> dict[str, float | int]:
    """Accuracy on scikit-learn's copy of the UCI digits, each enlarged to 64x64 (bicubic)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images, labels = digits.images[:limit], digits.target[:limit]
    as_photos = (
        np.asarray(
            Image.fromarray(np.uint8(im * 255 / 16)).resize((64, 64), Image.Resampling.BICUBIC)
        )
        for im in images
    )
    return accuracy_on_images(as_photos, labels, predictor, progress)
