"""Optimizer race: the course's update rules on 2-D test functions and on the ball data."""

from __future__ import annotations

import pandas as pd
import streamlit as st
import torch

from cnn.labs import optim_plots
from cnn.labs.config import LR_GRID, NAMES, RACERS
from cnn.labs.labels import number_text, settings_text, step_text
from cnn.labs.optim_race import (
    FUNCTIONS,
    adam_early_steps,
    path_summary,
    race_ball,
    race_function,
    rprop_batches,
)
from cnn.labs.report import display_width, picture

# These nets are tiny: on a busy 2-core machine, torch's thread pool cost 5-50x more than it
# saved (measured: 40 full-batch BLOCK steps, 1 thread 2.0 s vs 2 threads 10.1 s).
torch.set_num_threads(1)
SEEDS = (0, 1, 2)


def show(figure) -> None:
    """A figure at the labs' common scale; a (png, width) pair from a cached view as is."""
    if isinstance(figure, tuple):
        st.image(figure[0], width=figure[1])
    else:
        st.pyplot(figure, width=display_width(figure))


@st.cache_data(show_spinner="Racing ...")
def function_race(function: str, names: tuple[str, ...], steps: int):
    paths = race_function(function, names, steps)
    figure = picture(optim_plots.trajectories_figure(FUNCTIONS[function], paths))
    summary = path_summary(function, paths)
    table = pd.DataFrame(
        {
            "Optimizer": [NAMES[n] for n in summary],
            "Final value": [number_text(r["final_value"]) for r in summary.values()],
            "Distance to the minimum": [number_text(r["final_distance"])
                                        for r in summary.values()],
            "First step within 0.1": [step_text(r["first_step_within_0.1"], "never")
                                      for r in summary.values()],
            "Settings": [settings_text(FUNCTIONS[function].settings[n]) for n in summary],
        }
    )  # fmt: skip
    return figure, table


# Cached functions touch no st element made outside them (a replayed cache result would
# reach for a progress bar that is gone): one cached call per optimizer, progress in between.
@st.cache_data(show_spinner=False)
def ball_run(name: str, steps: int) -> dict:
    """One optimizer's learning-rate sweep on the ball data."""
    return race_ball((name,), LR_GRID, SEEDS, steps)[name]


def ball_sweep(names: tuple[str, ...], steps: int):
    """Every picked optimizer's sweep (each cached), with a progress bar."""
    bar = st.progress(0.0, text="Optimizers done")
    ball = {}
    for k, name in enumerate(names):
        ball[name] = ball_run(name, steps)
        bar.progress((k + 1) / len(names), text=f"Optimizers done {k + 1}/{len(names)}")
    bar.empty()
    table = pd.DataFrame(
        {
            "Optimizer": [NAMES[n] for n in ball],
            "Best learning rate": [f"{r['best_lr']:g}" for r in ball.values()],
            "Held-out accuracy": [f"{r['test_accuracy']:.1%}" for r in ball.values()],
            "Range over seeds": [f"{lo:.1%} to {hi:.1%}"
                                 for lo, hi in (r["test_accuracy_range"] for r in ball.values())],
            "Training loss (BCE)": [number_text(r["final_loss"]) for r in ball.values()],
            "First step below BCE 0.1": [step_text(r["first_step_below_0.1"])
                                         for r in ball.values()],
        }
    )  # fmt: skip
    return picture(optim_plots.race_sweep_figure(ball)), table, ball


@st.cache_data(show_spinner="RProp and Adam, full batch and mini-batches ...")
def rprop_view(rprop_lr: float, adam_lr: float):
    rb = rprop_batches(rprop_lr, SEEDS, 30, compare_lr=adam_lr)
    rows = [{"Optimizer": NAMES[name], "Batches": "full batch" if mode == "full_batch"
             else f"mini-batches of {rb['batch_size']}", "Steps": rb[name][mode]["steps"],
             "Training loss (BCE)": f"{rb[name][mode]['final_loss']:.3f}",
             "Held-out accuracy": f"{rb[name][mode]['test_accuracy']:.1%}"}
            for name in ("rprop", "adam-bc") for mode in ("full_batch", "mini_batch")]  # fmt: skip
    return picture(optim_plots.rprop_figure(rb)), pd.DataFrame(rows)


@st.cache_data(show_spinner="Ten Adam steps each ...")
def adam_view(lr: float):
    early = adam_early_steps(lr, steps=10)
    table = pd.DataFrame(
        {
            "Step": range(1, 11),
            "Course's Adam (x rate)": [f"{v:.2f}" for v in early["adam"]],
            "torch's Adam (x rate)": [f"{v:.2f}" for v in early["adam-bc"]],
        }
    )
    return early["sentence"], table  # fmt: skip


st.title("Optimizer race")
st.write(
    "The course's update rules (SGD, momentum, Nesterov, Adagrad, Adadelta, RProp, Adam as the "
    "course writes it, and Adam with bias correction) written as PyTorch optimizers."
)
names = tuple(st.multiselect("Optimizers", RACERS, default=list(RACERS), format_func=NAMES.get))
if not names:
    st.info("Pick at least one optimizer.")
    st.stop()

st.header("On a 2-D test function")
st.caption("One hand-picked setting per optimizer; every step uses the exact gradient.")
c1, c2 = st.columns(2)
function = c1.selectbox("Function", list(FUNCTIONS), format_func=str.capitalize)
steps = c2.slider("Steps", 50, 5000, value=1000, step=50)
figure, table = function_race(function, names, steps)
show(figure)
st.dataframe(
    table, hide_index=True, column_config={"Optimizer": st.column_config.TextColumn(width="medium")}
)
st.caption("Small numbers are written as 6.24 × 10⁻¹⁰, that is 0.000000000624.")

st.header("On the ball data, each at its own best learning rate")
st.write(
    f"A small BLOCK net (2 hidden tanh layers of 16, Glorot normal) trained full batch on 1,000 "
    f"ball points at each of {len(LR_GRID)} learning rates from {LR_GRID[0]:g} to "
    f"{LR_GRID[-1]:g}, with {len(SEEDS)} weight seeds each. The rate with the best median "
    "accuracy on 500 validation points wins; held-out accuracy is then measured on 500 more."
)
ball_steps = st.slider("Full-batch steps per run", 10, 300, value=100, step=10)
key = (names, ball_steps)
if st.button("Run the sweep", type="primary", icon=":material/sprint:"):
    st.session_state.ball_race = (key, ball_sweep(names, ball_steps))
result = st.session_state.get("ball_race")
if result is not None and result[0] == key:
    figure, table, ball = result[1]
    show(figure)
    st.dataframe(table, hide_index=True)
    st.caption(
        "BCE: binary cross-entropy, the training loss (lower is better; guessing blindly gives "
        "about 0.67)."
    )

    st.subheader("RProp needs the full batch")
    st.write(
        'The handout: RProp "only works in full batch mode". RProp uses only each gradient\'s '
        "sign, and a mini-batch's signs are noisy: with the same epochs and rate it stalls on "
        "mini-batches of 32. Adam, shown beside it as a control, does better on them."
    )
    rprop_lr = ball.get("rprop", {}).get("best_lr", 0.1)
    adam_lr = ball.get("adam-bc", {}).get("best_lr", 0.03)
    figure, table = rprop_view(rprop_lr, adam_lr)
    show(figure)
    st.dataframe(table, hide_index=True)

    st.subheader("The course's Adam vs torch's")
    sentence, table = adam_view(adam_lr)
    st.write(sentence)
    st.dataframe(table, hide_index=True)
else:
    st.caption("All optimizers start from the same seeded weights. Press Run the sweep.")
