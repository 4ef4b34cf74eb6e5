"""serving.images.read_image: one contract for every file, and `predict` on N files = N lines.

Files are real, written here: a 10000x10000 PNG whose header is all that gets read, phone-style
JPEGs with an EXIF orientation, broken files of the kinds a fuzzer found escaping.
"""

from __future__ import annotations

import io
import json
import struct
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from serving.__main__ import main
from serving.images import DEFAULT_MAX_PIXELS, ImageReadError, read_image


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that promises width x height RGBA pixels (the IDAT holds one row: never decoded)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    idat = zlib.compress(b"\x00" + bytes(4 * width))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def digit_seven(size: int = 120) -> Image.Image:
    """A '7' in dark ink on light paper: its bar is at the top, its stem goes down-left."""
    image = Image.new("RGB", (size, size), (240, 240, 240))
    s = size / 48
    ImageDraw.Draw(image).line(
        [(10 * s, 10 * s), (38 * s, 10 * s), (20 * s, 40 * s)], fill=(20, 20, 20), width=int(4 * s)
    )
    return image


def jpeg_with_orientation(image: Image.Image, orientation: int) -> bytes:
    """What a phone writes: pixels as the sensor saw them, and a tag saying how to turn them."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90, exif=exif.tobytes())
    return buffer.getvalue()


def test_huge_image_is_refused_from_its_header_before_decoding(tmp_path):
    path = tmp_path / "huge.png"
    path.write_bytes(png_header_only(10_000, 10_000))  # 100 megapixels in a few KB
    assert path.stat().st_size < 100_000
    tracemalloc.start()
    try:
        with pytest.raises(ImageReadError) as info:
            read_image(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    message = str(info.value)
    assert str(path) in message and "10000x10000" in message and "40 megapixels" in message
    assert "\n" not in message
    assert peak < 5_000_000  # decoding would take 400 MB


def test_the_cap_is_configurable(tmp_path):
    path = tmp_path / "seven.png"
    digit_seven(120).save(path)
    assert read_image(path).shape == (120, 120, 3)
    with pytest.raises(ImageReadError, match=r"120x120 pixels; the limit is 0.01 megapixels"):
        read_image(path, max_pixels=10_000)
    assert DEFAULT_MAX_PIXELS == 40_000_000
    with pytest.raises(ValueError, match="max_pixels"):
        read_image(path, max_pixels=0)


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_exif_orientation_is_applied(orientation):
    upright = np.asarray(digit_seven().convert("L"))
    # The sensor's pixels are the upright digit turned the other way; the tag undoes it.
    stored = {3: Image.Transpose.ROTATE_180, 6: Image.Transpose.ROTATE_90}.get(
        orientation, Image.Transpose.ROTATE_270
    )
    sensor = digit_seven().transpose(stored)
    data = jpeg_with_orientation(sensor, orientation)
    read = read_image(io.BytesIO(data), name="phone.jpg").mean(axis=2)
    assert np.abs(read - upright).mean() < 8  # JPEG noise only: the same digit, upright


def test_upload_like_objects_are_named_in_errors():
    upload = io.BytesIO(b"GIF89a but then nothing")
    with pytest.raises(
        ImageReadError, match=r"^my upload\.gif: not an image file \(PNG, .*WebP\) or a broken one$"
    ):
        read_image(upload, name="my upload.gif")
    assert read_image(io.BytesIO(png_header_only(2, 2))).shape == (2, 2, 4)


def test_other_formats_are_refused_unopened(tmp_path):
    eps = tmp_path / "digit.eps"
    digit_seven(40).convert("L").save(eps, format="EPS")  # opening it would run Ghostscript
    with pytest.raises(
        ImageReadError, match=r"digit\.eps: not an image file \(PNG, JPEG, GIF, BMP, TIFF or WebP\)"
    ):
        read_image(eps)


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda p: None, "no such file"),
        (lambda p: p.mkdir(), "is a folder"),
        (lambda p: p.write_text("hello"), "not an image file"),
        (lambda p: p.write_bytes(b""), "not an image file"),
    ],
)
def test_unreadable_files_get_one_line(tmp_path, make, words):
    path = tmp_path / "x.png"
    make(path)
    with pytest.raises(ImageReadError) as info:
        read_image(path)
    assert str(info.value).startswith(f"{path}: ") and words in str(info.value)


def broken_files(folder: Path) -> dict[str, Path]:
    """Files that escaped the old reader as SyntaxError / DecompressionBombError / ValueError."""
    good = io.BytesIO()
    digit_seven(48).save(good, format="PNG")
    raw = good.getvalue()
    spliced = raw[:33] + b"\x12\x34\x56\x78garbage chunk" + raw[33:]  # after IHDR: SyntaxError
    gif = io.BytesIO()
    digit_seven(48).convert("L").save(gif, format="GIF")
    tile = bytearray(gif.getvalue())
    tile[tile.index(b",") + 5 : tile.index(b",") + 9] = struct.pack("<HH", 60000, 60000)  # frame
    files = {
        "spliced.png": spliced,
        "bomb.png": png_header_only(20_000, 20_000),  # 400 MP: PIL's own DecompressionBombError
        "tile.gif": bytes(tile),  # a frame larger than the screen: ValueError
    }
    paths = {}
    for name, data in files.items():
        paths[name] = folder / name
        paths[name].write_bytes(data)
    return paths


def test_each_broken_file_is_an_image_read_error(tmp_path):
    for name, path in broken_files(tmp_path).items():
        with pytest.raises(ImageReadError) as info:
            read_image(path)
        assert str(path) in str(info.value) and "\n" not in str(info.value), name


def test_predict_json_prints_one_valid_line_per_file(tmp_path, capsys):
    good = tmp_path / "a.png"
    digit_seven().save(good)
    broken = broken_files(tmp_path)
    phone = tmp_path / "phone.jpg"
    phone.write_bytes(jpeg_with_orientation(digit_seven().transpose(Image.Transpose.ROTATE_90), 6))
    files = [good, broken["spliced.png"], broken["bomb.png"], phone, broken["tile.gif"], good]
    code = main(["predict", "--json", *map(str, files)])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    lines = out.splitlines()
    assert len(lines) == len(files)
    records = [json.loads(line) for line in lines]
    assert [r["file"] for r in records] == [str(f) for f in files]
    assert code == 1
    for index in (0, 3, 5):  # the good files, the phone photo upright
        assert records[index]["digit"] == 7 and "error" not in records[index], records[index]
    for index in (1, 2, 4):
        assert records[index]["digit"] is None and str(files[index]) in records[index]["error"]
    assert "image too large (400 megapixels; the limit is 40 megapixels)" in records[2]["error"]


def test_predict_max_megapixels_option(tmp_path, capsys):
    good = tmp_path / "a.png"
    digit_seven().save(good)
    assert main(["predict", "--json", "--max-megapixels", "0.01", str(good)]) == 1
    assert "too large" in json.loads(capsys.readouterr().out)["error"]
