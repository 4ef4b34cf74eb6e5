"""The optimizer race: learning-rate sweeps over seeds, RProp on mini-batches, the course's Adam
vs torch's, paths on 2-D test functions. Checked against torch.optim (an independent
implementation), closed forms and the handout's statements (line numbers of
/work/shared/course/neural-networks-course.txt)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from cnn.labs.block import BlockModel
from cnn.labs.optim_race import (
    FUNCTIONS,
    RACERS,
    OptimLabConfig,
    adam_early_steps,
    ball_split,
    best_rate,
    lr_sweep,
    optim_lab,
    path_summary,
    race_ball,
    race_function,
    rprop_batches,
)
from cnn.labs.optimizers import Adam
from cnn.labs.stacked import StackedMLP

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_stacked_copies_with_a_rate_each_match_separate_torch_adam_runs():
    """One StackedMLP with a tensor lr == one torch.optim.Adam per (rate, seed) on a BlockModel."""
    split = ball_split(0, n_train=200, n_val=10, n_test=10)
    lrs, seeds = [0.003, 0.03], [0, 1]
    model = StackedMLP([s for _ in lrs for s in seeds], units=16)
    lr = torch.tensor([r for r in lrs for _ in seeds])[:, None, None]
    opt = Adam(model.parameters(), lr=lr, bias_correction=True)
    refs = [(BlockModel("tanh", "glorot-normal", 10, 16, 2, s), r) for r in lrs for s in seeds]
    ref_opts = [torch.optim.Adam(m.parameters(), lr=r) for m, r in refs]
    for _ in range(15):
        opt.zero_grad()
        model.loss(split.x, split.y).sum().backward()
        opt.step()
        for (m, _), o in zip(refs, ref_opts, strict=True):
            o.zero_grad()
            F.binary_cross_entropy_with_logits(m(split.x), split.y).backward()
            o.step()
    for k, (m, _) in enumerate(refs):
        np.testing.assert_allclose(model.input_weights()[k], m.hidden[0].weight.detach(),
                                   atol=2e-5)  # fmt: skip
        assert model.loss(split.x, split.y)[k].item() == pytest.approx(
            F.binary_cross_entropy_with_logits(m(split.x), split.y).item(), rel=1e-4
        )


def test_best_rate_is_the_best_median_validation_accuracy_then_the_lowest_loss():
    sweep = {
        "val_accuracy": np.array([[0.5, 0.6], [0.9, 0.95], [0.93, 0.92], [0.9, 0.95]]),
        "loss": np.array([[[1, 0.5]] * 2, [[1, 0.2]] * 2, [[1, 0.3]] * 2, [[1, 0.1]] * 2]),
    }
    assert best_rate(sweep) == 3  # rates 1 and 3 tie at median 0.925; 3 has the lower loss
    sweep["loss"][3, :, -1] = np.nan  # a diverged run never wins a tie
    assert best_rate(sweep) == 1


def test_sweep_picks_each_optimizer_its_own_rate_and_reports_held_out_accuracy():
    ball = race_ball(["sgd", "adam-bc"], lrs=(0.03, 0.3, 1.0), seeds=(0, 1), epochs=40)
    # plain SGD needs a far larger rate than Adam (measured best: 0.3 vs 0.03)
    assert ball["sgd"]["best_lr"] >= 10 * ball["adam-bc"]["best_lr"]
    assert ball["adam-bc"]["test_accuracy"] > 0.9
    for r in ball.values():
        assert len(r["curve"]) == 41 and r["curve"][-1] < r["curve"][0]
        lo, hi = r["test_accuracy_range"]
        assert lo <= r["test_accuracy"] <= hi
        assert r["settings"]["lr"] == r["best_lr"] and r["seeds"] == 2


def test_line_616_rprop_only_works_in_full_batch_mode():
    rb = rprop_batches(lr=0.1, seeds=(0, 1), epochs=30, compare_lr=0.03)
    full, mini = rb["rprop"]["full_batch"], rb["rprop"]["mini_batch"]
    # measured (3 seeds, 30 epochs): BCE 0.013 full batch vs 0.62 on mini-batches of 32
    assert mini["final_loss"] > 5 * full["final_loss"]
    assert mini["test_accuracy"] < full["test_accuracy"] - 0.2
    # the control: Adam does at least as well on mini-batches as in full batch
    adam = rb["adam-bc"]
    assert adam["mini_batch"]["final_loss"] < adam["full_batch"]["final_loss"]
    assert mini["steps"] == 30 * 32 and full["steps"] == 30


def test_lines_638_642_course_adam_takes_larger_early_steps_than_torch_adam():
    """No bias correction: m_1 = (1 - b1) g and v_1 = (1 - b2) g^2, so step 1 moves every weight
    by lr (1 - b1) / sqrt(1 - b2) = 3.16 lr; torch's Adam moves it by lr."""
    out = adam_early_steps(lr=0.01, steps=3)
    assert out["adam"][0] == pytest.approx(0.1 / 0.001**0.5, rel=0.01)
    assert out["adam-bc"][0] == pytest.approx(1.0, rel=0.01)
    assert "3.16x" in out["sentence"] and "1.00x" in out["sentence"]


