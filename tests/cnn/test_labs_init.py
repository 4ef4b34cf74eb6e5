"""The ball data, the BLOCK model and the initialization lab's numbers (the course's claims)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from cnn.labs.ball import make_ball
from cnn.labs.block import BLOCK_PARAMETERS, INITIALIZERS, BlockModel, expected_weight_std
from cnn.labs.init import InitLabConfig, course_claims, epoch0, init_lab, summary

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_ball_data_is_the_courses():
    d = make_ball()
    assert d.X.shape == (1000, 10) and d.X.dtype == np.float32
    assert abs(float(d.X.std()) - 1.0) < 1e-5 and abs(float(d.X.mean())) < 0.05
    # radius sqrt(10) before the rescale, so radius / std(points before) is what is left
    assert 3.3 < d.radius < 3.6
    assert np.linalg.norm(d.X, axis=1).max() <= d.radius + 1e-5
    assert np.array_equal(d.y, (np.abs(d.X.sum(1)) > d.radius / 2).astype(np.float32))
    assert 0.55 < d.y.mean() < 0.65  # about 59% positives
    # why not the handout's norm rule: in 10-D almost every point lies beyond half the radius
    assert (np.linalg.norm(d.X, axis=1) > d.radius / 2).mean() > 0.99


def test_ball_data_is_seeded():
    assert np.array_equal(make_ball(seed=3).X, make_ball(seed=3).X)
    assert not np.array_equal(make_ball(seed=3).X, make_ball(seed=4).X)
    noisy = make_ball(seed=3, noise_features=5)
    assert noisy.X.shape == (1000, 15) and noisy.n_signal == 10
    assert np.array_equal(noisy.y, make_ball(seed=3).y)
    with pytest.raises(ValueError, match="noise_features >= 0"):
        make_ball(noise_features=-1)


def test_block_model_has_41601_parameters():
    model = BlockModel("relu", "he-normal")
    assert sum(p.numel() for p in model.parameters()) == BLOCK_PARAMETERS == 41_601
    sizes = [layer.weight.numel() + layer.bias.numel() for layer in [*model.hidden, model.out]]
    assert sizes == [1100, 10100, 10100, 10100, 10100, 101]
    assert model(torch.zeros(7, 10)).shape == (7,)


@pytest.mark.parametrize("init", list(INITIALIZERS))
def test_initializers_follow_the_course_formulas(init):
    model = BlockModel("tanh", init, seed=1)
    w = model.hidden[2].weight.detach().numpy()  # 100 x 100
    assert w.std() == pytest.approx(expected_weight_std(init, 100, 100), rel=0.03)
    if init.endswith("uniform"):
        limit = math.sqrt(3) * expected_weight_std(init, 100, 100)  # Var(U(-l, l)) = l^2 / 3
        assert np.abs(w).max() <= limit and np.abs(w).max() > 0.98 * limit
    assert all(not layer.bias.detach().any() for layer in model.hidden)


def test_same_seed_same_weights_and_callers_rng_untouched():
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    a = BlockModel("tanh", "glorot-uniform", seed=5)
    assert torch.rand(1) == expected_next
    b = BlockModel("tanh", "glorot-uniform", seed=5)
    assert torch.equal(a.hidden[0].weight, b.hidden[0].weight)


def test_bad_names_say_the_choices():
    with pytest.raises(ValueError, match="activation must be one of"):
        BlockModel("softsign", "he-normal")
    with pytest.raises(ValueError, match="init must be one of"):
        BlockModel("relu", "lecun")
    with pytest.raises(ValueError, match="--init must be 'all' or one of"):
        init_lab(InitLabConfig(init="zeros"))


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_course_claims_hold(seed):
    claims = course_claims(seed)
    assert len(claims) == 10
    failed = {k: v for k, v in claims.items() if not v["holds"]}
    assert not failed


def test_claim_numbers_at_seed_0():
    c = course_claims(0)
    # sigmoid, sigma 0.01: vanishing -- h1's gradient std is ~1e-7 of h5's
    assert c["sigmoid_normal0.01_vanishing_gradients"]["grad_std_h1_over_h5"] < 1e-5
    # tanh, sigma 1.0: ~40x growth towards the input (44x), saturated activations (~88%)
    t = c["tanh_normal1.0_exploding_gradients"]
    assert 30 < t["grad_std_h1_over_h5"] < 60 and t["saturated_fraction_h5"] > 0.8
    # tanh + Glorot: activation std within 1.5x; relu + Glorot shrinks ~4x; He ~1.1x
    assert c["tanh_glorot-normal_keeps_activations"]["act_std_max_over_min"] < 1.6
    assert 3 < c["relu_glorot-uniform_shrinks_activations"]["act_std_h1_over_h5"] < 6
    assert c["relu_he-uniform_keeps_activations"]["act_std_max_over_min"] < 1.3
    # He/ReLU gradients grow towards the output: ~4x typically, 1x-5x over 10 draws
    g = c["relu_he-uniform_gradients_grow_to_output"]
    assert 3 < g["median_over_10_seeds"] < 6
    assert g["range_over_10_seeds"][0] < g["median_over_10_seeds"] < g["range_over_10_seeds"][1]


def test_epoch0_shapes_and_ranges():
    e = epoch0("relu", "he-normal")
    assert [z.shape for z in e.z] == [(1000, 100)] * 5
    assert e.weights[0].shape == (100, 10) and e.gradients[0].shape == (100, 10)
    assert all((a >= 0).all() for a in e.activations)
    assert e.saturated() is None
    assert math.isfinite(e.loss) and 0.3 < e.loss < 3


def test_summary_table_and_lab_result():
    rows = summary(["tanh"], ["glorot-normal", "normal-1.0"])
    assert [r["init"] for r in rows] == ["glorot-normal", "normal-1.0"]
    assert len(rows[0]["std"]["activations"]) == 5
    result = init_lab(InitLabConfig(activation="tanh", init="normal-1.0"))
    assert list(result.figures) == ["init_tanh_normal-1.0"]
    fig = result.figures["init_tanh_normal-1.0"]
    assert [ax.get_title() for ax in fig.axes] == [
        "Z-values",
        "Weights",
        "Activations",
        "Gradients",
    ]
    assert "Normal σ = 1.00" in fig._suptitle.get_text()
    numbers = json.loads(json.dumps(result.numbers))
    assert numbers["table"][0]["saturated"][-1] > 0.8
    assert numbers["data"]["n"] == 1000
