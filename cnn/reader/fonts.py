"""Which installed fonts each generator may use: three disjoint groups, so that no font that
evaluates the reader ever trains or tunes it.

- ``nondigits``: the project's own non-digit sets (``cnn.reader.nondigits``): dkg handwriting,
  Delphine, Because We Build / Connect / Create, and DejaVu Sans (Book) as the plain font.
- ``heldout``: evaluation only, never seen while building the reader (``cnn.reader.heldout``):
  Breip, Steve Hand, Because We Learn / Mentor / Organize, Liberation Sans, DejaVu Serif, and
  Rufscript / Dancing Script where installed.
- ``proxies``: the outlier-exposure training proxies (``cnn.reader.proxies``): Comic Neue,
  DejaVu Sans Mono / Condensed / Math, Liberation Mono / Sans Narrow / Serif.

The handwriting fonts come from the Debian packages the CI installs
(.ci/install-system-packages.sh: fonts-dkg-handwriting, fonts-breip, fonts-comic-neue,
fonts-bwht, fonts-sjfonts); DejaVu and Liberation ship with most systems. Groups are matched by
file name (``fnmatch``), so a font that fits no pattern is used by nobody.
"""

from __future__ import annotations

from collections.abc import Iterable
from fnmatch import fnmatch
from functools import cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

FONT_DIRS = (Path("/usr/share/fonts"), Path("/usr/local/share/fonts"), Path.home() / ".fonts")
GROUPS: dict[str, tuple[str, ...]] = {
    "nondigits": (
        "dkg*.ttf", "Delphine*", "BecauseWeBuild*", "BecauseWeConnect*", "BecauseWeCreate*",
        "DejaVuSans.ttf",
    ),
    "heldout": (
        "Breip*", "breip*", "SteveHand*", "BecauseWeLearn*", "BecauseWeMentor*",
        "BecauseWeOrganize*", "LiberationSans-*", "DejaVuSerif*", "Rufscript*", "DancingScript*",
    ),
    "proxies": (
        "ComicNeue*", "DejaVuSansMono*", "DejaVuSansCondensed*", "DejaVuMathTeXGyre*",
        "LiberationMono*", "LiberationSansNarrow*", "LiberationSerif*",
    ),
}  # fmt: skip
SIZE = 160  # points: glyphs are drawn big and shrunk to the canvas


def font_group(name: str, dirs: Iterable[Path] = FONT_DIRS) -> list[Path]:
    """The installed font files of one group, sorted by file name."""
    if name not in GROUPS:
        raise ValueError(f"unknown font group {name!r}; choose one of {', '.join(GROUPS)}")
    found = {
        path
        for d in dirs
        if d.is_dir()
        for path in d.rglob("*")
        if path.suffix.lower() in (".ttf", ".otf")
        and any(fnmatch(path.name, pattern) for pattern in GROUPS[name])
    }
    return sorted(found, key=lambda p: p.name)


@cache
def load_font(path: Path) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(path), size=SIZE)


def _mask(font: ImageFont.FreeTypeFont, text: str) -> bytes:
    image = Image.new("L", (2 * SIZE, 2 * SIZE))
    ImageDraw.Draw(image).text((8, 8), text, fill=255, font=font)
    return image.tobytes()


@cache
def has_glyph(path: Path, char: str) -> bool:
    """False where the font would draw its 'missing glyph' box (or nothing) for ``char``.

    Some handwriting fonts lack ``< > ~``: their box is a 0 to the reader, not a symbol.
    """
    font = load_font(path)
    drawn = _mask(font, char)
    return drawn != _mask(font, "\uffff") and any(drawn)


def fonts_with(paths: Iterable[Path], char: str) -> list[Path]:
    """The fonts of ``paths`` that have a real glyph for ``char``."""
    return [p for p in paths if has_glyph(p, char)]
