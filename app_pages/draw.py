"""Draw a digit: live ONNX Runtime inference on what you draw (or on an uploaded photo)."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import streamlit as st
from streamlit.logger import get_logger

from app_pages.canvas import CANVAS_SIZE, EMPTY, no_digit_text, pen_canvas
from serving import predictor as serving_predictor
from serving.client import RemotePredictor, ServerError, server_url_from_env
from serving.images import ImageReadError, preview, read_image
from serving.predictor import DigitResult, predict_image
from serving.preprocess import PreprocessError

# Timer starts as soon as the rerun that carries the new drawing reaches this page.
started = time.perf_counter()

PREVIEW_SCALE = 6  # the 28x28 input is shown as 168x168 with hard pixel edges
# A plain Vega-Lite spec: ~1 ms per redraw, where st.bar_chart builds an Altair chart (~10 ms).
PROBABILITY_CHART = {
    "mark": {"type": "bar", "tooltip": True},
    "encoding": {
        "x": {"field": "digit", "type": "ordinal", "axis": {"labelAngle": 0}},
        "y": {"field": "probability", "type": "quantitative", "scale": {"domain": [0, 1]}},
    },
}
FULL, COMPACT = "Full precision (fp32)", "Compact, faster (INT8)"  # the model choice's labels
MODEL_HELP = (
    "Full precision: the trained network as it is (32-bit numbers). Compact: the same network "
    "with 8-bit whole-number weights, "
    "a quarter of the size and often faster; its test accuracy shows below."
)
NO_DIGIT_IN_PHOTO = "No digit found in the photo: crop it to one dark digit on light paper."
log = get_logger(__name__)  # Streamlit's handler: lines land in the server's log


@st.cache_resource(show_spinner="Loading the model ...")
def load_predictor(model_path: str) -> serving_predictor.Predictor:
    """One ONNX Runtime session per model file, shared by every session (it is thread-safe)."""
    predictor = serving_predictor.Predictor(model_path)
    predictor.predict(np.zeros((1, 28, 28), np.float32))  # warm-up: the first run allocates
    return predictor


@st.cache_resource(show_spinner=False)
def load_remote(url: str) -> RemotePredictor:
    """One pooled HTTP client per server URL (a bad URL raises ServerError, never cached)."""
    return RemotePredictor(url)


def model_choices() -> dict[str, str]:
    """Model label -> path, for the files that exist (INT8 appears once it is built)."""
    candidates = {FULL: serving_predictor.DEFAULT_MODEL, COMPACT: serving_predictor.INT8_MODEL}
    return {label: str(path) for label, path in candidates.items() if path.is_file()}


def clear_canvas() -> None:
    st.session_state.canvas_version += 1


def show_result(result: DigitResult, timed: bool, empty: str = EMPTY) -> None:
    """The prediction, the probabilities, and the 28x28 picture the model actually saw."""
    if result.digit is None:
        st.info(no_digit_text(result.reason, empty))
        return
    probabilities = np.asarray(result.probabilities, dtype=float).ravel()
    # shown from 0 (a very typical drawing scores slightly below 0; "-0.19" only puzzles people)
    uncertainty = (
        ""
        if result.uncertainty is None
        else f" · uncertainty {max(result.uncertainty, 0.0):.2f} (0: a typical digit; "
        "1 or more: not sure)"
    )
    if result.abstain:
        guesses = ", ".join(
            f"{d} ({probabilities[d]:.0%})" for d in np.argsort(-probabilities, kind="stable")[:3]
        )
        st.subheader("Not sure this is a digit")
        st.caption(f"Best guesses {guesses}{uncertainty}")
    else:
        st.subheader(f"Prediction: {result.digit}")
        st.caption(f"Confidence {probabilities[result.digit]:.1%}{uncertainty}")
    # The timing first, under the prediction: below the chart and the picture it fell below the
    # fold of a 1400 x 1000 window. Apart, because preparing a drawing costs more than the model.
    model_ms, preprocess_ms = result.model_seconds * 1e3, result.preprocess_seconds * 1e3
    timing = (
        f"Model inference {model_ms:.2f} ms · "
        f"preparing the drawing (crop, shrink, centre) {preprocess_ms:.1f} ms"
        if result.pixels is not None
        # a digit server's record carries one time for both steps (serving.client)
        else f"Digit server: preparing the drawing + model {model_ms:.1f} ms"
    )
    if timed:
        total = (time.perf_counter() - started) * 1e3
        timing += f" · server time from drawing to prediction {total:.1f} ms"
        log.info(
            "drawing -> prediction %d: %.1f ms (preprocessing %.1f ms, model %.2f ms)",
            result.digit,
            total,
            preprocess_ms,
            model_ms,
        )
    st.caption(timing)
    table = pd.DataFrame({"digit": [str(d) for d in range(10)], "probability": probabilities})
    st.vega_lite_chart(table, PROBABILITY_CHART, height=220)
    if result.pixels is not None:  # a server's record carries no pixels
        preview = np.kron(np.asarray(result.pixels), np.ones((PREVIEW_SCALE, PREVIEW_SCALE)))
        st.image(preview, caption="What the model saw: your drawing at 28x28 pixels", clamp=True)


st.title("Draw a digit")
st.write(
    "A neural network (the course's CNN, trained on MNIST's handwritten digits) reads "
    "your digit as you draw. Your drawing is cropped, shrunk to 20x20 pixels and centred in a "
    "28x28 square, the way the MNIST digits were prepared."
)

choices = model_choices()
if not choices:
    st.error(
        f"No model file at {serving_predictor.DEFAULT_MODEL}. Train and export one: "
        "`python -m cnn train` then `python -m cnn export` (see the README)."
    )
    st.stop()

with st.sidebar:
    stroke_width = st.slider("Stroke width", min_value=5, max_value=40, value=20, step=1)
    label = (
        st.radio("Model", list(choices), horizontal=True, help=MODEL_HELP)
        if len(choices) > 1
        else FULL
    )
    if len(choices) == 1:
        st.caption("Build the INT8 model (`python -m serving quantize`) to compare it here.")
    # The operator's choice (DIGIT_SERVER_URL), never a visitor's: a field here let anyone make
    # the app's server POST to any URL and show the reply.
    server_url = server_url_from_env()

try:
    predictor = load_predictor(choices[label])
except serving_predictor.ModelError as error:
    st.error(str(error))
    st.stop()
if getattr(predictor, "bayesian", False):  # folded: five lines here pushed the canvas down
    explained = st.expander("This reader is Bayesian: what that means")
    explained.caption(
        "This reader is Bayesian: rather than trusting one set of trained weights, it averages "
        "its answer over many plausible ones (a posterior over the network's last layer, whose "
        "prior plays the part of training's weight decay, its strength set by the evidence as "
        "on the Bayesian regression page). It also measures how unlike the training digits "
        "your drawing looks: that uncertainty is 0 for a typical digit, and from 1 up the app "
        "says it is not sure."
    )
    explained.page_link("app_pages/bayes_explorer.py", label="The Bayesian regression page")
accuracy = predictor.metadata.get("test_accuracy")
about = f"Model file: {predictor.model_path.name}"
st.sidebar.caption(about + (f", MNIST test accuracy {float(accuracy):.2%}" if accuracy else ""))

remote = None
if server_url:
    try:
        remote = load_remote(server_url)
        st.sidebar.caption(f"Drawings are read by the server at {remote.url}.")
    except ServerError as error:
        st.sidebar.error(str(error))


def read_digit(image: np.ndarray) -> DigitResult:
    """In-process by default; through the digit server when one is set."""
    return remote.predict_image(image) if remote else predict_image(image, predictor)


st.session_state.setdefault("canvas_version", 0)
mode = st.segmented_control(
    "Read",
    ["Digit", "Number"],
    default="Digit",
    key="read_mode",
    help="Digit: one digit on a square canvas. Number: several digits side by side on a wide "
    "canvas, each read on its own (always by the model in this app).",
)
if mode == "Number":
    from app_pages import number_mode

    number_mode.show(predictor, stroke_width, st.session_state.canvas_version)
    st.button("Clear", icon=":material/delete:", on_click=clear_canvas, key="clear-number")
    st.stop()
draw_col, result_col = st.columns([1, 1], gap="large")
with draw_col:
    # The caption also leaves room for the canvas's floating toolbar (upload, undo, redo, reset).
    st.caption("Draw one digit, big and centred. White on black, like MNIST.")
    st.space("small")
    canvas = pen_canvas(stroke_width, f"canvas-{st.session_state.canvas_version}")
    # A new key mounts a fresh, empty canvas (the canvas toolbar's undo and reset work too).
    st.button("Clear", icon=":material/delete:", on_click=clear_canvas)

with result_col:
    image = canvas.image_data
    if image is None:
        st.info(EMPTY)
    else:
        try:
            show_result(read_digit(image), timed=True)
        except ServerError as error:
            st.error(str(error))

st.divider()
st.subheader("Or upload a photo of a digit")
upload = st.file_uploader(
    "A photo or scan of one handwritten digit (dark ink on light paper works best)",
    type=["png", "jpg", "jpeg", "bmp", "webp"],
)
if upload is not None:
    try:  # the size is checked in the header before anything is decoded; EXIF turns it upright
        photo = read_image(upload, name=upload.name)
    except ImageReadError as error:
        st.error(str(error))
    else:
        photo_col, photo_result_col = st.columns([1, 1], gap="large")
        photo_col.image(preview(photo, 2 * CANVAS_SIZE), caption=upload.name, width=CANVAS_SIZE)
        with photo_result_col:
            try:
                result = read_digit(photo)
                show_result(result, timed=False, empty=NO_DIGIT_IN_PHOTO)
            except (PreprocessError, ServerError, serving_predictor.ModelError) as error:
                st.error(str(error))
