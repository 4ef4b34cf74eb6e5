"""L1/L2 on weights only, the Keras trio, dropout, and L1's feature selection on real numbers."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from cnn.labs.ball import make_ball
from cnn.labs.block import BlockModel
from cnn.labs.reg_lab import RegLabConfig, dropout_demo, feature_selection, reg_lab
from cnn.labs.reg_path import PathConfig, lambda_path, soft_threshold, train_path
from cnn.labs.regularization import (
    Dense,
    Regularizer,
    l1,
    l1_l2,
    l2,
    penalized_weights,
    regularization_loss,
    weight_penalty,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_lines_106_111_penalties_are_the_course_formulas():
    t = torch.tensor([[1.0, -2.0], [0.5, 0.0]])
    assert l1(0.1)(t).item() == pytest.approx(0.1 * 3.5)
    assert l2(0.1)(t).item() == pytest.approx(0.1 * 5.25)
    assert l1_l2(0.1, 0.2)(t).item() == pytest.approx(0.35 + 0.2 * 5.25)
    with pytest.raises(ValueError, match="must be >= 0"):
        Regularizer(l1=-0.1)


def test_lines_113_119_weight_penalty_ignores_biases():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 1))
    assert [n for n, _ in penalized_weights(model)] == ["0.weight", "2.weight"]
    expected = 0.01 * (model[0].weight.abs().sum() + model[2].weight.abs().sum())
    expected = expected + 0.1 * (model[0].weight.pow(2).sum() + model[2].weight.pow(2).sum())
    before = weight_penalty(model, l1=0.01, l2=0.1)
    assert before.item() == pytest.approx(expected.item())
    with torch.no_grad():
        model[0].bias.fill_(100.0)
    after = weight_penalty(model, l1=0.01, l2=0.1)
    assert after.item() == pytest.approx(before.item())
    after.backward()
    assert model[0].bias.grad is None and model[0].weight.grad.abs().sum() > 0


def test_lines_129_138_keras_trio_as_in_the_course():
    torch.manual_seed(0)
    layer = Dense(32, 256, torch.relu, kernel_regularizer=l1(0.001),
                  bias_regularizer=l2(0.1), activity_regularizer=l2(0.01))  # fmt: skip
    with torch.no_grad():
        layer.linear.bias.fill_(0.5)
    with pytest.raises(RuntimeError, match="forward pass first"):
        layer.regularization_loss()
    x = torch.randn(8, 32)
    out = layer(x)
    expected = (
        0.001 * layer.linear.weight.abs().sum()
        + 0.1 * 256 * 0.25
        + 0.01 * out.pow(2).sum() / 8  # activity penalty per example
    )
    assert layer.regularization_loss().item() == pytest.approx(expected.item(), rel=1e-6)
    model = nn.Sequential(layer, Dense(256, 1, kernel_regularizer=l2(0.5)))
    model(x)
    extra = 0.5 * model[1].linear.weight.pow(2).sum()
    assert regularization_loss(model).item() == pytest.approx((expected + extra).item(), rel=1e-6)
    assert regularization_loss(nn.Linear(2, 2)).item() == 0.0


@pytest.mark.parametrize("p", [0.1, 0.5])
def test_line_173_dropout_probability_is_the_fraction_dropped(p):
    d = dropout_demo(p, n=200_000, seed=1)
    assert d["train_fraction_zeroed"] == pytest.approx(p, abs=0.005)
    assert d["train_kept_value"] == pytest.approx(1 / (1 - p))  # inverted scaling
    assert d["train_mean"] == pytest.approx(1.0, abs=0.01)  # expectation preserved
    assert d["eval_identical"]
    assert dropout_demo(p, seed=1) == dropout_demo(p, seed=1)
    with pytest.raises(ValueError, match=r"in \[0, 1\)"):
        dropout_demo(1.0)


@pytest.fixture(scope="module")
def selection():
    torch.set_num_threads(1)
    return feature_selection(RegLabConfig())


@pytest.mark.slow
def test_lines_98_108_l1_selects_features_l2_only_shrinks(selection):
    """Line 98: with L1 the weights out of unneeded inputs go to ~0 and the feature is dropped;
    line 108: L2 only makes weights smaller. Here L1 enters through Adam (a subgradient), so
    "~0" means |w| < 0.01; the lambda path tests exact zeros."""
    none, lasso, ridge = selection["none"], selection["l1"], selection["l2"]
    assert lasso["noise_weights_near_zero"] > 2 * ridge["noise_weights_near_zero"]
    assert lasso["noise_features_kept"] < ridge["noise_features_kept"] == 10
    assert lasso["signal_features_kept"] == ridge["signal_features_kept"] == 10
    assert (lasso["noise_over_signal_norm"] < ridge["noise_over_signal_norm"]
            < none["noise_over_signal_norm"])  # fmt: skip
    assert lasso["noise_weights_exactly_zero"] == 0  # a subgradient step never lands on 0
    # dropping the noise generalizes better (measured 0.922 none, 0.963 L2, 0.986 L1)
    assert none["test_accuracy"] < ridge["test_accuracy"] < lasso["test_accuracy"]


def test_reg_lab_result_is_json_and_figures():
    result = reg_lab(RegLabConfig(steps=20, path_steps=5, path_seeds=1))
    numbers = json.loads(json.dumps(result.numbers))
    assert set(numbers["feature_selection"]) >= {"none", "l1", "l2"}
    assert "weights" not in numbers["feature_selection"]["l1"]
    assert len(numbers["feature_selection"]["l1"]["feature_norms"]) == 20
    assert set(numbers["lambda_path"]) == {"l1-prox", "l1-subgradient", "l2", "adam-l2", "adamw"}
    assert {"adam_l2_best", "adamw_best"} <= set(numbers["adamw_vs_l2"])
    assert set(result.figures) == {"reg_feature_norms", "reg_noise_weights", "reg_dropout",
                                   "reg_lambda_path", "reg_adamw_vs_l2"}  # fmt: skip


def test_soft_threshold_is_the_proximal_operator_of_the_l1_penalty():
    """prox(v) = argmin_w 1/2 (w - v)^2 + t |w|, checked by brute force on a fine grid."""
    grid = torch.linspace(-3, 3, 600_001, dtype=torch.float64)
    for v in (-2.0, -0.3, 0.0, 0.1, 0.25, 1.7):
        for t in (0.0, 0.2, 0.5):
            objective = 0.5 * (grid - v) ** 2 + t * grid.abs()
            expected = grid[objective.argmin()].item()
            got = soft_threshold(torch.tensor(v, dtype=torch.float64), t).item()
            assert got == pytest.approx(expected, abs=2e-5)
    assert soft_threshold(torch.tensor([0.1, -0.1]), 0.2).eq(0).all()  # exactly 0, not ~0


def test_adamw_run_matches_torch_adamw():
    """The path's decoupled decay == torch.optim.AdamW(weight_decay=2 lambda) on the weights."""
    config = PathConfig(lambdas=(0.05,), seeds=1, steps=12, units=8, noise_features=3)
    run = train_path("adamw", config)
    d = make_ball(n=2000, seed=0, noise_features=3)
    x, y = torch.from_numpy(d.X[:1000]), torch.from_numpy(d.y[:1000])
    model = BlockModel("relu", "he-normal", 13, 8, 1, seed=0)
    weights = [p for n, p in model.named_parameters() if n.endswith("weight")]
    biases = [p for n, p in model.named_parameters() if n.endswith("bias")]
    opt = torch.optim.AdamW([{"params": weights, "weight_decay": 0.1},
                             {"params": biases, "weight_decay": 0.0}], lr=0.01)  # fmt: skip
    for _ in range(12):
        opt.zero_grad()
        torch.nn.functional.binary_cross_entropy_with_logits(model(x), y).backward()
        opt.step()
    np.testing.assert_allclose(run["input_weights"][0, 0], model.hidden[0].weight.detach(),
                               atol=1e-5)  # fmt: skip


