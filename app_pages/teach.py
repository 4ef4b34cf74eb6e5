"""Teach it your handwriting: draw digits, say which they are, and the reader learns them.

The update is serving.adapt's: the shipped reader's knowledge (what it learnt from 55,000 MNIST
digits, with how sure it is of each weight) is the starting belief, and your drawings update it.
Everything stays in this browser session's memory; nothing is written on the server, and the
adapted model leaves only through the download button.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import streamlit as st

from app_pages.canvas import EMPTY, no_digit_text, pen_canvas
from serving.adapt import Reader, Teacher
from serving.preprocess import NoDigit, PreprocessError, find_digit
from serving.session import DEFAULT_MODEL, ModelError

MIN_EXAMPLES = 3  # "Use my reader" needs at least this many drawings


@st.cache_resource(show_spinner="Loading the reader ...")
def load_teacher(path: str) -> Teacher:
    """The shipped graph read once and shared (never changed: every update makes a new one)."""
    return Teacher(path)


def clear_canvas() -> None:
    st.session_state.teach_canvas += 1


def reset() -> None:
    """Back to the shipped reader: forget the drawings and the adapted model."""
    st.session_state.teach_examples = []
    st.session_state.teach_model = None
    st.session_state.teach_report = None
    st.session_state.teach_canvas += 1


def add_example(pixels: np.ndarray, digit: int, teacher: Teacher) -> None:
    feats = teacher.features(pixels[None])[0]
    st.session_state.teach_examples.append((pixels, digit, feats))
    st.session_state.teach_canvas += 1
    if st.session_state.teach_model is not None:  # already using it: learn this one too
        update(teacher)


def update(teacher: Teacher) -> None:
    """Adapt the shipped reader to the drawings so far (in memory) and measure what it did."""
    start = time.perf_counter()
    examples = st.session_state.teach_examples
    labels = np.array([d for _, d, _ in examples], np.int64)
    feats = np.stack([f for _, _, f in examples])
    adapted = teacher.adapt(feats, labels)
    before, after = teacher.before_after(feats, labels)
    st.session_state.teach_model = Reader(adapted.model)
    st.session_state.teach_report = {
        "labels": labels,
        "before": before,
        "after": after,
        "seconds": time.perf_counter() - start,
    }


def show_reading(out: dict[str, np.ndarray], mine: bool) -> None:
    probabilities = out["probabilities"][0]
    digit = int(probabilities.argmax())
    who = "Your reader" if mine else "The shipped reader"
    if out["uncertainty"][0] >= 1:
        guesses = ", ".join(f"{d} ({probabilities[d]:.0%})" for d in np.argsort(-probabilities)[:3])
        st.subheader("Not sure this is a digit")
        st.caption(f"{who}: best guesses {guesses}")
    else:
        st.subheader(f"Reads: {digit}")
        st.caption(f"{who}: confidence {probabilities[digit]:.1%}")
    table = pd.DataFrame({"digit": [str(d) for d in range(10)], "probability": probabilities})
    st.bar_chart(table, x="digit", y="probability", height=180)


def show_report(report: dict, last_digit: int | None) -> None:
    labels, before, after = report["labels"], report["before"], report["after"]
    n = len(labels)
    right_before = int((before.argmax(1) == labels).sum())
    right_after = int((after.argmax(1) == labels).sum())
    st.success(f"Your reader is on: updated from {n} drawings in {report['seconds']:.1f} s.")
    st.write(
        f"**Your drawings read correctly:** shipped reader {right_before} of {n}, your reader "
        f"{right_after} of {n}. Fair test: each drawing is read by a reader taught on your "
        "*other* drawings, so it never sees the one it is judged on."
    )
    if last_digit is not None and (labels == last_digit).any():
        mask = labels == last_digit
        st.write(
            f"**The digit you just taught, {last_digit}:** on your {int(mask.sum())} drawing(s) "
            f"of it, the probability of {last_digit} moved from "
            f"{before[mask, last_digit].mean():.0%} to {after[mask, last_digit].mean():.0%}."
        )
    rows = pd.DataFrame(
        {
            "your digit": labels,
            "shipped reader read": before.argmax(1),
            "your reader read": after.argmax(1),
            "probability of your digit, before": before[np.arange(n), labels].round(3),
            "after": after[np.arange(n), labels].round(3),
        }
    )
    with st.expander("Each of your drawings, before and after"):
        st.dataframe(rows, hide_index=True)


st.title("Teach it your handwriting")
st.write(
    "Does the reader misread how *you* write a digit (a 1 with a flag, a 7 with a bar)? Draw "
    "it, say which digit it is and add it. Once a few drawings are in, **Use my reader**: the "
    "reader updates what it believes from your drawings, keeping what it learnt from 55,000 "
    "MNIST digits (it started out fairly sure of most of its weights, so a few drawings move "
    "mainly what MNIST left open). Nothing is stored on the server; download your reader if "
    "you want to keep it."
)

try:
    teacher = load_teacher(str(DEFAULT_MODEL))
except (ModelError, ValueError, OSError) as error:
    st.error(f"The reader cannot be taught: {error}")
    st.stop()

st.session_state.setdefault("teach_examples", [])
st.session_state.setdefault("teach_model", None)
st.session_state.setdefault("teach_report", None)
st.session_state.setdefault("teach_canvas", 0)
mine = st.session_state.teach_model is not None

with st.sidebar:
    stroke_width = st.slider("Stroke width", min_value=5, max_value=40, value=20, step=1)

draw_col, read_col = st.columns([1, 1], gap="large")
with draw_col:
    canvas = pen_canvas(stroke_width, f"teach-canvas-{st.session_state.teach_canvas}")
    digit = st.radio("Which digit did you draw?", list(range(10)), horizontal=True, index=None)
    st.button("Clear", icon=":material/delete:", on_click=clear_canvas)

pixels = None
with read_col:
    if canvas.image_data is None:
        st.info(EMPTY)
    else:
        try:
            found = find_digit(canvas.image_data)
        except PreprocessError as error:
            found = None
            st.error(str(error))
        if isinstance(found, NoDigit):
            st.info(no_digit_text(found.reason))
        elif found is not None:
            pixels = found
            reader = st.session_state.teach_model if mine else teacher.reader
            show_reading(reader.run(pixels[None]), mine)

with draw_col:
    if st.button("Add it to my examples", icon=":material/add:", disabled=pixels is None):
        if digit is None:
            st.warning("Say which digit you drew first (the row of digits above).")
        else:
            add_example(pixels, int(digit), teacher)
            st.rerun()

examples = st.session_state.teach_examples
counts = np.bincount([d for _, d, _ in examples], minlength=10)
st.divider()
if examples:
    st.write(
        f"**Your examples ({len(examples)}):** "
        + ", ".join(f"{d} × {counts[d]}" for d in range(10) if counts[d])
    )
else:
    st.write("**Your examples:** none yet.")

use_col, reset_col, download_col = st.columns(3)
with use_col:
    if st.button(
        "Use my reader",
        type="primary",
        icon=":material/school:",
        disabled=len(examples) < MIN_EXAMPLES,
        help=f"Needs at least {MIN_EXAMPLES} drawings.",
    ):
        update(teacher)
        st.rerun()
with reset_col:
    st.button("Reset to the shipped reader", icon=":material/restart_alt:", on_click=reset)
with download_col:
    if mine:
        st.download_button(
            "Download my reader (.onnx)",
            data=st.session_state.teach_model.bytes,
            file_name="my_reader.onnx",
            mime="application/octet-stream",
            icon=":material/download:",
        )

if st.session_state.teach_report is not None:
    show_report(st.session_state.teach_report, examples[-1][1] if examples else None)
elif len(examples) < MIN_EXAMPLES:
    st.caption(f"Add at least {MIN_EXAMPLES} drawings to teach it.")
