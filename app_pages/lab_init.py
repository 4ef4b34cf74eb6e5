"""Weight initialization lab: what each initializer does to a deep net's signals at epoch 0."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from cnn.labs import init_plots
from cnn.labs.block import ACTIVATIONS, INIT_TITLES, INITIALIZERS
from cnn.labs.init import course_claims, epoch0, summary


@st.cache_data(show_spinner="One forward and backward pass ...")
def epoch0_view(activation: str, init: str, seed: int):
    """The 2x2 histogram figure, the per-layer std table and the loss of one configuration."""
    e = epoch0(activation, init, seed)
    table = pd.DataFrame(e.stds(), index=[f"h{i}" for i in range(1, 6)]).T
    saturated = e.saturated()
    if saturated is not None:
        table.loc["saturated fraction"] = saturated
    return init_plots.epoch0_figure(e), table, e.loss


@st.cache_data(show_spinner="Every initializer, one pass each ...")
def summary_view(activation: str, seed: int):
    return init_plots.summary_figure(summary([activation], tuple(INITIALIZERS), seed))


@st.cache_data(show_spinner="Checking the course's statements (about 30 passes) ...")
def claims_table(seed: int) -> pd.DataFrame:
    rows = [
        {"claim": name, "course says": c["says"], "holds": c["holds"],
         "numbers": ", ".join(f"{k} = {v:.3g}" for k, v in c.items()
                              if isinstance(v, float))}
        for name, c in course_claims(seed).items()
    ]  # fmt: skip
    return pd.DataFrame(rows)


st.title("Weight initialization")
st.write(
    "The course's BLOCK model (5 hidden Dense layers of 100 units and a sigmoid output, "
    "41,601 parameters) sees the 10-D ball data once, freshly initialized. How the Z-values, "
    "activations, weights and weight gradients spread from layer h1 to h5 decides whether the "
    "net can learn: vanishing or exploding gradients, saturated units."
)
c1, c2, c3 = st.columns(3)
activation = c1.selectbox("Activation", list(ACTIVATIONS), index=1)
init = c2.selectbox("Initializer", list(INITIALIZERS), format_func=INIT_TITLES.get,
                    index=list(INITIALIZERS).index("glorot-normal"))  # fmt: skip
seed = int(c3.number_input("Seed", 0, 10_000, value=0))

figure, table, loss = epoch0_view(activation, init, seed)
st.pyplot(figure)
st.caption(f"Binary cross-entropy at epoch 0: {loss:.4f}")
st.write("Standard deviation per hidden layer:")
st.dataframe(table.style.format("{:.3g}"))

if st.toggle(f"Compare every initializer for {activation}"):
    st.pyplot(summary_view(activation, seed))

st.header("The course's claims, checked")
if st.toggle("Check the course's statements about epoch 0 (a few seconds)"):
    st.dataframe(claims_table(seed), hide_index=True)
