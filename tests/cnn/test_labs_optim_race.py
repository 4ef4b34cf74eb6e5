"""The optimizer race: curves on the ball data, paths on 2-D test functions, the lab result."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cnn.labs.optim_race import (
    FUNCTIONS,
    RACERS,
    OptimLabConfig,
    optim_lab,
    path_summary,
    race_ball,
    race_function,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_every_racer_lowers_the_ball_loss_from_the_same_start():
    curves = race_ball(steps=60)
    assert list(curves) == list(RACERS)
    starts = {round(c[0], 6) for c in curves.values()}
    assert len(starts) == 1  # same seeded weights, same data
    for name, c in curves.items():
        assert len(c) == 60 and np.isfinite(c).all()
        assert c[-1] < c[0], name
    # measured after 60 steps: RProp 4e-11, Adam 7e-4, SGD 0.13, momentum 0.65 (still winding up)
    assert curves["adam"][-1] < 0.1 * curves["sgd"][-1]
    assert curves["rprop"][-1] < 0.1 * curves["sgd"][-1]


def test_course_adam_starts_faster_than_bias_corrected_adam():
    # its first steps are up to ~6.5x larger (no bias correction), so early on it is ahead
    curves = race_ball(["adam", "adam-bc"], steps=30)
    assert curves["adam"][-1] < curves["adam-bc"][-1]


@pytest.mark.parametrize("function", list(FUNCTIONS))
def test_paths_start_at_the_start_and_head_for_the_minimum(function):
    fn = FUNCTIONS[function]
    paths = race_function(function, steps=300)
    summary = path_summary(function, paths)
    start_value = fn.f(*fn.start)
    for name, p in paths.items():
        assert p.shape == (301, 2) and np.array_equal(p[0], fn.start)
        assert np.isfinite(p).all(), name
        assert summary[name]["final_value"] < start_value, name
    # on Beale, RProp is inside 0.1 of (3, 0.5) within 50 steps (measured: step 42)
    if function == "beale":
        assert summary["rprop"]["first_step_within_0.1"] < 50


def test_minima_are_minima():
    for fn in FUNCTIONS.values():
        assert fn.f(*fn.minimum) == pytest.approx(0.0, abs=1e-12)
        assert fn.f(fn.minimum[0] + 0.01, fn.minimum[1]) > 0


def test_bad_names_list_the_choices():
    with pytest.raises(ValueError, match="choose from sgd, momentum"):
        race_ball(["lbfgs"], steps=1)
    with pytest.raises(ValueError, match="choose from rosenbrock, beale"):
        race_function("himmelblau")


def test_optim_lab_result():
    config = OptimLabConfig(ball_steps=5, function_steps=20, optimizers=("sgd", "adam"))
    result = optim_lab(config)
    numbers = json.loads(json.dumps(result.numbers))
    assert set(numbers) == {"ball", "rosenbrock", "beale"}
    assert set(numbers["ball"]) == {"sgd", "adam"}
    assert numbers["ball"]["adam"]["settings"] == {"lr": 1e-3}
    assert set(result.figures) == {"optim_ball_race", "optim_rosenbrock", "optim_beale"}
    assert len(result.figures["optim_beale"].axes) == 2
