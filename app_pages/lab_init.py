"""Weight initialization lab: what each initializer does to a deep net's signals at epoch 0."""

from __future__ import annotations

import pandas as pd
import streamlit as st
import torch

from cnn.labs import init_plots
from cnn.labs.block import ACTIVATIONS, INIT_TITLES, INITIALIZERS
from cnn.labs.init import course_claims, epoch0, seed_profile
from cnn.labs.init_train import does_it_train
from cnn.labs.labels import claim_rows, number_text, training_rows
from cnn.labs.report import display_width, picture

torch.set_num_threads(1)  # tiny nets: one thread beats a contended pool
SEEDS = 10
ROWS = {"z": "Z-values", "activations": "Activations", "weights": "Weights",
        "gradients": "Weight gradients"}  # fmt: skip
SATURATED = "Saturated units (share)"


def show(figure) -> None:
    """A figure at the labs' common scale; a (png, width) pair from a cached view as is."""
    if isinstance(figure, tuple):
        st.image(figure[0], width=figure[1])
    else:
        st.pyplot(figure, width=display_width(figure))


@st.cache_data(show_spinner="One forward and backward pass ...")
def epoch0_view(activation: str, init: str, seed: int):
    """The 2x2 histogram figure, the per-layer std table and the loss of one configuration."""
    e = epoch0(activation, init, seed)
    table = pd.DataFrame(e.stds(), index=[f"h{i}" for i in range(1, 6)]).T.rename(index=ROWS)
    saturated = e.saturated()
    if saturated is not None:
        table.loc[SATURATED] = saturated
    return picture(init_plots.epoch0_figure(e)), table, e.loss


# The cached functions below touch no st element made outside them: a cached result is replayed
# on the next run, and a progress bar from an earlier run is gone by then. The page shows
# progress between the calls instead, one cached call per initializer.
@st.cache_data(show_spinner=False)
def profile_of(activation: str, init: str, seed: int) -> dict:
    """Per-layer numbers over SEEDS seeds for one initializer (one activation)."""
    return seed_profile(activation, init, range(seed, seed + SEEDS))


@st.cache_data(show_spinner=False)
def profile_picture(activation: str, seed: int):
    """Medians and bands of every initializer in one figure (each profile cached above)."""
    profiles = {(activation, i): profile_of(activation, i, seed) for i in INITIALIZERS}
    return picture(init_plots.profile_figure(profiles, SEEDS))


def profile_view(activation: str, seed: int):
    """The comparison figure, with a progress bar while the initializers are computed."""
    bar = st.progress(0.0, text="Initializers done")
    for k, init in enumerate(INITIALIZERS):
        profile_of(activation, init, seed)
        bar.progress(
            (k + 1) / len(INITIALIZERS), text=f"Initializers done {k + 1}/{len(INITIALIZERS)}"
        )
    bar.empty()
    return profile_picture(activation, seed)


@st.cache_data(show_spinner="Checking the course's statements over 10 seeds ...")
def claims_table(seed: int) -> pd.DataFrame:
    return pd.DataFrame(claim_rows(course_claims(seed, SEEDS)))


@st.cache_data(show_spinner=False)
def training_run(activation: str, init: str, epochs: int) -> dict:
    """One short training run from one initializer."""
    return does_it_train([(activation, init)], epochs)[0]


def training_view(activation: str, epochs: int):
    """Every initializer's run (each cached), with a progress bar, as a figure and a table."""
    bar = st.progress(0.0, text="Initializers trained")
    runs = []
    for k, init in enumerate(INITIALIZERS):
        runs.append(training_run(activation, init, epochs))
        bar.progress(
            (k + 1) / len(INITIALIZERS), text=f"Initializers trained {k + 1}/{len(INITIALIZERS)}"
        )
    bar.empty()
    return picture(init_plots.training_figure(runs)), pd.DataFrame(training_rows(runs))


st.title("Weight initialization")
st.write(
    "The course's BLOCK model, named so because its hidden layers are identical blocks (5 "
    "hidden layers of 100 units each and one sigmoid output unit, 41,601 parameters), sees "
    "its training data once, freshly initialized. The data are 1,000 points in 10 dimensions "
    "(the 10-D ball data: points scattered in a ten-dimensional ball, each labelled yes or no). "
    "How the Z-values (each unit's weighted sum of its inputs, before the activation), "
    "activations, weights and weight gradients spread from layer h1 to h5 decides whether the "
    "net can learn: vanishing or exploding gradients, saturated units."
)
c1, c2, c3 = st.columns(3)
activation = c1.selectbox("Activation", list(ACTIVATIONS), index=1)
init = c2.selectbox("Initializer", list(INITIALIZERS), format_func=INIT_TITLES.get,
                    index=list(INITIALIZERS).index("glorot-normal"))  # fmt: skip
seed = int(c3.number_input("Seed", 0, 10_000, value=0))

figure, table, loss = epoch0_view(activation, init, seed)
show(figure)
st.caption(f"Loss (binary cross-entropy) before training: {loss:.4f}")
st.write("Standard deviation per hidden layer (this seed):")
stds = [r for r in table.index if r != SATURATED]
styled = table.style.format(
    lambda v: number_text(v, plain_from=float("inf")), subset=pd.IndexSlice[stds, :]
)
st.dataframe(
    styled.format("{:.1%}", subset=pd.IndexSlice[[SATURATED], :])
    if SATURATED in table.index
    else styled
)
st.caption(
    "1.23 × 10⁻⁴ means 0.000123. Saturated units: the share of activations close to the "
    "activation's limits (tanh beyond ±0.9, sigmoid below 0.1 or above 0.9), where its slope "
    "is nearly flat and the unit hardly learns."
)

st.header(f"Layer by layer, over {SEEDS} seeds")
st.write(
    "The course's argument (Glorot, He) is about the signal that flows back through the net: "
    "the gradient of **one sample's** loss with respect to each layer's activations. A weight "
    "gradient is the average of 1,000 such per-sample products, and they cancel more in some "
    "layers than in others. Lines are medians over the seeds; the bands run from the smallest "
    "to the largest seed."
)
if st.toggle(f"Compare every initializer for {activation} ({SEEDS} seeds each)"):
    show(profile_view(activation, seed))

st.header("The course's claims, checked")
if st.toggle("Check the course's statements about epoch 0 (a few seconds)"):
    st.table(claims_table(seed), hide_index=True)  # a table wraps its text: no column cut off
    st.caption(
        "Course text, line: where the course's handout makes the statement. Reproduced: whether "
        "our measurement agrees; docs/LABS.md discusses the ones that do not."
    )

st.header("Does it train?")
st.write(
    "The same model compiled as in the course's Keras code (plain SGD, learning rate 0.01, "
    "batches of 32), trained for a few epochs from each initializer. A loss stuck near 0.67 "
    "means the net only learned the share of positives."
)
epochs = st.slider("Epochs", 1, 20, value=5)
if st.button("Train from every initializer", type="primary", icon=":material/model_training:"):
    st.session_state.init_training = (activation, epochs, training_view(activation, epochs))
result = st.session_state.get("init_training")
if result is not None and result[:2] == (activation, epochs):
    figure, runs = result[2]
    show(figure)
    st.dataframe(runs, hide_index=True)
    st.caption("BCE: binary cross-entropy, the loss the net minimizes (lower is better).")
else:
    st.caption(f"Press the button: {len(INITIALIZERS)} short runs for {activation}.")