@pytest.fixture(scope="module")
def path():
    torch.set_num_threads(1)
    config = PathConfig(lambdas=(3e-3, 1e-2, 0.1), seeds=2, steps=200)
    return lambda_path(config)


def test_line_98_l1_drives_weights_to_exactly_zero_and_drops_noise_first(path):
    prox, sub = path["l1-prox"], path["l1-subgradient"]
    # the proximal step puts weights on exactly 0, more of them from noise inputs than from
    # signal inputs; the subgradient version leaves none at exactly 0 at any lambda
    assert prox["zero_noise_input_weights"][1] > 0.5 * prox["input_weights_total"] / 2
    assert prox["zero_noise_input_weights"][0] > prox["zero_signal_input_weights"][0]
    assert prox["noise_over_signal_norm"][0] < 0.5 * path["l2"]["noise_over_signal_norm"][0]
    assert max(sub["zero_input_weights"]) == 0
    assert prox["test_accuracy"][0] > 0.9


def test_line_108_l2_makes_weights_small_not_sparse(path):
    l2 = path["l2"]
    assert max(l2["zero_input_weights"]) == 0
    assert l2["l2_norm"][0] > l2["l2_norm"][1] > l2["l2_norm"][2]


def test_line_113_typical_l2_values_are_below_0_1(path):
    # at lambda = 0.1 the penalty wins: every weight ~0, the net predicts the base rate
    l2 = path["l2"]
    assert l2["test_accuracy"][2] < 0.65 < 0.9 < l2["test_accuracy"][0]


def test_adamw_decays_far_less_than_l2_in_the_loss_under_adam(path):
    # Adam divides the L2 gradient by sqrt(v): for weights with small data gradients the decay
    # becomes a full lr-sized step; AdamW shrinks by lr * 2 lambda * w only.
    a, w = path["adam-l2"], path["adamw"]
    assert w["l2_norm"][2] > 10 * a["l2_norm"][2]
    assert a["test_accuracy"][2] < 0.65 < 0.9 < w["test_accuracy"][2]
