"""The drawing canvas every page draws on: white ink on black, like MNIST, freehand."""

from __future__ import annotations

from streamlit_drawable_canvas import st_canvas

CANVAS_SIZE = 280  # 10x MNIST's 28 pixels
EMPTY = "The canvas is empty: draw a digit from 0 to 9 (big, in the middle)."


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
