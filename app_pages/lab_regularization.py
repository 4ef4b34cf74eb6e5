"""Regularization lab: L1 selects features while L2 only shrinks them; AdamW; dropout."""

from __future__ import annotations

from dataclasses import astuple

import pandas as pd
import streamlit as st
import torch

from cnn.labs import reg_plots
from cnn.labs.reg_lab import RegLabConfig, dropout_demo, feature_selection
from cnn.labs.reg_path import (
    ADAM_METHODS,
    METHOD_TITLES,
    SGD_METHODS,
    PathConfig,
    adamw_vs_l2,
    lambda_path,
)
from cnn.labs.report import display_width, picture

# Tiny nets: one thread is faster than a contended pool (see the optimizer page).
torch.set_num_threads(1)
PENALTIES = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2]
PENALTY_NAMES = {"none": "no penalty", "l1": "L1", "l2": "L2"}


def show(figure) -> None:
    """A figure at the labs' common scale; a (png, width) pair from a cached view as is."""
    if isinstance(figure, tuple):
        st.image(figure[0], width=figure[1])
    else:
        st.pyplot(figure, width=display_width(figure))


@st.cache_data(show_spinner=False)
def dropout_picture(p: float, seed: int):
    return picture(reg_plots.dropout_figure(dropout_demo(p, seed=seed)))


# The cached functions touch no st element made outside them (a replayed cache result would
# reach for a progress bar that is gone): Streamlit's own spinner shows they are working.
@st.cache_data(show_spinner="Training the three nets ...")
def train_three(config: RegLabConfig):
    fs = feature_selection(config)
    n_noise = fs["noise_features"]
    table = pd.DataFrame(
        [{"Penalty": PENALTY_NAMES[m], "λ": f"{fs[m]['l1'] or fs[m]['l2']:g}" if m != "none"
          else "—", "Held-out accuracy": f"{fs[m]['test_accuracy']:.1%}",
          "Signal features kept": f"{fs[m]['signal_features_kept']} of {fs['n_signal']}",
          "Noise features kept": f"{fs[m]['noise_features_kept']} of {n_noise}",
          "Noise-input weights near 0 (|w| < 0.01)": f"{fs[m]['noise_weights_near_zero']:.0%}",
          "Signal-input weights near 0": f"{fs[m]['signal_weights_near_zero']:.0%}"}
         for m in ("none", "l1", "l2")]
    )  # fmt: skip
    figures = (
        picture(reg_plots.feature_norms_figure(fs)),
        picture(reg_plots.noise_weights_figure(fs, config.near_zero)),
    )
    return table, figures


@st.cache_data(show_spinner="Training 5 methods x 6 λ x 3 seeds ...")
def path_view(config: PathConfig):
    path = lambda_path(config)
    rows = [{"Method": METHOD_TITLES[m], "λ": f"{lam:g}",
             "Accuracy": f"{r['test_accuracy'][i]:.1%}",
             "Noise weights at 0": f"{r['zero_noise_input_weights'][i]:.0f}",
             "Signal weights at 0": f"{r['zero_signal_input_weights'][i]:.0f}",
             "Noise inputs dropped": f"{r['noise_features_dropped'][i]:.0f}",
             "Weight size (L2 norm)": f"{r['l2_norm'][i]:.3g}"}
            for m, r in path.items() for i, lam in enumerate(r["lambdas"])]  # fmt: skip
    return (picture(reg_plots.lambda_path_figure(path, SGD_METHODS)),
            picture(reg_plots.lambda_path_figure(path, ADAM_METHODS)), pd.DataFrame(rows),
            adamw_vs_l2(path))  # fmt: skip


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
    st.table(table, hide_index=True)  # wraps its headers: nothing cut off on the right
    show(norms)
    show(noise_weights)
else:
    st.caption("Press Train the three nets (a few seconds per thousand steps).")

st.header("A λ path: exact zeros, and AdamW vs L2 under Adam")
st.write(
    "With L1 as a term in the loss, gradient steps make weights hop across zero; they almost "
    "never land on it. The proximal step (soft threshold: shrink each weight by learning rate "
    "x λ, stop at 0) puts them on exactly 0. Each λ is trained with 3 seeds (medians shown), "
    "plain SGD for the L1/L2 runs; Adam for L2-in-the-loss vs AdamW's decoupled decay."
)
st.markdown(
    "- **Proximal step**: after each ordinary gradient step, pull every weight towards 0 by a "
    "fixed amount, and set it to exactly 0 if it would cross.\n"
    "- **Subgradient**: L1's |w| has no slope at 0, so the training uses the sign of w as its "
    "slope; the weights then jitter around 0 instead of stopping there.\n"
    "- **AdamW (decoupled decay)**: Adam that shrinks every weight by the same small fraction "
    "at each step, kept apart from (decoupled from) the loss's gradient."
)
path_steps = st.slider("Steps per run", 50, 600, value=PathConfig().steps, step=50)
path_config = PathConfig(noise_features=noise, steps=path_steps)
if st.button("Run the λ path", icon=":material/timeline:"):
    st.session_state.reg_path = (path_config, path_view(path_config))
result = st.session_state.get("reg_path")
if result is not None and result[0] == path_config:
    sgd_figure, adam_figure, table, compare = result[1]
    show(sgd_figure)
    a, w = compare["adam_l2_best"], compare["adamw_best"]
    st.write(
        f"Under Adam, L2 in the loss is divided by each weight's gradient scale, so weights "
        f"with small data gradients decay fast; AdamW shrinks every weight by the same fraction. "
        f"Best held-out accuracy: Adam + L2 {a['test_accuracy']:.1%} at λ = {a['lambda']:g}, "
        f"AdamW {w['test_accuracy']:.1%} at λ = {w['lambda']:g}."
    )
    show(adam_figure)
    st.caption(
        "A middle panel flat at 0 means no weight landed exactly on 0: under Adam neither "
        "method does that; only L1's proximal step (above) puts weights there."
    )
    # All 30 runs as a table that wraps (a grid cut its columns off on the right); folded,
    # since the plots above say it first.
    st.expander(f"The numbers behind the plots ({len(table)} runs)").table(table, hide_index=True)
    st.caption(
        "Accuracy on held-out points; counts of first-layer weights from noise (or signal) "
        "inputs that are exactly 0; noise inputs whose weights are all 0; the size of all "
        "weights together (L2 norm)."
    )
else:
    st.caption("Press Run the λ path (5 methods x 6 λ x 3 seeds, trained together).")

st.header("Dropout: train mode vs eval mode")
p = st.slider("Dropout probability p", 0.0, 0.95, value=default.dropout_p, step=0.05)
drop = dropout_demo(p, seed=default.seed)
m = st.columns(3)
m[0].metric("Zeroed in training", f"{drop['train_fraction_zeroed']:.1%}")
m[1].metric(
    "Kept units scaled by",
    f"{drop['train_kept_value']:.3f}",
    help=f"1/(1-p) = {drop['expected_kept_value']:.3f}: inverted dropout",
)
m[2].metric("Evaluation output = input", "yes" if drop["eval_identical"] else "no")
show(dropout_picture(p, default.seed))
