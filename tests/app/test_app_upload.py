"""The draw page's upload path goes through serving.images.read_image: bounded before decoding,
upright by EXIF, and a friendly one-line st.error (naming the file) for every bad file."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image, ImageDraw


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_header_only(width: int, height: int) -> bytes:
    """A PNG promising width x height RGBA pixels; a few KB."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    idat = zlib.compress(b"\x00" + bytes(4 * width))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def seven(size: int = 240) -> Image.Image:
    image = Image.new("RGB", (size, size), (235, 235, 235))
    s = size / 48
    line = [(10 * s, 10 * s), (38 * s, 10 * s), (20 * s, 40 * s)]
    ImageDraw.Draw(image).line(line, fill=(25, 25, 25), width=int(4 * s))
    return image


def upload(app, name: str, data: bytes, mime: str = "image/png"):
    app.file_uploader[0].set_value((name, data, mime)).run()
    assert not app.exception, app.exception
    return [e.value for e in app.error]


def test_a_huge_upload_is_refused_before_decoding(app):
    errors = upload(app, "huge.png", png_header_only(10_000, 10_000))
    assert errors == [
        "huge.png: image too large (10000x10000 pixels; the limit is 40 megapixels); "
        "scale it down or crop it to the digit"
    ]


def test_a_broken_png_gets_one_line_not_a_traceback(app):
    good = io.BytesIO()
    seven(48).save(good, format="PNG")
    raw = good.getvalue()
    errors = upload(app, "broken.png", raw[:33] + b"\x12\x34\x56\x78garbage" + raw[33:])
    assert len(errors) == 1 and errors[0].startswith("broken.png: ")
    assert "\n" not in errors[0] and "/" not in errors[0]  # no server paths


def test_a_phone_photo_is_turned_upright(app):
    exif = Image.Exif()
    exif[0x0112] = 6  # the viewer must turn the stored pixels 90 degrees clockwise
    buffer = io.BytesIO()
    seven().transpose(Image.Transpose.ROTATE_90).save(buffer, "JPEG", quality=90, exif=exif)
    upload(app, "phone.jpg", buffer.getvalue(), "image/jpeg")
    shown = [h.value for h in app.subheader if h.value.startswith("Prediction")]
    assert shown == ["Prediction: 7"]
