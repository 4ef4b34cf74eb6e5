"""L1/L2 on weights only, the Keras trio, dropout, and L1's feature selection on real numbers."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from cnn.labs.reg_lab import RegLabConfig, dropout_demo, feature_selection, reg_lab
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


def test_penalties_are_the_course_formulas():
    t = torch.tensor([[1.0, -2.0], [0.5, 0.0]])
    assert l1(0.1)(t).item() == pytest.approx(0.1 * 3.5)
    assert l2(0.1)(t).item() == pytest.approx(0.1 * 5.25)
    assert l1_l2(0.1, 0.2)(t).item() == pytest.approx(0.35 + 0.2 * 5.25)
    with pytest.raises(ValueError, match="must be >= 0"):
        Regularizer(l1=-0.1)


def test_weight_penalty_ignores_biases():
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


def test_keras_trio_as_in_the_course():
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
def test_dropout_train_and_eval(p):
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
def test_l1_selects_features_l2_only_shrinks(selection):
    none, lasso, ridge = selection["none"], selection["l1"], selection["l2"]
    # L1: the noise features' input weights go to (near) zero -- measured 96% below 0.01,
    # the noise columns' norm ~2% of the signal columns'; every noise feature dropped.
    assert lasso["noise_weights_near_zero"] > 0.9
    assert lasso["noise_over_signal_norm"] < 0.05
    assert lasso["noise_features_kept"] == 0 and lasso["signal_features_kept"] == 10
    # L2: shrinks them (noise/signal norm 0.63 -> 0.38) but keeps every one (19% near zero)
    assert ridge["noise_weights_near_zero"] < 0.4
    assert 0.2 < ridge["noise_over_signal_norm"] < none["noise_over_signal_norm"]
    assert ridge["noise_features_kept"] == 10
    assert none["noise_weights_near_zero"] < 0.1
    # dropping the noise generalizes better: test accuracy 0.922 (none) < 0.963 (L2) < 0.986 (L1)
    assert none["test_accuracy"] < ridge["test_accuracy"] < lasso["test_accuracy"]


def test_reg_lab_result_is_json_and_figures():
    result = reg_lab(RegLabConfig(steps=20))
    numbers = json.loads(json.dumps(result.numbers))
    assert set(numbers["feature_selection"]) >= {"none", "l1", "l2"}
    assert "weights" not in numbers["feature_selection"]["l1"]
    assert len(numbers["feature_selection"]["l1"]["feature_norms"]) == 20
    assert set(result.figures) == {"reg_feature_norms", "reg_noise_weights", "reg_dropout"}
