"""Optimizer race: the course's update rules on 2-D test functions and on the ball data."""

from __future__ import annotations

import pandas as pd
import streamlit as st
import torch

from cnn.labs import optim_plots
from cnn.labs.optim_race import (
    BALL_SETTINGS,
    FUNCTIONS,
    RACERS,
    path_summary,
    race_ball,
    race_function,
)

# These nets are tiny: on a busy 2-core machine, torch's thread pool cost 5-50x more than it
# saved (measured: 40 full-batch BLOCK steps, 1 thread 2.0 s vs 2 threads 10.1 s).
torch.set_num_threads(1)


@st.cache_data(show_spinner="Racing ...")
def function_race(function: str, names: tuple[str, ...], steps: int):
    paths = race_function(function, names, steps)
    figure = optim_plots.trajectories_figure(FUNCTIONS[function], paths)
    table = pd.DataFrame(path_summary(function, paths)).T
    table["settings"] = [str(FUNCTIONS[function].settings[name]) for name in table.index]
    return figure, table


def first_below(losses: list[float], level: float) -> int | None:
    return next((i for i, v in enumerate(losses) if v < level), None)


def ball_race(names: tuple[str, ...], steps: int, seed: int):
    bar = st.progress(0.0, text="Training ...")

    def progress(done: int, total: int) -> None:
        if done % 10 == 0 or done == total:
            bar.progress(done / total, text=f"Full-batch step {done:,} of {total:,}")

    curves = race_ball(names, steps, seed, progress)
    bar.empty()
    table = pd.DataFrame(
        {
            "final loss": [c[-1] for c in curves.values()],
            "first step below 0.1": [first_below(c, 0.1) for c in curves.values()],
            "settings": [str(BALL_SETTINGS[name]) for name in curves],
        },
        index=list(curves),
    )
    return optim_plots.race_curves_figure(curves), table


st.title("Optimizer race")
st.write(
    "The course's update rules (SGD, momentum, Nesterov, Adagrad, Adadelta, RProp, Adam as the "
    "course writes it, and Adam with bias correction) written as PyTorch optimizers, each with "
    "one stable, untuned set of hyper-parameters per problem, all full batch."
)
names = tuple(st.multiselect("Optimizers", RACERS, default=list(RACERS)))
if not names:
    st.info("Pick at least one optimizer.")
    st.stop()

st.header("On a 2-D test function")
c1, c2 = st.columns(2)
function = c1.selectbox("Function", list(FUNCTIONS))
steps = c2.slider("Steps", 50, 5000, value=1000, step=50)
figure, table = function_race(function, names, steps)
st.pyplot(figure)
st.dataframe(table, column_config={"first_step_within_0.1": "first step within 0.1"})

st.header("On the ball data (BLOCK model, tanh, Glorot normal)")
c1, c2 = st.columns(2)
ball_steps = c1.slider("Full-batch steps", 10, 1000, value=200, step=10)
seed = int(c2.number_input("Seed", 0, 10_000, value=0))
key = (names, ball_steps, seed)
if st.button("Run the race", type="primary", icon=":material/sprint:"):
    st.session_state.ball_race = (key, ball_race(names, ball_steps, seed))
result = st.session_state.get("ball_race")
if result is not None and result[0] == key:
    figure, table = result[1]
    st.pyplot(figure)
    st.dataframe(table)
else:
    st.caption("All optimizers start from the same seeded weights. Press Run the race.")
