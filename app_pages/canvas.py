"""The drawing canvas every page draws on: white ink on black, like MNIST, freehand."""

from __future__ import annotations

from streamlit_drawable_canvas import st_canvas

from serving.preprocess import NOTHING_TO_READ

CANVAS_SIZE = 280  # 10x MNIST's 28 pixels
EMPTY = "The canvas is empty: draw a digit from 0 to 9 (big, in the middle)."


def no_digit_text(reason: str | None, empty: str = EMPTY) -> str:
    """What a page says when there is no digit to read: ``empty`` for a blank drawing, else the
    preprocessing's reason (serving.preprocess: a speck, a dot or blot): ink is not "empty"."""
    if reason is None or reason == NOTHING_TO_READ:
        return empty
    text = reason.removeprefix("no digit: ")
    return f"No digit to read: {text[:1].upper()}{text[1:]}."


def pen_canvas(stroke_width: int, key: str, width: int = CANVAS_SIZE, height: int = CANVAS_SIZE):
    """The canvas (its ``image_data`` is an RGBA array once drawn on); a new ``key`` mounts a
    fresh, empty one."""
    return st_canvas(
        stroke_width=stroke_width,
        stroke_color="#FFFFFF",
        background_color="#000000",
        width=width,
        height=height,
        drawing_mode="freedraw",
        return_image_data=True,
        key=key,
    )
