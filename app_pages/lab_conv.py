"""Convolution & pooling lab: the course's worked examples, a playground, padding, feature maps."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from cnn.data import MnistError
from cnn.labs import conv_plots
from cnn.labs.conv import PADDINGS, conv2d, max_pool2d, sobel_response
from cnn.labs.conv_lab import WORKED_EXAMPLES, feature_maps, load_feature_model, padding_1d
from cnn.labs.report import display_width, picture


@st.cache_resource(show_spinner="Loading the MNIST test set ...")
def mnist_test():
    from cnn.data import load_mnist

    return load_mnist("test")


@st.cache_resource(show_spinner="Loading the trained CNN ...")
def trained_cnn():
    return load_feature_model()


@st.cache_data(show_spinner="Drawing the feature maps ...")
def feature_map_pngs(index: int) -> list[tuple[bytes, int]]:
    """Both layers' maps as PNGs: 96 small panels take seconds to draw, so draw them once."""
    model, _ = trained_cnn()
    figures = [
        conv_plots.feature_maps_figure(maps, f"conv{i}")
        for i, maps in enumerate(feature_maps(model, mnist_test().images[index]), start=1)
    ]
    return [picture(figure) for figure in figures]


@st.cache_data(show_spinner=False)
def sobel_picture(index: int) -> tuple[bytes, int]:
    image = mnist_test().images[index]
    return picture(conv_plots.sobel_figure(image, sobel_response(image / 255.0)))


def show(figure) -> None:
    """A figure at the labs' common scale; a (png, width) pair from a cached view as is."""
    if isinstance(figure, tuple):
        st.image(figure[0], width=figure[1])
    else:
        st.pyplot(figure, width=display_width(figure))


def matrix_table(m: np.ndarray) -> pd.DataFrame:
    """A matrix with rows and columns counted from 1, as the 1-D section counts its inputs."""
    m = np.asarray(m)
    rows = pd.Index([f"Row {i}" for i in range(1, m.shape[0] + 1)])
    return pd.DataFrame(m, index=rows, columns=[f"Col {j}" for j in range(1, m.shape[1] + 1)])


st.title("Convolution & pooling")
st.write(
    "Convolution slides a small grid of weights (the kernel) over the input, multiplies the "
    "numbers it covers by the weights it lays on them, and adds them up; the kernel is used as "
    "written, not mirrored, as in TensorFlow, PyTorch and the course. VALID padding adds "
    "nothing around the input and drops the cells no window reaches. SAME padding adds a border "
    "(zeros for convolution; for max-pool, values smaller than any input, so they never win) so "
    "that the output has the input's size divided by the stride, rounded up; when the border "
    "is uneven, the extra cell goes at the end."
)

st.header("The course's worked examples")
checks = pd.DataFrame(
    {
        "Example": [e.title for e in WORKED_EXAMPLES],
        "Stride": [e.stride for e in WORKED_EXAMPLES],
        "Padding": [e.padding for e in WORKED_EXAMPLES],
        "Matches the course": ["yes" if e.matches() else "no" for e in WORKED_EXAMPLES],
    }
)
st.dataframe(checks, hide_index=True)
titles = [e.title for e in WORKED_EXAMPLES]
example = WORKED_EXAMPLES[titles.index(st.selectbox("Show example", titles))]
show(conv_plots.worked_examples_figure([example]))

st.header("Playground")
st.caption("Starts from the example above; edit any cell, the stride or the padding.")
# Keys per example: picking another example resets the playground to its settings.
op = st.radio("Operation", ["convolution", "max-pool"], horizontal=True,
              index=0 if example.op == "conv" else 1, key=f"op-{example.title}")  # fmt: skip
left, right = st.columns(2)
with left:
    x = st.data_editor(matrix_table(example.x), key=f"x-{example.title}", num_rows="fixed")
with right:
    if op == "convolution":
        default_kernel = example.kernel if example.kernel is not None else [[0, 1, 0]] * 3
        kernel = st.data_editor(
            matrix_table(default_kernel), key=f"k-{example.title}", num_rows="fixed"
        )
    else:
        size = st.number_input("Window size", 1, 6, value=example.size,
                               key=f"size-{example.title}")  # fmt: skip
    stride = st.number_input("Stride", 1, 5, value=example.stride, key=f"stride-{example.title}")
    padding = st.radio(
        "Padding", PADDINGS, horizontal=True, index=PADDINGS.index(example.padding),
        key=f"pad-{example.title}",
    )  # fmt: skip
try:
    values = x.to_numpy(dtype=np.float64)
    if np.isnan(values).any():
        raise ValueError("the input has empty cells; fill them in")
    if op == "convolution":
        out = conv2d(values, kernel.to_numpy(dtype=np.float64), int(stride), padding)
    else:
        out = max_pool2d(values, int(size), int(stride), padding)
except ValueError as error:
    st.error(f"Cannot compute this: {error}.")
else:
    st.write(f"Output ({out.shape[0]}x{out.shape[1]}):")
    st.dataframe(matrix_table(out).style.format("{:g}").background_gradient(cmap="Greens"))

st.header("Padding in 1-D")
c1, c2, c3 = st.columns(3)
n = c1.number_input("Input width", 1, 40, value=13)
k = c2.number_input("Filter width", 1, 20, value=6)
s = c3.number_input("1-D stride", 1, 10, value=5)
try:
    numbers = padding_1d(int(n), int(k), int(s))
except ValueError as error:
    st.error(f"Cannot compute this: {error}.")
else:
    dropped = numbers["valid_dropped_positions"]  # counted from 1, as in the figure
    st.write(
        f"VALID gives **{numbers['valid_outputs']}** outputs"
        + (f" and drops inputs {', '.join(map(str, dropped))}" if dropped else "")
        + f"; SAME gives **{numbers['same_outputs']}**, padding "
        f"{numbers['same_padding_before_after'][0]} before and "
        f"{numbers['same_padding_before_after'][1]} after."
    )
    show(conv_plots.padding_1d_figure(int(n), int(k), int(s)))

st.header("A digit through a Sobel kernel and through the trained CNN")
index = st.number_input("MNIST test image", 0, 9999, value=0)
try:
    test = mnist_test()
except (MnistError, OSError) as error:  # the loader's message says how to fix it
    st.error(f"MNIST is not available: {error}")
    st.stop()
image = test.images[int(index)]
st.caption(f"Label: {int(test.labels[int(index)])}")
show(sobel_picture(int(index)))
model, why = trained_cnn()
if model is None:
    st.info(why)
else:
    for feature_map_picture in feature_map_pngs(int(index)):
        show(feature_map_picture)
