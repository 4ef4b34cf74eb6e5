"""Seeded, bounded fuzzing of the image reader: mutated PNG/JPEG/GIF/BMP/TIFF/WebP files.

Every mutant must either decode (and then go through to_mnist, which may only say "no digit" or
raise PreprocessError) or give one ImageReadError line naming the file. Anything else is an
escape: the exception a user would see as a traceback, ending a `predict` batch.
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Iterator

import numpy as np
import pytest
from PIL import Image, ImageDraw

from serving.images import ImageReadError, read_image
from serving.preprocess import PreprocessError, to_mnist

SEED = 20260925
MUTANTS_PER_FILE = 250  # x 18 base files = 4,500 mutants, ~5 s on one core
FUZZ_MAX_PIXELS = 1_000_000  # mutated headers may promise big images; keep each decode cheap


def _digit(mode: str, size: int = 48) -> Image.Image:
    """A '7' as dark ink on light paper, in the given mode."""
    image = Image.new("L", (size, size), 235)
    ImageDraw.Draw(image).line([(10, 10), (38, 10), (20, 40)], fill=20, width=4)
    if mode == "RGBA":
        rgba = Image.new("RGBA", (size, size), (0, 0, 0, 0))
        rgba.putalpha(Image.eval(image, lambda v: 255 - v))
        return rgba
    return image.convert(mode)


def _exif_rotated() -> dict:
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to view
    return {"exif": exif.tobytes()}


def base_files() -> dict[str, bytes]:
    """Real files of every format and several encoder options, made here."""
    cases = {
        "gray.png": ("L", "PNG", {}),
        "canvas.png": ("RGBA", "PNG", {"optimize": True}),
        "palette.png": ("P", "PNG", {"transparency": 0}),
        "interlaced.png": ("RGB", "PNG", {"interlace": 1}),
        "photo.jpg": ("RGB", "JPEG", {"quality": 80, **_exif_rotated()}),
        "progressive.jpg": ("L", "JPEG", {"progressive": True}),
        "still.gif": ("P", "GIF", {}),
        "animated.gif": ("L", "GIF", {"save_all": True, "duration": 50}),
        "rgb.bmp": ("RGB", "BMP", {}),
        "mono.bmp": ("1", "BMP", {}),
        "raw.tif": ("RGB", "TIFF", {}),
        "lzw.tif": ("L", "TIFF", {"compression": "tiff_lzw"}),
        "deflate.tif": ("RGBA", "TIFF", {"compression": "tiff_adobe_deflate"}),
        "packbits.tif": ("L", "TIFF", {"compression": "packbits"}),
        "group4.tif": ("1", "TIFF", {"compression": "group4"}),
        "lossy.webp": ("RGB", "WEBP", {"quality": 70}),
        "lossless.webp": ("RGBA", "WEBP", {"lossless": True}),
        "i16.png": ("I;16", "PNG", {}),
    }
    files = {}
    for name, (mode, fmt, options) in cases.items():
        image = _digit("L").convert("I").point(lambda v: v * 256) if mode == "I;16" else None
        image = image.convert("I;16") if image is not None else _digit(mode)
        buffer = io.BytesIO()
        if options.get("save_all"):
            options = {**options, "append_images": [_digit(mode).rotate(20)]}
        image.save(buffer, format=fmt, **options)
        files[name] = buffer.getvalue()
    return files


def mutants(data: bytes, rng: np.random.Generator, count: int) -> Iterator[tuple[str, bytes]]:
    """Bit flips, byte stores, header integers, truncation, splices: what fuzzers find bugs with."""
    interesting = [0, 1, 0x7F, 0x80, 0xFF, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF, 60000, 65535]
    for _ in range(count):
        b = bytearray(data)
        kind = int(rng.integers(6))
        if kind == 0:  # a few bit flips anywhere
            for pos in rng.integers(0, len(b), size=int(rng.integers(1, 9))):
                b[pos] ^= 1 << int(rng.integers(8))
        elif kind == 1:  # random bytes at random places
            for pos in rng.integers(0, len(b), size=int(rng.integers(1, 17))):
                b[pos] = int(rng.integers(256))
        elif kind == 2:  # an interesting integer in the header (sizes, counts, offsets)
            pos = int(rng.integers(0, max(1, min(len(b) - 4, 200))))
            value = interesting[int(rng.integers(len(interesting)))]
            order = "big" if rng.integers(2) else "little"
            width = 2 if rng.integers(2) else 4
            b[pos : pos + width] = (value % (1 << (8 * width))).to_bytes(width, order)
        elif kind == 3:  # truncated
            del b[int(rng.integers(1, len(b))) :]
        elif kind == 4:  # a slice duplicated elsewhere
            start = int(rng.integers(len(b)))
            piece = b[start : start + int(rng.integers(1, 64))]
            at = int(rng.integers(len(b)))
            b[at:at] = piece
        else:  # a random block overwritten past the header
            start = int(rng.integers(len(b) // 8, len(b)))
            length = int(rng.integers(1, 32))
            b[start : start + length] = rng.integers(0, 256, size=length, dtype=np.uint8).tobytes()
        yield ("flip", "bytes", "int", "cut", "splice", "block")[kind], bytes(b)


def fuzz(read=read_image, seed: int = SEED, per_file: int = MUTANTS_PER_FILE) -> dict:
    """Run every mutant through read + to_mnist; count outcomes and collect the escapes."""
    rng = np.random.default_rng(seed)
    outcomes: Counter = Counter()
    escapes: list[tuple[str, str, str]] = []
    for name, data in base_files().items():
        for kind, blob in mutants(data, rng, per_file):
            label = f"fuzz/{name}"
            try:
                image = read(io.BytesIO(blob), name=label, max_pixels=FUZZ_MAX_PIXELS)
            except ImageReadError as exc:
                message = str(exc)
                if "\n" in message or label not in message:
                    escapes.append((name, kind, f"bad message: {message!r}"))
                outcomes["read error"] += 1
                continue
            except Exception as exc:  # noqa: BLE001 - an escape is exactly what we count
                escapes.append((name, kind, f"read: {type(exc).__name__}: {exc}"))
                continue
            try:
                pixels = to_mnist(image)
            except PreprocessError:
                outcomes["preprocess error"] += 1
                continue
            except Exception as exc:  # noqa: BLE001
                escapes.append((name, kind, f"to_mnist: {type(exc).__name__}: {exc}"))
                continue
            outcomes["no digit" if pixels is None else "digit"] += 1
    return {"outcomes": outcomes, "escapes": escapes}


def test_base_files_decode_upright():
    files = base_files()
    assert len(files) == 18
    for name, data in files.items():
        image = read_image(io.BytesIO(data), name=name)
        assert image.shape[:2] == (48, 48), name
        assert to_mnist(image) is not None, name
    # The JPEG's EXIF says "rotate 90 degrees clockwise": the '7's bar moves to the right edge.
    plain = read_image(io.BytesIO(files["progressive.jpg"]))
    rotated = read_image(io.BytesIO(files["photo.jpg"])).mean(axis=2)
    assert plain[10, 24] < 100 and rotated[24, 37] < 100 and rotated[10, 24] > 150


@pytest.mark.slow
def test_fuzzed_images_never_escape(capsys):
    result = fuzz()
    total = sum(result["outcomes"].values()) + len(result["escapes"])
    with capsys.disabled():
        escapes = len(result["escapes"])
        print(f"\n[fuzz] {total} mutants: {dict(result['outcomes'])}, escapes {escapes}")
    assert total == 18 * MUTANTS_PER_FILE
    assert result["escapes"] == []
    # The mutants exercise both sides of the contract, not only one.
    assert result["outcomes"]["read error"] > total // 10
    assert result["outcomes"]["digit"] > total // 10
