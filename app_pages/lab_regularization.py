"""Regularization lab: L1 selects features while L2 only shrinks them; dropout train vs eval."""

from __future__ import annotations

from dataclasses import astuple

import pandas as pd
import streamlit as st
import torch

from cnn.labs import reg_plots
from cnn.labs.reg_lab import RegLabConfig, dropout_demo, feature_selection

# Tiny nets: one thread is faster than a contended pool (see the optimizer page).
torch.set_num_threads(1)
PENALTIES = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2]
SHOWN = ["test_accuracy", "signal_features_kept", "noise_features_kept",
         "noise_weights_near_zero", "signal_weights_near_zero"]  # fmt: skip


def train_three(config: RegLabConfig):
    bar = st.progress(0.0, text="Training ...")

    def progress(done: int, total: int) -> None:
        if done % 20 == 0 or done == total:
            bar.progress(done / total, text=f"Step {done:,} of {total:,} (no penalty, L1, L2)")

    fs = feature_selection(config, progress)
    bar.empty()
    table = pd.DataFrame(
        {m: {k: fs[m][k] for k in ["l1", "l2", *SHOWN]} for m in ("none", "l1", "l2")}
    ).T
    figures = (
        reg_plots.feature_norms_figure(fs),
        reg_plots.noise_weights_figure(fs, config.near_zero),
    )
    return table, figures


st.title("Regularization")
st.header("L1 selects features, L2 only shrinks them")
st.write(
    "The 10-D ball data gets extra inputs of pure noise. The same small ReLU net is trained "
    "three times (no penalty, an L1 penalty, an L2 penalty on the weights, biases excluded); "
    "then we look at the first layer's weights out of each input."
)
c1, c2, c3, c4 = st.columns(4)
default = RegLabConfig()
l1 = c1.select_slider("L1 strength", PENALTIES, value=default.l1)
l2 = c2.select_slider("L2 strength", PENALTIES, value=default.l2)
noise = c3.slider("Noise features", 0, 40, value=default.noise_features)
steps = c4.slider("Training steps", 50, 2000, value=default.steps, step=50)
config = RegLabConfig(noise_features=noise, l1=l1, l2=l2, steps=steps)
if st.button("Train the three nets", type="primary", icon=":material/model_training:"):
    st.session_state.reg_lab = (astuple(config), train_three(config))
result = st.session_state.get("reg_lab")
if result is not None and result[0] == astuple(config):
    table, (norms, noise_weights) = result[1]
    st.dataframe(table.style.format("{:.3g}"))
    st.pyplot(norms)
    st.pyplot(noise_weights)
else:
    st.caption("Press Train the three nets (a few seconds per thousand steps).")

st.header("Dropout: train mode vs eval mode")
p = st.slider("Dropout probability p", 0.0, 0.95, value=default.dropout_p, step=0.05)
drop = dropout_demo(p, seed=default.seed)
m = st.columns(3)
m[0].metric("zeroed in training", f"{drop['train_fraction_zeroed']:.1%}")
m[1].metric(
    "kept units scaled by",
    f"{drop['train_kept_value']:.3f}",
    help=f"1/(1-p) = {drop['expected_kept_value']:.3f}: inverted dropout",
)
m[2].metric("eval output = input", "yes" if drop["eval_identical"] else "no")
st.pyplot(reg_plots.dropout_figure(drop))