def test_line_668_adam_defaults_are_kingma_and_bas():
    group = Adam([torch.zeros(1, requires_grad=True)]).param_groups[0]
    reference = torch.optim.Adam([torch.zeros(1, requires_grad=True)]).defaults
    assert group["betas"] == (0.9, 0.999) == reference["betas"]
    assert group["eps"] == 1e-8 == reference["eps"]


def test_lr_sweep_shapes():
    s = lr_sweep("momentum", lrs=(0.01, 0.1), seeds=(0, 1, 2), epochs=3)
    assert s["loss"].shape == (2, 3, 4) and s["val_accuracy"].shape == (2, 3)
    assert (s["loss"][:, :, 0] == s["loss"][0, :, 0]).all()  # the same start for every rate


@pytest.mark.parametrize("function", list(FUNCTIONS))
def test_closed_form_gradients_match_autograd(function):
    fn = FUNCTIONS[function]
    for x, y in [(-1.5, 2.0), (0.3, -0.7), (2.5, 1.1)]:
        xy = torch.tensor([x, y], dtype=torch.float64, requires_grad=True)
        fn.f(xy[0], xy[1]).backward()
        np.testing.assert_allclose(fn.grad(x, y), xy.grad.numpy(), rtol=1e-12)


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
        race_ball(["lbfgs"], epochs=1)
    with pytest.raises(ValueError, match="choose from rosenbrock, beale"):
        race_function("himmelblau")


def test_optim_lab_result():
    config = OptimLabConfig(ball_steps=5, function_steps=20, optimizers=("sgd", "adam", "adam-bc"),
                            seeds=1, lrs=(0.01, 0.1), rprop_epochs=1)  # fmt: skip
    calls = []
    result = optim_lab(config, progress=lambda done, total: calls.append((done, total)))
    # the progress bar fills once and never runs past its total (it reached 7,105 of 880)
    assert all(0 <= d <= t for d, t in calls) and calls[-1][0] == calls[-1][1]
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    numbers = json.loads(json.dumps(result.numbers))
    assert set(numbers) == {"ball", "rosenbrock", "beale", "adam_early_steps", "rprop_batches"}
    assert set(numbers["ball"]) == {"sgd", "adam", "adam-bc"}
    ball = numbers["ball"]["adam"]
    assert {"settings", "final_loss", "first_step_below_0.1"} <= set(ball)  # the old keys
    assert ball["settings"]["lr"] in (0.01, 0.1)
    assert set(result.figures) == {"optim_ball_race", "optim_rprop_batches", "optim_rosenbrock",
                                   "optim_beale"}  # fmt: skip
    assert len(result.figures["optim_beale"].axes) == 2
    assert list(RACERS)[:3] == ["sgd", "momentum", "nesterov"]
